package org.hsr.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.hsr.io.Npy;
import org.hsr.io.NpyArray;

/** Input arrays for the CLI tests: Gaussian data written as {@code .npy} files. */
final class TestArrays {
    private TestArrays() {}

    static Path npy(Path dir, String name, float[] data, int... shape) throws IOException {
        Path p = dir.resolve(name);
        Npy.write(p, NpyArray.ofFloats(data, shape));
        return p;
    }

    static float[] gaussian(SplittableRandom r, int len) {
        float[] x = new float[len];
        for (int i = 0; i < len; i++) x[i] = (float) r.nextGaussian();
        return x;
    }
}
