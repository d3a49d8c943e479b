package org.hsr.bench;

import java.util.concurrent.TimeUnit;
import org.hsr.simd.KernelProvider;
import org.hsr.simd.KernelSupport;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Scalar and Vector API twins of the SIMD kernels, after Lucene's {@code VectorUtilBenchmark}.
 *
 * <p>Each {@code …Scalar} method calls {@link KernelProvider#scalar()} in a fork without the incubator module; each
 * {@code …Vector} twin calls {@link KernelProvider#panama()} in a fork started with
 * {@code --add-modules=jdk.incubator.vector}. The two {@code @Fork} annotations differ only in that flag. A
 * method-level {@code @Fork} replaces the class-level one whole in JMH, so both repeat the heap flags.
 *
 * <p>Sizes include the awkward ones (1, a prime below one vector, 2^k − 1, a prime near 1024) so that the scalar
 * fallback and the vector tails are measured, not only the clean multiples of the lane count.
 *
 * <pre>bench/run-jmh.sh KernelBenchmark -f 1 -wi 2 -i 3</pre>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsPrepend = {KernelBenchmark.XMS, KernelBenchmark.XMX, KernelBenchmark.PRETOUCH})
public class KernelBenchmark {

    static final String XMS = "-Xms1g";
    static final String XMX = "-Xmx1g";
    static final String PRETOUCH = "-XX:+AlwaysPreTouch";
    static final String VECTOR = "--add-modules=jdk.incubator.vector";

    private static final KernelSupport SCALAR = KernelProvider.scalar();

    /**
     * The Vector API kernels, looked up only by the {@code …Vector} twins, so that a scalar fork never asks for them.
     * Fails loudly when a vector fork lacks the module (for instance with {@code -f 0} or {@code -jvmArgs} overrides).
     */
    private static final class Simd {
        static final KernelSupport IMPL = KernelProvider.panama().orElseThrow(() -> new IllegalStateException(
                "Vector API kernels unavailable in this fork: "
                        + KernelProvider.fallbackReason().orElse("unknown reason")));
    }

    /** Two input vectors, an accumulator and a score row of {@code size} floats. */
    @State(Scope.Thread)
    public static class Vectors {
        @Param({"1", "7", "64", "127", "128", "1021"})
        public int size;

        float[] a; // (size) first operand of dot, x of axpy
        float[] b; // (size) second operand of dot
        float[] y; // (size) axpy accumulator, grows by a·x per call (stays far from overflow)
        float[] scores; // (size) scores given to expAndSum, never modified
        float[] att; // (size) scratch row that expAndSum overwrites in place
        float scoreMax; // max of scores: the shift that softmax uses
        float alpha = 0.5f;

        @Setup(Level.Trial)
        public void setup() {
            a = Gaussian.array(size, 1);
            b = Gaussian.array(size, 2);
            y = Gaussian.array(size, 3);
            scores = Gaussian.array(size, 4);
            att = new float[size];
            scoreMax = SCALAR.max(scores, 0, size);
        }
    }

    /** One query against a block of 1024 row-major keys of dimension 128: the {@code q·K} scan of dense attention. */
    @State(Scope.Thread)
    public static class KeyBlock {
        static final int COUNT = 1024;
        static final int D = 128;

        float[] q; // (D)
        float[] keys; // (COUNT, D), 512 KiB: in L2/L3, so this measures the kernel rather than DRAM
        float[] out; // (COUNT)

        @Setup(Level.Trial)
        public void setup() {
            q = Gaussian.array(D, 5);
            keys = Gaussian.array(COUNT * D, 6);
            out = new float[COUNT];
        }
    }

    /**
     * 1024 keys of d = 128 in the int8 sketch layout (16 blocks of 64), 128 KiB of codes, with a block's scales: the
     * index's per-key filter. A JDK update that pushes the digit decode off the intrinsics shows here first.
     */
    @State(Scope.Thread)
    public static class SketchBlock {
        static final int COUNT = 1024, D = 128, QUADS = D / 4, BLOCK = 64;

        float[] q, scale, err, prepared;
        int[] codes, slots;

        @Setup(Level.Trial)
        public void setup() {
            q = Gaussian.array(D, 7);
            scale = new float[D];
            for (int t = 0; t < D; t++) scale[t] = 0.01f + Math.abs(Gaussian.array(1, 100 + t)[0]) * 0.01f;
            err = new float[COUNT];
            prepared = new float[D];
            slots = new int[BLOCK];
            codes = new int[COUNT * QUADS];
            java.util.SplittableRandom r = new java.util.SplittableRandom(8);
            for (int i = 0; i < codes.length; i++) {
                codes[i] = org.hsr.simd.Kernels.packInt8(r.nextInt(-127, 128), r.nextInt(-127, 128),
                        r.nextInt(-127, 128), r.nextInt(-127, 128));
            }
        }

        /** The filter over all 16 blocks with a bar nothing reaches (so only the sketch is timed); returns the count. */
        int filterAll(KernelSupport k) {
            int lanes = k.int8Lanes(), found = 0;
            k.int8Query(q, 0, scale, 0, D, prepared);
            for (int b = 0; b < COUNT / BLOCK; b++) {
                found += k.int8Filter(codes, b * BLOCK * QUADS, BLOCK / lanes, QUADS, lanes, prepared, 0f, 1f, err,
                        b * BLOCK, Float.MAX_VALUE, slots);
            }
            return found;
        }
    }

    // ---- int8 sketch filter: 1024 keys of d = 128 ----

    @Benchmark
    public int int8FilterScalar(SketchBlock s) {
        return s.filterAll(SCALAR);
    }

    @Benchmark
    @Fork(value = 3, jvmArgsPrepend = {VECTOR, XMS, XMX, PRETOUCH})
    public int int8FilterVector(SketchBlock s) {
        return s.filterAll(Simd.IMPL);
    }

    // ---- dot ----

    @Benchmark
    public float dotScalar(Vectors s) {
        return SCALAR.dot(s.a, 0, s.b, 0, s.size);
    }

    @Benchmark
    @Fork(value = 3, jvmArgsPrepend = {VECTOR, XMS, XMX, PRETOUCH})
    public float dotVector(Vectors s) {
        return Simd.IMPL.dot(s.a, 0, s.b, 0, s.size);
    }

    // ---- dotMany: one query against 1024 keys of d = 128 ----

    @Benchmark
    public float[] dotManyScalar(KeyBlock s) {
        SCALAR.dotMany(s.q, 0, s.keys, 0, KeyBlock.COUNT, KeyBlock.D, s.out, 0);
        return s.out;
    }

    @Benchmark
    @Fork(value = 3, jvmArgsPrepend = {VECTOR, XMS, XMX, PRETOUCH})
    public float[] dotManyVector(KeyBlock s) {
        Simd.IMPL.dotMany(s.q, 0, s.keys, 0, KeyBlock.COUNT, KeyBlock.D, s.out, 0);
        return s.out;
    }

    // ---- axpy: y += alpha·a ----

    @Benchmark
    public float[] axpyScalar(Vectors s) {
        SCALAR.axpy(s.alpha, s.a, 0, s.y, 0, s.size);
        return s.y;
    }

    @Benchmark
    @Fork(value = 3, jvmArgsPrepend = {VECTOR, XMS, XMX, PRETOUCH})
    public float[] axpyVector(Vectors s) {
        Simd.IMPL.axpy(s.alpha, s.a, 0, s.y, 0, s.size);
        return s.y;
    }

    // ---- expAndSum: in place, so each call first restores its input (JMH sample 38: per-call setup is measured) ----

    @Benchmark
    public float expAndSumScalar(Vectors s) {
        System.arraycopy(s.scores, 0, s.att, 0, s.size);
        return SCALAR.expAndSum(s.att, 0, s.size, s.scoreMax);
    }

    @Benchmark
    @Fork(value = 3, jvmArgsPrepend = {VECTOR, XMS, XMX, PRETOUCH})
    public float expAndSumVector(Vectors s) {
        System.arraycopy(s.scores, 0, s.att, 0, s.size);
        return Simd.IMPL.expAndSum(s.att, 0, s.size, s.scoreMax);
    }
}
