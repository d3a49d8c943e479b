package org.hsr.bench;

import java.util.concurrent.TimeUnit;
import org.hsr.attention.BiasRule;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionInput;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.DenseAttention;
import org.hsr.simd.Kernels;
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
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * One decoding step (m = 1, no causal mask) of dense fp32 attention over n keys and values of d = dv = 128, on the
 * SPEC's {@code gaussian} workload: q, k, v i.i.d. N(0, 1), c = 1/sqrt(d), ReLU bias b = sqrt(0.4·ln n).
 *
 * <p>Unlike {@link KernelBenchmark}, the twins go through the {@link Kernels} facade exactly as the library does, so
 * the implementation is chosen by the JVM flags: the {@code …Scalar} twin forks without the incubator module (the
 * core falls back to scalar), the {@code …Vector} twin with it. {@link #setup} checks the choice and refuses to run a
 * twin on the wrong kernels.
 *
 * <pre>bench/run-jmh.sh DenseAttentionBenchmark -f 1 -wi 2 -i 3</pre>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 3, jvmArgsPrepend = {DenseAttentionBenchmark.XMS, DenseAttentionBenchmark.XMX,
        DenseAttentionBenchmark.PRETOUCH})
@State(Scope.Thread)
public class DenseAttentionBenchmark {

    static final String XMS = "-Xms2g";
    static final String XMX = "-Xmx2g";
    static final String PRETOUCH = "-XX:+AlwaysPreTouch";
    static final String VECTOR = "--add-modules=jdk.incubator.vector";

    static final int D = 128;
    static final int DV = 128;
    /** ReLU power α; the dense cost does not depend on it (every weight is computed and every value read). */
    static final int ALPHA = 2;

    /** Keys (and values) in the cache: K and V take n·128·4 bytes each, 16 MiB at n = 32768 and 64 MiB at 131072. */
    @Param({"32768", "131072"})
    public int n;

    private AttentionInput input; // q (1, D), k (n, D), v (n, DV)
    private AttentionConfig softmax;
    private AttentionConfig relu;
    private DenseAttention dense; // holds the (n) score row, reused across calls
    private AttentionStats stats;

    @Setup(Level.Trial)
    public void setup(BenchmarkParams params) {
        Twins.requireKernels(params);
        input = AttentionInput.singleHead(Gaussian.array(D, 11), Gaussian.array(n * D, 12),
                Gaussian.array(n * DV, 13), 1, n, D, DV);
        softmax = AttentionConfig.softmax(false);
        relu = AttentionConfig.relu(ALPHA, (float) BiasRule.paper(1, n), false);
        dense = new DenseAttention();
        stats = new AttentionStats();
    }

    // ---- softmax ----

    @Benchmark
    public float[] softmaxScalar() {
        return dense.attend(input, softmax, stats);
    }

    @Benchmark
    @Fork(value = 3, jvmArgsPrepend = {VECTOR, XMS, XMX, PRETOUCH})
    public float[] softmaxVector() {
        return dense.attend(input, softmax, stats);
    }

    // ---- ReLU^alpha ----

    @Benchmark
    public float[] reluScalar() {
        return dense.attend(input, relu, stats);
    }

    @Benchmark
    @Fork(value = 3, jvmArgsPrepend = {VECTOR, XMS, XMX, PRETOUCH})
    public float[] reluVector() {
        return dense.attend(input, relu, stats);
    }
}
