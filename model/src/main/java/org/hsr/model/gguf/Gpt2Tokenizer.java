package org.hsr.model.gguf;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.hsr.model.ModelFormatException;
import org.hsr.model.TextTokenizer;

/**
 * GPT-2's byte-level BPE as GGUF {@code gpt2} vocabularies store it (Llama 3, Qwen 2, SmolLM): the text is split by
 * the pre-tokenizer's regular expression, each piece's UTF-8 bytes are written as GPT-2's printable stand-in
 * characters ({@code bytes_to_unicode}: a space is {@code Ġ}), and adjacent symbols are merged by the rank of
 * {@code tokenizer.ggml.merges} (lowest first, every occurrence of the pair left to right) until no pair merges.
 * Every byte has a token, so encoding then decoding returns any text. Special tokens written in the text are encoded
 * as plain text, not as their ids.
 *
 * <p>Immutable and thread-safe.
 */
public final class Gpt2Tokenizer implements TextTokenizer {

    /** GPT-2's pre-tokenizer (llama.cpp's "default"). */
    static final String GPT2_SPLIT = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    /** Llama 3's ("llama-bpe"): case-insensitive contractions, numbers in groups of up to three digits. */
    static final String LLAMA3_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** Qwen 2's: as Llama 3's, but digits one by one. */
    static final String QWEN2_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final Map<Character, Integer> CHAR_TO_BYTE = new HashMap<>();

    static {
        // bytes_to_unicode: printable Latin-1 bytes stand for themselves, the others for U+0100 onwards, in order
        int next = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            BYTE_TO_CHAR[b] = (char) (printable ? b : 256 + next++);
            CHAR_TO_BYTE.put(BYTE_TO_CHAR[b], b);
        }
    }

    private final String source;
    private final String[] tokens;
    private final Map<String, Integer> ids = new HashMap<>();
    private final Map<String, Integer> ranks = new HashMap<>(); // "left right" -> merge rank
    private final boolean[] control;
    private final Pattern split;
    private final int bos;
    private final boolean addBos;
    private final int[] stops;
    private final int maxTokenBytes;

    private Gpt2Tokenizer(String source, String[] tokens, String[] merges, boolean[] control, Pattern split, int bos,
                          boolean addBos, int[] stops) {
        this.source = source;
        this.tokens = tokens.clone();
        this.control = control.clone();
        this.split = split;
        this.bos = bos;
        this.addBos = addBos && bos >= 0;
        this.stops = stops.clone();
        int max = 1;
        for (int i = 0; i < tokens.length; i++) {
            ids.putIfAbsent(tokens[i], i);
            max = Math.max(max, tokens[i].length() * 4);
        }
        this.maxTokenBytes = max;
        for (int r = 0; r < merges.length; r++) {
            ranks.putIfAbsent(merges[r], r);
        }
    }

    /**
     * A byte-level BPE tokenizer.
     *
     * @param tokens  the vocabulary in GPT-2's byte characters
     * @param merges  "left right" pairs, highest priority first
     * @param control (vocabSize) tokens that produce no text
     * @param pre     the pre-tokenizer's name ({@code tokenizer.ggml.pre}); unknown names fall back to GPT-2's, with
     *                a warning
     * @param bos     the BOS id, or -1
     * @param addBos  whether encode() starts with BOS
     * @param stops   ids that end generation
     * @throws ModelFormatException if a byte has no token or the arrays disagree in length
     */
    public static Gpt2Tokenizer create(String source, String[] tokens, String[] merges, boolean[] control, String pre,
                                       int bos, boolean addBos, int[] stops) throws ModelFormatException {
        if (control.length != tokens.length) {
            throw new ModelFormatException("tokenizer of " + source + ": " + tokens.length + " tokens but "
                    + control.length + " token types");
        }
        Gpt2Tokenizer t = new Gpt2Tokenizer(source, tokens, merges, control, Pattern.compile(splitRegex(pre),
                Pattern.UNICODE_CHARACTER_CLASS), bos, addBos, stops);
        for (int b = 0; b < 256; b++) {
            if (!t.ids.containsKey(String.valueOf(BYTE_TO_CHAR[b]))) {
                throw new ModelFormatException("tokenizer of " + source + ": byte 0x" + Integer.toHexString(b)
                        + " (\"" + BYTE_TO_CHAR[b] + "\") has no token; a byte-level BPE vocabulary needs all 256");
            }
        }
        return t;
    }

    /** The pre-tokenizer regular expression llama.cpp uses for {@code tokenizer.ggml.pre = name}. */
    static String splitRegex(String name) {
        return switch (name) {
            case "default", "gpt2", "gpt-2", "smollm", "starcoder", "refact", "olmo" -> GPT2_SPLIT;
            case "llama-bpe", "llama3", "dbrx", "smaug-bpe", "falcon3" -> LLAMA3_SPLIT;
            case "qwen2", "deepseek-r1-qwen", "megrez" -> QWEN2_SPLIT;
            default -> {
                Logger.getLogger(Gpt2Tokenizer.class.getName()).warning("tokenizer.ggml.pre \"" + name
                        + "\" is not known here: splitting text with GPT-2's pre-tokenizer, so some encodings may "
                        + "differ from llama.cpp's");
                yield GPT2_SPLIT;
            }
        };
    }

    @Override
    public String source() {
        return source;
    }

    @Override
    public int vocabSize() {
        return tokens.length;
    }

    @Override
    public int minTokens(String text) {
        int bytes = text.getBytes(StandardCharsets.UTF_8).length;
        return (addBos ? 1 : 0) + (bytes + maxTokenBytes - 1) / maxTokenBytes;
    }

    @Override
    public int[] encode(String text) {
        List<Integer> out = new ArrayList<>();
        if (addBos) {
            out.add(bos);
        }
        Matcher m = split.matcher(text);
        while (m.find()) {
            encodePiece(m.group(), out);
        }
        if (out.isEmpty() && bos >= 0) {
            out.add(bos);
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /** One pre-token: its bytes as symbols, merged by rank, then looked up. */
    private void encodePiece(String piece, List<Integer> out) {
        byte[] bytes = piece.getBytes(StandardCharsets.UTF_8);
        List<String> symbols = new ArrayList<>(bytes.length);
        for (byte b : bytes) {
            symbols.add(String.valueOf(BYTE_TO_CHAR[b & 0xFF]));
        }
        while (symbols.size() > 1) {
            // the pair of lowest rank
            int best = Integer.MAX_VALUE;
            for (int i = 0; i + 1 < symbols.size(); i++) {
                Integer r = ranks.get(symbols.get(i) + " " + symbols.get(i + 1));
                if (r != null && r < best) best = r;
            }
            if (best == Integer.MAX_VALUE) {
                break;
            }
            // merge every occurrence of it, left to right
            List<String> merged = new ArrayList<>(symbols.size());
            for (int i = 0; i < symbols.size(); i++) {
                if (i + 1 < symbols.size()) {
                    Integer r = ranks.get(symbols.get(i) + " " + symbols.get(i + 1));
                    if (r != null && r == best) {
                        merged.add(symbols.get(i) + symbols.get(i + 1));
                        i++;
                        continue;
                    }
                }
                merged.add(symbols.get(i));
            }
            symbols = merged;
        }
        for (String s : symbols) {
            Integer id = ids.get(s);
            if (id != null) {
                out.add(id);
            } else { // a merge whose result is not in the vocabulary: its single bytes always are
                for (char c : s.toCharArray()) out.add(ids.get(String.valueOf(c)));
            }
        }
    }

    @Override
    public byte[] tokenBytes(int prev, int token) {
        if (token < 0 || token >= tokens.length) {
            throw new IllegalArgumentException("token " + token + " is outside the vocabulary 0.." + (tokens.length - 1));
        }
        if (control[token]) {
            return new byte[0];
        }
        String s = tokens[token];
        ByteArrayOutputStream out = new ByteArrayOutputStream(s.length());
        for (int i = 0; i < s.length(); i++) {
            Integer b = CHAR_TO_BYTE.get(s.charAt(i));
            if (b == null) {
                return s.getBytes(StandardCharsets.UTF_8); // a user-defined token stored as plain text
            }
            out.write(b);
        }
        return out.toByteArray();
    }

    @Override
    public boolean endsText(int token) {
        for (int s : stops) {
            if (s == token) return true;
        }
        return false;
    }
}
