package org.hsr.model.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.hsr.model.ModelFormatException;
import org.hsr.model.TextTokenizer;
import org.hsr.model.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Tiny vocabularies of both GGUF tokenizer models, built here, with encodings worked out by hand. */
class TokenizersTest {

    /** GPT-2's bytes_to_unicode, written out again: printable Latin-1 stays, the rest from U+0100 in order. */
    static String byteChar(int b) {
        int next = 0;
        for (int x = 0; x < 256; x++) {
            boolean printable = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
            if (x == b) return String.valueOf((char) (printable ? x : 256 + next));
            if (!printable) next++;
        }
        throw new AssertionError();
    }

    static final String[] MERGES = {"l l", "h e", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "Ġwor l", "Ġworl d"};
    static final int HELLO = 259, G_WORLD = 264, BOS = 265;

    /** Ids 0..255 are the bytes, then the merge results, then a control BOS. */
    static TextTokenizer gpt2(String pre) throws ModelFormatException {
        List<String> tokens = new ArrayList<>();
        for (int b = 0; b < 256; b++) tokens.add(byteChar(b));
        tokens.addAll(List.of("ll", "he", "hell", "hello", "Ġw", "or", "Ġwor", "Ġworl", "Ġworld", "<|bos|>"));
        boolean[] control = new boolean[tokens.size()];
        control[BOS] = true;
        return Gpt2Tokenizer.create("tiny", tokens.toArray(String[]::new), MERGES, control, pre, BOS, true,
                new int[] {BOS});
    }

    @Test
    void gpt2MergesByRankAsWorkedOutByHand() throws Exception {
        TextTokenizer t = gpt2("default");
        assertEquals("Ġ", byteChar(' '));
        assertEquals("Ċ", byteChar('\n'));
        // "hello": l l (rank 0), h e (1), he ll (2), hell o (3); " world": Ġ w (4), o r (5), Ġw or, Ġwor l, Ġworl d
        assertArrayEquals(new int[] {BOS, HELLO, G_WORLD}, t.encode("hello world"));
        // two spaces: the first is its own piece (\s+(?!\S)), the second starts " world"; "!" is a byte token
        assertArrayEquals(new int[] {BOS, HELLO, ' ', G_WORLD, '!'}, t.encode("hello  world!"));
        // no merge applies across pieces or to unmerged pairs: "wo" stays two bytes, "ll" merges
        assertArrayEquals(new int[] {BOS, 'w', 'o', 256}, t.encode("woll"));
        assertArrayEquals(new int[] {BOS}, t.encode(""));
        assertEquals("hello world", t.decode(t.encode("hello world")));
        assertEquals("", t.decode(new int[] {BOS}));
        assertTrue(t.endsText(BOS));
    }

    @Test
    void gpt2RoundTripsAnyUtf8() throws Exception {
        TextTokenizer t = gpt2("llama-bpe");
        for (String s : new String[] {"héllo wörld", "日本語のテキスト", "emoji 🙂👍🏽 mix", "\t\n\r\u0000 controls",
                "  leading and trailing  ", "it's 12345 o'clock, I'M here"}) {
            assertEquals(s, t.decode(t.encode(s)), s);
            assertTrue(t.encode(s).length >= t.minTokens(s), s);
        }
    }

    static List<String> pieces(String regex, String text) {
        Matcher m = Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS).matcher(text);
        List<String> out = new ArrayList<>();
        while (m.find()) out.add(m.group());
        return out;
    }

    @Test
    void preTokenizersSplitAsTheirRegexesSay() {
        String s = "I'M 12345 ok\n\nyes";
        // GPT-2 leaves the last white space before a word to it: "\n\nyes" is "\n", "\n", "yes" (GPT-2's 198, 198)
        assertEquals(List.of("I", "'", "M", " 12345", " ok", "\n", "\n", "yes"),
                pieces(Gpt2Tokenizer.splitRegex("default"), s));
        assertEquals(List.of("I", "'M", " ", "123", "45", " ok", "\n\n", "yes"),
                pieces(Gpt2Tokenizer.splitRegex("llama-bpe"), s));
        assertEquals(List.of("I", "'M", " ", "1", "2", "3", "4", "5", " ok", "\n\n", "yes"),
                pieces(Gpt2Tokenizer.splitRegex("qwen2"), s));
    }

    @Test
    void gpt2RefusesAVocabularyWithoutEveryByte() {
        var e = assertThrows(ModelFormatException.class, () -> Gpt2Tokenizer.create("t", new String[] {"a"},
                new String[0], new boolean[1], "default", -1, false, new int[0]));
        assertTrue(e.getMessage().contains("byte 0x0"), e.getMessage());
    }

    /** A SentencePiece vocabulary with the byte tokens at the end (not llama2.c's ids 3..258). */
    static Tokenizer sentencePiece() throws ModelFormatException {
        return sentencePiece(true);
    }

    static Tokenizer sentencePiece(boolean addSpacePrefix) throws ModelFormatException {
        List<String> p = new ArrayList<>(List.of("<unk>", "<s>", "</s>", "▁", "a", "b", "▁a", "ab", "▁ab", "c"));
        float[] scores = new float[10 + 256];
        scores[6] = -1f;  // ▁a
        scores[7] = -0.5f; // ab: higher than ▁a, so "▁ab" forms as ▁ + ab
        scores[8] = -2f;  // ▁ab
        for (int b = 0; b < 256; b++) p.add(String.format("<0x%02X>", b));
        boolean[] control = new boolean[p.size()];
        control[0] = true;
        return Tokenizer.sentencePiece("tiny-spm", p.toArray(String[]::new), scores, control, 1, 2, true, addSpacePrefix,
                new int[] {2});
    }

    @Test
    void sentencePieceMergesByScoreWithByteFallbackAtTheFilesIds() throws Exception {
        Tokenizer t = sentencePiece();
        // " ab": ▁ a b -> best pair by score: "ab" (-0.5) over "▁a" (-1) -> ▁ ab -> "▁ab" (-2)
        assertArrayEquals(new int[] {1, 8}, t.encode("ab"));
        // "c" has a piece, "é" (0xC3 0xA9) does not: its bytes fall back to <0xC3>, <0xA9> at ids 10 + byte
        assertArrayEquals(new int[] {1, 8, 3, 9, 10 + 0xC3, 10 + 0xA9}, t.encode("ab cé"));
        assertEquals("ab cé", t.decode(t.encode("ab cé")));
        assertTrue(t.endsText(2));
        assertTrue(!t.endsText(1));
    }

    @Test
    void withoutTheSpacePrefixTheTextIsEncodedAndDecodedAsItIs() throws Exception {
        Tokenizer t = sentencePiece(false);
        // "ab": a b -> ab (id 7); no ▁ in front, so not ▁ab
        assertArrayEquals(new int[] {1, 7}, t.encode("ab"));
        // " ab": ▁ a b -> ▁ ab -> ▁ab, and decoding keeps the space the text had
        assertArrayEquals(new int[] {1, 8}, t.encode(" ab"));
        assertEquals(" ab", t.decode(t.encode(" ab")));
        assertEquals("ab", t.decode(t.encode("ab")));
        assertTrue(t.encode("ab").length >= t.minTokens("ab"));
    }

    /** codelm's vocabulary: {@code <unk>}, BOS, EOS, then token 3+b is the byte b; no space prefix, no merges. */
    static Path byteVocabulary(Path p, Boolean addSpacePrefix) throws Exception {
        String[] tokens = new String[259];
        int[] types = new int[259];
        tokens[0] = "<unk>";
        tokens[1] = "<s>";
        tokens[2] = "</s>";
        types[0] = 2;
        types[1] = types[2] = 3;
        for (int b = 0; b < 256; b++) {
            tokens[3 + b] = String.format("<0x%02X>", b);
            types[3 + b] = 6;
        }
        GgufWriter w = new GgufWriter().putString("tokenizer.ggml.model", "llama")
                .putStrings("tokenizer.ggml.tokens", tokens).putFloats("tokenizer.ggml.scores", new float[259])
                .putInts("tokenizer.ggml.token_type", types).putUint32("tokenizer.ggml.bos_token_id", 1)
                .putUint32("tokenizer.ggml.eos_token_id", 2);
        if (addSpacePrefix != null) w.putBool("tokenizer.ggml.add_space_prefix", addSpacePrefix);
        w.write(p);
        return p;
    }

    @Test
    void aByteVocabularyEncodesEveryUtf8ByteAsItsTokenAndDecodesBackExactly(@TempDir Path dir) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (int c = 0; c < 0x100; c++) sb.append((char) c);
        sb.append(" <0x41> <s> 日本 🙂\n");
        String text = sb.toString();
        byte[] utf8 = text.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        int[] expected = new int[1 + utf8.length];
        expected[0] = 1;
        for (int i = 0; i < utf8.length; i++) expected[1 + i] = 3 + (utf8[i] & 0xFF);
        try (GgufFile f = GgufFile.open(byteVocabulary(dir.resolve("bytes.gguf"), false))) {
            TextTokenizer t = GgufTokenizers.load(f);
            assertArrayEquals(expected, t.encode(text));
            assertEquals(text, t.decode(expected));
            assertEquals(" x", t.decode(t.encode(" x")), "a leading space after BOS is the text's own");
            assertEquals(expected.length, t.minTokens(text));
        }
        // the default (no key) is SentencePiece's: a space token first
        try (GgufFile f = GgufFile.open(byteVocabulary(dir.resolve("default.gguf"), null))) {
            assertArrayEquals(new int[] {1, 3 + ' ', 3 + 'x'}, GgufTokenizers.load(f).encode("x"));
        }
    }

    @Test
    void tokenizersComeFromTheFile(@TempDir Path dir) throws Exception {
        Path p = dir.resolve("tok.gguf");
        List<String> tokens = new ArrayList<>();
        for (int b = 0; b < 256; b++) tokens.add(byteChar(b));
        tokens.addAll(List.of("ll", "he", "hell", "hello", "Ġw", "or", "Ġwor", "Ġworl", "Ġworld", "<|bos|>"));
        int[] types = new int[tokens.size()];
        java.util.Arrays.fill(types, 1);
        types[BOS] = 3;
        new GgufWriter().putString("tokenizer.ggml.model", "gpt2").putString("tokenizer.ggml.pre", "llama-bpe")
                .putStrings("tokenizer.ggml.tokens", tokens.toArray(String[]::new))
                .putStrings("tokenizer.ggml.merges", MERGES).putInts("tokenizer.ggml.token_type", types)
                .putUint32("tokenizer.ggml.bos_token_id", BOS).putUint32("tokenizer.ggml.eos_token_id", BOS)
                .write(p);
        try (GgufFile f = GgufFile.open(p)) {
            TextTokenizer t = GgufTokenizers.load(f);
            assertArrayEquals(new int[] {BOS, HELLO, G_WORLD}, t.encode("hello world"));
        }
        new GgufWriter().putString("tokenizer.ggml.model", "bert").putStrings("tokenizer.ggml.tokens", new String[] {"x"})
                .write(p);
        try (GgufFile f = GgufFile.open(p)) {
            var e = assertThrows(ModelFormatException.class, () -> GgufTokenizers.load(f));
            assertTrue(e.getMessage().contains("\"bert\" is not supported"), e.getMessage());
        }
    }
}
