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

    static String markdown(List<Map<String, Object>> results) {
        StringBuilder b = new StringBuilder("| n | method | ms | speed-up vs dense | keys scored | kept | max rel err |\n");
        b.append("|---:|---|---:|---:|---:|---:|---:|\n");
        Map<Object, Double> denseMs = new LinkedHashMap<>();
        for (var r : results) if ("dense".equals(r.get("method"))) denseMs.put(r.get("n"), (Double) r.get("ms_median"));
        for (var r : results) {
            double ms = (Double) r.get("ms_median");
            Double dense = denseMs.get(r.get("n"));
            b.append(String.format(Locale.ROOT, "| %d | %s | %.3f | %s | %.2f%% | %.2f%% | %.1e |%n", r.get("n"),
                    r.get("method"), ms, dense == null ? "-" : String.format(Locale.ROOT, "%.2fx", dense / ms),
                    100 * (Double) r.get("keys_touched_frac"), 100 * (Double) r.get("kept_frac"), (Double) r.get("max_rel_err")));
        }
        return b.toString();
    }

    @SuppressWarnings("unchecked")
    static String html(Map<String, Object> js) {
        List<Map<String, Object>> results = (List<Map<String, Object>>) js.get("results");
        Map<String, List<double[]>> time = new LinkedHashMap<>(), kept = new LinkedHashMap<>(), err = new LinkedHashMap<>();
        for (var r : results) {
            String m = (String) r.get("method");
            double n = ((Number) r.get("n")).doubleValue();
            time.computeIfAbsent(m, k -> new ArrayList<>()).add(new double[] {n, (Double) r.get("ms_median")});
            kept.computeIfAbsent(m, k -> new ArrayList<>()).add(new double[] {n, Math.max(1e-9, (Double) r.get("kept_frac") * n)});
            err.computeIfAbsent(m, k -> new ArrayList<>()).add(new double[] {Math.max(1e-9, (Double) r.get("kept_frac")),
                    Math.max(1e-12, (Double) r.get("max_rel_err"))});
        }
        // the paper's bound on active keys per row, n^(4/5)
        List<double[]> bound = new ArrayList<>();
        for (var p : time.values().iterator().next()) bound.add(new double[] {p[0], Math.pow(p[0], 0.8)});
        Map<String, List<double[]>> keptWithBound = new LinkedHashMap<>(Map.of("hsr", kept.getOrDefault("hsr", List.of())));
        keptWithBound.put("n^(4/5)", bound);
        return "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>hsr bench</title>"
                + "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}svg{border:1px solid #ccc;margin:8px}"
                + "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}</style></head><body>"
                + "<h1>hsr bench " + esc(js.get("workload")) + "</h1><p>dist " + esc(js.get("dist")) + ", kind "
                + esc(js.get("kind")) + ", kernels " + esc(js.get("kernels")) + ", Java " + esc(js.get("java")) + ", "
                + esc(js.get("cpus")) + " CPUs; log-log slopes of time vs n: " + esc(js.get("slopes")) + "</p>"
                + svg("time per query (ms) vs n", time, true, "n", "ms")
                + svg("active keys per row vs n, with n^(4/5)", keptWithBound, true, "n", "keys kept")
                + svg("max relative error vs kept fraction", err, true, "kept fraction", "error")
                + "<h2>results</h2>" + table(results) + "</body></html>";
    }

    private static String table(List<Map<String, Object>> results) {
        StringBuilder b = new StringBuilder("<table><tr>");
        for (String k : results.get(0).keySet()) b.append("<th>").append(esc(k)).append("</th>");
        b.append("</tr>");
        for (var r : results) {
            b.append("<tr>");
            for (Object v : r.values()) {
                b.append("<td>").append(v instanceof Double x ? String.format(Locale.ROOT, "%.4g", x) : esc(v)).append("</td>");
            }
            b.append("</tr>");
        }
        return b.append("</table>").toString();
    }

    private static final String[] COLORS = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

    /** A log-log line plot as inline SVG. */
    static String svg(String title, Map<String, List<double[]>> series, boolean log, String xLabel, String yLabel) {
        int w = 460, h = 320, left = 60, right = 110, top = 30, bottom = 45;
        double x0 = Double.MAX_VALUE, x1 = -Double.MAX_VALUE, y0 = Double.MAX_VALUE, y1 = -Double.MAX_VALUE;
        for (var pts : series.values()) {
            for (double[] p : pts) {
                x0 = Math.min(x0, Math.log10(p[0]));
                x1 = Math.max(x1, Math.log10(p[0]));
                y0 = Math.min(y0, Math.log10(p[1]));
                y1 = Math.max(y1, Math.log10(p[1]));
            }
        }
        if (x1 - x0 < 1e-9) { x0 -= 0.5; x1 += 0.5; }
        if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
        x0 = Math.floor(x0 * 2) / 2; x1 = Math.ceil(x1 * 2) / 2; y0 = Math.floor(y0); y1 = Math.ceil(y1);
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\"><text x=\"%d\" y=\"18\" font-size=\"14\">%s</text>",
                w, h, left, esc(title)));
        int pw = w - left - right, ph = h - top - bottom;
        for (double gy = y0; gy <= y1 + 1e-9; gy += 1) {
            double py = top + ph - (gy - y0) / (y1 - y0) * ph;
            b.append(String.format(Locale.ROOT, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                    + "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">1e%d</text>", left, left + pw, py, py,
                    left - 4, py + 3, (int) gy));
        }
        for (double gx = Math.ceil(x0); gx <= x1 + 1e-9; gx += 1) {
            double px = left + (gx - x0) / (x1 - x0) * pw;
            b.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#eee\"/>"
                    + "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">1e%d</text>", px, px, top, top + ph,
                    px, top + ph + 14, (int) gx));
        }
        b.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>"
                + "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%s (log)</text>"
                + "<text x=\"12\" y=\"%d\" font-size=\"11\" transform=\"rotate(-90 12 %d)\" text-anchor=\"middle\">%s (log)</text>",
                left, top, pw, ph, left + pw / 2, h - 8, esc(xLabel), top + ph / 2, top + ph / 2, esc(yLabel)));
        int ci = 0;
        for (var e : series.entrySet()) {
            String color = COLORS[ci % COLORS.length];
            StringBuilder path = new StringBuilder();
            List<double[]> pts = new ArrayList<>(e.getValue());
            pts.sort((a, c) -> Double.compare(a[0], c[0]));
            for (double[] p : pts) {
                double px = left + (Math.log10(p[0]) - x0) / (x1 - x0) * pw;
                double py = top + ph - (Math.log10(p[1]) - y0) / (y1 - y0) * ph;
                path.append(path.isEmpty() ? "M" : "L").append(String.format(Locale.ROOT, "%.1f,%.1f ", px, py));
                b.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", px, py, color));
            }
            b.append(String.format(Locale.ROOT, "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s/>", path, color,
                    e.getKey().startsWith("n^") ? " stroke-dasharray=\"5,4\"" : ""));
            b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"%s\">%s</text>",
                    left + pw + 8, top + 14 + 16 * ci, color, esc(e.getKey())));
            ci++;
        }
        return b.append("</svg>").toString();
    }

    private static String esc(Object o) {
        return String.valueOf(o).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
