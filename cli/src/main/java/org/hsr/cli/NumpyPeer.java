package org.hsr.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.hsr.io.Npy;
import org.hsr.io.NpyArray;

/**
 * The NumPy/OpenBLAS blocked causal prefill ({@code bench/peers/numpy_prefill.py}, Debian {@code python3-numpy} with
 * {@code libopenblas0-pthread}, installed by the script when it can) on the same data written to {@code .npy}:
 * the BLAS peer of {@code hsr bench prefill}. {@code OPENBLAS_NUM_THREADS} is the benchmark's {@code --threads}.
 * {@code OPENBLAS_CORETYPE} and {@code OPENBLAS_L2_SIZE}, which some machines set to work around older OpenBLAS builds
 * and which slow it down, are removed from the peer's environment only; the core type it then runs is reported.
 */
final class NumpyPeer {
    private NumpyPeer() {}

    /** One run: the median time, the sgemm rate reached, the output (m×dv), what BLAS ran; or why it was skipped. */
    record Result(double ms, double sgemmGflops, float[] out, String blas, String skipped) {}

    static Result prefill(float[] q, float[] k, float[] v, int m, int n, int d, int dv, boolean relu, float bias,
                          int alpha, int threads, int repeat) {
        String home = System.getProperty("hsr.home");
        Path script = home == null ? null : Path.of(home, "bench", "peers", "numpy_prefill.py");
        if (script == null || !Files.exists(script)) {
            return skipped("bench/peers/numpy_prefill.py not found (run through ./hsr)");
        }
        Path dir = null;
        try {
            dir = Files.createTempDirectory("hsr-numpy-");
            Npy.write(dir.resolve("q.npy"), NpyArray.ofFloats(q, m, d));
            Npy.write(dir.resolve("k.npy"), NpyArray.ofFloats(k, n, d));
            Npy.write(dir.resolve("v.npy"), NpyArray.ofFloats(v, n, dv));
            Path json = dir.resolve("r.json"), out = dir.resolve("o.npy");
            ProcessBuilder pb = new ProcessBuilder("/usr/bin/python3", script.toString(),
                    "--q", dir.resolve("q.npy").toString(), "--k", dir.resolve("k.npy").toString(),
                    "--v", dir.resolve("v.npy").toString(), "--out", out.toString(), "--kind", relu ? "relu" : "softmax",
                    "--bias", Float.toString(bias), "--alpha", Integer.toString(alpha), "--repeat",
                    Integer.toString(repeat), "--json", json.toString()).redirectErrorStream(true);
            pb.environment().put("OPENBLAS_NUM_THREADS", Integer.toString(threads));
            pb.environment().put("OMP_NUM_THREADS", Integer.toString(threads));
            pb.environment().remove("OPENBLAS_CORETYPE");
            pb.environment().remove("OPENBLAS_L2_SIZE");
            Process p = pb.start();
            String output = new String(p.getInputStream().readAllBytes());
            int code = p.waitFor();
            if (code != 0 || !Files.exists(json)) {
                String last = output.strip().lines().reduce((a, b) -> b).orElse("exit " + code);
                return skipped("NumPy peer skipped: " + last);
            }
            JsonNode js = new ObjectMapper().readTree(json.toFile());
            JsonNode blas = js.path("blas");
            String blasName = blas.path("library").asText() + " core " + blas.path("corename").asText("?") + ", "
                    + blas.path("config").asText("") + ", numpy " + js.path("numpy").asText();
            return new Result(js.path("ms_median").asDouble(Double.NaN), js.path("sgemm_gflops").asDouble(Double.NaN),
                    Npy.read(out).floats(), blasName, null);
        } catch (IOException e) {
            return skipped("NumPy peer skipped: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return skipped("NumPy peer skipped: interrupted");
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

    private static Result skipped(String why) {
        return new Result(Double.NaN, Double.NaN, null, null, why);
    }
}
