package org.hsr.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.hsr.io.Npy;
import org.hsr.io.NpyArray;

/**
 * FAISS {@code IndexFlatIP.range_search}, one thread, through Debian's {@code python3-faiss}, on the same data written
 * to {@code .npy}: the exact no-index peer of the half-space search ({@code bench/faiss/faiss_range.py}, which installs
 * FAISS if it can and otherwise reports a skip). Search time only, one query per call (the decoding situation).
 */
final class FaissPeer {
    private FaissPeer() {}

    /** Result of one run: ms per query, or a reason why FAISS was skipped. */
    record Result(double msPerQuery, long reported, String skipped) {}

    static Result rangeSearch(float[] keys, int n, float[] queries, int m, int d, float threshold) {
        String home = System.getProperty("hsr.home");
        Path script = home == null ? null : Path.of(home, "bench", "faiss", "faiss_range.py");
        if (script == null || !Files.exists(script)) {
            return new Result(Double.NaN, 0, "bench/faiss/faiss_range.py not found (run through ./hsr)");
        }
        Path dir = null;
        try {
            dir = Files.createTempDirectory("hsr-faiss-");
            Npy.write(dir.resolve("k.npy"), NpyArray.ofFloats(keys, n, d));
            Npy.write(dir.resolve("q.npy"), NpyArray.ofFloats(queries, m, d));
            float[] t = new float[m];
            java.util.Arrays.fill(t, threshold);
            Npy.write(dir.resolve("t.npy"), NpyArray.ofFloats(t, m));
            Path json = dir.resolve("f.json");
            Process p = new ProcessBuilder("/usr/bin/python3", script.toString(), "--keys", dir.resolve("k.npy").toString(),
                    "--queries", dir.resolve("q.npy").toString(), "--thresholds", dir.resolve("t.npy").toString(),
                    "--out", dir.resolve("r").toString(), "--repeat", "5", "--json", json.toString())
                    .redirectErrorStream(true).start();
            String output = new String(p.getInputStream().readAllBytes());
            int code = p.waitFor();
            if (code != 0 || !Files.exists(json)) {
                String last = output.strip().lines().reduce((a, b) -> b).orElse("exit " + code);
                return new Result(Double.NaN, 0, "FAISS skipped: " + last);
            }
            JsonNode js = new ObjectMapper().readTree(json.toFile());
            return new Result(js.path("single").path("ms_per_query").asDouble(Double.NaN),
                    js.path("single").path("reported_total").asLong(), null);
        } catch (IOException e) {
            return new Result(Double.NaN, 0, "FAISS skipped: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(Double.NaN, 0, "FAISS skipped: interrupted");
        } finally {
            if (dir != null) {
                try (var files = Files.list(dir)) {
                    for (Path f : files.toList()) Files.deleteIfExists(f);
                    Files.deleteIfExists(dir);
                } catch (IOException ignored) {
                    // temporary files only
                }
            }
        }
    }
}
