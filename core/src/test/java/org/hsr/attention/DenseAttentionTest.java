package org.hsr.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.hsr.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Dense fp32 attention on the SIMD kernels against the float64 reference. */
class DenseAttentionTest {

    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (int group : new int[] {1, 2, 4}) {
            for (boolean causal : new boolean[] {false, true}) {
                for (int m : new int[] {1, 0}) { // 0 stands for m = n (prefill)
                    b.add(Arguments.of("softmax", 0, group, causal, m));
                    for (int alpha = 1; alpha <= 3; alpha++) b.add(Arguments.of("relu", alpha, group, causal, m));
                }
            }
        }
        return b.build();
    }

    @ParameterizedTest(name = "{0} alpha={1} group={2} causal={3} m={4}")
    @MethodSource("cases")
    void matchesFloat64Reference(String kind, int alpha, int group, boolean causal, int mArg) {
        SplittableRandom r = new SplittableRandom(kind.hashCode() * 31L + alpha * 7L + group * 3L + (causal ? 1 : 0) + mArg);
        int kvHeads = 2, heads = kvHeads * group, n = 157, m = mArg == 0 ? n : 1, d = 37, dv = 19;
        AttentionInput in = new AttentionInput(TestData.gaussian(r, heads * m * d), TestData.gaussian(r, kvHeads * n * d),
                TestData.gaussian(r, kvHeads * n * dv), heads, kvHeads, m, n, d, dv);
        AttentionConfig cfg = kind.equals("softmax") ? AttentionConfig.softmax(causal)
                : AttentionConfig.relu(alpha, 0.4f, causal);
        AttentionStats stats = new AttentionStats();
        float[] out = new DenseAttention().attend(in, cfg, stats);
        double[] ref = DenseReference.attend(in, cfg);
        double err = TestData.maxRowRelError(out, ref, dv);
        assertTrue(err <= 1e-5, "max row relative error " + err);
        assertEquals((long) heads * m, stats.rows);
        if (cfg.kind() == AttentionConfig.Kind.RELU) {
            assertTrue(stats.keptKeys < stats.visibleKeys, "bias 0.4 must zero some weights");
        }
    }

    @Test
    void emptyReluRowsAreZeroAndCounted() {
        SplittableRandom r = new SplittableRandom(5);
        int n = 50, d = 16, dv = 8;
        AttentionInput in = AttentionInput.singleHead(TestData.gaussian(r, 3 * d), TestData.gaussian(r, n * d),
                TestData.gaussian(r, n * dv), 3, n, d, dv);
        AttentionStats stats = new AttentionStats();
        float[] out = new DenseAttention().attend(in, AttentionConfig.relu(2, 1000f, false), stats);
        for (float x : out) assertEquals(0f, x);
        assertEquals(3, stats.emptyRows);
    }

    @Test
    void softmaxSurvivesHugeScores() {
        // scores ~ 1e4: without max subtraction exp overflows
        int n = 64, d = 8, dv = 4;
        float[] q = new float[d], k = new float[n * d], v = new float[n * dv];
        java.util.Arrays.fill(q, 100f);
        for (int j = 0; j < n; j++) {
            for (int t = 0; t < d; t++) k[j * d + t] = 30f + j * 0.001f;
            for (int t = 0; t < dv; t++) v[j * dv + t] = j;
        }
        AttentionInput in = AttentionInput.singleHead(q, k, v, 1, n, d, dv);
        float[] out = new DenseAttention().attend(in, AttentionConfig.softmax(false), null);
        double[] ref = DenseReference.attend(in, AttentionConfig.softmax(false));
        assertTrue(TestData.maxRowRelError(out, ref, dv) <= 1e-5);
    }

    @Test
    void badInputIsRefusedWithBothValues() {
        float[] q = new float[8], k = new float[16], v = new float[16];
        var e1 = assertThrows(IllegalArgumentException.class, () -> new AttentionInput(q, k, v, 3, 2, 1, 2, 8, 8));
        assertTrue(e1.getMessage().contains("3") && e1.getMessage().contains("2"), e1.getMessage());
        var e2 = assertThrows(IllegalArgumentException.class, () -> AttentionInput.singleHead(q, k, v, 1, 2, 4, 8));
        assertTrue(e2.getMessage().contains("entries"), e2.getMessage());
        float[] bad = new float[16];
        bad[5] = Float.NaN;
        var e3 = assertThrows(IllegalArgumentException.class, () -> AttentionInput.singleHead(q, bad, v, 1, 2, 8, 8));
        assertTrue(e3.getMessage().contains("non-finite"), e3.getMessage());
        bad[5] = Float.POSITIVE_INFINITY;
        assertThrows(IllegalArgumentException.class, () -> AttentionInput.singleHead(q, k, bad, 1, 2, 8, 8));
        assertThrows(IllegalArgumentException.class, () -> AttentionInput.singleHead(new float[0], k, v, 0, 2, 8, 8));
        var e4 = assertThrows(IllegalArgumentException.class, () -> AttentionConfig.relu(0, 0f, false));
        assertTrue(e4.getMessage().contains("alpha"), e4.getMessage());
    }
}
