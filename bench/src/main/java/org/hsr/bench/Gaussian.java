package org.hsr.bench;

import java.util.SplittableRandom;

/** Seeded i.i.d. N(0, 1) test data (the SPEC's {@code gaussian} workload), made once in setup code, never timed. */
final class Gaussian {

    private Gaussian() {}

    /** {@code length} floats drawn from N(0, 1) with a fixed seed, so every fork and run sees the same data. */
    static float[] array(int length, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = new float[length];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        return x;
    }
}
