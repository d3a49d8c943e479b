package org.hsr.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.hsr.io.Npy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Flags checked before any work, exit 2 naming the flag (issue 24, items 9-13): sizes beyond Java's arrays, a budget
 * below the window's sink, an empty --n, --context 0, model-bench's context, and dense attention over keys the index
 * could not hold.
 */
class FlagChecksTest {

    @TempDir
    Path tmp;

    /** Exit 2, one line naming {@code mention}, and no progress bar: refused before any work ran. */
    private static void assertRefusedUpFront(CliRun r, String mention) {
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("hsr: error: "), "the error starts its own line: " + r.err());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
        assertTrue(r.err().contains(mention), "'" + r.err().strip() + "' should mention " + mention);
        assertFalse(r.err().contains("[#") || r.err().contains("wrote random"), "no work ran: " + r.err());
        assertEquals("", r.out(), "no table");
    }

    /** Item 9: a count of 2^31 - 1 overflowed an array size ("internal error: NegativeArraySizeException"). */
    @Test
    void sizesBeyondJavasArraysStateTheLimit() {
        CliRun r = CliRun.run("bench", "decode", "--queries", "2147483647", "--no-faiss");
        assertRefusedUpFront(r, "--queries 2147483647");
        assertTrue(r.err().contains("at most"), r.err());
        r = CliRun.run("bench", "decode", "--n", "2147483647", "--no-faiss");
        assertRefusedUpFront(r, "--n 2147483647");
        assertTrue(r.err().contains("at most 16777215 keys"), r.err()); // (2^31 - 9) / 128
        assertRefusedUpFront(CliRun.run("bench", "prefill", "--n", "2147483647", "--no-numpy"), "--n 2147483647");
        r = CliRun.run("bench", "engine", "--n", "2147483647");
        assertRefusedUpFront(r, "--n 2147483647");
        assertTrue(r.err().contains("at most 2097151 positions"), r.err()); // (2^31 - 9) / (8 x 128)
    }

    /** Item 10: --budget 0 failed only after softmax's work ran (on the bar's line); ReLU accepted 0 and -1. */
    @Test
    void aBudgetBelowTheSinkIsRefusedForEveryKind() {
        for (String kind : new String[] {"softmax", "relu"}) {
            for (String budget : new String[] {"0", "-1", "3"}) {
                assertRefusedUpFront(CliRun.run("bench", "decode", "--quick", "--no-faiss", "--kind", kind,
                        "--select", "top:8", "--n", "256", "--budget", budget), "--budget must be >= 4");
            }
        }
    }

    /** Item 10: model-bench --random wrote the random model before checking --n against its context or --threads. */
    @Test
    void modelBenchChecksEveryFlagBeforeWritingTheModel() {
        // the tiny shape's context is 1024: --n 1024 needs 1024 + 1 + 3 positions (README's example)
        CliRun r = CliRun.run("model-bench", "--random", "tiny", "--n", "1024");
        assertRefusedUpFront(r, "--n 1024 needs 1028 positions");
        assertTrue(r.err().contains("--n 1020 or less"), r.err());
        assertRefusedUpFront(CliRun.run("model-bench", "--random", "tiny", "--n", "64", "--threads", "0"), "--threads");
        assertRefusedUpFront(CliRun.run("model-bench", "--random", "tiny", "--n", "64", "--type", "q7"), "--type");
        assertEquals(0, CliRun.run("model-bench", "--random", "tiny", "--n", "1020", "--steps", "3", "--select",
                "top:16", "--no-dense").code(), "the largest --n the message offers runs");
    }

    /** Item 11: {@code --n ,} ran nothing and printed an empty table with exit 0. */
    @Test
    void anEmptyListOfSizesIsRefused() {
        assertRefusedUpFront(CliRun.run("bench", "decode", "--n", ",", "--no-faiss"), "--n");
        assertRefusedUpFront(CliRun.run("bench", "engine", "--n", ","), "--n");
    }

    /** Item 12: --context 0 meant "the model's own" silently. */
    @Test
    void contextZeroIsRefused() throws Exception {
        assertRefusedUpFront(CliRun.run("generate", "--context", "0", "--steps", "4"), "--context must be >= 1, got 0");
        Path text = Files.writeString(tmp.resolve("t.txt"), "Once upon a time");
        assertRefusedUpFront(CliRun.run("perplexity", "--text", text.toString(), "--context", "0"), "--context");
        assertEquals(0, CliRun.run("generate", "--context", "16", "--steps", "4").code(), "a real context runs");
    }

    /** Item 13: dense attention over a key of norm 1e19 (> 2^62) was refused with the index's message. */
    @Test
    void denseAttentionRefusesOnlyAnOverflowingScore() throws Exception {
        String q = TestArrays.npy(tmp, "q.npy", new float[] {1e-10f, 0}, 1, 2).toString();
        String k = TestArrays.npy(tmp, "k.npy", new float[] {1e19f, 0, 0, 1}, 2, 2).toString();
        String v = TestArrays.npy(tmp, "v.npy", new float[] {2, 5}, 2, 1).toString();
        String o = tmp.resolve("o.npy").toString();
        CliRun r = CliRun.run("attend", "--q", q, "--k", k, "--v", v, "--out", o, "--kind", "softmax");
        assertEquals(0, r.code(), r.err());
        // scores 1e9/sqrt(2) and 0: all the weight on the first key
        assertEquals(2f, Npy.read(Path.of(o)).floats()[0]);
        // the index still refuses it (its fp32 bounds need norms <= 2^62), and dense refuses a score that overflows
        r = CliRun.run("attend", "--q", q, "--k", k, "--v", v, "--out", o, "--kind", "softmax", "--mode", "hsr");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("2^62"), r.err());
        String big = TestArrays.npy(tmp, "qbig.npy", new float[] {1e30f, 0}, 1, 2).toString();
        r = CliRun.run("attend", "--q", big, "--k", k, "--v", v, "--out", o, "--kind", "softmax");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("overflow"), r.err());
    }
}
