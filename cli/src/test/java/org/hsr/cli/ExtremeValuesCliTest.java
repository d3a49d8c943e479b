package org.hsr.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.hsr.io.Npy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command lines at the edges of fp32 (issue 14, items 7 and 9): a right answer or exit 2, never Inf/NaN. */
class ExtremeValuesCliTest {

    @TempDir
    Path tmp;

    private String npy(String name, float[] data, int... shape) throws Exception {
        return TestArrays.npy(tmp, name, data, shape).toString();
    }

    @Test
    void reluPowersOfAScoreJustAboveTheBias() throws Exception {
        String q = npy("q.npy", new float[] {1}, 1, 1), k = npy("k.npy", new float[] {1.01f}, 1, 1);
        String v = npy("v.npy", new float[] {2}, 1, 1), o = tmp.resolve("o.npy").toString();
        for (String alpha : new String[] {"20", "200", "2147483647"}) {
            for (String mode : new String[] {"dense", "hsr"}) {
                CliRun run = CliRun.run("attend", "--q", q, "--k", k, "--v", v, "--out", o, "--kind", "relu", "--alpha",
                        alpha, "--bias", "1", "--mode", mode);
                assertEquals(0, run.code(), run.err());
                assertEquals(2f, Npy.read(Path.of(o)).floats()[0], "alpha " + alpha + " " + mode);
            }
        }
    }

    @Test
    void aKeyRowOf1e38IsRefused() throws Exception {
        SplittableRandom r = new SplittableRandom(16);
        int n = 50, d = 16;
        float[] k = new float[n * d], q = new float[3 * d], v = new float[n * 4];
        for (int i = 0; i < k.length; i++) k[i] = (float) r.nextGaussian();
        for (int i = 0; i < q.length; i++) q[i] = (float) Math.abs(r.nextGaussian());
        java.util.Arrays.fill(k, 3 * d, 4 * d, 1e38f);
        String kp = npy("k.npy", k, n, d), qp = npy("q.npy", q, 3, d), vp = npy("v.npy", v, n, 4);
        Path o = tmp.resolve("o.npy");
        for (String kind : new String[] {"softmax", "relu"}) {
            for (String mode : new String[] {"dense", "hsr"}) {
                CliRun run = CliRun.run("attend", "--q", qp, "--k", kp, "--v", vp, "--out", o.toString(), "--kind", kind,
                        "--mode", mode);
                assertEquals(2, run.code(), kind + " " + mode + ": " + run.err());
                assertTrue(run.err().startsWith("hsr: error: ") && run.err().contains("overflow"), run.err());
                assertFalse(Files.exists(o));
            }
        }
        CliRun run = CliRun.run("search", "--keys", kp, "--queries", qp, "--threshold", "0", "--out",
                tmp.resolve("r").toString());
        assertEquals(2, run.code(), run.err());
        assertFalse(Files.exists(tmp.resolve("r.ids.npy")));
    }

    /**
     * Issue 24 item 4: values of 2.5e38 (the answer, their average, fits in fp32) overflowed the fp32 value sums of
     * softmax (dense and hsr) and dense ReLU, which wrote Infinity with exit 0; only hsr ReLU refused. Every mode and
     * storage now refuses with exit 2 and writes nothing.
     */
    @Test
    void valuesNearTheFloatRangeAreRefusedByEveryMode() throws Exception {
        SplittableRandom r = new SplittableRandom(24);
        int n = 64, d = 16;
        float[] q = new float[4 * d], k = new float[n * d], v = new float[n * d];
        for (int i = 0; i < q.length; i++) q[i] = (float) r.nextGaussian();
        for (int i = 0; i < k.length; i++) k[i] = 0.01f * (float) r.nextGaussian();
        java.util.Arrays.fill(v, 2.5e38f);
        String qp = npy("q.npy", q, 4, d), kp = npy("k.npy", k, n, d), vp = npy("v.npy", v, n, d);
        Path o = tmp.resolve("o.npy");
        for (String[] how : new String[][] {{"softmax", "dense"}, {"softmax", "hsr"}, {"relu", "dense"}, {"relu", "hsr"}}) {
            for (String kv : new String[] {"fp32", "bf16"}) {
                CliRun run = CliRun.run("attend", "--q", qp, "--k", kp, "--v", vp, "--out", o.toString(), "--kind",
                        how[0], "--mode", how[1], "--bias", "-1", "--kv", kv);
                String what = String.join(" ", how) + " " + kv + ": " + run.out() + run.err();
                assertEquals(2, run.code(), what);
                assertTrue(run.err().startsWith("hsr: error: attention output overflows fp32"), what);
                assertFalse(Files.exists(o), what);
            }
        }
    }

    /** keys_touched_frac read 1.5 when an epsilon row fell back to dense after a walk: now each key counts once. */
    @Test
    void keysTouchedFractionIsAtMostOneOnFallbackRows() throws Exception {
        SplittableRandom r = new SplittableRandom(17);
        int n = 4000, d = 16, m = 8;
        float[] k = new float[n * d], q = new float[m * d], v = new float[n * 4];
        for (int i = 0; i < k.length; i++) k[i] = (float) r.nextGaussian();
        for (int i = 0; i < q.length; i++) q[i] = 1e-4f * (float) r.nextGaussian(); // flat rows: every one falls back
        Path stats = tmp.resolve("s.json");
        CliRun run = CliRun.run("attend", "--q", npy("q.npy", q, m, d), "--k", npy("k.npy", k, n, d), "--v",
                npy("v.npy", v, n, 4), "--out", tmp.resolve("o.npy").toString(), "--mode", "hsr", "--select",
                "epsilon:1e-3", "--stats", stats.toString());
        assertEquals(0, run.code(), run.err());
        var js = new ObjectMapper().readTree(stats.toFile());
        // every row is computed densely: after a walk that fell back, or chosen dense by the head's plan without one
        assertEquals(m, js.get("fallback_rows").asInt() + js.get("dense_chosen_rows").asInt());
        assertTrue(js.get("keys_touched_frac").asDouble() <= 1.0, "keys_touched_frac " + js.get("keys_touched_frac"));
    }
}
