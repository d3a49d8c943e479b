package org.hsr.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.hsr.io.Npy;
import org.hsr.io.NpyArray;
import org.hsr.model.AttentionBackend;
import org.hsr.model.LlamaModel;
import org.hsr.model.Transformer;
import org.hsr.model.gguf.GgufConvert;
import org.hsr.model.gguf.GgufFile;
import org.hsr.model.gguf.GgufModel;
import org.hsr.model.gguf.GgufTokenizers;
import org.hsr.model.tensor.GgmlType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code hsr analyze} on a small random GGUF model made here (2 layers, 4 query heads of 32 on 2 kv heads): the keys
 * needed for 1−ε that it reports are checked against a float64 forward pass and softmax computed by this test, the
 * walk's kept keys against them, the HTML page and the dumps against their contract, and bad inputs against SPEC §5.
 */
class AnalyzeCommandTest {

    @TempDir
    static Path tmp;
    static Path model, text;
    static final int CONTEXT = 700;

    @BeforeAll
    static void makeModel() throws Exception {
        var shape = new GgufConvert.Shape("analyze-test", 128, 256, 2, 4, 2, 260, CONTEXT, 10000, false, false);
        model = tmp.resolve("analyze-test.gguf");
        GgufConvert.writeRandom(shape, GgmlType.Q8_0, 5, model);
        SplittableRandom r = new SplittableRandom(9);
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 600; i++) s.append((char) ('a' + r.nextInt(26)));
        text = tmp.resolve("text.txt");
        Files.writeString(text, s.toString());
    }

    @Test
    void keysNeededMatchAFloat64ComputationAndTheWalkKeepsAtLeastThat() throws Exception {
        Path json = tmp.resolve("a.json"), html = tmp.resolve("a.html"), dump = Files.createDirectory(tmp.resolve("dump"));
        CliRun r = CliRun.run("analyze", "--model", model.toString(), "--text", text.toString(), "--kv", "fp32",
                "--select", "epsilon:1e-2", "--last", "6", "--threads", "1", "--json", json.toString(), "--html",
                html.toString(), "--dump-dir", dump.toString(), "--dump-layers", "1");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("group union"), r.out());
        JsonNode js = new ObjectMapper().readTree(json.toFile());
        int n = js.get("tokens").asInt();
        double eps = js.get("epsilon").asDouble();
        assertEquals(1e-2, eps);
        int[] positions = ints(js.get("positions"));
        assertArrayEquals(new int[] {n - 6, n - 5, n - 4, n - 3, n - 2, n - 1}, positions);
        assertEquals(4, js.get("results").size(), "2 layers x 2 kv heads");

        // an independent float64 forward pass and the smallest key set holding 1-eps of each row's mass
        int[] tokens;
        try (GgufFile f = GgufFile.open(model)) {
            tokens = GgufTokenizers.load(f).encode(Files.readString(text));
        }
        assertEquals(tokens.length, n);
        int layer = 1, kvHead = 1, d = 32, group = 2;
        double[][][] q = new double[positions.length][][];
        try (LlamaModel m = GgufModel.load(model, CONTEXT, 1)) {
            Float64Attention backend = new Float64Attention(4, 2, d);
            Transformer t = new Transformer(m, backend);
            for (int p = 0; p < n; p++) {
                t.forward(tokens[p], p);
                int row = Arrays.binarySearch(positions, p);
                if (row >= 0) q[row] = backend.lastQ.get(layer);
            }
            JsonNode head = null;
            for (JsonNode h : js.get("results")) {
                if (h.get("layer").asInt() == layer && h.get("kv_head").asInt() == kvHead) head = h;
            }
            assertArrayEquals(new int[] {2, 3}, ints(head.get("query_heads")));
            long neededSum = 0, visibleSum = 0;
            for (int g = 0; g < group; g++) {
                int qh = kvHead * group + g;
                double[] frac = new double[positions.length];
                for (int row = 0; row < positions.length; row++) {
                    int visible = positions[row] + 1;
                    int need = needed(q[row][qh], backend.keys.get(layer), kvHead, visible, d, eps);
                    int reported = head.get("needed_keys").get(g).get(row).asInt();
                    // two forward passes (fp32 and float64) may disagree on a key at the 1-eps boundary
                    assertTrue(Math.abs(need - reported) <= 1, "head " + qh + " row " + row + ": " + reported
                            + " keys reported, " + need + " in float64");
                    frac[row] = (double) need / visible;
                    neededSum += reported;
                    visibleSum += visible;
                }
                Arrays.sort(frac);
                double median = (frac[2] + frac[3]) / 2;
                assertEquals(median, head.get("needed_frac_median").get(g).asDouble(), 2.0 / n, "head " + qh);
                assertTrue(head.get("needed_frac_p90").get(g).asDouble() >= head.get("needed_frac_median").get(g).asDouble());
            }
            // any set holding 1-eps of a row's mass is at least as large as the smallest one
            assertEquals(positions.length * group, head.get("walk_rows").asLong());
            assertTrue(head.get("walk_kept_frac").asDouble() >= (double) neededSum / visibleSum - 1e-12,
                    head.toString());
            assertTrue(head.get("walk_dropped_mass_bound_max").asDouble() <= eps);
            assertTrue(head.get("union_frac_median").asDouble() >= head.get("needed_frac_median").get(0).asDouble()
                    - 1.0 / n);
            assertEquals(positions.length * group, head.get("hsr_rows").asLong());
            for (String f : List.of("dense_ms", "walk_ms", "hsr_ms")) assertTrue(head.get(f).asDouble() > 0, f);
        }

        String page = Files.readString(html);
        assertTrue(page.startsWith("<!DOCTYPE html>"));
        assertTrue(page.contains("<table class=\"heat\">"), "the heat maps");
        assertTrue(page.contains("Keys needed for"));
        assertFalse(page.contains("http://") || page.contains("https://") || page.contains("<script"),
                "self-contained, no script");

        NpyArray dq = Npy.read(dump.resolve("L1.kv1.q.npy")), dk = Npy.read(dump.resolve("L1.kv1.k.npy"));
        NpyArray dv = Npy.read(dump.resolve("L1.kv0.v.npy"));
        assertArrayEquals(new int[] {group, positions.length, d}, dq.shape());
        assertArrayEquals(new int[] {1, n, d}, dk.shape());
        assertArrayEquals(new int[] {1, n, d}, dv.shape());
        assertFalse(Files.exists(dump.resolve("L0.kv0.k.npy")), "only --dump-layers");
        Path bench = tmp.resolve("bench.json");
        CliRun b = CliRun.run("bench", "decode", "--keys", dump.resolve("L1.kv1.k.npy").toString(), "--query-file",
                dump.resolve("L1.kv1.q.npy").toString(), "--values", dump.resolve("L1.kv1.v.npy").toString(),
                "--kind", "softmax", "--no-faiss", "--json", bench.toString());
        assertEquals(0, b.code(), "bench decode reads the dumps: " + b.err());
        assertEquals(n, new ObjectMapper().readTree(bench.toFile()).get("results").get(0).get("n").asInt());
    }

    @Test
    void badInputsExitAsTheSpecSays() throws Exception {
        String m = model.toString(), t = text.toString();
        assertEquals(2, CliRun.run("analyze", "--model", m, "--text", t, "--select", "top:8").code());
        assertEquals(2, CliRun.run("analyze", "--model", m, "--text", t, "--select", "epsilon:2").code());
        assertEquals(2, CliRun.run("analyze", "--model", m, "--text", t, "--positions", "5,100000").code());
        assertEquals(2, CliRun.run("analyze", "--model", m, "--text", t, "--dump-layers", "0").code());
        assertEquals(2, CliRun.run("analyze", "--model", m, "--text", t, "--dump-dir", tmp.toString(),
                "--dump-layers", "2").code());
        assertEquals(2, CliRun.run("analyze", "--model", m, "--text", t, "--json",
                tmp.resolve("no/such/dir/a.json").toString()).code());
        assertEquals(2, CliRun.run("analyze", "--model", m, "--text", t, "--json", t).code(), "an input as output");
        assertEquals(2, CliRun.run("analyze", "--model", m).code(), "--text is required");
        CliRun missing = CliRun.run("analyze", "--model", m, "--text", tmp.resolve("missing.txt").toString());
        assertEquals(1, missing.code());
        assertTrue(missing.err().startsWith("hsr: error:") && missing.err().strip().lines().count() == 1, missing.err());
        assertEquals(1, CliRun.run("analyze", "--model", tmp.resolve("missing.gguf").toString(), "--text", t).code());
    }

    private static int[] ints(JsonNode a) {
        int[] x = new int[a.size()];
        for (int i = 0; i < x.length; i++) x[i] = a.get(i).asInt();
        return x;
    }

    /** The size of the smallest set of keys holding 1-eps of q's softmax mass over the first visible keys. */
    private static int needed(double[] q, List<double[][]> keys, int kvHead, int visible, int d, double eps) {
        double[] s = new double[visible];
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < visible; j++) {
            double dot = 0;
            for (int i = 0; i < d; i++) dot += q[i] * keys.get(j)[kvHead][i];
            s[j] = dot / Math.sqrt(d);
            max = Math.max(max, s[j]);
        }
        double total = 0;
        for (int j = 0; j < visible; j++) {
            s[j] = Math.exp(s[j] - max);
            total += s[j];
        }
        Arrays.sort(s);
        double kept = 0;
        int m = 0;
        for (int j = visible - 1; j >= 0 && kept < (1 - eps) * total; j--, m++) kept += s[j];
        return m;
    }

    /** Dense softmax attention in float64, keeping every key and each layer's last query per head. */
    static final class Float64Attention implements AttentionBackend {
        final int heads, kvHeads, d;
        final List<List<double[][]>> keys = new ArrayList<>(), values = new ArrayList<>(); // [layer][pos][kvHead][d]
        final List<double[][]> lastQ = new ArrayList<>(); // [layer] -> [head][d]

        Float64Attention(int heads, int kvHeads, int d) {
            this.heads = heads;
            this.kvHeads = kvHeads;
            this.d = d;
        }

        @Override
        public void reset() {
            keys.clear();
            values.clear();
        }

        @Override
        public void append(int layer, float[] k, float[] v) {
            while (keys.size() <= layer) {
                keys.add(new ArrayList<>());
                values.add(new ArrayList<>());
                lastQ.add(null);
            }
            double[][] kk = new double[kvHeads][d], vv = new double[kvHeads][d];
            for (int g = 0; g < kvHeads; g++) {
                for (int i = 0; i < d; i++) {
                    kk[g][i] = k[g * d + i];
                    vv[g][i] = v[g * d + i];
                }
            }
            keys.get(layer).add(kk);
            values.get(layer).add(vv);
        }

        @Override
        public void attend(int layer, float[] q, float[] out) {
            List<double[][]> ks = keys.get(layer), vs = values.get(layer);
            int n = ks.size();
            double[][] qs = new double[heads][d];
            for (int h = 0; h < heads; h++) {
                int g = h / (heads / kvHeads);
                for (int i = 0; i < d; i++) qs[h][i] = q[h * d + i];
                double[] s = new double[n];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < n; j++) {
                    double dot = 0;
                    for (int i = 0; i < d; i++) dot += qs[h][i] * ks.get(j)[g][i];
                    s[j] = dot / Math.sqrt(d);
                    max = Math.max(max, s[j]);
                }
                double total = 0;
                double[] o = new double[d];
                for (int j = 0; j < n; j++) {
                    double w = Math.exp(s[j] - max);
                    total += w;
                    for (int i = 0; i < d; i++) o[i] += w * vs.get(j)[g][i];
                }
                for (int i = 0; i < d; i++) out[h * d + i] = (float) (o[i] / total);
            }
            lastQ.set(layer, qs);
        }
    }
}
