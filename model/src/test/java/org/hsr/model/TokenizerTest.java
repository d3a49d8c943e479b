package org.hsr.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizerTest {

    private static final Tokenizer TOKENIZER = ModelFixtures.TOKENIZER;

    @TempDir
    Path tmp;

    @Test
    void encodesTheReadmeExample() {
        assertArrayEquals(new int[] {1, 403, 407, 261, 378, 432}, TOKENIZER.encode("Once upon a time,"));
        assertEquals(512, TOKENIZER.vocabSize());
        assertEquals(7, TOKENIZER.maxTokenLength());
        assertEquals(" upon", new String(TOKENIZER.piece(407), StandardCharsets.UTF_8));
    }

    @Test
    void encodeOptionsAndEdgeCases() {
        assertArrayEquals(new int[] {1}, TOKENIZER.encode(""));
        assertArrayEquals(new int[] {}, TOKENIZER.encode("", false, false));
        assertArrayEquals(new int[] {403, 407, 261, 378, 432, 2}, TOKENIZER.encode("Once upon a time,", false, true));
        // a character outside the vocabulary falls back to its UTF-8 bytes + 3: "ж" = D0 B6; 410 is " "
        assertArrayEquals(new int[] {410, 0xD0 + 3, 0xB6 + 3}, TOKENIZER.encode("ж", false, false));
        // one that is in it ("€" is piece 503) does not
        assertArrayEquals(new int[] {410, 503}, TOKENIZER.encode("€", false, false));
    }

    @Test
    void decodeDropsTheLeadingSpaceAfterBosAndAssemblesByteTokens() {
        assertEquals("Once upon a time,", TOKENIZER.decode(new int[] {1, 403, 407, 261, 378, 432}));
        assertEquals(" upon a", TOKENIZER.decode(new int[] {407, 261})); // no BOS before: the space stays
        assertEquals("ж", TOKENIZER.decode(new int[] {1, 410, 0xD0 + 3, 0xB6 + 3}));
        assertEquals("€", TOKENIZER.decode(new int[] {1, 410, 0xE2 + 3, 0x82 + 3, 0xAC + 3})); // bytes of one char
        assertEquals("\uFFFD", TOKENIZER.decode(new int[] {0xD0 + 3})); // a lone lead byte is malformed UTF-8
        assertThrows(IllegalArgumentException.class, () -> TOKENIZER.decode(new int[] {512}));
    }

    @Test
    void encodeDecodeRoundTripsArbitraryUtf8() {
        String[] fixed = {"Hello, world!", "  two leading spaces", "trailing space ", "tab\tand\nnewline",
                "café naïve façade Ærøskøbing", "日本語のテキスト", "中文字符", "emoji 😀🎉👍🏽", "mixed é😀日 x", "\u0000nul",
                "Once upon a time, there was a little girl named Lily."};
        for (String s : fixed) {
            assertEquals(s, TOKENIZER.decode(TOKENIZER.encode(s)), () -> "round trip of " + s);
        }
        SplittableRandom random = new SplittableRandom(20240607);
        int[][] ranges = {{0x20, 0x7E}, {0x00, 0x7F}, {0xA0, 0x24F}, {0x370, 0x3FF}, {0x4E00, 0x9FFF},
                {0x3040, 0x30FF}, {0x1F300, 0x1FAFF}, {0x10000, 0x10FFFF}};
        for (int trial = 0; trial < 300; trial++) {
            StringBuilder sb = new StringBuilder();
            int len = random.nextInt(0, 40);
            for (int i = 0; i < len; i++) {
                int[] r = ranges[random.nextInt(ranges.length)];
                int cp;
                do {
                    cp = random.nextInt(r[0], r[1] + 1);
                } while (Character.getType(cp) == Character.SURROGATE);
                sb.appendCodePoint(cp);
            }
            String s = sb.toString();
            int[] tokens = TOKENIZER.encode(s);
            assertEquals(s, TOKENIZER.decode(tokens), () -> "round trip of " + s.codePoints()
                    .mapToObj(Integer::toHexString).toList());
            assertTrue(TOKENIZER.minTokens(s) <= tokens.length, "minTokens is a lower bound");
        }
    }

    @Test
    void mergesPickTheHighestScoringPair() {
        // against a brute-force re-implementation of llama2.c's merge loop on the raw pieces
        SplittableRandom random = new SplittableRandom(5);
        String alphabet = "abcdefghijklmnopqrstuvwxyz ,.!'";
        for (int trial = 0; trial < 100; trial++) {
            StringBuilder sb = new StringBuilder();
            int len = random.nextInt(1, 60);
            for (int i = 0; i < len; i++) {
                sb.append(alphabet.charAt(random.nextInt(alphabet.length())));
            }
            String s = sb.toString();
            assertArrayEquals(slowEncode(" " + s), TOKENIZER.encode(s, false, false), s);
        }
    }

    @Test
    void mergesMatchTheBruteForceOnRepeatsAndLongerTexts() {
        // runs of one pair (ties between positions: the leftmost merges first) and longer texts
        for (String s : new String[] {"aaaaaaa", "llllllll", "ee ee ee ee", "abababababab", "   ", "the the the"}) {
            assertArrayEquals(slowEncode(" " + s), TOKENIZER.encode(s, false, false), s);
        }
        SplittableRandom random = new SplittableRandom(11);
        String[] words = ModelFixtures.GREEDY.replace('\n', ' ').split(" ");
        for (int trial = 0; trial < 10; trial++) {
            StringBuilder sb = new StringBuilder();
            while (sb.length() < 300) sb.append(words[random.nextInt(words.length)]).append(random.nextInt(4) == 0 ? "  " : " ");
            String s = sb.toString();
            assertArrayEquals(slowEncode(" " + s), TOKENIZER.encode(s, false, false), s);
        }
    }

    @Test
    void encodingIsNearLinearInTheTextLength() {
        // 400 KB of story text: llama2.c's rescan-per-merge loop takes minutes at 100 KB; the queue well under a second
        SplittableRandom random = new SplittableRandom(3);
        String[] words = ModelFixtures.GREEDY.replace('\n', ' ').split(" ");
        StringBuilder sb = new StringBuilder();
        while (sb.length() < 400_000) sb.append(words[random.nextInt(words.length)]).append(' ');
        String s = sb.toString();
        TOKENIZER.encode(s.substring(0, 10_000)); // warm-up
        long t0 = System.nanoTime();
        int[] tokens = TOKENIZER.encode(s);
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertTrue(seconds < 10, "400 KB took " + seconds + " s");
        assertEquals(s, TOKENIZER.decode(tokens));
    }

    /** Characters, then repeatedly the best merge, with a linear scan of the vocabulary (ASCII text only). */
    private static int[] slowEncode(String s) {
        java.util.List<Integer> t = new java.util.ArrayList<>();
        for (char c : s.toCharArray()) {
            t.add(find(String.valueOf(c)));
        }
        while (true) {
            float best = -1e10f;
            int bestIdx = -1;
            int bestId = -1;
            for (int i = 0; i + 1 < t.size(); i++) {
                String merged = text(t.get(i)) + text(t.get(i + 1));
                int id = find(merged);
                if (id >= 0 && score(id) > best) {
                    best = score(id);
                    bestIdx = i;
                    bestId = id;
                }
            }
            if (bestIdx < 0) {
                return t.stream().mapToInt(Integer::intValue).toArray();
            }
            t.set(bestIdx, bestId);
            t.remove(bestIdx + 1);
        }
    }

    private static final byte[] RAW = ModelFixtures.resource(Tokenizer.EMBEDDED_RESOURCE);

    private static String text(int id) {
        return new String(TOKENIZER.piece(id), StandardCharsets.UTF_8);
    }

    private static int find(String piece) {
        for (int i = 0; i < TOKENIZER.vocabSize(); i++) {
            if (text(i).equals(piece)) {
                return i;
            }
        }
        return -1;
    }

    /** The score of token {@code id}, read from the raw file. */
    private static float score(int id) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(RAW).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        int off = 4;
        for (int i = 0; i < id; i++) {
            off += 8 + b.getInt(off + 4);
        }
        return b.getFloat(off);
    }

    @Test
    void theModelFileIsNotATokenizer() throws Exception {
        Path model = tmp.resolve("model-as-tokenizer.bin");
        Files.write(model, ModelFixtures.resource(Llama2Model.EMBEDDED_RESOURCE));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Tokenizer.load(model));
        assertTrue(e.getMessage().startsWith("tokenizer file " + model + ": not a llama2.c tokenizer: token "),
                e.getMessage());
    }

    @Test
    void truncatedTokenizerFile() throws Exception {
        Path cut = tmp.resolve("cut.bin");
        Files.write(cut, Arrays.copyOf(RAW, 3000));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Tokenizer.load(cut, 512));
        assertTrue(e.getMessage().startsWith("tokenizer file " + cut + ": truncated: token "), e.getMessage());
        Files.write(cut, Arrays.copyOf(RAW, 2));
        e = assertThrows(ModelFormatException.class, () -> Tokenizer.load(cut));
        assertEquals("tokenizer file " + cut + ": truncated: file has 2 bytes, a llama2.c tokenizer starts with a "
                + "4-byte max_token_length", e.getMessage());
    }

    @Test
    void vocabularySizeMismatchWithTheModel() throws Exception {
        Path tok = tmp.resolve("tok.bin");
        Files.write(tok, RAW);
        assertEquals(512, Tokenizer.load(tok, 512).vocabSize());
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Tokenizer.load(tok, 1000));
        assertEquals("tokenizer file " + tok + ": has 512 tokens, the model's vocab_size is 1000 (wrong tokenizer for "
                + "this model, or a truncated file)", e.getMessage());
        e = assertThrows(ModelFormatException.class, () -> Tokenizer.load(tok, 300));
        assertTrue(e.getMessage().endsWith("bytes follow the 300 tokens of the model's vocab_size (wrong tokenizer "
                + "for this model)"), e.getMessage());
    }

    @Test
    void randomBytesAreNotATokenizer() throws Exception {
        byte[] junk = new byte[5000];
        new SplittableRandom(3).nextBytes(junk);
        Path f = tmp.resolve("junk.bin");
        Files.write(f, junk);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Tokenizer.load(f));
        assertTrue(e.getMessage().startsWith("tokenizer file " + f + ": not a llama2.c tokenizer"), e.getMessage());
    }
}
