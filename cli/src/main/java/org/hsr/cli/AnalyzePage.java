package org.hsr.cli;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The HTML page of {@code hsr analyze}: heat maps of layers × heads (HTML tables with coloured cells, no script and no
 * external resource), each cell labelled with its value, then the numbers as a table.
 */
final class AnalyzePage {
    private AnalyzePage() {}

    /** How a heat map colours its values. */
    private enum Scale {
        /** A fraction in [0.001, 1] on a log scale: dark blue (few keys, sparse) to yellow (all keys). */
        FRACTION,
        /** A time ratio to dense on a log scale from 1/4 to 4: green faster, white equal, red slower. */
        RATIO,
        /** A fraction in [0, 1], linear: white to purple. */
        SHARE
    }

    @SuppressWarnings("unchecked")
    static String html(Map<String, Object> js) {
        List<Map<String, Object>> rs = (List<Map<String, Object>>) js.get("results");
        int layers = ((Number) js.get("layers")).intValue();
        int heads = ((Number) js.get("heads")).intValue();
        int kvHeads = ((Number) js.get("kv_heads")).intValue();
        int group = heads / kvHeads;
        double eps = ((Number) js.get("epsilon")).doubleValue();
        double[][] needMed = new double[layers][heads], needP90 = new double[layers][heads];
        double[][] union = new double[layers][kvHeads], kept = new double[layers][kvHeads];
        double[][] scored = new double[layers][kvHeads], denseChosen = new double[layers][kvHeads];
        double[][] walkRatio = new double[layers][kvHeads], hsrRatio = new double[layers][kvHeads];
        double[][] fallback = new double[layers][kvHeads];
        for (Map<String, Object> r : rs) {
            int l = num(r.get("layer")).intValue(), g = num(r.get("kv_head")).intValue();
            double[] med = (double[]) r.get("needed_frac_median"), p90 = (double[]) r.get("needed_frac_p90");
            for (int h = 0; h < group; h++) {
                needMed[l][g * group + h] = med[h];
                needP90[l][g * group + h] = p90[h];
            }
            union[l][g] = num(r.get("union_frac_median")).doubleValue();
            kept[l][g] = num(r.get("walk_kept_frac")).doubleValue();
            scored[l][g] = num(r.get("walk_keys_touched_frac")).doubleValue();
            denseChosen[l][g] = num(r.get("hsr_dense_chosen_frac")).doubleValue();
            double dense = num(r.get("dense_ms")).doubleValue();
            walkRatio[l][g] = num(r.get("walk_ms")).doubleValue() / dense;
            hsrRatio[l][g] = num(r.get("hsr_ms")).doubleValue() / dense;
            long rows = num(r.get("walk_rows")).longValue();
            fallback[l][g] = rows == 0 ? 0 : num(r.get("walk_fallback_rows")).doubleValue() / rows;
        }
        String mass = "1&minus;&epsilon; = " + Report.esc(1 - eps);
        int[] positions = (int[]) js.get("positions");
        String title = "hsr analyze — " + fileName(js.get("model")) + " on " + fileName(js.get("text_file"));
        StringBuilder b = new StringBuilder();
        b.append("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>").append(Report.esc(title))
                .append("</title><style>")
                .append("body{font-family:sans-serif;max-width:1150px;margin:1.2em auto;padding:0 1em;color:#222}")
                .append("h1{font-size:1.35em;margin-bottom:.2em}h2{font-size:1.1em;margin-top:1.4em}")
                .append("p.params{color:#444;font-size:.88em;margin-top:.2em}")
                .append(".maps{display:flex;flex-wrap:wrap;gap:14px 22px}")
                .append(".map{font-size:12px}.map h3{font-size:13px;margin:0 0 4px 0;max-width:")
                .append("340px;font-weight:600}.map p{margin:3px 0 0 0;color:#555;max-width:340px}")
                .append("table.heat{border-collapse:separate;border-spacing:2px}")
                .append("table.heat td{width:44px;height:22px;text-align:center;font-size:11px;border-radius:2px}")
                .append("table.heat th{font-weight:normal;color:#555;font-size:11px;padding:0 3px}")
                .append(".legend{display:flex;align-items:center;gap:4px;font-size:10px;color:#555;margin-top:3px}")
                .append(".legend span.bar{display:inline-block;width:150px;height:9px;border-radius:2px}")
                .append("table.num{border-collapse:collapse;font-size:12px}")
                .append("table.num td,table.num th{border:1px solid #ccc;padding:2px 5px;text-align:right}")
                .append("table.num th{background:#f4f4f4}")
                .append("</style></head><body>");
        b.append("<h1>").append(Report.esc(title)).append("</h1><p class=\"params\">")
                .append(js.get("tokens")).append(" tokens (BOS + text), ").append(layers).append(" layers, ")
                .append(heads).append(" query heads on ").append(kvHeads).append(" kv head(s) of ")
                .append(js.get("head_dim")).append(", keys and values stored as ").append(Report.esc(js.get("kv")))
                .append(". Rows: decoding steps at positions ").append(range(positions)).append(" (")
                .append(positions.length).append(" per head); selection ").append(Report.esc(js.get("select")))
                .append(". ").append(Report.esc(js.get("machine"))).append(", JDK ").append(Report.esc(js.get("java")))
                .append(", ").append(Report.esc(date(js.get("date")))).append(".</p>");

        b.append("<h2>How many keys each head needs</h2><div class=\"maps\">");
        b.append(map("Keys needed for " + mass + " of the softmax mass, median over rows",
                "% of the visible keys, float64 from the stored keys. Small: a sparse head.",
                needMed, "q", Scale.FRACTION));
        b.append(map("The same, 90th percentile over rows", "the heavy rows of each head", needP90, "q",
                Scale.FRACTION));
        b.append(map("Union over the group's query heads (median)",
                "what one walk of a kv head must return for all its query heads", union, "kv", Scale.FRACTION));
        b.append("</div><h2>What the index and the plan did</h2><div class=\"maps\">");
        b.append(map("Walk (index on every step): keys kept", "% of the visible keys; certified " + mass,
                kept, "kv", Scale.FRACTION));
        b.append(map("Walk: keys scored exactly", "% of the visible keys whose dot product was computed", scored,
                "kv", Scale.FRACTION));
        b.append(map("Walk: fallback rows", "share of rows whose walk fell back to dense", fallback, "kv",
                Scale.SHARE));
        b.append(map("Per-head plan (hsr): rows computed dense by choice",
                "share of rows; the plan walks where walks pay", denseChosen, "kv", Scale.SHARE));
        b.append("</div><h2>Time of one decoding step, against dense</h2><div class=\"maps\">");
        b.append(map("Walk time / dense time", "median over rows; below 1 (green) the index is faster", walkRatio,
                "kv", Scale.RATIO));
        b.append(map("hsr (plan) time / dense time", "one planned step per row, median", hsrRatio, "kv",
                Scale.RATIO));
        b.append("</div><h2>Numbers</h2>").append(numbers(rs));
        b.append("</body></html>");
        return b.toString();
    }

    private static String map(String title, String note, double[][] v, String colPrefix, Scale scale) {
        StringBuilder b = new StringBuilder("<div class=\"map\"><h3>").append(title).append("</h3>");
        b.append("<table class=\"heat\"><tr><th></th>");
        for (int h = 0; h < v[0].length; h++) b.append("<th>").append(colPrefix).append(h).append("</th>");
        b.append("</tr>");
        for (int l = 0; l < v.length; l++) {
            b.append("<tr><th>L").append(l).append("</th>");
            for (double x : v[l]) {
                double t = position(x, scale);
                String bg = colour(t, scale);
                String fg = dark(t, scale) ? "#fff" : "#111";
                b.append("<td style=\"background:").append(bg).append(";color:").append(fg).append("\" title=\"")
                        .append(label(x, scale)).append("\">").append(label(x, scale)).append("</td>");
            }
            b.append("</tr>");
        }
        b.append("</table>").append(legend(scale)).append("<p>").append(note).append("</p></div>");
        return b.toString();
    }

    /** Where x lies on the scale, in [0, 1]. */
    private static double position(double x, Scale s) {
        double t = switch (s) {
            case FRACTION -> (Math.log10(Math.max(x, 1e-3)) + 3) / 3;
            case RATIO -> (Math.log(Math.max(x, 1e-9)) / Math.log(4) + 1) / 2;
            case SHARE -> x;
        };
        return Double.isNaN(t) ? 0 : Math.max(0, Math.min(1, t));
    }

    // viridis at 0, .25, .5, .75, 1
    private static final int[][] VIRIDIS = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};

    private static String colour(double t, Scale s) {
        return switch (s) {
            case FRACTION -> {
                double at = t * (VIRIDIS.length - 1);
                int i = Math.min(VIRIDIS.length - 2, (int) at);
                double f = at - i;
                yield rgb(mix(VIRIDIS[i][0], VIRIDIS[i + 1][0], f), mix(VIRIDIS[i][1], VIRIDIS[i + 1][1], f),
                        mix(VIRIDIS[i][2], VIRIDIS[i + 1][2], f));
            }
            case RATIO -> t < 0.5
                    ? rgb(mix(26, 255, t * 2), mix(150, 255, t * 2), mix(65, 255, t * 2))
                    : rgb(mix(255, 215, (t - .5) * 2), mix(255, 48, (t - .5) * 2), mix(255, 39, (t - .5) * 2));
            case SHARE -> rgb(mix(255, 84, t), mix(255, 39, t), mix(255, 143, t));
        };
    }

    private static boolean dark(double t, Scale s) {
        return switch (s) {
            case FRACTION -> t < 0.55;
            case RATIO -> t < 0.15 || t > 0.85;
            case SHARE -> t > 0.55;
        };
    }

    private static String legend(Scale s) {
        StringBuilder g = new StringBuilder("linear-gradient(to right");
        for (int i = 0; i <= 10; i++) g.append(',').append(colour(i / 10.0, s));
        g.append(')');
        String lo = switch (s) {
            case FRACTION -> "0.1%";
            case RATIO -> "&le;&frac14;";
            case SHARE -> "0";
        };
        String hi = switch (s) {
            case FRACTION -> "100% (log)";
            case RATIO -> "&ge;4&times; (log)";
            case SHARE -> "all rows";
        };
        return "<div class=\"legend\">" + lo + "<span class=\"bar\" style=\"background:" + g + "\"></span>" + hi
                + "</div>";
    }

    private static String label(double x, Scale s) {
        if (Double.isNaN(x)) return "–";
        return switch (s) {
            case FRACTION -> {
                double p = 100 * x;
                yield String.format(Locale.ROOT, p < 0.995 ? "%.2f" : p < 9.95 ? "%.1f" : "%.0f", p);
            }
            case RATIO -> String.format(Locale.ROOT, x < 9.95 ? "%.2f" : "%.0f", x);
            case SHARE -> String.format(Locale.ROOT, "%.0f%%", 100 * x);
        };
    }

    private static String numbers(List<Map<String, Object>> rs) {
        StringBuilder b = new StringBuilder("<table class=\"num\"><tr><th>layer</th><th>kv head</th>"
                + "<th>needed, median per query head</th><th>needed p90</th><th>union median</th><th>walk kept</th>"
                + "<th>walk scored</th><th>walk fallback rows</th><th>dropped-mass bound max</th>"
                + "<th>hsr dense rows</th><th>dense ms</th><th>walk ms</th><th>hsr ms</th></tr>");
        for (Map<String, Object> r : rs) {
            b.append("<tr><td>").append(r.get("layer")).append("</td><td>").append(r.get("kv_head")).append("</td><td>")
                    .append(pcts((double[]) r.get("needed_frac_median"))).append("</td><td>")
                    .append(pcts((double[]) r.get("needed_frac_p90"))).append("</td><td>")
                    .append(pct(r.get("union_frac_median"))).append("</td><td>").append(pct(r.get("walk_kept_frac")))
                    .append("</td><td>").append(pct(r.get("walk_keys_touched_frac"))).append("</td><td>")
                    .append(r.get("walk_fallback_rows")).append(" / ").append(r.get("walk_rows")).append("</td><td>")
                    .append(String.format(Locale.ROOT, "%.2e", num(r.get("walk_dropped_mass_bound_max")).doubleValue()))
                    .append("</td><td>").append(r.get("hsr_dense_chosen_rows")).append(" / ").append(r.get("hsr_rows"))
                    .append("</td><td>").append(ms(r.get("dense_ms"))).append("</td><td>").append(ms(r.get("walk_ms")))
                    .append("</td><td>").append(ms(r.get("hsr_ms"))).append("</td></tr>");
        }
        return b.append("</table>").toString();
    }

    private static String pcts(double[] f) {
        StringBuilder b = new StringBuilder();
        for (double x : f) b.append(b.isEmpty() ? "" : " ").append(pct(x));
        return b.toString();
    }

    private static String pct(Object v) {
        return label(num(v).doubleValue(), Scale.FRACTION) + "%";
    }

    private static String ms(Object v) {
        return String.format(Locale.ROOT, "%.3f", num(v).doubleValue());
    }

    private static Number num(Object v) {
        return v instanceof Number n ? n : Double.NaN;
    }

    private static String mix(int a, int b, double f) {
        return Integer.toString((int) Math.round(a + (b - a) * f));
    }

    private static String rgb(String r, String g, String b) {
        return "rgb(" + r + "," + g + "," + b + ")";
    }

    /** An ISO instant to the minute: 2026-12-08 03:58 UTC. */
    private static String date(Object iso) {
        String s = String.valueOf(iso);
        return s.length() >= 16 ? s.substring(0, 10) + " " + s.substring(11, 16) + " UTC" : s;
    }

    private static String fileName(Object path) {
        String s = String.valueOf(path);
        int slash = s.lastIndexOf('/');
        return slash >= 0 ? s.substring(slash + 1) : s;
    }

    private static String range(int[] p) {
        if (p.length == 0) return "none";
        boolean contiguous = p[p.length - 1] - p[0] == p.length - 1;
        if (contiguous) return p[0] + "–" + p[p.length - 1];
        StringBuilder b = new StringBuilder();
        for (int x : p) b.append(b.isEmpty() ? "" : ", ").append(x);
        return b.toString();
    }
}
