package org.hsr.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.hsr.TestData;
import org.hsr.index.BlockIndex;
import org.hsr.index.FlatIndex;
import org.junit.jupiter.api.Test;

/**
 * Scores and weights at the edges of fp32 (issue 14, item 7 and the α of item 9): every path (the float64 reference,
 * dense fp32, HSR) computes a representable answer right or refuses with IllegalArgumentException; none returns
 * Infinity or NaN.
 */
class ExtremeValuesTest {

    private static float[] dense(AttentionInput in, AttentionConfig cfg) {
        return new DenseAttention().attend(in, cfg, new AttentionStats());
    }

    private static float[] hsr(AttentionInput in, AttentionConfig cfg) {
        return new HsrAttention().attend(in, cfg, new Selection.Dense(), new AttentionStats());
    }

    /** A score just above the bias: (0.01)^20 = 1e-40 underflowed fp32, and the row came out as Infinity. */
    @Test
    void reluJustAboveTheBiasDoesNotUnderflow() {
        AttentionInput in = AttentionInput.singleHead(new float[] {1}, new float[] {1.01f}, new float[] {2}, 1, 1, 1, 1);
        for (int alpha : new int[] {1, 20, 200, Integer.MAX_VALUE}) {
            AttentionConfig cfg = new AttentionConfig(AttentionConfig.Kind.RELU, alpha, 1f, 1f, false);
            assertEquals(2.0, DenseReference.attend(in, cfg)[0], 1e-12, "reference alpha " + alpha);
            assertEquals(2f, dense(in, cfg)[0], "dense alpha " + alpha);
            assertEquals(2f, hsr(in, cfg)[0], "hsr alpha " + alpha);
        }
    }

    /**
     * Large α on Gaussian rows: (s − b)^200 overflows fp32 (it gave NaN), and α = 2^31 − 1 looped 2^31 times per
     * key. Normalised by the row maximum, every path matches the reference.
     */
    @Test
    void largeAlphaMatchesTheReference() {
        SplittableRandom r = new SplittableRandom(14);
        int m = 4, n = 300, d = 16, dv = 5;
        AttentionInput in = AttentionInput.singleHead(TestData.gaussian(r, m * d), TestData.gaussian(r, n * d),
                TestData.gaussian(r, n * dv), m, n, d, dv);
        for (int alpha : new int[] {7, 40, 200, 1 << 20, Integer.MAX_VALUE}) {
            AttentionConfig cfg = AttentionConfig.relu(alpha, 0.1f, false);
            double[] ref = DenseReference.attend(in, cfg);
            // fp32 scores' rounding is amplified α times in the weights of the dense baseline; HSR weighs from float64
            double denseErr = TestData.maxRowRelError(dense(in, cfg), ref, dv);
            assertTrue(denseErr <= 1e-5 + 1e-7 * Math.min(alpha, 1000), "dense alpha " + alpha + ": " + denseErr);
            assertTrue(TestData.maxRowRelError(hsr(in, cfg), ref, dv) <= 1e-5, "hsr alpha " + alpha);
        }
    }

    /** All-denormal keys and queries: the dense fp32 row no longer divides by a subnormal sum (it gave −Infinity). */
    @Test
    void subnormalScoresGiveFiniteRows() {
        int n = 4, d = 8, dv = 2;
        float[] q = new float[2 * d], k = new float[n * d], v = new float[n * dv];
        java.util.Arrays.fill(q, 1e-40f);
        java.util.Arrays.fill(k, 1e-40f);
        for (int i = 0; i < v.length; i++) v[i] = i;
        AttentionInput in = AttentionInput.singleHead(q, k, v, 2, n, d, dv);
        AttentionConfig cfg = AttentionConfig.relu(1, 0f, false);
        for (float x : dense(in, cfg)) assertTrue(Float.isFinite(x), "dense " + x);
        // the float64 scores are tiny but positive: every key weighs the same
        double[] ref = DenseReference.attend(in, cfg);
        assertEquals(3.0, ref[0], 1e-12);
        float[] h = hsr(in, cfg);
        assertEquals(3f, h[0]);
        assertEquals(4f, h[1]);
        // scores just above the bias that are subnormal in fp32 itself: the row maximum divides them exactly
        AttentionInput tiny = AttentionInput.singleHead(new float[] {1}, new float[] {3e-44f, 6e-44f}, new float[] {1, 4},
                1, 2, 1, 1);
        AttentionConfig one = new AttentionConfig(AttentionConfig.Kind.RELU, 1, 0f, 1f, false);
        assertEquals(DenseReference.attend(tiny, one)[0], dense(tiny, one)[0], 1e-6);
    }

    /** A key row of 1e38: dense softmax returned zeros, ReLU NaN; an index reported a wrong set with Inf scores. */
    @Test
    void scoresBeyondTheFloatRangeAreRefused() {
        SplittableRandom r = new SplittableRandom(15);
        int n = 50, d = 16, dv = 4;
        float[] q = TestData.gaussian(r, d), k = TestData.gaussian(r, n * d), v = TestData.gaussian(r, n * dv);
        for (int t = 0; t < d; t++) q[t] = Math.abs(q[t]);
        java.util.Arrays.fill(k, 3 * d, 4 * d, 1e38f);
        AttentionInput in = AttentionInput.singleHead(q, k, v, 1, n, d, dv);
        for (AttentionConfig cfg : new AttentionConfig[] {AttentionConfig.softmax(false), AttentionConfig.relu(2, 0f, false)}) {
            var e = assertThrows(IllegalArgumentException.class, () -> dense(in, cfg));
            assertTrue(e.getMessage().contains("overflow"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> hsr(in, cfg));
        }
        assertThrows(IllegalArgumentException.class, () -> new FlatIndex(d).add(k, n));
        assertThrows(IllegalArgumentException.class, () -> new BlockIndex(d).add(k, n));
        // queries: the same limit
        BlockIndex index = new BlockIndex(d);
        index.add(TestData.gaussian(r, n * d), n);
        float[] bigQ = q.clone();
        bigQ[0] = 1e30f;
        assertThrows(IllegalArgumentException.class, () -> index.rangeSearch(bigQ, 1, new float[] {0f}, null));
    }

    /** Values near the float range: the weighted sum overflows fp32 accumulation, refused rather than Infinity. */
    @Test
    void valueSumsBeyondTheFloatRangeAreRefused() {
        AttentionInput in = AttentionInput.singleHead(new float[] {1}, new float[] {1, 1}, new float[] {3e38f, 3e38f},
                1, 2, 1, 1);
        AttentionConfig cfg = AttentionConfig.relu(1, 0f, false);
        assertEquals(3e38, DenseReference.attend(in, cfg)[0], 1e32);
        assertThrows(IllegalArgumentException.class, () -> dense(in, cfg));
        assertThrows(IllegalArgumentException.class, () -> hsr(in, cfg));
    }

    /**
     * The same through the engine cache (its dense path, and softmax HSR without a selection, which is that path):
     * two values of 3e38 summed in fp32 overflowed and the row came out as Infinity with no error. Near the range
     * (two values of 1e38, whose sum fits) the answer is the reference's.
     */
    @Test
    void cachedValueSumsBeyondTheFloatRangeAreRefused() {
        org.hsr.kv.KvShape shape = new org.hsr.kv.KvShape(1, 1, 1, 1, 1, org.hsr.store.ElementType.FP32);
        for (AttentionConfig cfg : new AttentionConfig[] {AttentionConfig.softmax(true), AttentionConfig.relu(1, 0f, true)}) {
            for (org.hsr.kv.KvCache.Method method : org.hsr.kv.KvCache.Method.values()) {
                for (float value : new float[] {3e38f, 1e38f}) {
                    AttentionInput in = AttentionInput.singleHead(new float[] {1}, new float[] {1, 1},
                            new float[] {value, value}, 1, 2, 1, 1);
                    double expected = DenseReference.attend(in, cfg.withScale(1f))[0];
                    assertEquals(value, expected, 1e-6 * value);
                    try (org.hsr.kv.KvCache cache = org.hsr.kv.KvCache.builder(shape).attention(cfg).method(method)
                            .build()) {
                        cache.append(0, new float[] {1, 1}, 0, new float[] {value, value}, 0, 2);
                        float[] out = new float[1];
                        String what = cfg.kind() + " " + method + " " + value;
                        if (value == 3e38f) {
                            var e = assertThrows(IllegalArgumentException.class, () -> cache.attend(0, new float[] {1}, 0, out, 0), what);
                            assertTrue(e.getMessage().contains("overflows fp32"), e.getMessage());
                        } else {
                            cache.attend(0, new float[] {1}, 0, out, 0);
                            assertEquals(expected, out[0], 1e-6 * value, what);
                        }
                    }
                }
            }
        }
    }
}
