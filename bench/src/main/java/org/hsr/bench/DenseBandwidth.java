package org.hsr.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.hsr.attention.BiasRule;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.DenseAttention;
import org.hsr.simd.KernelProvider;
import org.hsr.simd.Kernels;

/**
 * Is dense attention memory-bound? One decoding step of dense fp32 attention reads every key and value byte once,
 * {@code n·(d + dv)·4} bytes, so it can be no faster than a plain SIMD read of those bytes. This program measures both
 * in one process, alternating them round by round so that both see the same machine load, and prints the fraction of
 * the plain read bandwidth that dense softmax and dense ReLU^α reach (the target is 70%).
 *
 * <p>Below the summary it times the dense softmax step piece by piece (q·K scan, weights, V pass) against plain reads
 * of the same bytes, to show which pass loses bandwidth. Not a JMH benchmark: medians of {@code rounds} timed calls
 * after warm-up, on whatever else the machine is doing; re-measure with {@link DenseAttentionBenchmark}.
 *
 * <pre>java --add-modules jdk.incubator.vector -cp bench/target/benchmarks.jar org.hsr.bench.DenseBandwidth [n [rounds]]</pre>
 */
public final class DenseBandwidth {

    static final int D = 128;
    static final int DV = 128;
    static final int ALPHA = 2;
    static final double TARGET = 0.70;

    /** Every timed result is added here and printed at the end, so that no timed call can be optimised away. */
    private static double sink;

    /** One timed operation; returns something derived from its output, for {@link #sink}. */
    @FunctionalInterface
    interface Op {
        float run();
    }

    /** A timed operation, the bytes it must read from memory (0 when its data is cache-resident) and its times. */
    static final class Probe {
        final String name;
        final long bytes;
        final Op op;
        final List<Long> nanos = new ArrayList<>();

        Probe(String name, long bytes, Op op) {
            this.name = name;
            this.bytes = bytes;
            this.op = op;
        }

        void time(boolean record) {
            long t0 = System.nanoTime();
            float r = op.run();
            long t1 = System.nanoTime();
            sink += r;
            if (record) nanos.add(t1 - t0);
        }

        double medianMs() {
            long[] t = nanos.stream().mapToLong(Long::longValue).sorted().toArray();
            double mid = t.length % 2 == 1 ? t[t.length / 2] : (t[t.length / 2 - 1] + t[t.length / 2]) / 2.0;
            return mid / 1e6;
        }

        /** Decimal GB/s over {@link #bytes}. */
        double gbPerS() {
            return bytes / (medianMs() * 1e6);
        }
    }

    private DenseBandwidth() {}

    public static void main(String[] args) {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 131072;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 20;
        if (n < 1 || rounds < 1) {
            throw new IllegalArgumentException("usage: DenseBandwidth [n >= 1 [rounds >= 1]], got n=" + n
                    + " rounds=" + rounds);
        }
        int kLen = Math.multiplyExact(n, D);
        int vLen = Math.multiplyExact(n, DV);
        String impl = Kernels.impl().name();
        System.out.printf(Locale.ROOT, "kernels: %s, JDK %s, %d cores%n", impl, Runtime.version(),
                Runtime.getRuntime().availableProcessors());
        KernelProvider.fallbackReason().ifPresent(r -> System.out.println(
                "WARNING: scalar kernels (" + r + "): both the read and the dense step run scalar code"));

        // Gaussian data, made once: q (D), k (n, D), v (n, DV); att (n) and out (DV) are scratch rows
        float[] q = Gaussian.array(D, 21);
        float[] k = Gaussian.array(kLen, 22);
        float[] v = Gaussian.array(vLen, 23);
        float[] att = new float[n];
        float[] out = new float[DV];
        DenseAttention dense = new DenseAttention();
        AttentionStats stats = new AttentionStats();
        AttentionConfig softmax = AttentionConfig.softmax(false);
        AttentionConfig relu = AttentionConfig.relu(ALPHA, (float) BiasRule.paper(1, n), false);
        float c = softmax.scaleFor(D);
        long kBytes = 4L * kLen;
        long vBytes = 4L * vLen;

        Probe read = new Probe("plain read of K and V (Kernels.sum)", kBytes + vBytes,
                () -> Kernels.sum(k, 0, kLen) + Kernels.sum(v, 0, vLen));
        Probe soft = new Probe("dense softmax step (attendRow)", kBytes + vBytes,
                () -> step(dense, q, k, v, n, softmax, c, out, stats));
        Probe reluStep = new Probe("dense ReLU^" + ALPHA + " step (attendRow)", kBytes + vBytes,
                () -> step(dense, q, k, v, n, relu, c, out, stats));
        // the softmax step piece by piece, each pass next to a plain read of the same bytes
        Probe readK = new Probe("  plain read of K (sum)", kBytes, () -> Kernels.sum(k, 0, kLen));
        Probe scan = new Probe("  q·K scan (dotMany)", kBytes, () -> scan(q, k, n, att));
        Probe weights = new Probe("  weights (scale, max, exp)", 0, () -> weights(att, n, c));
        Probe readV = new Probe("  plain read of V (sum)", vBytes, () -> Kernels.sum(v, 0, vLen));
        int[] layout = {0, DV, 0}; // vOff, dv, outOff as run-time values, as attendRow sees them (C2 folds constants)
        Probe valuePass = new Probe("  V pass (axpy per key)", vBytes,
                () -> valuePass(att, v, layout[0], n, layout[1], out, layout[2]));
        List<Probe> order = List.of(read, soft, reluStep, readK, scan, weights, readV, valuePass);

        int warmup = Math.max(10, rounds / 2);
        for (int r = 0; r < warmup + rounds; r++) {
            for (Probe p : order) {
                p.time(r >= warmup);
            }
        }

        System.out.printf(Locale.ROOT, "n = %d, d = dv = %d: %d bytes of K and V per step (%.1f MiB); "
                + "median of %d rounds after %d warm-up rounds%n", n, D, kBytes + vBytes,
                (kBytes + vBytes) / 1048576.0, rounds, warmup);
        System.out.printf(Locale.ROOT, "%-38s %10s %8s %9s%n", "what", "median ms", "GB/s", "of read");
        row(read, read);
        row(soft, read);
        row(reluStep, read);
        System.out.println("softmax step by pass:");
        row(readK, readK);
        row(scan, readK);
        row(weights, null);
        row(readV, readV);
        row(valuePass, readV);
        System.out.printf(Locale.ROOT, "%-38s %10.3f%n", "  sum of the three passes",
                scan.medianMs() + weights.medianMs() + valuePass.medianMs());
        // the same loop can compile differently inside attendRow: also show what the step leaves for its V pass
        double vInStep = soft.medianMs() - scan.medianMs() - weights.medianMs();
        System.out.printf(Locale.ROOT, "%-38s %10.3f %8.1f %8.0f%%%n", "  V pass in attendRow (step - others)",
                vInStep, vBytes / (vInStep * 1e6), 100 * readV.medianMs() / vInStep);
        System.out.printf(Locale.ROOT, "(checksum %.6g, %d rows)%n", sink, stats.rows);
        verdict("dense softmax", soft, read);
        verdict("dense ReLU^" + ALPHA, reluStep, read);
    }

    /** One decoding step of dense attention over all n keys; returns a digest of the output row. */
    static float step(DenseAttention dense, float[] q, float[] k, float[] v, int n, AttentionConfig cfg, float c,
                      float[] out, AttentionStats stats) {
        dense.attendRow(q, 0, k, 0, v, 0, n, D, DV, cfg, c, out, 0, stats);
        return out[0] + out[DV - 1];
    }

    /** att = q·K (unscaled), as the first pass of {@link DenseAttention#attendRow} does it. */
    static float scan(float[] q, float[] k, int n, float[] att) {
        Kernels.dotMany(q, 0, k, 0, n, D, att, 0);
        return att[n - 1];
    }

    /** att = softmax numerators of c·att, as the middle passes of {@link DenseAttention#attendRow} do it. */
    static float weights(float[] att, int n, float c) {
        Kernels.scale(att, 0, n, c);
        float max = Kernels.max(att, 0, n);
        return Kernels.expAndSum(att, 0, n, max);
    }

    /** out = Σ_j att[j]·v_j, as the last pass of {@link DenseAttention#attendRow} does it (before the 1/sum). */
    static float valuePass(float[] att, float[] v, int vOff, int n, int dv, float[] out, int outOff) {
        Arrays.fill(out, outOff, outOff + dv, 0f);
        for (int j = 0; j < n; j++) {
            Kernels.axpy(att[j], v, vOff + j * dv, out, outOff, dv);
        }
        return out[outOff] + out[outOff + dv - 1];
    }

    private static void row(Probe p, Probe reference) {
        String gb = p.bytes == 0 ? "-" : String.format(Locale.ROOT, "%.1f", p.gbPerS());
        String of = reference == null ? "-" : String.format(Locale.ROOT, "%.0f%%",
                100 * reference.medianMs() / p.medianMs() * p.bytes / reference.bytes);
        System.out.printf(Locale.ROOT, "%-38s %10.3f %8s %9s%n", p.name, p.medianMs(), gb, of);
    }

    private static void verdict(String what, Probe p, Probe read) {
        double ratio = read.medianMs() / p.medianMs();
        System.out.printf(Locale.ROOT, "%s reaches %.0f%% of the plain SIMD read bandwidth (target %.0f%%)%s%n",
                what, 100 * ratio, 100 * TARGET, ratio >= TARGET ? "" : ": BELOW TARGET");
    }
}
