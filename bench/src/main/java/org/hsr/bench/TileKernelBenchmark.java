package org.hsr.bench;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.hsr.simd.TileKernelSupport;
import org.hsr.simd.TileKernels;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The prefill tile product {@code C += A·B} in the two shapes prefill runs: scores (72 queries × 64 keys × d) and
 * values (72 × dv × 64 keys), scalar and Vector API twins (the forks differ only in the incubator module). The result
 * tile is returned, so nothing is optimised away; GFLOP/s = {@code 2·72·cols·inner / ns}.
 *
 * <pre>bench/run-jmh.sh TileKernelBenchmark -f 1 -wi 2 -i 3</pre>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsPrepend = {KernelBenchmark.XMS, KernelBenchmark.XMX, KernelBenchmark.PRETOUCH})
public class TileKernelBenchmark {

    private static final TileKernelSupport SCALAR = TileKernels.scalar();

    /** The Vector API tile kernels, looked up only by the vector twins. */
    private static final class Simd {
        static final TileKernelSupport IMPL = TileKernels.panama().orElseThrow(() -> new IllegalStateException(
                "Vector API tile kernels unavailable in this fork"));
    }

    /** A (72 × inner) times B (inner × cols) into C: "scores" is inner = d, cols = 64; "values" inner = 64, cols = dv. */
    @State(Scope.Thread)
    public static class Tiles {
        @Param({"scores", "values"})
        public String shape;
        @Param({"64", "128"})
        public int d;

        int rows = 72, inner, cols;
        float[] a, b, c;

        @Setup
        public void setup() {
            inner = shape.equals("scores") ? d : 64;
            cols = shape.equals("scores") ? 64 : d;
            SplittableRandom r = new SplittableRandom(d);
            a = new float[rows * inner];
            b = new float[inner * cols];
            c = new float[rows * cols];
            for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian();
            for (int i = 0; i < b.length; i++) b[i] = (float) r.nextGaussian();
        }
    }

    @Benchmark
    @Fork(value = 3, jvmArgsPrepend = {KernelBenchmark.XMS, KernelBenchmark.XMX, KernelBenchmark.PRETOUCH})
    public float[] gemmScalar(Tiles t) {
        SCALAR.gemm(t.a, 0, t.inner, t.b, 0, t.cols, t.c, 0, t.cols, t.rows, t.cols, t.inner);
        return t.c;
    }

    @Benchmark
    @Fork(value = 3, jvmArgsPrepend = {KernelBenchmark.XMS, KernelBenchmark.XMX, KernelBenchmark.PRETOUCH,
        KernelBenchmark.VECTOR})
    public float[] gemmVector(Tiles t) {
        Simd.IMPL.gemm(t.a, 0, t.inner, t.b, 0, t.cols, t.c, 0, t.cols, t.rows, t.cols, t.inner);
        return t.c;
    }
}
