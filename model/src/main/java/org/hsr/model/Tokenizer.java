package org.hsr.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A SentencePiece-BPE tokenizer in llama2.c's {@code tokenizer.bin} format, encoding and decoding exactly as llama2.c's
 * {@code run.c} does.
 *
 * <p>File layout (little-endian): int32 {@code max_token_length}, then one record per token: float32 {@code score},
 * int32 {@code len}, {@code len} raw bytes (not NUL-terminated). Id 0 is {@code <unk>}, 1 is BOS, 2 is EOS, ids
 * 3..258 are the byte-fallback tokens {@code <0x00>..<0xFF>}; pieces carry a leading space where SentencePiece has
 * "▁". The file does not store the vocabulary size: {@link #load(Path, int)} checks it against the model's.
 *
 * <p>The same algorithm serves the SentencePiece vocabularies of GGUF {@code llama} models
 * ({@link #sentencePiece}), whose special and byte tokens may sit at other ids: there BOS, EOS and the byte tokens
 * come from the file, control tokens produce no text, and generation stops at EOS (llama2.c's stories stop at BOS).
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class Tokenizer implements TextTokenizer {

    /** Class-path resource (next to this class) of the tokenizer that ships with the project. */
    public static final String EMBEDDED_RESOURCE = "tok512.bin";
    /** Beginning of sequence; also what the model emits to end a story. */
    public static final int BOS = 1;
    /** End of sequence. */
    public static final int EOS = 2;
    /** Byte {@code b} falls back to token {@code b + BYTE_OFFSET}. */
    public static final int BYTE_OFFSET = 3;

    /** Largest accepted tokenizer file: a 1M-token vocabulary of 64-byte pieces fits. */
    private static final long MAX_FILE_BYTES = 1L << 27;
    /** Largest accepted {@code max_token_length}. */
    private static final int MAX_TOKEN_LENGTH = 1 << 16;

    private final String source;
    private final byte[][] pieces;            // (vocabSize) raw bytes of each piece
    private final float[] scores;             // (vocabSize) merge priority: higher merges first
    private final int maxTokenLength;
    private final Map<String, Integer> ids;   // piece bytes as an ISO-8859-1 string (one char per byte) -> id
    private final int bos, eos;               // the start and end tokens (-1: none)
    private final boolean addBos;             // whether encode() starts with BOS
    private final boolean addSpacePrefix;     // whether encode() puts a space before a non-empty text
    private final int[] byteTokens;           // (256) the id of <0xXX> for byte XX
    private final boolean[] control;          // (vocabSize) tokens that produce no text
    private final int[] stops;                // tokens that end generation

    private Tokenizer(String source, byte[][] pieces, float[] scores, int maxTokenLength, int bos, int eos,
                      boolean addBos, boolean addSpacePrefix, int[] byteTokens, boolean[] control, int[] stops) {
        this.source = source;
        this.pieces = pieces;
        this.scores = scores;
        this.maxTokenLength = maxTokenLength;
        this.bos = bos;
        this.eos = eos;
        this.addBos = addBos;
        this.addSpacePrefix = addSpacePrefix;
        this.byteTokens = byteTokens;
        this.control = control;
        this.stops = stops;
        this.ids = new HashMap<>(pieces.length * 2);
        for (int i = 0; i < pieces.length; i++) {
            ids.putIfAbsent(key(pieces[i]), i); // like llama2.c's sorted lookup, duplicates resolve to one id
        }
    }

    /** A llama2.c tokenizer: BOS 1, EOS 2, bytes at 3..258, generation stops at BOS. */
    private static Tokenizer llama2c(String source, byte[][] pieces, float[] scores, int maxTokenLength) {
        int[] byteTokens = new int[256];
        for (int b = 0; b < 256; b++) byteTokens[b] = b + BYTE_OFFSET;
        boolean[] control = new boolean[pieces.length];
        control[BOS] = true;
        control[EOS] = true;
        return new Tokenizer(source, pieces, scores, maxTokenLength, BOS, EOS, true, true, byteTokens, control,
                new int[] {BOS});
    }

    /**
     * A SentencePiece-BPE tokenizer from a GGUF {@code llama} vocabulary.
     *
     * @param source     for messages
     * @param pieces     the tokens as stored ({@code ▁} for a space; byte tokens {@code <0xXX>})
     * @param scores     (vocabSize) merge priorities
     * @param control    (vocabSize) tokens that produce no text (GGUF token types control, unknown, unused)
     * @param bos        the BOS id (-1: none)
     * @param eos        the EOS id (-1: none)
     * @param addBos     whether encode() starts with BOS
     * @param addSpacePrefix whether encode() puts a space before a non-empty text (SentencePiece's
     *                   {@code add_dummy_prefix}; GGUF {@code tokenizer.ggml.add_space_prefix}); decode() then drops
     *                   the leading space of the first piece after BOS
     * @param stops      ids that end generation (EOS, end-of-turn)
     * @throws ModelFormatException if a byte token {@code <0xXX>} is missing or the arrays disagree in length
     */
    public static Tokenizer sentencePiece(String source, String[] pieces, float[] scores, boolean[] control, int bos,
                                          int eos, boolean addBos, boolean addSpacePrefix, int[] stops)
            throws ModelFormatException {
        String what = "tokenizer of " + source;
        if (scores.length != pieces.length || control.length != pieces.length) {
            throw new ModelFormatException(what + ": " + pieces.length + " tokens but " + scores.length
                    + " scores and " + control.length + " token types");
        }
        byte[][] bytes = new byte[pieces.length][];
        int maxLen = 1; // the most text bytes one token can stand for: byte and control tokens stand for at most one
        int[] byteTokens = new int[256];
        Arrays.fill(byteTokens, -1);
        for (int i = 0; i < pieces.length; i++) {
            String p = pieces[i];
            bytes[i] = p.replace('\u2581', ' ').getBytes(StandardCharsets.UTF_8);
            boolean isByte = false;
            if (p.length() == 6 && p.startsWith("<0x") && p.endsWith(">")) {
                try {
                    int b = Integer.parseInt(p.substring(3, 5), 16);
                    if (byteTokens[b] < 0) byteTokens[b] = i;
                    isByte = true;
                } catch (NumberFormatException ignored) {
                    // an ordinary piece that looks like one
                }
            }
            if (!isByte && !control[i] && i != bos && i != eos) maxLen = Math.max(maxLen, bytes[i].length);
        }
        for (int b = 0; b < 256; b++) {
            if (byteTokens[b] < 0) {
                throw new ModelFormatException(what + ": byte token " + String.format("<0x%02X>", b) + " is missing "
                        + "(a SentencePiece vocabulary needs all 256 for byte fallback)");
            }
        }
        for (int id : new int[] {bos, eos}) {
            if (id >= pieces.length) {
                throw new ModelFormatException(what + ": special token id " + id + " is outside the vocabulary of "
                        + pieces.length);
            }
        }
        boolean[] noText = control.clone();
        if (bos >= 0) noText[bos] = true;
        if (eos >= 0) noText[eos] = true;
        return new Tokenizer(source, bytes, scores.clone(), maxLen, bos, eos, addBos && bos >= 0, addSpacePrefix, byteTokens,
                noText,
                stops.clone());
    }

    /** Loads a tokenizer file, reading token records up to the end of the file. */
    public static Tokenizer load(Path path) throws IOException {
        return parse(path.toString(), readFile(path), -1);
    }

    /**
     * Loads a tokenizer file that must hold exactly {@code vocabSize} tokens (the model's {@code vocab_size}); a
     * different count is reported as a mismatch with the model.
     */
    public static Tokenizer load(Path path, int vocabSize) throws IOException {
        if (vocabSize <= 0) {
            throw new IllegalArgumentException("vocabSize must be positive: " + vocabSize);
        }
        return parse(path.toString(), readFile(path), vocabSize);
    }

    /** Loads the tokenizer that ships with the project ({@code tok512}, see {@link #EMBEDDED_RESOURCE}). */
    public static Tokenizer loadEmbedded() throws IOException {
        return parse("embedded " + EMBEDDED_RESOURCE, Llama2Model.readResource(EMBEDDED_RESOURCE), -1);
    }

    private static byte[] readFile(Path path) throws IOException {
        if (Files.isDirectory(path)) {
            throw new ModelFormatException("tokenizer file " + path + ": is a directory");
        }
        long size = Files.size(path);
        if (size > MAX_FILE_BYTES) {
            throw new ModelFormatException("tokenizer file " + path + ": " + size + " bytes is too large for a llama2.c "
                    + "tokenizer (at most " + MAX_FILE_BYTES + "; is it a model file?)");
        }
        return Files.readAllBytes(path);
    }

    /** Parses a whole tokenizer file; {@code vocabSize < 0} reads records to the end of the file. */
    static Tokenizer parse(String source, byte[] data, int vocabSize) throws ModelFormatException {
        String what = "tokenizer file " + source;
        ByteBuffer buf = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        if (buf.remaining() < Integer.BYTES) {
            throw new ModelFormatException(what + ": truncated: file has " + data.length
                    + " bytes, a llama2.c tokenizer starts with a 4-byte max_token_length");
        }
        int maxTokenLength = buf.getInt();
        if (maxTokenLength <= 0 || maxTokenLength > MAX_TOKEN_LENGTH) {
            throw new ModelFormatException(what + ": not a llama2.c tokenizer: max_token_length = " + maxTokenLength
                    + " is outside 1.." + MAX_TOKEN_LENGTH);
        }

        // one record per token: float32 score, int32 len, len bytes
        List<byte[]> pieces = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        while (vocabSize < 0 ? buf.hasRemaining() : pieces.size() < vocabSize) {
            int id = pieces.size();
            if (!buf.hasRemaining()) {
                throw new ModelFormatException(what + ": has " + id + " tokens, the model's vocab_size is "
                        + vocabSize + " (wrong tokenizer for this model, or a truncated file)");
            }
            if (buf.remaining() < 2 * Integer.BYTES) {
                throw new ModelFormatException(what + ": truncated: token " + id + " is cut off at byte "
                        + data.length);
            }
            float score = buf.getFloat();
            int len = buf.getInt();
            if (!Float.isFinite(score) || len < 0 || len > maxTokenLength) {
                throw new ModelFormatException(what + ": not a llama2.c tokenizer: token " + id + " has score "
                        + score + " and length " + len + " (max_token_length " + maxTokenLength + ")");
            }
            if (buf.remaining() < len) {
                throw new ModelFormatException(what + ": truncated: token " + id + " needs " + len
                        + " bytes at offset " + buf.position() + ", file has " + data.length);
            }
            byte[] piece = new byte[len];
            buf.get(piece);
            pieces.add(piece);
            scores.add(score);
        }
        if (buf.hasRemaining()) {
            throw new ModelFormatException(what + ": " + buf.remaining() + " bytes follow the " + vocabSize
                    + " tokens of the model's vocab_size (wrong tokenizer for this model)");
        }

        // llama2.c's byte fallback assumes ids 3..258 are <0x00>..<0xFF>
        if (pieces.size() < BYTE_OFFSET + 256) {
            throw new ModelFormatException(what + ": has " + pieces.size() + " tokens, fewer than the "
                    + (BYTE_OFFSET + 256) + " of <unk>, BOS, EOS and the 256 byte tokens");
        }
        for (int b = 0; b < 256; b++) {
            String expected = String.format("<0x%02X>", b);
            String actual = new String(pieces.get(b + BYTE_OFFSET), StandardCharsets.ISO_8859_1);
            if (!actual.equals(expected)) {
                throw new ModelFormatException(what + ": not a llama2.c SentencePiece tokenizer: token "
                        + (b + BYTE_OFFSET) + " is \"" + actual.replace("\n", "\\n") + "\", expected " + expected);
            }
        }
        float[] s = new float[scores.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = scores.get(i);
        }
        return llama2c(source, pieces.toArray(new byte[0][]), s, maxTokenLength);
    }

    /** Where the tokenizer came from, for messages. */
    @Override
    public String source() {
        return source;
    }

    /** Number of tokens. */
    @Override
    public int vocabSize() {
        return pieces.length;
    }

    /**
     * Longest piece in bytes ({@code max_token_length} of a llama2.c file; for a GGUF vocabulary the most text bytes
     * one token stands for, byte and control tokens counting as one).
     */
    public int maxTokenLength() {
        return maxTokenLength;
    }

    /** The merge score of a piece. */
    public float score(int token) {
        checkToken(token);
        return scores[token];
    }

    /** The raw bytes of a piece (byte tokens are the text {@code <0xXX>}); a copy. */
    public byte[] piece(int token) {
        checkToken(token);
        return pieces[token].clone();
    }

    /**
     * A lower bound on {@code encode(text).length} that costs one pass over the text: BOS plus the UTF-8 bytes (with
     * the leading space) over the longest piece. Lets callers refuse an over-long text before encoding it.
     */
    @Override
    public int minTokens(String text) {
        int bytes = utf8Length(text);
        int prefix = addSpacePrefix ? 1 : 0;
        return bytes == 0 ? 1 : (addBos ? 1 : 0) + (bytes + prefix + maxTokenLength - 1) / maxTokenLength;
    }

    private static int utf8Length(String s) {
        int bytes = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                bytes += 1;
            } else if (c < 0x800) {
                bytes += 2;
            } else if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                bytes += 4;
                i++;
            } else if (Character.isSurrogate(c)) {
                bytes += 1; // an unpaired surrogate encodes as '?'
            } else {
                bytes += 3;
            }
        }
        return bytes;
    }

    /**
     * Encodes {@code text} with BOS first (where the vocabulary adds one) and no EOS, as llama2.c's {@code generate}
     * does; an empty text without BOS encodes to BOS anyway, so a sequence has a first token.
     */
    @Override
    public int[] encode(String text) {
        int[] t = encode(text, addBos, false);
        return t.length == 0 && bos >= 0 ? new int[] {bos} : t;
    }

    /**
     * Encodes {@code text} exactly as llama2.c's {@code encode}: optional BOS, a leading space (when the text is not
     * empty), one token per UTF-8 character with byte fallback ({@code byte + 3}) for characters not in the
     * vocabulary, then repeated merges of the adjacent pair whose concatenation is a piece with the highest score
     * (the leftmost pair on ties), then an optional EOS.
     */
    public int[] encode(String text, boolean bos, boolean eos) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        int[] tokens = new int[bytes.length + 3]; // at most: BOS, the leading space, one per byte, EOS
        int n = 0;
        if (bos) {
            tokens[n++] = this.bos;
        }
        // add_dummy_prefix: SentencePiece prepends a space to non-empty text (unless the vocabulary says not to)
        if (addSpacePrefix && bytes.length > 0) {
            n = appendCharacter(tokens, n, new byte[] {' '}, 0, 1);
        }
        // one token per UTF-8 character: a lead byte starts a character, continuation bytes (10xxxxxx) extend it,
        // up to 4 bytes (llama2.c's grouping)
        int start = 0;
        while (start < bytes.length) {
            int end = start + 1;
            while (end < bytes.length && (bytes[end] & 0xC0) == 0x80 && end - start < 4) {
                end++;
            }
            n = appendCharacter(tokens, n, bytes, start, end);
            start = end;
        }
        n = merge(tokens, n);
        if (eos) {
            tokens[n++] = this.eos;
        }
        return Arrays.copyOf(tokens, n);
    }

    /**
     * Merges the adjacent pair whose concatenation is a piece with the highest score (the leftmost on ties) again and
     * again until no pair merges, in place; returns the new length. The result is llama2.c's rescan-every-time loop,
     * in O(n log n) rather than O(n²): the tokens are a doubly linked list and the candidate pairs a priority queue
     * (highest score, then leftmost first), as SentencePiece and llama.cpp do it; a queued pair is stale, and
     * skipped, once either of its tokens has merged with another neighbour.
     */
    private int merge(int[] tokens, int n) {
        if (n < 2) return n;
        int[] prev = new int[n], next = new int[n]; // the linked list over positions; -1 ends it
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        boolean[] gone = new boolean[n];
        // a candidate: left position, right position, both tokens as queued, the merged id
        java.util.PriorityQueue<int[]> queue = new java.util.PriorityQueue<>(Math.max(1, n), (a, b) -> {
            int byScore = Float.compare(scores[b[4]], scores[a[4]]);
            return byScore != 0 ? byScore : Integer.compare(a[0], b[0]);
        });
        for (int i = 0; i + 1 < n; i++) {
            offer(queue, tokens, i, i + 1);
        }
        int left = n;
        while (!queue.isEmpty()) {
            int[] c = queue.poll();
            int l = c[0], r = c[1];
            if (gone[l] || gone[r] || next[l] != r || tokens[l] != c[2] || tokens[r] != c[3]) {
                continue; // stale: one side has merged since
            }
            tokens[l] = c[4];
            gone[r] = true;
            next[l] = next[r];
            if (next[r] >= 0) prev[next[r]] = l;
            left--;
            if (prev[l] >= 0) offer(queue, tokens, prev[l], l);
            if (next[l] >= 0) offer(queue, tokens, l, next[l]);
        }
        int m = 0;
        for (int i = 0; i >= 0; i = next[i]) {
            tokens[m++] = tokens[i];
        }
        assert m == left;
        return m;
    }

    /** Queues the pair at positions {@code l, r} if their concatenation is a piece that can merge. */
    private void offer(java.util.PriorityQueue<int[]> queue, int[] tokens, int l, int r) {
        Integer id = ids.get(key(pieces[tokens[l]]) + key(pieces[tokens[r]]));
        if (id != null && scores[id] > -1e10f) { // llama2.c's loop starts from a best score of -1e10
            queue.add(new int[] {l, r, tokens[l], tokens[r], id});
        }
    }

    /** Appends the token of the character {@code bytes[start..end)}, or its bytes' fallback tokens. */
    private int appendCharacter(int[] tokens, int n, byte[] bytes, int start, int end) {
        Integer id = ids.get(new String(bytes, start, end - start, StandardCharsets.ISO_8859_1));
        if (id != null) {
            tokens[n++] = id;
        } else {
            for (int i = start; i < end; i++) {
                tokens[n++] = byteTokens[bytes[i] & 0xFF];
            }
        }
        return n;
    }

    /**
     * Decodes tokens to text as llama2.c prints them: the leading space of a piece that follows BOS is dropped, byte
     * tokens {@code <0xXX>} become raw bytes, and the bytes are then decoded as UTF-8 (malformed sequences, which a
     * model can emit, become U+FFFD). BOS, EOS and control tokens produce no text.
     */
    @Override
    public String decode(int[] tokens) {
        return TextTokenizer.super.decode(tokens);
    }

    /** Decodes a list of tokens; see {@link #decode(int[])}. */
    @Override
    public String decode(List<Integer> tokens) {
        return TextTokenizer.super.decode(tokens);
    }

    @Override
    public byte[] tokenBytes(int prev, int token) {
        checkToken(token);
        if (control[token]) {
            return new byte[0];
        }
        byte[] piece = pieces[token];
        if (piece.length == 6 && piece[0] == '<' && piece[1] == '0' && piece[2] == 'x' && byteTokens[hexByte(piece)] == token) {
            return new byte[] {(byte) hexByte(piece)};
        }
        int from = addSpacePrefix && prev == bos && bos >= 0 && piece.length > 0 && piece[0] == ' ' ? 1 : 0;
        return Arrays.copyOfRange(piece, from, piece.length);
    }

    private static int hexByte(byte[] piece) {
        int v = Character.digit(piece[3], 16) * 16 + Character.digit(piece[4], 16);
        return v < 0 ? 0 : v & 0xFF;
    }

    @Override
    public boolean endsText(int token) {
        for (int s : stops) {
            if (s == token) return true;
        }
        return false;
    }

    /** The BOS id, or -1. */
    public int bos() {
        return bos;
    }

    private void checkToken(int token) {
        if (token < 0 || token >= pieces.length) {
            throw new IllegalArgumentException("token " + token + " is outside the vocabulary 0.." + (pieces.length - 1));
        }
    }

    /** A byte string as a map key: one char per byte, so concatenation of keys is concatenation of bytes. */
    private static String key(byte[] bytes) {
        return new String(bytes, StandardCharsets.ISO_8859_1);
    }
}
