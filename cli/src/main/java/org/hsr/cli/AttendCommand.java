package org.hsr.cli;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionInput;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.DenseAttention;
import org.hsr.attention.Selection;
import org.hsr.attention.prefill.TiledPrefill;
import org.hsr.index.HalfSpaceIndex;
import org.hsr.io.NpyArray;
import org.hsr.kv.KvCache;
import org.hsr.kv.KvShape;
import org.hsr.store.ElementType;
import org.hsr.vector.Vectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code hsr attend}: dense or HSR attention on {@code .npy} inputs (SPEC §3, §4, §7). */
@Command(name = "attend", mixinStandardHelpOptions = true,
        description = "Attention output for queries Q against keys K and values V (2-D, or 3-D with heads first).")
final class AttendCommand implements Callable<Integer> {

    @Option(names = "--q", required = true, description = "queries: m x d, or H x m x d") Path qPath;
    @Option(names = "--k", required = true, description = "keys: n x d, or Hkv x n x d") Path kPath;
    @Option(names = "--v", required = true, description = "values: n x dv, or Hkv x n x dv") Path vPath;
    @Option(names = "--out", required = true, description = "output .npy (m x dv or H x m x dv, float32)") Path out;
    @Option(names = "--kind", defaultValue = "softmax", description = "relu or softmax") String kind;
    @Option(names = "--alpha", defaultValue = "1", description = "ReLU power, integer >= 1") int alpha;
    @Option(names = "--bias", defaultValue = "0", description = "ReLU bias b on the scaled score") float bias;
    @Option(names = "--scale", description = "score scale c (default 1/sqrt(d))") Float scale;
    @Option(names = "--causal", description = "causal mask: the m queries are the last m positions") boolean causal;
    @Option(names = "--mode", defaultValue = "dense", description = "dense or hsr") String mode;
    @Option(names = "--select", description = "softmax key selection: threshold:T, top:R or epsilon:E") String select;
    @Option(names = "--threads", defaultValue = "1", description = "threads over heads and query tiles (m > 1)") int threads;
    @Option(names = "--kv", defaultValue = "fp32", description = "storage type of K and V: fp32, bf16 or fp16 (SPEC §9; "
            + "default: ${DEFAULT-VALUE}); outputs are exact against float64 on the stored values") String kv;
    @Option(names = "--repeat", defaultValue = "1", description = "timed repetitions (after one warm-up when > 1)") int repeat;
    @Option(names = "--stats", description = "statistics JSON file") Path stats;

    @Override
    public Integer call() throws Exception {
        CliIO.requirePositive(repeat, "--repeat");
        CliIO.requirePositive(threads, "--threads");
        AttentionConfig cfg = config();
        if (!mode.equals("dense") && !mode.equals("hsr")) {
            throw new UsageException("--mode must be dense or hsr, got " + mode);
        }
        selection(select, cfg); // checked in every mode, though only --mode hsr uses it
        CliIO.checkOutputs(List.of(CliIO.named("--q", qPath), CliIO.named("--k", kPath), CliIO.named("--v", vPath)),
                List.of(CliIO.named("--out", out), CliIO.named("--stats", stats)));
        ElementType type = CliIO.elementType(kv);
        AttentionInput in = input(type);
        TiledPrefill tiled = new TiledPrefill(threads);
        // m > 1 causal rows (and hsr's tileable policies): the tiled prefill over the rounded arrays; everything else
        // through an engine cache of the --kv type, built once (build_ms) and then attended
        boolean tiledPath = in.m() > 1 && causal && (mode.equals("dense") || HsrRunner.tileable(cfg, select));
        // the engine cache keeps its keys in the index, which refuses norms above HalfSpaceIndex.MAX_NORM; dense
        // attention needs no index, so such inputs run on the plain dense kernels, refused only where a score overflows
        boolean plainDense = !tiledPath && mode.equals("dense") && beyondIndexNorm(in);
        CacheRunner cache = tiledPath || plainDense ? null : new CacheRunner(in, cfg, select, mode.equals("dense")
                ? KvCache.Method.DENSE : KvCache.Method.HSR, type);
        DenseAttention denseKernels = new DenseAttention();
        AttentionRunner runner = cache != null ? cache::run
                : plainDense ? (i, st) -> denseKernels.attend(i, cfg, st)
                : mode.equals("dense") ? (i, st) -> tiled.dense(i, cfg, st) : HsrRunner.create(cfg, select, in, tiled);
        if (repeat > 1) runner.run(in, new AttentionStats()); // warm-up
        double[] ms = new double[repeat];
        float[] result = null;
        AttentionStats st = null;
        double buildMs = cache != null ? cache.buildMs : 0;
        for (int r = 0; r < repeat; r++) {
            st = new AttentionStats();
            long t0 = System.nanoTime();
            result = runner.run(in, st);
            ms[r] = (System.nanoTime() - t0) / 1e6;
            TiledPrefill.Run tr = tiled.lastRun();
            if (tr != null && mode.equals("hsr")) { // the tiled HSR builds its key-tile bounds inside the call
                ms[r] -= tr.buildMs();
                buildMs = tr.buildMs();
            }
        }
        int[] shape = in.heads() == 1 && qRank == 2 ? new int[] {in.m(), in.dv()} : new int[] {in.heads(), in.m(), in.dv()};
        Map<String, Object> js = new LinkedHashMap<>();
        js.put("mode", mode);
        js.put("kind", kind);
        js.put("kernels", Vectors.kernels());
        js.put("rows", st.rows);
        js.put("n", in.n());
        js.put("d", in.d());
        js.put("kept_mean", st.keptMean());
        js.put("kept_frac", st.keptFraction());
        js.put("keys_touched_frac", st.keysTouchedFraction());
        js.put("fallback_walk_keys", st.fallbackWalkKeys);
        js.put("empty_rows", st.emptyRows);
        js.put("fallback_rows", st.fallbackRows);
        js.put("dense_chosen_rows", st.denseChosenRows);
        if (select != null && select.startsWith("epsilon:")) js.put("dropped_mass_bound_max", st.droppedMassBoundMax);
        js.put("attend_ms_median", CliIO.median(ms));
        js.put("build_ms", buildMs);
        js.put("kv", type.label());
        TiledPrefill.Run run = tiled.lastRun();
        // the tiled path: the rounded keys and values, and the key tiles packed from them for the call
        js.put("cache_bytes", cache != null ? cache.cache.memoryBytes()
                : (long) in.kvHeads() * in.n() * (in.d() + in.dv()) * Float.BYTES + (run != null ? run.keyTileBytes() : 0));
        js.put("path", run != null ? "tiled prefill" : plainDense ? "dense kernels (norms beyond the index's 2^62)"
                : "engine cache, a row at a time");
        js.put("threads", run != null ? run.threads() : 1);
        if (run != null) {
            js.put("gflops", TiledPrefill.denseFlops(in, causal) / (CliIO.median(ms) * 1e6));
            js.put("tile_pairs", run.tilePairs());
            js.put("tiles_skipped", run.skippedTiles());
            js.put("tile_kernels", Vectors.tileKernels());
        }
        js.put("repeat", repeat);
        new CliIO.Outputs().npy(out, NpyArray.ofFloats(result, shape)).json(stats, js).write();
        System.out.printf("hsr attend --mode %s --kind %s: %d rows, %.1f keys kept per row, %.2f%% keys scored, %.3f ms%n",
                mode, kind, st.rows, st.keptMean(), 100 * st.keysTouchedFraction(), CliIO.median(ms));
        return 0;
    }

    /** Whether a key or query of {@code in} has a norm above what the index holds ({@link HalfSpaceIndex#MAX_NORM}). */
    static boolean beyondIndexNorm(AttentionInput in) {
        return maxNorm(in.k(), in.d()) > HalfSpaceIndex.MAX_NORM || maxNorm(in.q(), in.d()) > HalfSpaceIndex.MAX_NORM;
    }

    private static double maxNorm(float[] x, int d) {
        double max = 0;
        for (int r = 0; r + d <= x.length; r += d) {
            double sq = 0;
            for (int t = 0; t < d; t++) sq += (double) x[r + t] * x[r + t];
            max = Math.max(max, sq);
        }
        return Math.sqrt(max);
    }

    /** One way of computing attention, timed by the command. */
    interface AttentionRunner {
        float[] run(AttentionInput in, AttentionStats stats);
    }

    /**
     * Attention through a {@link KvCache} holding the keys and values in the {@code --kv} type: built once (timed as
     * {@code build_ms}), then each query row attends every position (causal: the last m positions as one block).
     */
    private static final class CacheRunner {
        final KvCache cache;
        final double buildMs;
        private final boolean causal;
        private final float[] out; // (heads, m, dv), reused by every run

        CacheRunner(AttentionInput in, AttentionConfig cfg, String select, KvCache.Method method, ElementType type) {
            out = new float[in.outputLength()]; // first: a heap too small for it fails before any work
            long t0 = System.nanoTime();
            Selection selection = method == KvCache.Method.DENSE ? null : Selection.parse(select);
            cache = KvCache.builder(new KvShape(1, in.heads(), in.kvHeads(), in.d(), in.dv(), type)).attention(cfg)
                    .selection(selection).method(method).build();
            int n = in.n(), d = in.d(), dv = in.dv(), kvh = in.kvHeads();
            // (kvHeads, n, d) as given -> (n, kvHeads, d) as an engine appends positions
            float[] k = new float[n * kvh * d], v = new float[n * kvh * dv];
            for (int h = 0; h < kvh; h++) {
                for (int p = 0; p < n; p++) {
                    // kOffset/vOffset take a query head: kv head h's first query head is h·group
                    System.arraycopy(in.k(), in.kOffset(h * in.groupSize()) + p * d, k, (p * kvh + h) * d, d);
                    System.arraycopy(in.v(), in.vOffset(h * in.groupSize()) + p * dv, v, (p * kvh + h) * dv, dv);
                }
            }
            cache.append(0, k, 0, v, 0, n);
            buildMs = (System.nanoTime() - t0) / 1e6;
            causal = cfg.causal();
        }

        float[] run(AttentionInput in, AttentionStats st) {
            int m = in.m(), d = in.d(), dv = in.dv(), heads = in.heads();
            if (causal) { // the m rows are the last m positions: one block, (m, heads, d) in and (m, heads, dv) out
                float[] q = new float[m * heads * d], o = new float[m * heads * dv];
                for (int h = 0; h < heads; h++) {
                    for (int i = 0; i < m; i++) System.arraycopy(in.q(), in.qOffset(h, i), q, (i * heads + h) * d, d);
                }
                cache.attend(0, q, 0, m, o, 0, st);
                for (int h = 0; h < heads; h++) {
                    for (int i = 0; i < m; i++) System.arraycopy(o, (i * heads + h) * dv, out, (h * m + i) * dv, dv);
                }
                return out;
            }
            float[] q = new float[heads * d], o = new float[heads * dv];
            for (int i = 0; i < m; i++) { // every row sees every position: one newest-position attend per row
                for (int h = 0; h < heads; h++) System.arraycopy(in.q(), in.qOffset(h, i), q, h * d, d);
                cache.attend(0, q, 0, 1, o, 0, st);
                for (int h = 0; h < heads; h++) System.arraycopy(o, h * dv, out, (h * m + i) * dv, dv);
            }
            return out;
        }
    }

    private int qRank;

    private AttentionConfig config() {
        return config(kind, alpha, bias, scale, causal);
    }

    /** {@code --kind --alpha --bias --scale} as an attention config; usage errors name the flag (also hsr cluster). */
    static AttentionConfig config(String kind, int alpha, float bias, Float scale, boolean causal) {
        AttentionConfig.Kind k = switch (kind) {
            case "relu" -> AttentionConfig.Kind.RELU;
            case "softmax" -> AttentionConfig.Kind.SOFTMAX;
            default -> throw new UsageException("--kind must be relu or softmax, got " + kind);
        };
        if (alpha < 1) throw new UsageException("--alpha must be an integer >= 1, got " + alpha);
        if (!Float.isFinite(bias)) throw new UsageException("--bias must be finite, got " + bias);
        if (scale != null && !(Float.isFinite(scale) && scale > 0)) {
            throw new UsageException("--scale must be finite and > 0, got " + scale);
        }
        return new AttentionConfig(k, alpha, bias, scale == null ? Float.NaN : scale, causal);
    }

    /** {@code --select} parsed (null: dense), for softmax only; usage errors name the flag. */
    static Selection selection(String select, AttentionConfig cfg) {
        if (select != null && cfg.kind() != AttentionConfig.Kind.SOFTMAX) {
            throw new UsageException("--select applies to --kind softmax only");
        }
        try {
            return Selection.parse(select);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--select " + select + ": " + e.getMessage());
        }
    }

    private AttentionInput input(ElementType type) throws java.io.IOException {
        NpyArray q = CliIO.readReal(qPath, "--q", 2, 3);
        NpyArray k = CliIO.readReal(kPath, "--k", 2, 3);
        NpyArray v = CliIO.readReal(vPath, "--v", 2, 3);
        if (q.rank() != k.rank() || k.rank() != v.rank()) {
            throw new UsageException("--q, --k and --v must all be 2-D or all 3-D, got shapes " + q.shapeString()
                    + ", " + k.shapeString() + ", " + v.shapeString());
        }
        qRank = q.rank();
        int o = q.rank() - 2; // offset of the (rows, dim) axes
        int heads = o == 0 ? 1 : q.dim(0), kvHeads = o == 0 ? 1 : k.dim(0);
        int m = q.dim(o), d = q.dim(o + 1), n = k.dim(o), dv = v.dim(o + 1);
        if (k.dim(o + 1) != d) throw new UsageException("query dimension " + d + " != key dimension " + k.dim(o + 1));
        if (v.dim(o) != n) throw new UsageException("values have " + v.dim(o) + " rows, keys " + n);
        if (o == 1 && v.dim(0) != kvHeads) throw new UsageException("values have " + v.dim(0) + " heads, keys " + kvHeads);
        if (heads % kvHeads != 0) {
            throw new UsageException("query heads " + heads + " is not a multiple of kv heads " + kvHeads);
        }
        if (causal && m > n) throw new UsageException("causal attention needs m <= n, got m " + m + " > n " + n);
        float[] kf = k.floats(), vf = v.floats();
        try { // stored as --kv: the rounded values are the truth (SPEC §9)
            type.roundInPlace("--k", kf, 0, kf.length);
            type.roundInPlace("--v", vf, 0, vf.length);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        return new AttentionInput(q.floats(), kf, vf, heads, kvHeads, m, n, d, dv);
    }
}
