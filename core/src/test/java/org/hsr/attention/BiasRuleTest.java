package org.hsr.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.hsr.TestData;
import org.junit.jupiter.api.Test;

/** The bias rules against direct computation. */
class BiasRuleTest {

    @Test
    void paperRuleAndMeasuredSigmaOnGaussianKeys() {
        assertEquals(2.0 * Math.sqrt(0.4 * Math.log(1000)), BiasRule.paper(2.0, 1000), 1e-12);
        SplittableRandom r = new SplittableRandom(4);
        int n = 20000, d = 64;
        float[] k = TestData.gaussian(r, n * d);
        float[] q = TestData.gaussian(r, d);
        double qNorm = 0;
        for (float x : q) qNorm += x * x;
        float c = (float) (1 / Math.sqrt(d));
        // for Gaussian keys the scaled score c·<q,k> has standard deviation c·‖q‖
        double expected = c * Math.sqrt(qNorm);
        assertEquals(expected, BiasRule.scoreStd(q, 0, k, 0, n, d, c, 4096), 0.05 * expected);
        // the paper's bias keeps the active fraction under n^(4/5)/n
        double b = BiasRule.paper(BiasRule.scoreStd(q, 0, k, 0, n, d, c, n), n);
        int active = 0;
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int t = 0; t < d; t++) s += (double) q[t] * k[j * d + t];
            if (c * s > b) active++;
        }
        assertTrue(active <= Math.pow(n, 0.8), active + " active keys > n^(4/5)");
    }

    @Test
    void targetFractionRuleLeavesThatManyActive() {
        SplittableRandom r = new SplittableRandom(5);
        int n = 7001, d = 16;
        float[] k = TestData.gaussian(r, n * d), q = TestData.gaussian(r, d);
        float c = 0.25f;
        for (double fraction : new double[] {0.001, 0.01, 0.1, 0.5}) {
            float b = BiasRule.forActiveFraction(q, 0, k, 0, n, d, c, fraction);
            float[] s = new float[n];
            org.hsr.simd.Kernels.dotMany(q, 0, k, 0, n, d, s, 0);
            int active = 0;
            for (float x : s) if (x * c > b) active++;
            assertEquals(Math.round(fraction * n), active, 1, "fraction " + fraction);
        }
        assertThrows(IllegalArgumentException.class, () -> BiasRule.forActiveFraction(q(), 0, k, 0, n, d, c, 1.5));
        assertThrows(IllegalArgumentException.class, () -> BiasRule.paper(-1, 10));
        assertThrows(IllegalArgumentException.class, () -> BiasRule.paper(1, 0));
    }

    private static float[] q() {
        return new float[16];
    }
}
