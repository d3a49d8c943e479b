package org.hsr.cli;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.hsr.attention.BiasRule;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionInput;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.DenseReference;
import org.hsr.attention.Selection;
import org.hsr.kv.KvCache;
import org.hsr.kv.KvShape;
import org.hsr.store.ElementType;

/**
 * {@code hsr bench engine}: one decoding token of a whole model's attention (every layer, every query head) at a real
 * model's shape, dense and hsr over the same {@link KvCache}, which holds {@code n} positions per layer and kv head.
 * Keys, values and queries come from the workload ({@code --dist}); generating them for every (layer, kv head) would
 * take minutes, so {@value #DATASETS} distinct head datasets are drawn and head (layer, h) gets dataset
 * {@code (layer·kvHeads + h) mod} {@value #DATASETS}; each still has its own copy in the cache, so memory traffic is
 * that of the full model. Output error is measured against float64 attention on the stored values for the query
 * heads of {@value #CHECKED_HEADS} kv heads.
 */
final class EngineBench {
    static final int DATASETS = 8, CHECKED_HEADS = 2, WARM_TOKENS = 3, TIMED_TOKENS = 7;

    private EngineBench() {}

    /** {@code steps}: decoding steps timed one token at a time after the n cached positions (0: none). */
    record Options(int layers, int heads, int kvHeads, int d, int n, ElementType kv, int threads, String dist,
                   boolean relu, Selection selection, int steps) {}

    static Map<String, Object> run(Options o, BenchCommand.Progress progress) {
        KvShape shape = KvShape.of(o.layers(), o.heads(), o.kvHeads(), o.d(), o.kv());
        int group = shape.group(), d = o.d(), n = o.n();
        int sets = Math.min(DATASETS, o.layers() * o.kvHeads());
        Workloads.Data[] data = new Workloads.Data[sets];
        for (int s = 0; s < sets; s++) data[s] = Workloads.make(o.dist(), new SplittableRandom(1000L + s), n, group, d);
        float bias = (float) BiasRule.paper(data[0].scoreStd(), n);
        AttentionConfig cfg = o.relu() ? AttentionConfig.relu(1, bias, false) : AttentionConfig.softmax(false);
        ExecutorService pool = o.threads() > 1 ? Executors.newFixedThreadPool(o.threads(), r -> {
            Thread t = new Thread(r, "hsr-engine-bench");
            t.setDaemon(true);
            return t;
        }) : null;
        try (KvCache cache = KvCache.builder(shape).attention(cfg).selection(o.relu() ? null : o.selection())
                .executor(pool).build()) {
            // the cache: every (layer, kv head) holds its dataset's n positions, appended in bulk per layer
            long t0 = System.nanoTime();
            float[] k = new float[n * shape.keyWidth()], v = new float[n * shape.valueWidth()];
            float[][] q = new float[o.layers()][shape.queryWidth()];
            for (int layer = 0; layer < o.layers(); layer++) {
                for (int h = 0; h < o.kvHeads(); h++) {
                    Workloads.Data ds = data[dataset(layer, h, o.kvHeads(), sets)];
                    for (int p = 0; p < n; p++) {
                        System.arraycopy(ds.k(), p * d, k, (p * o.kvHeads() + h) * d, d);
                        System.arraycopy(ds.v(), p * d, v, (p * o.kvHeads() + h) * d, d);
                    }
                    System.arraycopy(ds.q(), 0, q[layer], h * group * d, group * d);
                }
                cache.append(layer, k, 0, v, 0, n);
                progress.step("engine: layer " + (layer + 1) + "/" + o.layers() + " appended");
            }
            double buildMs = (System.nanoTime() - t0) / 1e6;
            List<Map<String, Object>> results = new ArrayList<>();
            for (KvCache.Method m : new KvCache.Method[] {KvCache.Method.DENSE, KvCache.Method.HSR}) {
                Map<String, Object> row = time(cache, m, q, data, sets, shape, cfg, o, buildMs);
                if (o.steps() > 0) row.putAll(decode(cache, m, q, data, sets, shape, o, progress));
                results.add(row);
                progress.step("engine: " + m.name().toLowerCase());
            }
            Map<String, Object> js = new LinkedHashMap<>();
            js.put("layers", o.layers());
            js.put("heads", o.heads());
            js.put("kv_heads", o.kvHeads());
            js.put("d", d);
            js.put("n", n);
            js.put("kv", o.kv().label());
            js.put("threads", o.threads());
            js.put("dist", o.dist() + (o.dist().equals("llm") ? " (synthetic)" : ""));
            js.put("kind", o.relu() ? "relu" : "softmax");
            js.put("select", o.relu() ? null : o.selection().toString());
            js.put("distinct_head_datasets", sets);
            js.put("cache_build_ms", buildMs);
            js.put("results", results);
            double dense = (Double) results.get(0).get("ms_per_token"), hsr = (Double) results.get(1).get("ms_per_token");
            js.put("hsr_speedup", dense / hsr);
            return js;
        } finally {
            if (pool != null) pool.shutdownNow();
        }
    }

    private static int dataset(int layer, int h, int kvHeads, int sets) {
        return (layer * kvHeads + h) % sets;
    }

    /** Warm-up tokens, then the median of the timed tokens; statistics and error from the first timed token. */
    private static Map<String, Object> time(KvCache cache, KvCache.Method m, float[][] q, Workloads.Data[] data,
                                            int sets, KvShape shape, AttentionConfig cfg, Options o, double buildMs) {
        float[][] out = new float[o.layers()][shape.outputWidth()];
        for (int t = 0; t < WARM_TOKENS; t++) token(cache, m, q, out, null);
        double[] ms = new double[TIMED_TOKENS];
        AttentionStats stats = new AttentionStats();
        for (int t = 0; t < TIMED_TOKENS; t++) {
            long s = System.nanoTime();
            token(cache, m, q, out, t == 0 ? stats : null);
            ms[t] = (System.nanoTime() - s) / 1e6;
        }
        // error on the query heads of the first CHECKED_HEADS kv heads of layer 0, against float64 on stored values
        double err = 0;
        int group = shape.group(), d = shape.headDim();
        for (int h = 0; h < Math.min(CHECKED_HEADS, o.kvHeads()); h++) {
            Workloads.Data ds = data[dataset(0, h, o.kvHeads(), sets)].roundedTo(o.kv());
            float[] qg = Arrays.copyOfRange(q[0], h * group * d, (h + 1) * group * d);
            double[] ref = DenseReference.attend(new AttentionInput(qg, ds.k(), ds.v(), group, 1, 1, o.n(), d, d), cfg);
            float[] got = Arrays.copyOfRange(out[0], h * group * d, (h + 1) * group * d);
            err = Math.max(err, DenseReference.maxRowRelError(got, ref, d));
        }
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("method", m.name().toLowerCase());
        row.put("ms_per_token", CliIO.median(ms));
        row.put("bytes_per_token", (double) stats.bytesRead);
        row.put("cache_bytes", cache.memoryBytes());
        row.put("dense_cache_bytes", (long) o.n() * shape.denseBytesPerPosition());
        row.put("max_rel_err", err);
        row.put("kept_frac", stats.keptFraction());
        row.put("keys_touched_frac", stats.keysTouchedFraction());
        row.put("fallback_rows", stats.fallbackRows);
        row.put("dense_chosen_rows", stats.denseChosenRows);
        row.put("dropped_mass_bound_max", stats.droppedMassBoundMax);
        row.put("build_ms", buildMs);
        return row;
    }

    /**
     * {@code steps} decoding tokens after the n cached positions, one at a time as an engine runs them: per layer one
     * position appended (its dataset's keys and values again, in order) and attended; then the cache is truncated back
     * to n for the next method. The appends cross folds of the heads' indexes (every {@link
     * org.hsr.index.BlockIndex#FOLD} positions per head, at phases of their own), so the tail of this distribution is
     * what a fold costs the token that pays it.
     */
    private static Map<String, Object> decode(KvCache cache, KvCache.Method m, float[][] q, Workloads.Data[] data,
                                              int sets, KvShape shape, Options o, BenchCommand.Progress progress) {
        int n = o.n(), d = o.d(), kvh = o.kvHeads();
        float[] k = new float[shape.keyWidth()], v = new float[shape.valueWidth()];
        float[] out = new float[shape.outputWidth()];
        double[] ms = new double[o.steps()];
        for (int t = 0; t < o.steps(); t++) {
            int src = t % n;
            long s = System.nanoTime();
            for (int layer = 0; layer < o.layers(); layer++) {
                for (int h = 0; h < kvh; h++) {
                    Workloads.Data ds = data[dataset(layer, h, kvh, sets)];
                    System.arraycopy(ds.k(), src * d, k, h * d, d);
                    System.arraycopy(ds.v(), src * d, v, h * d, d);
                }
                cache.append(layer, k, 0, v, 0, 1);
                cache.attend(layer, q[layer], 0, 1, out, 0, m, null);
            }
            ms[t] = (System.nanoTime() - s) / 1e6;
            if (t % 256 == 255) progress.note("engine: " + m.name().toLowerCase() + " step " + (t + 1) + "/" + o.steps());
        }
        cache.truncate(n);
        double[] sorted = ms.clone();
        Arrays.sort(sorted);
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("steps", o.steps());
        row.put("step_ms_p50", sorted[sorted.length / 2]);
        row.put("step_ms_p99", sorted[Math.min(sorted.length - 1, (int) Math.ceil(0.99 * sorted.length) - 1)]);
        row.put("step_ms_max", sorted[sorted.length - 1]);
        row.put("step_ms_mean", Arrays.stream(ms).average().orElse(0));
        return row;
    }

    /** One token: every layer's attention for its queries. */
    private static void token(KvCache cache, KvCache.Method m, float[][] q, float[][] out, AttentionStats st) {
        for (int layer = 0; layer < q.length; layer++) cache.attend(layer, q[layer], 0, 1, out[layer], 0, m, st);
    }
}
