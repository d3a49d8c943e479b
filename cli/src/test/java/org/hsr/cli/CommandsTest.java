package org.hsr.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionInput;
import org.hsr.attention.DenseReference;
import org.hsr.io.Npy;
import org.hsr.io.NpyArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code hsr attend}, {@code hsr search} and {@code hsr bench} end to end: results, JSON fields, and SPEC §5 errors. */
class CommandsTest {

    @TempDir
    Path tmp;

    private Path npy(String name, float[] data, int... shape) throws Exception {
        return TestArrays.npy(tmp, name, data, shape);
    }

    private static float[] gaussian(SplittableRandom r, int len) {
        return TestArrays.gaussian(r, len);
    }

    /** Asserts the SPEC §5 failure shape: the exit code, one "hsr: error:" line, and no output file. */
    private static void assertFails(int code, CliRun r, Path out, String mention) {
        assertEquals(code, r.code(), r.err());
        assertTrue(r.err().startsWith("hsr: error: "), r.err());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
        assertTrue(r.err().contains(mention), "'" + r.err().strip() + "' should mention " + mention);
        if (out != null) assertFalse(Files.exists(out), "no output file " + out);
    }

    @Test
    void attendMatchesTheFloat64ReferenceInBothModesWithGqa() throws Exception {
        SplittableRandom r = new SplittableRandom(1);
        int heads = 4, kvHeads = 2, m = 3, n = 300, d = 16, dv = 8;
        float[] q = gaussian(r, heads * m * d), k = gaussian(r, kvHeads * n * d), v = gaussian(r, kvHeads * n * dv);
        Path qp = npy("q.npy", q, heads, m, d), kp = npy("k.npy", k, kvHeads, n, d), vp = npy("v.npy", v, kvHeads, n, dv);
        AttentionInput in = new AttentionInput(q, k, v, heads, kvHeads, m, n, d, dv);
        double[] ref = DenseReference.attend(in, AttentionConfig.relu(2, 0.2f, true));
        for (String mode : List.of("dense", "hsr")) {
            Path out = tmp.resolve(mode + ".npy"), stats = tmp.resolve(mode + ".json");
            CliRun run = CliRun.run("attend", "--q", qp.toString(), "--k", kp.toString(), "--v", vp.toString(), "--out",
                    out.toString(), "--kind", "relu", "--alpha", "2", "--bias", "0.2", "--causal", "--mode", mode,
                    "--repeat", "3", "--stats", stats.toString());
            assertEquals(0, run.code(), run.err());
            NpyArray o = Npy.read(out);
            assertEquals(List.of(heads, m, dv), java.util.Arrays.stream(o.shape()).boxed().toList());
            double worst = 0;
            for (int i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(o.floats()[i] - ref[i]));
            assertTrue(worst < 1e-5, mode + " error " + worst);
            JsonNode js = new ObjectMapper().readTree(stats.toFile());
            for (String f : List.of("rows", "kept_mean", "keys_touched_frac", "empty_rows", "fallback_rows", "attend_ms_median")) {
                assertTrue(js.has(f), mode + " stats lack " + f);
            }
            assertEquals(heads * m, js.get("rows").asInt());
        }
        // without --causal every row runs through the engine cache (kv head 1 was read from kv head 0's rows once)
        double[] full = DenseReference.attend(in, AttentionConfig.relu(2, 0.2f, false));
        for (String mode : List.of("dense", "hsr")) {
            Path out = tmp.resolve(mode + "-full.npy");
            CliRun run = CliRun.run("attend", "--q", qp.toString(), "--k", kp.toString(), "--v", vp.toString(), "--out",
                    out.toString(), "--kind", "relu", "--alpha", "2", "--bias", "0.2", "--mode", mode);
            assertEquals(0, run.code(), run.err());
            double worst = 0;
            for (int i = 0; i < full.length; i++) worst = Math.max(worst, Math.abs(Npy.read(out).floats()[i] - full[i]));
            assertTrue(worst < 1e-5, mode + " (not causal) error " + worst);
        }
        // the certified softmax reports its bound
        Path stats = tmp.resolve("eps.json");
        CliRun run = CliRun.run("attend", "--q", qp.toString(), "--k", kp.toString(), "--v", vp.toString(), "--out",
                tmp.resolve("eps.npy").toString(), "--mode", "hsr", "--select", "epsilon:1e-3", "--stats", stats.toString());
        assertEquals(0, run.code(), run.err());
        assertTrue(new ObjectMapper().readTree(stats.toFile()).get("dropped_mass_bound_max").asDouble() <= 1e-3);
    }

    @Test
    void attendRefusesBadInputWithOneLineAndNoOutput() throws Exception {
        SplittableRandom r = new SplittableRandom(2);
        Path q = npy("q.npy", gaussian(r, 2 * 16), 2, 16), k = npy("k.npy", gaussian(r, 50 * 16), 50, 16);
        Path v = npy("v.npy", gaussian(r, 50 * 8), 50, 8);
        Path out = tmp.resolve("o.npy");
        String o = out.toString();
        // wrong dimension
        assertFails(2, CliRun.run("attend", "--q", npy("q15.npy", gaussian(r, 30), 2, 15).toString(), "--k", k.toString(),
                "--v", v.toString(), "--out", o), out, "15 != key dimension 16");
        // values with the wrong number of rows
        assertFails(2, CliRun.run("attend", "--q", q.toString(), "--k", k.toString(), "--v",
                npy("v49.npy", gaussian(r, 49 * 8), 49, 8).toString(), "--out", o), out, "49 rows, keys 50");
        // H not a multiple of Hkv
        assertFails(2, CliRun.run("attend", "--q", npy("q3.npy", gaussian(r, 3 * 2 * 16), 3, 2, 16).toString(), "--k",
                npy("k2.npy", gaussian(r, 2 * 50 * 16), 2, 50, 16).toString(), "--v",
                npy("v2.npy", gaussian(r, 2 * 50 * 8), 2, 50, 8).toString(), "--out", o), out, "not a multiple");
        // NaN and Inf
        float[] bad = gaussian(r, 50 * 16);
        bad[17] = Float.NaN;
        assertFails(2, CliRun.run("attend", "--q", q.toString(), "--k", npy("nan.npy", bad, 50, 16).toString(), "--v",
                v.toString(), "--out", o), out, "non-finite");
        bad[17] = Float.NEGATIVE_INFINITY;
        assertFails(2, CliRun.run("attend", "--q", q.toString(), "--k", npy("inf.npy", bad, 50, 16).toString(), "--v",
                v.toString(), "--out", o), out, "non-finite");
        // empty array
        assertFails(2, CliRun.run("attend", "--q", npy("e.npy", new float[0], 0, 16).toString(), "--k", k.toString(),
                "--v", v.toString(), "--out", o), out, "empty");
        // alpha < 1, bad kind, bad selection
        assertFails(2, CliRun.run("attend", "--q", q.toString(), "--k", k.toString(), "--v", v.toString(), "--out", o,
                "--kind", "relu", "--alpha", "0"), out, "alpha");
        assertFails(2, CliRun.run("attend", "--q", q.toString(), "--k", k.toString(), "--v", v.toString(), "--out", o,
                "--kind", "gelu"), out, "gelu");
        assertFails(2, CliRun.run("attend", "--q", q.toString(), "--k", k.toString(), "--v", v.toString(), "--out", o,
                "--mode", "hsr", "--select", "epsilon:1.5"), out, "epsilon");
        // truncated and corrupt .npy: runtime failures, exit 1
        byte[] full = Files.readAllBytes(k);
        Path truncated = tmp.resolve("trunc.npy");
        Files.write(truncated, java.util.Arrays.copyOf(full, full.length - 10));
        assertFails(1, CliRun.run("attend", "--q", q.toString(), "--k", truncated.toString(), "--v", v.toString(),
                "--out", o), out, "truncated");
        Path corrupt = tmp.resolve("corrupt.npy");
        Files.write(corrupt, "not a numpy file at all".getBytes());
        assertFails(1, CliRun.run("attend", "--q", q.toString(), "--k", corrupt.toString(), "--v", v.toString(),
                "--out", o), out, "magic");
        // missing file
        assertFails(1, CliRun.run("attend", "--q", q.toString(), "--k", tmp.resolve("none.npy").toString(), "--v",
                v.toString(), "--out", o), out, "no such file");
        // unwritable output: a directory that does not exist
        Path nowhere = tmp.resolve("no/such/dir/o.npy");
        assertFails(2, CliRun.run("attend", "--q", q.toString(), "--k", k.toString(), "--v", v.toString(), "--out",
                nowhere.toString()), nowhere, "does not exist");
        // an unknown flag is a usage error too
        assertFails(2, CliRun.run("attend", "--q", q.toString(), "--k", k.toString(), "--v", v.toString(), "--out", o,
                "--bogus"), out, "bogus");
    }

    @Test
    void searchWritesCsrEqualToBruteForceAndRefusesBadInput() throws Exception {
        SplittableRandom r = new SplittableRandom(3);
        int n = 5000, m = 4, d = 12;
        float[] k = gaussian(r, n * d), q = gaussian(r, m * d);
        Path kp = npy("k.npy", k, n, d), qp = npy("q.npy", q, m, d);
        String prefix = tmp.resolve("res").toString();
        Path stats = tmp.resolve("s.json");
        CliRun run = CliRun.run("search", "--keys", kp.toString(), "--queries", qp.toString(), "--threshold", "3.5",
                "--out", prefix, "--repeat", "2", "--stats", stats.toString());
        assertEquals(0, run.code(), run.err());
        long[] lims = Npy.read(Path.of(prefix + ".lims.npy")).longs();
        long[] ids = Npy.read(Path.of(prefix + ".ids.npy")).longs();
        assertEquals(m + 1, lims.length);
        for (int i = 0; i < m; i++) {
            List<Long> expected = new java.util.ArrayList<>();
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int t = 0; t < d; t++) s += (double) q[i * d + t] * k[j * d + t];
                if (s >= 3.5) expected.add((long) j);
            }
            List<Long> got = java.util.Arrays.stream(ids, (int) lims[i], (int) lims[i + 1]).boxed().toList();
            assertEquals(expected, got, "query " + i);
        }
        JsonNode js = new ObjectMapper().readTree(stats.toFile());
        for (String f : List.of("n", "d", "queries", "build_ms", "query_ms_median", "reported_total", "keys_touched_frac")) {
            assertTrue(js.has(f), "stats lack " + f);
        }
        assertTrue(js.get("keys_touched_frac").asDouble() < 1.0);

        Path lost = Path.of(tmp.resolve("bad").toString() + ".lims.npy");
        assertFails(2, CliRun.run("search", "--keys", kp.toString(), "--queries", npy("q5.npy", gaussian(r, 10), 2, 5)
                .toString(), "--threshold", "1", "--out", tmp.resolve("bad").toString()), lost, "5 != key dimension 12");
        assertFails(2, CliRun.run("search", "--keys", kp.toString(), "--queries", qp.toString(), "--out",
                tmp.resolve("bad").toString()), lost, "--threshold");
        assertFails(2, CliRun.run("search", "--keys", kp.toString(), "--queries", qp.toString(), "--threshold", "NaN",
                "--out", tmp.resolve("bad").toString()), lost, "finite");
    }

    @Test
    void benchQuickWritesTheSpecFieldsAndSlopes() throws Exception {
        Path json = tmp.resolve("b.json"), html = tmp.resolve("b.html");
        CliRun run = CliRun.run("bench", "decode", "--n", "2048,4096", "--d", "32", "--queries", "4", "--no-faiss",
                "--json", json.toString(), "--html", html.toString());
        assertEquals(0, run.code(), run.err());
        JsonNode js = new ObjectMapper().readTree(json.toFile());
        assertEquals(6, js.get("results").size());
        for (JsonNode row : js.get("results")) {
            for (String f : List.of("workload", "dist", "kind", "n", "d", "method", "ms_median", "keys_touched_frac",
                    "kept_frac", "max_rel_err")) {
                assertTrue(row.has(f), "result lacks " + f + ": " + row);
            }
            assertTrue(row.get("max_rel_err").asDouble() < 1e-5, row.toString()); // ReLU through every method is exact
        }
        assertTrue(js.get("slopes").has("hsr"));
        assertTrue(Files.readString(html).contains("<svg"));
        assertTrue(js.get("caches").asText().startsWith("warm"), js.get("caches").asText());
        assertFails(2, CliRun.run("bench", "sideways"), null, "sideways");
        // --cold: the same methods and exact results, with the caches evicted before every timed row
        Path coldJson = tmp.resolve("cold.json");
        run = CliRun.run("bench", "decode", "--n", "2048", "--d", "32", "--queries", "4", "--no-faiss", "--cold",
                "--json", coldJson.toString());
        assertEquals(0, run.code(), run.err());
        js = new ObjectMapper().readTree(coldJson.toFile());
        assertTrue(js.get("caches").asText().startsWith("cold"), js.get("caches").asText());
        assertEquals(3, js.get("results").size());
        for (JsonNode row : js.get("results")) assertTrue(row.get("max_rel_err").asDouble() < 1e-5, row.toString());
    }

    @Test
    void benchRunsOnUserKeysQueriesAndValues() throws Exception {
        SplittableRandom r = new SplittableRandom(5);
        int n = 3000, m = 20, d = 16, dv = 8;
        Path k = npy("keys.npy", gaussian(r, n * d), n, d), q = npy("q.npy", gaussian(r, m * d), m, d);
        Path v = npy("v.npy", gaussian(r, n * dv), n, dv);
        Path json = tmp.resolve("u.json"), html = tmp.resolve("u.html");
        CliRun run = CliRun.run("bench", "decode", "--keys", k.toString(), "--query-file", q.toString(), "--values",
                v.toString(), "--n", "1000,3000", "--queries", "4", "--no-faiss", "--json", json.toString(), "--html",
                html.toString());
        assertEquals(0, run.code(), run.err());
        JsonNode js = new ObjectMapper().readTree(json.toFile());
        assertEquals("user:keys.npy", js.get("dist").asText());
        assertEquals("user:v.npy", js.get("values").asText());
        assertEquals(6, js.get("results").size());
        for (JsonNode row : js.get("results")) {
            for (String f : List.of("workload", "dist", "kind", "n", "d", "method", "ms_median", "keys_touched_frac",
                    "kept_frac", "max_rel_err")) {
                assertTrue(row.has(f), "result lacks " + f + ": " + row);
            }
            assertEquals("user:keys.npy", row.get("dist").asText());
            assertEquals(d, row.get("d").asInt()); // from the file
            assertTrue(row.get("max_rel_err").asDouble() < 1e-5, row.toString()); // ReLU is exact on any data
            assertTrue(row.get("score_std").asDouble() > 0.5 && row.get("score_std").asDouble() < 2, row.toString());
        }
        assertEquals(List.of(1000, 1000, 1000, 3000, 3000, 3000),
                java.util.stream.StreamSupport.stream(js.get("results").spliterator(), false).map(x -> x.get("n").asInt()).toList());
        String page = Files.readString(html);
        assertTrue(page.contains("<svg"));
        assertTrue(page.contains("<title>hsr bench decode \u2014 ") && page.contains("JDK " + System.getProperty("java.version")),
                "the title names the machine and the JDK");
        assertFalse(page.contains("NaN"), "no NaN reaches the plots or the table");

        // without --values and --n: Gaussian values with a fixed seed, all the keys, softmax
        run = CliRun.run("bench", "decode", "--keys", k.toString(), "--query-file", q.toString(), "--kind", "softmax",
                "--queries", "2", "--json", json.toString());
        assertEquals(0, run.code(), run.err());
        js = new ObjectMapper().readTree(json.toFile());
        assertTrue(js.get("values").asText().contains("seed"), js.get("values").toString());
        for (JsonNode row : js.get("results")) {
            assertEquals(n, row.get("n").asInt());
            if (row.get("method").asText().equals("hsr")) {
                assertTrue(row.get("dropped_mass_bound_max").asDouble() <= 1e-3, row.toString());
            }
        }
        // the analyses take user data too; prefill takes the first n queries and keys
        assertEquals(0, CliRun.run("bench", "sparsity", "--keys", k.toString(), "--query-file", q.toString()).code());
        assertEquals(0, CliRun.run("bench", "error", "--keys", k.toString(), "--query-file", q.toString(), "--quick").code());
        run = CliRun.run("bench", "prefill", "--keys", k.toString(), "--query-file", q.toString(), "--json", json.toString());
        assertEquals(0, run.code(), run.err());
        for (JsonNode row : new ObjectMapper().readTree(json.toFile()).get("results")) {
            assertEquals(m, row.get("n").asInt()); // as many positions as there are queries
            assertTrue(row.get("max_rel_err").asDouble() < 1e-5, row.toString());
        }
    }

    @Test
    void benchRefusesInconsistentUserData() throws Exception {
        SplittableRandom r = new SplittableRandom(6);
        int n = 500, m = 10, d = 16;
        String k = npy("k.npy", gaussian(r, n * d), n, d).toString(), q = npy("q.npy", gaussian(r, m * d), m, d).toString();
        Path json = tmp.resolve("bad.json");
        String j = json.toString();
        // queries of another dimension than the keys
        assertFails(2, CliRun.run("bench", "decode", "--keys", k, "--query-file",
                npy("q15.npy", gaussian(r, m * 15), m, 15).toString(), "--json", j), json, "15 != key dimension 16");
        // a --d that disagrees with the file
        assertFails(2, CliRun.run("bench", "decode", "--keys", k, "--query-file", q, "--d", "128", "--json", j), json,
                "--d 128 != key dimension 16");
        // missing file: a runtime failure
        assertFails(1, CliRun.run("bench", "decode", "--keys", tmp.resolve("none.npy").toString(), "--query-file", q,
                "--json", j), json, "no such file");
        assertFails(1, CliRun.run("bench", "decode", "--keys", k, "--query-file", tmp.resolve("none.npy").toString(),
                "--json", j), json, "no such file");
        // values with the wrong number of rows, more keys than the file has, prefill without a query per key
        assertFails(2, CliRun.run("bench", "decode", "--keys", k, "--query-file", q, "--values",
                npy("v.npy", gaussian(r, (n - 1) * d), n - 1, d).toString(), "--json", j), json, "499 rows, keys 500");
        assertFails(2, CliRun.run("bench", "decode", "--keys", k, "--query-file", q, "--n", "100,501", "--json", j), json,
                "--n 501 exceeds the 500 keys");
        assertFails(2, CliRun.run("bench", "prefill", "--keys", k, "--query-file", q, "--n", "200", "--json", j), json,
                "a query per key");
        // the flags that go together, and the ones that exclude each other
        assertFails(2, CliRun.run("bench", "decode", "--keys", k, "--json", j), json, "--query-file");
        assertFails(2, CliRun.run("bench", "decode", "--keys", k, "--query-file", q, "--dist", "llm", "--json", j), json,
                "--dist");
        // --queries is the count: a file there says where it belongs
        assertFails(2, CliRun.run("bench", "decode", "--queries", q, "--json", j), json, "--query-file");
    }

    @Test
    void plotsLeaveOutWhatALogAxisCannotShowAndSaySo() {
        Report.Series hsr = new Report.Series("hsr").add(1024, 0.5, null).add(4096, 2, null);
        Report.Series faiss = new Report.Series("faiss").add(1024, Double.NaN, null).add(4096, Double.NaN, null);
        String svg = Report.svg("time", List.of(hsr, faiss), "n", "ms", new double[] {1024, 4096});
        assertFalse(svg.contains("NaN"), svg);
        assertTrue(svg.contains("not plotted (no finite values): faiss"), svg);
        assertTrue(svg.contains(">1k<") && svg.contains(">4k<"), "ticks at the measured n: " + svg);
        assertEquals(List.of(1.0, 2.0, 5.0, 10.0), Report.ticks(0, 1));
        assertEquals(List.of(1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0), Report.ticks(-6, 0));
        assertEquals("4k", Report.tickLabel(4096, true));
        assertEquals("0.02", Report.tickLabel(0.02, false));
        assertEquals("2e-6", Report.tickLabel(2e-6, false));
    }

    @Test
    void slopeFitRecoversKnownExponents() {
        List<double[]> pts = new java.util.ArrayList<>();
        for (int n = 1024; n <= 1 << 20; n *= 4) pts.add(new double[] {Math.log(n), Math.log(3.0 * Math.pow(n, 0.8))});
        assertEquals(0.8, Report.slope(pts), 1e-12);
        pts.clear();
        pts.add(new double[] {1, 2});
        assertTrue(Double.isNaN(Report.slope(pts)), "one point has no slope");
    }
}
