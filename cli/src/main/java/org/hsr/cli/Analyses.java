package org.hsr.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import org.hsr.attention.HsrAttention;
import org.hsr.attention.BiasRule;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionInput;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.DenseReference;
import org.hsr.attention.Selection;
import org.hsr.attention.SparseAttention;
import org.hsr.attention.baseline.QuestAttention;
import org.hsr.attention.baseline.SinkWindowAttention;
import org.hsr.index.BlockIndex;
import org.hsr.index.SearchWork;

/**
 * The paper's analyses, measured: {@code hsr bench sparsity} (active keys per row against n under the paper's bias,
 * with the fitted exponent next to 4/5, its Appendix E) and {@code hsr bench error} (dropped softmax mass and output
 * error against each policy's parameter and kept fraction, its Appendix G), with the peers on the same rows.
 */
final class Analyses {
    private Analyses() {}

    /** Active keys per row vs n (Gaussian, ReLU bias b = σ·sqrt(0.4 ln n)), counted exactly through the index. */
    static int sparsity(BenchCommand cmd, boolean quick) throws Exception {
        List<Integer> sizes = cmd.ns != null ? cmd.ns : cmd.user != null ? userSizes(cmd.user.keys())
                : quick ? List.of(4096, 16384, 65536) : List.of(4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288);
        int d = cmd.d, nq = quick ? 8 : cmd.queries;
        List<Map<String, Object>> results = new ArrayList<>();
        List<double[]> pts = new ArrayList<>();
        BenchCommand.Progress progress = new BenchCommand.Progress(sizes.size());
        for (int n : sizes) {
            Workloads.Data data = cmd.data(new SplittableRandom(n * 7L + d), n, nq, false);
            double b = BiasRule.paper(data.scoreStd(), n);
            float t = (float) (b * Math.sqrt(d)); // raw threshold b/c with c = 1/sqrt(d)
            BlockIndex index = new BlockIndex(d);
            index.add(data.k(), n);
            SearchWork work = new SearchWork();
            long active = 0;
            for (int i = 0; i < data.m(); i++) {
                active += index.report(java.util.Arrays.copyOfRange(data.q(), i * d, i * d + d), t, work).length;
            }
            double mean = (double) active / data.m();
            pts.add(new double[] {Math.log(n), Math.log(Math.max(mean, 1e-9))});
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("workload", "sparsity");
            row.put("dist", cmd.dist);
            row.put("kind", "relu");
            row.put("n", n);
            row.put("d", d);
            row.put("method", "hsr");
            row.put("bias", b);
            row.put("score_std", data.scoreStd());
            row.put("active_keys_mean", mean);
            row.put("active_frac", mean / n);
            row.put("bound_n_4_5", Math.pow(n, 0.8));
            row.put("bound_frac", Math.pow(n, 0.8) / n);
            row.put("keys_touched_frac", work.keysScoredFraction());
            row.put("kept_frac", mean / n);
            results.add(row);
            progress.step("sparsity n=" + n);
        }
        progress.done();
        double exponent = Report.slope(pts);
        Map<String, Object> js = header(cmd, "sparsity");
        js.put("results", results);
        js.put("fitted_exponent", exponent);
        js.put("paper_exponent", 0.8);
        String html = null;
        if (cmd.html != null) {
            Report.Series measured = new Report.Series("measured"), bound = new Report.Series("n^(4/5)", true);
            double[] ns = new double[results.size()];
            for (int i = 0; i < ns.length; i++) {
                ns[i] = ((Number) results.get(i).get("n")).doubleValue();
                measured.add(ns[i], (Double) results.get(i).get("active_keys_mean"), null);
                bound.add(ns[i], Math.pow(ns[i], 0.8), null);
            }
            html = htmlPage(js, Report.svg("active keys per row vs n: fitted exponent "
                    + String.format(Locale.ROOT, "%.3f", exponent) + " (bound 0.8)", List.of(measured, bound), "n",
                    "active keys per row", ns, 640, 420), results);
        }
        new CliIO.Outputs().json(cmd.json, js).text(cmd.html, html).write();
        StringBuilder md = new StringBuilder("| n | bias b | active keys per row | active % | n^(4/5) % | keys scored % |\n"
                + "|---:|---:|---:|---:|---:|---:|\n");
        for (var row : results) {
            md.append(String.format(Locale.ROOT, "| %d | %.3f | %.0f | %.2f%% | %.2f%% | %.2f%% |%n", row.get("n"),
                    (Double) row.get("bias"), (Double) row.get("active_keys_mean"), 100 * (Double) row.get("active_frac"),
                    100 * (Double) row.get("bound_frac"), 100 * (Double) row.get("keys_touched_frac")));
        }
        md.append(String.format(Locale.ROOT, "%nfitted exponent of active keys vs n: %.3f (the paper's bound: 0.8)%n", exponent));
        System.out.print(md);
        return 0;
    }

    /** Dropped mass and output error of every softmax policy and peer on the same rows, against float64 dense. */
    static int error(BenchCommand cmd, boolean quick) throws Exception {
        int n = cmd.ns != null ? cmd.ns.get(0) : cmd.user != null ? cmd.user.keys() : quick ? 8192 : 32768;
        int d = cmd.d;
        Workloads.Data data = cmd.data(new SplittableRandom(n * 13L + d), n, quick ? 4 : Math.min(cmd.queries, 16), false);
        int nq = data.m(), dv = data.dv();
        float c = (float) (1 / Math.sqrt(d));
        BlockIndex index = new BlockIndex(d);
        index.add(data.k(), n);
        var keys = new SparseAttention.Keys(index, data.k(), 0, data.v(), 0, n, d, dv,
                HsrAttention.maxNorm(data.k(), 0, n, d));
        QuestAttention quest = new QuestAttention(data.k(), 0, n, d);
        SinkWindowAttention window = new SinkWindowAttention();
        // the float64 dense output of every row, computed once
        double[][] ref = new double[nq][];
        for (int i = 0; i < nq; i++) {
            float[] q = java.util.Arrays.copyOfRange(data.q(), i * d, i * d + d);
            ref[i] = DenseReference.attend(AttentionInput.singleHead(q, data.k(), data.v(), 1, n, d, dv),
                    AttentionConfig.softmax(false));
        }
        List<String> policies = new ArrayList<>();
        for (String e : new String[] {"1e-1", "1e-2", "1e-3", "1e-4", "1e-6"}) policies.add("epsilon:" + e);
        for (int rr : new int[] {16, 64, 256, 1024, 4096}) if (rr < n) policies.add("top:" + rr);
        for (int budgetTokens : new int[] {64, 256, 1024, 4096}) {
            if (budgetTokens < n) {
                policies.add("quest:" + budgetTokens);
                policies.add("window:" + budgetTokens);
            }
        }
        List<Map<String, Object>> results = new ArrayList<>();
        SparseAttention sparse = new SparseAttention();
        float[] out = new float[dv];
        BenchCommand.Progress progress = new BenchCommand.Progress(policies.size());
        for (String policy : policies) {
            AttentionStats st = new AttentionStats();
            double maxErr = 0;
            String[] parts = policy.split(":");
            for (int i = 0; i < nq; i++) {
                switch (parts[0]) {
                    case "quest" -> quest.attendRow(data.q(), i * d, data.v(), 0, dv, Integer.parseInt(parts[1]), c, out, 0, st);
                    case "window" -> window.attendRow(data.q(), i * d, data.k(), 0, data.v(), 0, n, d, dv, 4,
                            Integer.parseInt(parts[1]) - 4, c, out, 0, st);
                    default -> sparse.attendRow(keys, n, data.q(), i * d, AttentionConfig.softmax(false),
                            Selection.parse(policy), out, 0, st);
                }
                double diff = 0, norm = 0;
                for (int t = 0; t < dv; t++) {
                    diff = Math.max(diff, Math.abs(out[t] - ref[i][t]));
                    norm = Math.max(norm, Math.abs(ref[i][t]));
                }
                maxErr = Math.max(maxErr, diff / norm);
            }
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("workload", "error");
            row.put("dist", cmd.dist);
            row.put("kind", "softmax");
            row.put("n", n);
            row.put("d", d);
            row.put("method", parts[0].equals("quest") || parts[0].equals("window") ? parts[0] : "hsr");
            row.put("policy", policy);
            row.put("ms_median", Double.NaN);
            row.put("kept_frac", st.keptFraction());
            row.put("keys_touched_frac", st.keysTouchedFraction());
            row.put("max_rel_err", maxErr);
            row.put("fallback_rows", st.fallbackRows);
            row.put("dropped_mass_bound_max", parts[0].equals("epsilon") ? st.droppedMassBoundMax : null);
            results.add(row);
            progress.step("error " + policy);
        }
        progress.done();
        Map<String, Object> js = header(cmd, "error");
        js.put("results", results);
        String html = null;
        if (cmd.html != null) {
            // one line per policy family, each point labelled with its parameter (E, R or the token budget)
            Map<String, Report.Series> series = new LinkedHashMap<>();
            for (var row : results) {
                String[] policy = ((String) row.get("policy")).split(":");
                series.computeIfAbsent(policy[0], Report.Series::new).add((Double) row.get("kept_frac"),
                        (Double) row.get("max_rel_err"), policy[1]);
            }
            html = htmlPage(js, Report.svg("output error vs kept fraction (n=" + n + ")", new ArrayList<>(series.values()),
                    "kept fraction", "max relative error vs float64", null, 640, 460), results);
        }
        new CliIO.Outputs().json(cmd.json, js).text(cmd.html, html).write();
        StringBuilder md = new StringBuilder("| policy | kept % | keys scored % | max rel err | certified bound | fallback rows |\n"
                + "|---|---:|---:|---:|---:|---:|\n");
        for (var row : results) {
            Object bound = row.get("dropped_mass_bound_max");
            md.append(String.format(Locale.ROOT, "| %s | %.2f%% | %.2f%% | %.1e | %s | %d |%n", row.get("policy"),
                    100 * (Double) row.get("kept_frac"), 100 * (Double) row.get("keys_touched_frac"),
                    (Double) row.get("max_rel_err"), bound == null ? "-" : String.format(Locale.ROOT, "%.1e", (Double) bound),
                    (Long) row.get("fallback_rows")));
        }
        System.out.print(md);
        return 0;
    }

    private static Map<String, Object> header(BenchCommand cmd, String workload) {
        Map<String, Object> js = cmd.header();
        js.put("workload", workload);
        js.put("slopes", Map.of());
        return js;
    }

    /** Default sizes for user keys: the whole file and its halves, quarters and eighths (a fit needs several n). */
    private static List<Integer> userSizes(int keys) {
        List<Integer> sizes = new ArrayList<>();
        for (int div = 8; div >= 1; div /= 2) if (keys / div >= 1 && !sizes.contains(keys / div)) sizes.add(keys / div);
        return sizes;
    }

    private static String htmlPage(Map<String, Object> js, String svg, List<Map<String, Object>> rows) {
        return Report.page(js, "<div class=\"plots\">" + svg + "</div>", rows);
    }
}
