package org.hsr.bench;

import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.hsr.attention.BiasRule;
import org.hsr.index.BlockIndex;
import org.hsr.index.FlatIndex;
import org.hsr.index.HalfSpaceIndex;
import org.hsr.index.SearchWork;
import org.hsr.index.ThresholdCollector;
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
 * One half-space report {@code {j : <q,k_j> >= t}} through {@link HalfSpaceIndex#search} with a reused
 * {@link ThresholdCollector}: the fast {@link BlockIndex} against the exact scan {@link FlatIndex}, over n keys of
 * d = 128 on the SPEC's {@code gaussian} workload (q, k i.i.d. N(0, 1)) at the paper's threshold: the ReLU bias
 * {@code b = sqrt(0.4·ln n)} on the scaled score is the raw threshold {@code t = b/c = sqrt(d)·sqrt(0.4·ln n)}
 * (about 1.5% of the keys reported at n = 131072).
 *
 * <p>The index is built once per trial, outside the measurement; only the query is timed. Each call takes the next
 * of {@value #QUERIES} queries made in setup, so the branch predictor does not learn one query's walk. Setup prints
 * the work of one pass over the queries (hits, keys scored exactly), so a time can be read against the work done.
 *
 * <p>Twins as in {@link DenseAttentionBenchmark}: the library is used through the {@link Kernels} facade and the
 * {@code …Vector} twin differs only by {@code --add-modules=jdk.incubator.vector} in its {@code @Fork}; setup refuses
 * to run a twin on the wrong kernels.
 *
 * <pre>bench/run-jmh.sh IndexQueryBenchmark -f 1 -wi 2 -i 3</pre>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 3, jvmArgsPrepend = {IndexQueryBenchmark.XMS, IndexQueryBenchmark.XMX, IndexQueryBenchmark.PRETOUCH})
@State(Scope.Thread)
public class IndexQueryBenchmark {

    static final String XMS = "-Xms2g";
    static final String XMX = "-Xmx2g";
    static final String PRETOUCH = "-XX:+AlwaysPreTouch";
    static final String VECTOR = "--add-modules=jdk.incubator.vector";

    static final int D = 128;
    /** Queries cycled through, one per call. */
    static final int QUERIES = 64;

    /** Keys in the index: 16 MiB of fp32 keys at n = 32768, 64 MiB at 131072. */
    @Param({"32768", "131072"})
    public int n;

    private HalfSpaceIndex index; // BlockIndex or FlatIndex over (n, D) keys, chosen by the benchmark's name
    private float[] queries; // (QUERIES, D)
    private float t; // raw dot-product threshold, sqrt(D)·sqrt(0.4·ln n)
    private ThresholdCollector collector; // reused: reset per call, buffers kept
    private int next; // the query of the next call

    @Setup(Level.Trial)
    public void setup(BenchmarkParams params) {
        Twins.requireKernels(params);
        String method = params.getBenchmark().substring(params.getBenchmark().lastIndexOf('.') + 1);
        index = method.startsWith("flat") ? new FlatIndex(D) : new BlockIndex(D);
        index.add(Gaussian.array(n * D, 21), n);
        queries = Gaussian.array(QUERIES * D, 22);
        t = (float) (Math.sqrt(D) * BiasRule.paper(1, n));
        collector = new ThresholdCollector(t);
        // the work behind the times: one pass over the queries
        SearchWork work = new SearchWork();
        long hits = 0;
        for (int i = 0; i < QUERIES; i++) {
            collector.reset(t);
            index.search(queries, i * D, collector, work);
            hits += collector.size();
        }
        System.out.printf(Locale.ROOT, "%n%s n=%d t=%.2f: %.0f hits per query (%.2f%%), %.2f%% of keys scored exactly%n",
                index.getClass().getSimpleName(), n, t, (double) hits / QUERIES, 100.0 * hits / QUERIES / n,
                100 * work.keysScoredFraction());
    }

    /** One query: reset the collector, walk the index, return the number of hits (the collector holds them). */
    private int query() {
        int off = next * D;
        next = (next + 1) % QUERIES;
        collector.reset(t);
        index.search(queries, off, collector, null);
        return collector.size();
    }

    // ---- BlockIndex: certified bounds (centring, blocks, int8 sketch), exact fp32 scores for the survivors ----

    @Benchmark
    public int blockScalar() {
        return query();
    }

    @Benchmark
    @Fork(value = 3, jvmArgsPrepend = {VECTOR, XMS, XMX, PRETOUCH})
    public int blockVector() {
        return query();
    }

    // ---- FlatIndex: the exact scan of every key ----

    @Benchmark
    public int flatScalar() {
        return query();
    }

    @Benchmark
    @Fork(value = 3, jvmArgsPrepend = {VECTOR, XMS, XMX, PRETOUCH})
    public int flatVector() {
        return query();
    }
}
