package org.hsr.cli;

import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionInput;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.DenseAttention;
import org.hsr.simd.Kernels;
import picocli.CommandLine.Command;

/** {@code hsr demo}: the main job, no arguments. */
@Command(name = "demo", mixinStandardHelpOptions = true, description = "Show what hsr-attention does, on built-in data.")
final class DemoCommand implements Callable<Integer> {

    @Override
    public Integer call() {
        int n = 131072, d = 128;
        System.out.printf("hsr demo: one decoding step against a synthetic long context (n=%d keys, d=%d, Gaussian),%n", n, d);
        System.out.printf("kernels: %s%n", Kernels.impl().name());
        SplittableRandom r = new SplittableRandom(42);
        float[] q = gaussian(r, d), k = gaussian(r, n * d), v = gaussian(r, n * d);
        AttentionInput in = AttentionInput.singleHead(q, k, v, 1, n, d, d);
        DenseAttention dense = new DenseAttention();
        for (AttentionConfig cfg : new AttentionConfig[] {AttentionConfig.softmax(false),
                AttentionConfig.relu(1, (float) Math.sqrt(0.4 * Math.log(n)), false)}) {
            double[] ms = new double[7];
            AttentionStats st = new AttentionStats();
            for (int i = -3; i < ms.length; i++) {
                st = new AttentionStats();
                long t0 = System.nanoTime();
                dense.attend(in, cfg, st);
                if (i >= 0) ms[i] = (System.nanoTime() - t0) / 1e6;
            }
            double gb = (double) n * 2 * d * 4 / 1e9;
            System.out.printf("  dense %-7s: %.2f ms per step (median of %d), %.1f GB/s over K and V, %.2f%% of keys active%n",
                    cfg.kind().name().toLowerCase(), CliIO.median(ms), ms.length, gb / (CliIO.median(ms) / 1e3),
                    100 * st.keptFraction());
        }
        return 0;
    }

    static float[] gaussian(SplittableRandom r, int len) {
        float[] x = new float[len];
        for (int i = 0; i < len; i++) x[i] = (float) r.nextGaussian();
        return x;
    }
}
