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
import org.hsr.io.NpyArray;
import org.hsr.simd.Kernels;
import org.hsr.simd.TileKernels;
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
        if (select != null && cfg.kind() != AttentionConfig.Kind.SOFTMAX) {
            throw new UsageException("--select applies to --kind softmax only");
        }
        if (select != null) {
            try {
                Selection.parse(select); // checked in every mode, though only --mode hsr uses it
            } catch (IllegalArgumentException e) {
                throw new UsageException("--select " + select + ": " + e.getMessage());
            }
        }
        CliIO.checkOutputs(List.of(CliIO.named("--q", qPath), CliIO.named("--k", kPath), CliIO.named("--v", vPath)),
                List.of(CliIO.named("--out", out), CliIO.named("--stats", stats)));
        AttentionInput in = input();
        TiledPrefill tiled = new TiledPrefill(threads);
        AttentionRunner runner = mode.equals("dense") ? denseRunner(cfg, in, tiled) : HsrRunner.create(cfg, select, in, tiled);
        if (repeat > 1) runner.run(in, new AttentionStats()); // warm-up
        double[] ms = new double[repeat];
        float[] result = null;
        AttentionStats st = null;
        for (int r = 0; r < repeat; r++) {
            st = new AttentionStats();
            long t0 = System.nanoTime();
            result = runner.run(in, st);
            ms[r] = (System.nanoTime() - t0) / 1e6;
        }
        int[] shape = in.heads() == 1 && qRank == 2 ? new int[] {in.m(), in.dv()} : new int[] {in.heads(), in.m(), in.dv()};
        Map<String, Object> js = new LinkedHashMap<>();
        js.put("mode", mode);
        js.put("kind", kind);
        js.put("kernels", Kernels.impl().name());
        js.put("rows", st.rows);
        js.put("n", in.n());
        js.put("d", in.d());
        js.put("kept_mean", st.keptMean());
        js.put("kept_frac", st.keptFraction());
        js.put("keys_touched_frac", st.keysTouchedFraction());
        js.put("fallback_walk_keys", st.fallbackWalkKeys);
        js.put("empty_rows", st.emptyRows);
        js.put("fallback_rows", st.fallbackRows);
        if (select != null && select.startsWith("epsilon:")) js.put("dropped_mass_bound_max", st.droppedMassBoundMax);
        js.put("attend_ms_median", CliIO.median(ms));
        TiledPrefill.Run run = tiled.lastRun();
        js.put("path", run != null ? "tiled prefill" : "row at a time");
        js.put("threads", run != null ? run.threads() : 1);
        if (run != null) {
            js.put("build_ms", mode.equals("hsr") ? run.buildMs() : 0.0);
            js.put("gflops", TiledPrefill.denseFlops(in, causal) / (CliIO.median(ms) * 1e6));
            js.put("tile_pairs", run.tilePairs());
            js.put("tiles_skipped", run.skippedTiles());
            js.put("tile_kernels", TileKernels.impl().name());
        }
        js.put("repeat", repeat);
        new CliIO.Outputs().npy(out, NpyArray.ofFloats(result, shape)).json(stats, js).write();
        System.out.printf("hsr attend --mode %s --kind %s: %d rows, %.1f keys kept per row, %.2f%% keys scored, %.3f ms%n",
                mode, kind, st.rows, st.keptMean(), 100 * st.keysTouchedFraction(), CliIO.median(ms));
        return 0;
    }

    /** One way of computing attention, timed by the command. */
    interface AttentionRunner {
        float[] run(AttentionInput in, AttentionStats stats);
    }

    /** m > 1: the tiled prefill (compute-bound); one row: the row-at-a-time dense baseline. */
    private static AttentionRunner denseRunner(AttentionConfig cfg, AttentionInput input, TiledPrefill tiled) {
        if (input.m() > 1) return (in, st) -> tiled.dense(in, cfg, st);
        DenseAttention dense = new DenseAttention();
        return (in, st) -> dense.attend(in, cfg, st);
    }

    private int qRank;

    private AttentionConfig config() {
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

    private AttentionInput input() throws java.io.IOException {
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
        return new AttentionInput(q.floats(), k.floats(), v.floats(), heads, kvHeads, m, n, d, dv);
    }
}
