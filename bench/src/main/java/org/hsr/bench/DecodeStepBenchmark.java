package org.hsr.bench;

import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.hsr.attention.BiasRule;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionStats;
import org.hsr.kv.KvCache;
import org.hsr.kv.KvShape;
import org.hsr.store.ElementType;
import org.hsr.attention.Selection;
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
 * One decoding step of one layer: {@link KvCache#attend} for {@value #HEADS} query heads over
 * {@value #KV_HEADS} kv heads (grouped-query attention) after n positions were appended, through the index
 * ({@code hsr…}) and dense ({@code dense…}, {@link KvCache.Method#DENSE}: every key and value, each kv head's rows read
 * once for its query heads) over the same cache and storage type ({@code kv}). d = dv = 128.
 * <ul>
 *   <li><b>ReLU^2</b> on the SPEC's {@code gaussian} workload (q, k, v i.i.d. N(0, 1)) with the paper's bias
 *       {@code b = sqrt(0.4·ln n)} (scaled scores have σ = 1): exact, about 1.5% of the keys active.</li>
 *   <li><b>softmax, {@code epsilon:1e-3}</b> on a <b>synthetic</b> peaked workload, because certified softmax on
 *       Gaussian scores has no sparsity to find (every row would fall back to dense): the score structure of the
 *       CLI's {@code llm} stand-in without its low rank, outlier channels and RoPE. Per kv head a unit direction ν;
 *       its query heads are {@code q = sqrt(0.75·d)·ν + 0.5·N(0, I)} (so bulk scaled scores have σ ≈ 1), and along ν
 *       2% of the keys (heavy hitters) are raised by about 12 in scaled score, key 0 (a sink) by 14 and the last 32
 *       keys (recency) by 8. Values N(0, 1).</li>
 * </ul>
 *
 * <p>Setup appends the n positions one by one (as decoding does, so the index has its decode-time shape: folded
 * blocks plus a tail) and makes {@value #STEPS} steps' queries; each call attends the next of them. The cache is not
 * grown during the measurement: every call sees the same n. Setup prints the kept and exactly scored fractions.
 *
 * <p>Twins as in {@link DenseAttentionBenchmark}: the {@code …Vector} twin differs only by the incubator module.
 *
 * <pre>bench/run-jmh.sh DecodeStepBenchmark -f 1 -wi 2 -i 3</pre>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 3, jvmArgsPrepend = {DecodeStepBenchmark.XMS, DecodeStepBenchmark.XMX, DecodeStepBenchmark.PRETOUCH})
@State(Scope.Thread)
public class DecodeStepBenchmark {

    static final String XMS = "-Xms3g";
    static final String XMX = "-Xmx3g";
    static final String PRETOUCH = "-XX:+AlwaysPreTouch";
    static final String VECTOR = "--add-modules=jdk.incubator.vector";

    static final int HEADS = 8;
    static final int KV_HEADS = 2;
    static final int D = 128;
    static final int DV = 128;
    static final int ALPHA = 2;
    /** Decoding steps whose queries are cycled through, one per call. */
    static final int STEPS = 16;
    static final String EPSILON = "epsilon:1e-3";

    static final double HEAVY_FRACTION = 0.02, HEAVY_BOOST = 12, SINK_BOOST = 14, RECENT_BOOST = 8;
    static final int RECENT = 32;

    /** Positions in the cache: K and V take 2·n·128·4 bytes each, 32 MiB at n = 32768 and 128 MiB at 131072. */
    @Param({"32768", "131072"})
    public int n;

    /** The storage type of keys and values, for both methods. */
    @Param({"bf16", "fp32"})
    public String kv;

    private KvCache session; // one layer, n positions appended
    private KvCache.Method method; // hsr… or dense…
    private float[][] q; // (STEPS) -> (HEADS * D)
    private float[] out; // (HEADS * DV)
    private AttentionConfig cfg;
    private int next; // the step of the next call

    @Setup(Level.Trial)
    public void setup(BenchmarkParams params) {
        Twins.requireKernels(params);
        String name = params.getBenchmark().substring(params.getBenchmark().lastIndexOf('.') + 1);
        boolean relu = name.contains("Relu");
        boolean hsr = name.startsWith("hsr");
        // keys, values: (KV_HEADS, n, D); queries: (STEPS, HEADS * D)
        float[] k = Gaussian.array(KV_HEADS * n * D, 31), v = Gaussian.array(KV_HEADS * n * DV, 32);
        q = new float[STEPS][];
        for (int s = 0; s < STEPS; s++) q[s] = Gaussian.array(HEADS * D, 100 + s);
        if (relu) {
            cfg = AttentionConfig.relu(ALPHA, (float) BiasRule.paper(1, n), false);
        } else {
            cfg = AttentionConfig.softmax(false);
            makePeaked(k, q, n);
        }
        out = new float[HEADS * DV];
        method = hsr ? KvCache.Method.HSR : KvCache.Method.DENSE;
        session = KvCache.builder(new KvShape(1, HEADS, KV_HEADS, D, DV, ElementType.parse(kv))).attention(cfg)
                .selection(relu || !hsr ? null : Selection.parse(EPSILON)).method(method).build();
        float[] kPos = new float[KV_HEADS * D], vPos = new float[KV_HEADS * DV];
        for (int pos = 0; pos < n; pos++) {
            for (int h = 0; h < KV_HEADS; h++) {
                System.arraycopy(k, (h * n + pos) * D, kPos, h * D, D);
                System.arraycopy(v, (h * n + pos) * DV, vPos, h * DV, DV);
            }
            session.append(0, kPos, 0, vPos, 0, 1);
        }
        for (float[] step : q) session.attend(0, step, 0, out, 0);
        AttentionStats st = session.stats();
        System.out.printf(Locale.ROOT, "%n%s %s n=%d %s: kept %.2f%% of keys, scored %.2f%% exactly, %d fallback "
                + "rows of %d%n", method, relu ? "ReLU^" + ALPHA : hsr ? "softmax " + EPSILON : "softmax", n, kv,
                100 * st.keptFraction(), 100 * st.keysTouchedFraction(), st.fallbackRows, st.rows);
    }

    /**
     * The synthetic peaked workload (class comment), in place: queries of kv head g point along ν_g, and keys of kv head
     * g get their boosts along ν_g.
     */
    private static void makePeaked(float[] k, float[][] q, int n) {
        SplittableRandom r = new SplittableRandom(33);
        int group = HEADS / KV_HEADS;
        double along = Math.sqrt(0.75 * D); // <q, ν>: with 0.5·N(0, I) noise, ‖q‖ ≈ sqrt(D), so bulk σ ≈ 1
        double perScore = Math.sqrt(D) / along; // raising k by x·perScore·ν raises its scaled score by about x
        for (int g = 0; g < KV_HEADS; g++) {
            float[] nu = Gaussian.array(D, 40 + g);
            double norm = 0;
            for (float x : nu) norm += x * x;
            norm = Math.sqrt(norm);
            for (int t = 0; t < D; t++) nu[t] /= (float) norm;
            for (float[] step : q) {
                for (int h = g * group; h < (g + 1) * group; h++) {
                    for (int t = 0; t < D; t++) step[h * D + t] = (float) (along * nu[t] + 0.5 * step[h * D + t]);
                }
            }
            for (int j = 0; j < n; j++) {
                double boost = j == 0 ? SINK_BOOST : j >= n - RECENT ? RECENT_BOOST
                        : r.nextDouble() < HEAVY_FRACTION ? HEAVY_BOOST : 0;
                if (boost == 0) continue;
                for (int t = 0; t < D; t++) k[(g * n + j) * D + t] += (float) (boost * perScore * nu[t]);
            }
        }
    }

    /** The next step's attend, by the cache's method (HSR or DENSE, chosen in setup from the benchmark's name). */
    private float[] step() {
        float[] step = q[next];
        next = (next + 1) % STEPS;
        session.attend(0, step, 0, out, 0);
        return out;
    }

    // ---- ReLU^2, Gaussian, the paper's bias ----

    @Benchmark
    public float[] hsrReluScalar() {
        return step();
    }

    @Benchmark
    @Fork(value = 3, jvmArgsPrepend = {VECTOR, XMS, XMX, PRETOUCH})
    public float[] hsrReluVector() {
        return step();
    }

    @Benchmark
    public float[] denseReluScalar() {
        return step();
    }

    @Benchmark
    @Fork(value = 3, jvmArgsPrepend = {VECTOR, XMS, XMX, PRETOUCH})
    public float[] denseReluVector() {
        return step();
    }

    // ---- softmax, peaked (synthetic), certified epsilon:1e-3 ----

    @Benchmark
    public float[] hsrSoftmaxScalar() {
        return step();
    }

    @Benchmark
    @Fork(value = 3, jvmArgsPrepend = {VECTOR, XMS, XMX, PRETOUCH})
    public float[] hsrSoftmaxVector() {
        return step();
    }

    @Benchmark
    public float[] denseSoftmaxScalar() {
        return step();
    }

    @Benchmark
    @Fork(value = 3, jvmArgsPrepend = {VECTOR, XMS, XMX, PRETOUCH})
    public float[] denseSoftmaxVector() {
        return step();
    }
}
