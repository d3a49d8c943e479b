package org.hsr.attention.baseline;

import static org.hsr.attention.baseline.QuestAttentionTest.assertMessage;
import static org.hsr.attention.baseline.QuestAttentionTest.assertStats;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.hsr.TestData;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionInput;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.DenseReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Sink + window attention against float64 oracles: dense softmax when it keeps every key, else a subset softmax. */
class SinkWindowAttentionTest {

    private static final int ROWS = 4; // query rows per case

    @ParameterizedTest(name = "n={0} d={1} dv={2}")
    @MethodSource("org.hsr.attention.baseline.QuestAttentionTest#sizes")
    void keepingEveryKeyIsDenseSoftmax(int n, int d, int dv) {
        SplittableRandom r = new SplittableRandom(3000L * n + 10L * d + dv);
        float[] q = TestData.gaussian(r, ROWS * d), k = TestData.gaussian(r, n * d), v = TestData.gaussian(r, n * dv);
        AttentionConfig cfg = AttentionConfig.softmax(false);
        double[] ref = DenseReference.attend(AttentionInput.singleHead(q, k, v, ROWS, n, d, dv), cfg);
        SinkWindowAttention att = new SinkWindowAttention();
        int[][] sinkWindow = {{n, 0}, {0, n}, {1, n - 1}, {4, n}, {n / 2, n - n / 2}, {Integer.MAX_VALUE, 1}};
        int cases = 0;
        for (int[] sw : sinkWindow) {
            if ((long) sw[0] + sw[1] < 1) continue;
            AttentionStats stats = new AttentionStats();
            float[] out = new float[ROWS * dv];
            for (int i = 0; i < ROWS; i++) {
                att.attendRow(q, i * d, k, 0, v, 0, n, d, dv, sw[0], sw[1], cfg.scaleFor(d), out, i * dv, stats);
            }
            double err = TestData.maxRowRelError(out, ref, dv);
            assertTrue(err <= 1e-5, "sink " + sw[0] + " window " + sw[1] + ": max row relative error " + err);
            assertStats(stats, ROWS, (long) ROWS * n, (long) ROWS * n);
            cases++;
        }
        assertTrue(cases >= 5, "cases run: " + cases);
    }

    @ParameterizedTest(name = "n={0} d={1} dv={2}")
    @MethodSource("org.hsr.attention.baseline.QuestAttentionTest#sizes")
    void smallerSetIsSoftmaxOverSinksAndWindow(int n, int d, int dv) {
        SplittableRandom r = new SplittableRandom(5000L * n + 10L * d + dv);
        float[] q = TestData.gaussian(r, ROWS * d), k = TestData.gaussian(r, n * d), v = TestData.gaussian(r, n * dv);
        float c = (float) (1 / Math.sqrt(d));
        SinkWindowAttention att = new SinkWindowAttention();
        int[][] sinkWindow = {{0, 1}, {1, 0}, {1, 1}, {4, 8}, {1, 16}, {0, 15}, {7, 0}, {4, n / 2}, {n / 3, n / 3}};
        int cases = 0;
        for (int[] sw : sinkWindow) {
            int sink = sw[0], window = sw[1];
            if (sink + window < 1 || sink + window >= n) continue;
            // the kept ids, from the definition: j < sink or j >= n - window
            int[] ids = IntStream.range(0, n).filter(j -> j < sink || j >= n - window).toArray();
            assertEquals(SinkWindowAttention.keptCount(n, sink, window), ids.length);
            AttentionStats stats = new AttentionStats();
            for (int i = 0; i < ROWS; i++) {
                float[] out = new float[dv];
                att.attendRow(q, i * d, k, 0, v, 0, n, d, dv, sink, window, c, out, 0, stats);
                double[] ref = SubsetSoftmax.attend(q, i * d, k, v, d, dv, c, ids);
                double err = TestData.maxRowRelError(out, ref, dv);
                assertTrue(err <= 1e-5, "sink " + sink + " window " + window + " row " + i + ": error " + err);
            }
            assertStats(stats, ROWS, (long) ROWS * n, (long) ROWS * ids.length);
            cases++;
        }
        assertTrue(n < 3 || cases > 0, "no sparse case ran for n=" + n);
    }

    @Test
    void offsetsAreHonoured() {
        SplittableRandom r = new SplittableRandom(41);
        int n = 60, d = 8, dv = 8, qOff = 3, kOff = 5, vOff = 7, outOff = 2, sink = 4, window = 9;
        float[] q = TestData.gaussian(r, qOff + d), k = TestData.gaussian(r, kOff + n * d);
        float[] v = TestData.gaussian(r, vOff + n * dv), out = new float[outOff + dv + 1];
        new SinkWindowAttention().attendRow(q, qOff, k, kOff, v, vOff, n, d, dv, sink, window, 0.5f, out, outOff, null);
        int[] ids = IntStream.range(0, n).filter(j -> j < sink || j >= n - window).toArray();
        double[] ref = SubsetSoftmax.attend(Arrays.copyOfRange(q, qOff, q.length), 0,
                Arrays.copyOfRange(k, kOff, k.length), Arrays.copyOfRange(v, vOff, v.length), d, dv, 0.5f, ids);
        assertTrue(TestData.maxRowRelError(Arrays.copyOfRange(out, outOff, outOff + dv), ref, dv) <= 1e-5);
        assertEquals(0f, out[0]);
        assertEquals(0f, out[outOff + dv]);
    }

    @Test
    void hugeScoresNeedTheMaxSubtracted() {
        // scores 21000 + (j mod 7), exact in fp32 with c = 1: exp without the max subtracted overflows
        int n = 100, d = 8, dv = 8, sink = 3, window = 10;
        float[] q = QuestAttentionTest.hugeScoreQuery(d), k = QuestAttentionTest.hugeScoreKeys(n, d);
        float[] v = TestData.gaussian(new SplittableRandom(47), n * dv), out = new float[dv];
        new SinkWindowAttention().attendRow(q, 0, k, 0, v, 0, n, d, dv, sink, window, 1f, out, 0, null);
        int[] ids = IntStream.range(0, n).filter(j -> j < sink || j >= n - window).toArray();
        assertTrue(TestData.maxRowRelError(out, SubsetSoftmax.attend(q, 0, k, v, d, dv, 1f, ids), dv) <= 1e-5,
                Arrays.toString(out));
    }

    @Test
    void badArgumentsAreRefusedWithTheirValues() {
        int n = 40, d = 8, dv = 4;
        float[] q = new float[d], k = new float[n * d], v = new float[n * dv], out = new float[dv];
        SinkWindowAttention att = new SinkWindowAttention();
        assertMessage(() -> att.attendRow(q, 0, k, 0, v, 0, n, d, dv, -1, 8, 1f, out, 0, null), "sink", "-1");
        assertMessage(() -> att.attendRow(q, 0, k, 0, v, 0, n, d, dv, 4, -2, 1f, out, 0, null), "window", "-2");
        assertMessage(() -> att.attendRow(q, 0, k, 0, v, 0, n, d, dv, 0, 0, 1f, out, 0, null), "sink + window", "0");
        assertMessage(() -> att.attendRow(q, 0, k, 0, v, 0, 0, d, dv, 4, 4, 1f, out, 0, null), "keys n", "0");
        assertMessage(() -> att.attendRow(q, 0, k, 0, v, 0, n, 0, dv, 4, 4, 1f, out, 0, null), "dimension d", "0");
        assertMessage(() -> att.attendRow(q, 0, k, 0, v, 0, n, d, 0, 4, 4, 1f, out, 0, null), "dv", "0");
        // dimension mismatches: arrays too short for the stated n, d, dv
        assertMessage(() -> att.attendRow(q, 0, k, 0, v, 0, n, 16, dv, 4, 4, 1f, out, 0, null), "q", "8", "16");
        assertMessage(() -> att.attendRow(q, 0, k, 0, v, 0, n + 1, d, dv, 4, 4, 1f, out, 0, null), "k", "320", "328");
        assertMessage(() -> att.attendRow(q, 0, k, 0, v, 0, n, d, 8, 4, 4, 1f, new float[8], 0, null), "v", "160", "320");
        assertMessage(() -> att.attendRow(q, 0, k, 0, v, 0, n, d, dv, 4, 4, 1f, new float[3], 0, null), "out", "3", "4");
        assertMessage(() -> att.attendRow(q, 0, k, 0, v, 0, n, d, dv, 4, 4, -1f, out, 0, null), "scale", "-1.0");
        float[] nanQ = new float[d];
        nanQ[1] = Float.NaN;
        assertMessage(() -> att.attendRow(nanQ, 0, k, 0, v, 0, n, d, dv, 4, 4, 1f, out, 0, null), "non-finite", "NaN");
    }
}
