package org.hsr.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Renders benchmark results: a Markdown table, and a self-contained HTML page with SVG plots. */
final class Report {
    private Report() {}

    /** Least-squares slope of y against x over points {x, y}; NaN with fewer than two distinct x. */
    static double slope(List<double[]> pts) {
        int n = pts.size();
        if (n < 2) return Double.NaN;
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (double[] p : pts) {
            sx += p[0];
            sy += p[1];
            sxx += p[0] * p[0];
            sxy += p[0] * p[1];
        }
        double den = n * sxx - sx * sx;
        return den == 0 ? Double.NaN : (n * sxy - sx * sy) / den;
    }

    /** The CPU model (from /proc/cpuinfo where there is one, else the OS and architecture). */
    static String machine() {
        try (var lines = java.nio.file.Files.lines(java.nio.file.Path.of("/proc/cpuinfo"))) {
            var model = lines.filter(l -> l.startsWith("model name")).findFirst();
            if (model.isPresent()) return model.get().substring(model.get().indexOf(':') + 1).strip();
        } catch (java.io.IOException | RuntimeException e) {
            // no /proc: fall through
        }
        return System.getProperty("os.name") + " " + System.getProperty("os.arch");
    }

    static String markdown(List<Map<String, Object>> results) {
        StringBuilder b = new StringBuilder("| n | method | ms | speed-up vs dense | keys scored | kept | max rel err |\n");
        b.append("|---:|---|---:|---:|---:|---:|---:|\n");
        Map<Object, Double> denseMs = new LinkedHashMap<>();
        for (var r : results) if ("dense".equals(r.get("method"))) denseMs.put(r.get("n"), (Double) r.get("ms_median"));
        boolean searchOnly = false;
        for (var r : results) {
            double ms = (Double) r.get("ms_median");
            Double dense = denseMs.get(r.get("n"));
            double err = (Double) r.get("max_rel_err");
            searchOnly |= Double.isNaN(err);
            b.append(String.format(Locale.ROOT, "| %d | %s | %.3f | %s | %.2f%% | %.2f%% | %s |%n", r.get("n"),
                    r.get("method"), ms, dense == null ? "-" : String.format(Locale.ROOT, "%.2fx", dense / ms),
                    100 * (Double) r.get("keys_touched_frac"), 100 * (Double) r.get("kept_frac"),
                    Double.isNaN(err) ? "-" : String.format(Locale.ROOT, "%.1e", err)));
        }
        if (searchOnly) {
            b.append("\nmax rel err \"-\": the method computes no attention output (faiss: the range search only, "
                    + "timed as the peer of the index's search)\n");
        }
        return b.toString();
    }

    /**
     * The HTML report of {@code hsr bench decode|prefill}: time per query, kept keys against the paper's n^(4/5) and
     * error against kept fraction, then every result row.
     */
    @SuppressWarnings("unchecked")
    static String html(Map<String, Object> js) {
        List<Map<String, Object>> results = (List<Map<String, Object>>) js.get("results");
        boolean relu = "relu".equals(js.get("kind"));
        List<Series> time = new ArrayList<>(), err = new ArrayList<>();
        Map<String, Series> timeBy = new LinkedHashMap<>(), errBy = new LinkedHashMap<>();
        Series kept = new Series(relu ? "hsr (active)" : "hsr (kept)");
        Series bound = new Series("n^(4/5)", true);
        List<Double> ns = new ArrayList<>();
        for (var r : results) {
            String m = (String) r.get("method");
            double n = ((Number) r.get("n")).doubleValue();
            if (!ns.contains(n)) ns.add(n);
            timeBy.computeIfAbsent(m, k -> add(time, new Series(k))).add(n, num(r.get("ms_median")), null);
            errBy.computeIfAbsent(m, k -> add(err, new Series(k).pointsOnly())).add(num(r.get("kept_frac")), num(r.get("max_rel_err")), null);
            if ("hsr".equals(m)) {
                kept.add(n, num(r.get("kept_frac")) * n, null);
                bound.add(n, Math.pow(n, 0.8), null); // the paper's bound on active keys per row
            }
        }
        double[] nTicks = ns.stream().mapToDouble(Double::doubleValue).toArray();
        String body = "<div class=\"plots\">"
                + svg("time per query vs n", time, "n", "ms per query", nTicks)
                + svg((relu ? "active" : "kept") + " keys per row vs n, and n^(4/5)", List.of(kept, bound), "n",
                        "keys per row", nTicks)
                + svg("max relative error vs kept fraction", err, "kept fraction", "max relative error vs float64", null)
                + "</div>";
        return page(js, body, results);
    }

    /**
     * A whole report page: a title naming the workload, machine, JDK and date, a line of run parameters, the body
     * (plots), and the result rows as a table.
     */
    @SuppressWarnings("unchecked")
    static String page(Map<String, Object> js, String body, List<Map<String, Object>> results) {
        String date = String.valueOf(js.get("date"));
        String title = "hsr bench " + js.get("workload") + " — " + js.get("machine") + ", " + js.get("cpus")
                + " CPUs, JDK " + js.get("java") + ", " + (date.length() >= 10 ? date.substring(0, 10) : date);
        StringBuilder params = new StringBuilder("data <b>" + esc(js.get("dist")) + "</b>");
        for (String k : List.of("kind", "values", "kernels", "java_vm", "date")) {
            if (js.get(k) != null) params.append(", ").append(k.replace('_', ' ')).append(' ').append(esc(js.get(k)));
        }
        Object slopes = js.get("slopes");
        if (slopes instanceof Map<?, ?> m && !m.isEmpty()) {
            params.append("<br>log-log slope of time vs n:");
            ((Map<String, Object>) m).forEach((k, v) -> params.append(' ').append(esc(k)).append(' ').append(fmt(v, "%.2f")).append(';'));
            params.setLength(params.length() - 1);
        }
        return "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>" + esc(title) + "</title><style>"
                + "body{font-family:sans-serif;max-width:1000px;margin:1.5em auto;padding:0 1em}h1{font-size:1.45em}"
                + "p.params{color:#333;font-size:.9em}.plots svg{border:1px solid #ccc;margin:6px 6px 6px 0}"
                + ".tbl{overflow-x:auto}table{border-collapse:collapse;font-size:12px}"
                + "td,th{border:1px solid #ccc;padding:2px 5px;text-align:right;white-space:nowrap}"
                + "th{background:#f4f4f4;white-space:normal;vertical-align:bottom}"
                + "</style></head><body>"
                + "<h1>" + esc(title) + "</h1><p class=\"params\">" + params + "</p>" + body
                + "<h2>results</h2>" + table(results) + "</body></html>";
    }

    /**
     * The result rows as an HTML table. Columns with one value in every row are listed once above it, and free text
     * (a peer's note) once below it, numbered; numbers get 4 significant digits, missing values a dash.
     */
    static String table(List<Map<String, Object>> results) {
        if (results.isEmpty()) return "<p>no results</p>";
        List<String> columns = new ArrayList<>();
        for (var r : results) for (String k : r.keySet()) if (!columns.contains(k)) columns.add(k);
        List<String> shown = new ArrayList<>(), text = new ArrayList<>();
        StringBuilder common = new StringBuilder();
        for (String k : columns) {
            Object first = results.get(0).get(k);
            if (results.stream().anyMatch(r -> r.get(k) instanceof String str && str.length() > 24)) {
                text.add(k);
                continue;
            }
            boolean constant = results.size() > 1 && results.stream().allMatch(r -> r.containsKey(k)
                    && java.util.Objects.equals(r.get(k), first));
            if (constant) {
                common.append(common.isEmpty() ? "" : ", ").append(esc(k)).append(' ').append(cell(first));
            } else {
                shown.add(k);
            }
        }
        StringBuilder b = new StringBuilder();
        if (!common.isEmpty()) b.append("<p class=\"params\">every row: ").append(common).append("</p>");
        List<String> notes = new ArrayList<>(); // distinct free-text values, numbered in order of appearance
        b.append("<div class=\"tbl\"><table><tr>");
        for (String k : shown) b.append("<th>").append(esc(k).replace("_", "_<wbr>")).append("</th>");
        if (!text.isEmpty()) b.append("<th>notes</th>");
        b.append("</tr>");
        for (var r : results) {
            b.append("<tr>");
            for (String k : shown) b.append("<td>").append(cell(r.get(k))).append("</td>");
            if (!text.isEmpty()) {
                StringBuilder refs = new StringBuilder();
                for (String k : text) {
                    if (r.get(k) == null) continue;
                    String note = esc(k) + ": " + esc(r.get(k));
                    if (!notes.contains(note)) notes.add(note);
                    refs.append(refs.isEmpty() ? "" : " ").append('[').append(notes.indexOf(note) + 1).append(']');
                }
                b.append("<td>").append(refs).append("</td>");
            }
            b.append("</tr>");
        }
        b.append("</table></div>");
        for (int i = 0; i < notes.size(); i++) b.append("<p class=\"params\">[").append(i + 1).append("] ").append(notes.get(i)).append("</p>");
        return b.toString();
    }

    private static String cell(Object v) {
        if (v == null) return "–";
        if (v instanceof Double || v instanceof Float) return fmt(v, "%.4g");
        if (v instanceof Map<?, ?> m) {
            StringBuilder b = new StringBuilder();
            m.forEach((k, x) -> b.append(b.isEmpty() ? "" : ", ").append(esc(k)).append(": ").append(cell(x)));
            return b.toString();
        }
        return esc(v);
    }

    private static String fmt(Object v, String format) {
        double x = ((Number) v).doubleValue();
        return Double.isFinite(x) ? String.format(Locale.ROOT, format, x) : "–";
    }

    private static double num(Object v) {
        return v == null ? Double.NaN : ((Number) v).doubleValue();
    }

    private static Series add(List<Series> list, Series s) {
        list.add(s);
        return s;
    }

    /**
     * One line of a plot: points {x, y}, an optional label per point, dashed for reference curves; {@link #pointsOnly}
     * for points whose x order means nothing (error against kept fraction, one point per n).
     */
    static final class Series {
        final String name;
        final boolean dashed;
        boolean line = true;
        final List<double[]> points = new ArrayList<>();
        final List<String> labels = new ArrayList<>();

        Series(String name) {
            this(name, false);
        }

        Series(String name, boolean dashed) {
            this.name = name;
            this.dashed = dashed;
        }

        Series pointsOnly() {
            line = false;
            return this;
        }

        Series add(double x, double y, String label) {
            points.add(new double[] {x, y});
            labels.add(label);
            return this;
        }

        /** Points a log-log plot can show: both coordinates finite and positive. */
        List<Integer> plottable() {
            List<Integer> idx = new ArrayList<>();
            for (int i = 0; i < points.size(); i++) {
                double[] p = points.get(i);
                if (Double.isFinite(p[0]) && Double.isFinite(p[1]) && p[0] > 0 && p[1] > 0) idx.add(i);
            }
            return idx;
        }
    }

    private static final String[] COLORS = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
            "#e377c2", "#7f7f7f"};

    /**
     * A log-log line plot as inline SVG. Points that a log axis cannot show (NaN, infinite, zero, negative) are left
     * out, and a series with none left is named under the plot as not plotted, so a missing line is never silent.
     * {@code xTicks}: tick positions for x (the measured n, say), or null for 1-2-5 ticks (decades on wide ranges).
     */
    static String svg(String title, List<Series> series, String xLabel, String yLabel, double[] xTicks) {
        return svg(title, series, xLabel, yLabel, xTicks, 470, 330);
    }

    /** {@link #svg(String, List, String, String, double[])} at a given size in pixels (the page of one plot: larger). */
    static String svg(String title, List<Series> series, String xLabel, String yLabel, double[] xTicks, int w, int h) {
        int left = 62, right = 118, top = 30, bottom = 58;
        int pw = w - left - right, ph = h - top - bottom;
        double x0 = Double.MAX_VALUE, x1 = -Double.MAX_VALUE, y0 = Double.MAX_VALUE, y1 = -Double.MAX_VALUE;
        List<Series> shown = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        for (Series s : series) {
            if (s.plottable().isEmpty()) {
                missing.add(s.name);
                continue;
            }
            shown.add(s);
            for (int i : s.plottable()) {
                double[] p = s.points.get(i);
                x0 = Math.min(x0, Math.log10(p[0]));
                x1 = Math.max(x1, Math.log10(p[0]));
                y0 = Math.min(y0, Math.log10(p[1]));
                y1 = Math.max(y1, Math.log10(p[1]));
            }
        }
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\">"
                        + "<text x=\"%d\" y=\"19\" font-size=\"13\" font-weight=\"bold\">%s</text>", w, h, 8, esc(title)));
        if (shown.isEmpty()) {
            return b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"12\">no finite values to plot</text>",
                    left, top + ph / 2)).append("</svg>").toString();
        }
        // room around the data so no point sits on the frame (more when points carry labels)
        boolean labelled = shown.stream().anyMatch(s -> s.labels.stream().anyMatch(java.util.Objects::nonNull));
        double pad = labelled ? 0.08 : 0.05;
        double padX = Math.max(pad, pad * (x1 - x0)), padY = Math.max(pad, pad * (y1 - y0));
        x0 -= padX; x1 += padX; y0 -= padY; y1 += padY;
        final double fx0 = x0, fx1 = x1, fy0 = y0, fy1 = y1;
        java.util.function.DoubleUnaryOperator px = v -> left + (Math.log10(v) - fx0) / (fx1 - fx0) * pw;
        java.util.function.DoubleUnaryOperator py = v -> top + ph - (Math.log10(v) - fy0) / (fy1 - fy0) * ph;
        // grid and tick labels
        for (double t : ticks(y0, y1)) {
            double y = py.applyAsDouble(t);
            b.append(String.format(Locale.ROOT, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/>"
                    + "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%s</text>", left, left + pw, y, y,
                    left - 4, y + 3.5, tickLabel(t, false)));
        }
        List<Double> xs = new ArrayList<>();
        if (xTicks != null) for (double t : xTicks) xs.add(t);
        else xs.addAll(ticks(x0, x1));
        for (double t : xs) {
            double x = px.applyAsDouble(t);
            b.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#e6e6e6\"/>"
                    + "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%s</text>", x, x, top, top + ph,
                    x, top + ph + 13, tickLabel(t, xTicks != null)));
        }
        b.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>"
                + "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%s (log scale)</text>"
                + "<text x=\"13\" y=\"%d\" font-size=\"11\" transform=\"rotate(-90 13 %d)\" text-anchor=\"middle\">%s (log scale)</text>",
                left, top, pw, ph, left + pw / 2, top + ph + 28, esc(xLabel), top + ph / 2, top + ph / 2, esc(yLabel)));
        // lines, points, point labels and the legend; earlier series get larger points, so where series coincide
        // (ReLU: every method keeps the same keys) each shows as a ring around the next
        int ci = 0;
        for (Series s : series) {
            String color = COLORS[ci++ % COLORS.length];
            if (!shown.contains(s)) continue;
            double r = 2.5 + 1.2 * Math.min(5, shown.size() - 1 - shown.indexOf(s));
            List<Integer> idx = new ArrayList<>(s.plottable());
            idx.sort((a, c) -> Double.compare(s.points.get(a)[0], s.points.get(c)[0]));
            StringBuilder path = new StringBuilder();
            for (int i : idx) {
                double x = px.applyAsDouble(s.points.get(i)[0]), y = py.applyAsDouble(s.points.get(i)[1]);
                path.append(path.isEmpty() ? "M" : "L").append(String.format(Locale.ROOT, "%.1f,%.1f ", x, y));
                b.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"/>", x, y, r, color));
                if (s.labels.get(i) != null) { // above the point for every other series, below for the rest
                    b.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" fill=\"%s\">%s</text>",
                            x + 4, shown.indexOf(s) % 2 == 0 ? y - 4 : y + 11, color, esc(s.labels.get(i))));
                }
            }
            String dash = s.dashed ? " stroke-dasharray=\"6,4\"" : "";
            if (s.line) {
                b.append(String.format(Locale.ROOT, "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s/>", path, color, dash));
            }
            int ly = top + 10 + 17 * shown.indexOf(s);
            b.append(s.line ? String.format(Locale.ROOT, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" "
                    + "stroke-width=\"2\"%s/>", left + pw + 8, left + pw + 26, ly, ly, color, dash)
                    : String.format(Locale.ROOT, "<circle cx=\"%d\" cy=\"%d\" r=\"4\" fill=\"%s\"/>", left + pw + 17, ly, color));
            b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"%s\">%s</text>",
                    left + pw + 30, ly + 4, color, esc(s.name)));
        }
        if (!missing.isEmpty()) {
            b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"10\" fill=\"#666\">not plotted (no finite "
                    + "values): %s</text>", left, h - 6, esc(String.join(", ", missing))));
        }
        return b.append("</svg>").toString();
    }

    /**
     * Log-axis ticks in [lo, hi] (log10 units): decades (every other beyond 9) on long ranges, 1-2-5 per decade on
     * short ones, 1..9 when that gives fewer than 3, and when even that gives fewer than 2 (a range within one step),
     * the two ends rounded to 2 significant digits.
     */
    static List<Double> ticks(double lo, double hi) {
        double span = hi - lo;
        List<Double> out = ticks(lo, hi, span <= 2.5 ? new double[] {1, 2, 5} : new double[] {1}, span > 9 ? 2 : 1);
        if (out.size() < 3 && span <= 2.5) out = ticks(lo, hi, new double[] {1, 2, 3, 4, 5, 6, 7, 8, 9}, 1);
        if (out.size() < 2) {
            out = new ArrayList<>();
            for (double e : new double[] {lo + 0.15 * span, hi - 0.15 * span}) {
                double v = Math.pow(10, e);
                double unit = Math.pow(10, Math.floor(Math.log10(v)) - 1);
                out.add(Math.round(v / unit) * unit);
            }
        }
        return out;
    }

    private static List<Double> ticks(double lo, double hi, double[] mantissas, int step) {
        List<Double> out = new ArrayList<>();
        for (int e = (int) Math.floor(lo); e <= (int) Math.ceil(hi); e++) {
            if (mantissas.length == 1 && Math.floorMod(e, step) != 0) continue;
            for (double m : mantissas) {
                double v = m * Math.pow(10, e);
                if (Math.log10(v) >= lo - 1e-9 && Math.log10(v) <= hi + 1e-9) out.add(v);
            }
        }
        return out;
    }

    /** Tick text: 4096 as "4k" and 131072 as "128k" for sizes, else plain decimals in [0.001, 1e5), else "2e-6". */
    static String tickLabel(double v, boolean size) {
        if (size && v >= 1024 && v % 1024 == 0) {
            return v >= 1 << 20 && v % (1 << 20) == 0 ? (long) (v / (1 << 20)) + "M" : (long) (v / 1024) + "k";
        }
        if (v >= 1e-3 && v < 1e5) {
            String s = String.format(Locale.ROOT, "%.6g", v);
            if (s.contains(".") && !s.contains("e")) s = s.replaceAll("0+$", "").replaceAll("\\.$", "");
            return s;
        }
        int e = (int) Math.floor(Math.log10(v) + 1e-9);
        String m = String.format(Locale.ROOT, "%.2g", v / Math.pow(10, e));
        if (m.contains(".")) m = m.replaceAll("0+$", "").replaceAll("\\.$", "");
        return m + "e" + e;
    }

    static String esc(Object o) {
        return String.valueOf(o).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
