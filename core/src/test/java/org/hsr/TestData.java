package org.hsr;

import java.util.SplittableRandom;

/** Random test data with fixed seeds, and the error measures the tests share. */
public final class TestData {
    private TestData() {}

    public static float[] gaussian(SplittableRandom r, int len) {
        float[] x = new float[len];
        for (int i = 0; i < len; i++) x[i] = (float) gaussian(r);
        return x;
    }

    public static double gaussian(SplittableRandom r) {
        // Box-Muller; SplittableRandom has no nextGaussian before JDK 17's RandomGenerator default, which it has.
        return r.nextGaussian();
    }

    /**
     * Largest per-row relative error, max-norm: {@code max_i ‖out_i − ref_i‖∞ / ‖ref_i‖∞} (a row whose reference is
     * all zero must be all zero in {@code out}, else its error is its max-norm).
     */
    public static double maxRowRelError(float[] out, double[] ref, int rowLen) {
        return org.hsr.attention.DenseReference.maxRowRelError(out, ref, rowLen);
    }

    /** Whether the Vector API path is expected (the surefire SIMD execution sets -Dhsr.expectSimd=true). */
    public static boolean expectSimd() {
        return Boolean.getBoolean("hsr.expectSimd");
    }
}
