package org.hsr.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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

/** {@code attend} with m > 1 on the tiled prefill, and {@code bench prefill} with its methods and threads. */
class PrefillCommandsTest {

    @TempDir
    Path tmp;

    private Path npy(String name, float[] data, int... shape) throws Exception {
        Path p = tmp.resolve(name);
        Npy.write(p, NpyArray.ofFloats(data, shape));
        return p;
    }

    private static float[] gaussian(SplittableRandom r, int len) {
        float[] x = new float[len];
        for (int i = 0; i < len; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    @Test
    void attendCausalPrefillRunsTiledOnTwoThreads() throws Exception {
        SplittableRandom r = new SplittableRandom(3);
        int heads = 4, kvHeads = 2, m = 150, n = 203, d = 24, dv = 12;
        float[] q = gaussian(r, heads * m * d), k = gaussian(r, kvHeads * n * d), v = gaussian(r, kvHeads * n * dv);
        Path qp = npy("q.npy", q, heads, m, d), kp = npy("k.npy", k, kvHeads, n, d), vp = npy("v.npy", v, kvHeads, n, dv);
        AttentionInput in = new AttentionInput(q, k, v, heads, kvHeads, m, n, d, dv);
        for (String kind : List.of("relu", "softmax")) {
            AttentionConfig cfg = kind.equals("relu") ? AttentionConfig.relu(1, 0.3f, true) : AttentionConfig.softmax(true);
            double[] ref = DenseReference.attend(in, cfg);
            for (String mode : List.of("dense", "hsr")) {
                Path out = tmp.resolve(kind + mode + ".npy"), stats = tmp.resolve(kind + mode + ".json");
                CliRun run = CliRun.run("attend", "--q", qp.toString(), "--k", kp.toString(), "--v", vp.toString(),
                        "--out", out.toString(), "--kind", kind, "--bias", "0.3", "--causal", "--mode", mode,
                        "--threads", "2", "--stats", stats.toString());
                assertEquals(0, run.code(), run.err());
                float[] o = Npy.read(out).floats();
                double worst = 0;
                for (int i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(o[i] - ref[i]));
                assertTrue(worst < 1e-5, kind + " " + mode + " error " + worst);
                JsonNode js = new ObjectMapper().readTree(stats.toFile());
                assertEquals("tiled prefill", js.get("path").asText());
                assertEquals(2, js.get("threads").asInt());
                assertTrue(js.get("gflops").asDouble() > 0);
                assertTrue(js.has("build_ms") && js.has("tiles_skipped"), js.toString());
                assertEquals(heads * m, js.get("rows").asInt());
            }
        }
    }

    @Test
    void benchPrefillRunsDenseAndHsrOnTwoThreads() throws Exception {
        Path json = tmp.resolve("p.json");
        // no hsr.home in tests: the NumPy peer reports a skip and the other methods still run
        CliRun run = CliRun.run("bench", "prefill", "--n", "300,517", "--d", "32", "--threads", "2", "--repeat", "1",
                "--json", json.toString());
        assertEquals(0, run.code(), run.err());
        JsonNode js = new ObjectMapper().readTree(json.toFile());
        assertEquals(2, js.get("threads").asInt());
        int rows = 0;
        for (JsonNode row : js.get("results")) {
            String method = row.get("method").asText();
            assertTrue(List.of("dense", "hsr", "numpy").contains(method), method);
            assertTrue(row.get("max_rel_err").asDouble() < 1e-5, row.toString());
            if (!method.equals("numpy")) {
                assertEquals(2, row.get("threads").asInt());
                assertTrue(row.get("gflops").asDouble() > 0, row.toString());
                rows++;
            }
        }
        assertEquals(4, rows);
        assertTrue(js.get("slopes").has("hsr"));
        // threads are for prefill only
        CliRun decode = CliRun.run("bench", "decode", "--quick", "--threads", "2");
        assertEquals(2, decode.code());
        assertTrue(decode.err().startsWith("hsr: error: --threads"), decode.err());
    }
}
