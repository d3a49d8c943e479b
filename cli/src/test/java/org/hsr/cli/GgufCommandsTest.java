package org.hsr.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code hsr convert}, {@code hsr info} and the model commands on the shipped model written as GGUF. */
class GgufCommandsTest {

    @TempDir
    static Path tmp;
    static Path f32, q8;

    @BeforeAll
    static void convert() {
        f32 = tmp.resolve("s-f32.gguf");
        q8 = tmp.resolve("s-q8.gguf");
        CliRun a = CliRun.run("convert", "--type", "f32", "--out", f32.toString());
        assertEquals(0, a.code(), a.err());
        CliRun b = CliRun.run("convert", "--type", "q8_0", "--out", q8.toString());
        assertEquals(0, b.code(), b.err());
    }

    @Test
    void greedyGenerationFromTheGgufFileEqualsTheEmbeddedModelsAndStreams() throws Exception {
        Path ja = tmp.resolve("a.json"), jb = tmp.resolve("b.json");
        CliRun embedded = CliRun.run("generate", "--steps", "40", "--temperature", "0", "--json", ja.toString());
        CliRun gguf = CliRun.run("generate", "--model", f32.toString(), "--steps", "40", "--temperature", "0",
                "--threads", "2", "--json", jb.toString());
        assertEquals(0, gguf.code(), gguf.err());
        assertEquals(embedded.out(), gguf.out());
        ObjectMapper m = new ObjectMapper();
        JsonNode a = m.readTree(ja.toFile()), b = m.readTree(jb.toFile());
        assertEquals(a.get("tokens"), b.get("tokens"));
        assertEquals("gguf", b.get("format").asText());
        assertEquals("fp16", b.get("kv").asText(), "a GGUF model's default KV type");
        assertEquals("fp32", a.get("kv").asText());
        assertEquals(b.get("text").asText() + "\n", gguf.out());
    }

    @Test
    void perplexityWithEveryKvTypeAndHsrAttention() throws Exception {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, "Once upon a time, there was a little girl named Lily. She loved to play outside.");
        for (String kv : new String[] {"fp32", "bf16", "fp16"}) {
            Path js = tmp.resolve("p-" + kv + ".json");
            CliRun r = CliRun.run("perplexity", "--model", q8.toString(), "--text", text.toString(), "--kv", kv,
                    "--attention", "hsr", "--select", "top:16", "--json", js.toString());
            assertEquals(0, r.code(), r.err());
            JsonNode j = new ObjectMapper().readTree(js.toFile());
            assertEquals(kv, j.get("kv").asText());
            assertTrue(j.get("mean_nll").asDouble() > 0 && j.get("mean_nll").asDouble() < 2, j.toString());
            assertTrue(j.get("kept_frac_mean").asDouble() < 1, j.toString());
        }
    }

    @Test
    void infoDescribesTheFile() throws Exception {
        Path js = tmp.resolve("info.json");
        CliRun r = CliRun.run("info", "--model", q8.toString(), "--json", js.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("architecture") && r.out().contains("llama"), r.out());
        JsonNode j = new ObjectMapper().readTree(js.toFile());
        assertEquals(64, j.get("dim").asInt());
        assertEquals(4, j.get("kv_heads").asInt());
        assertTrue(j.get("tensor_bytes_by_type").has("Q8_0"), j.toString());
        assertTrue(j.get("tensor_bytes_by_type").has("F16"), "ffn_down (row 172) falls back to F16: " + j);
        assertEquals(0, CliRun.run("info").code());
    }

    @Test
    void modelBenchRunsEveryMethodOnARandomShape() throws Exception {
        Path js = tmp.resolve("bench.json");
        CliRun r = CliRun.run("model-bench", "--random", "tiny", "--n", "64,128", "--steps", "1", "--select",
                "dense,top:8,epsilon:0.5", "--threads", "1", "--json", js.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(js.toFile());
        assertEquals(8, j.get("results").size()); // runner dense + 3 hsr selections, at 2 contexts
        for (JsonNode row : j.get("results")) {
            double total = row.get("ms_per_token").asDouble();
            assertTrue(row.get("matmul_ms").asDouble() + row.get("attention_ms").asDouble() <= total + 1e-9, row.toString());
        }
        JsonNode top = j.get("results").get(5); // methods in order, contexts within: hsr top:8 at n = 128
        assertEquals("hsr top:8", top.get("method").asText());
        assertTrue(top.get("kept_frac").asDouble() < 0.1, top.toString());
        assertEquals(2, CliRun.run("model-bench", "--random", "tiny", "--model", "x.gguf").code());
    }

    @Test
    void errorsAreOneLineWithTheRightExitCode() throws Exception {
        Path bad = tmp.resolve("bad.gguf");
        byte[] head = Files.readAllBytes(f32);
        Files.write(bad, java.util.Arrays.copyOf(head, 100));
        CliRun r = CliRun.run("generate", "--model", bad.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("hsr: error: GGUF file "), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        r = CliRun.run("info", "--model", bad.toString());
        assertEquals(1, r.code(), r.err());
        r = CliRun.run("generate", "--model", f32.toString(), "--kv", "int8");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--kv must be fp32, bf16 or fp16, got int8"), r.err());
        r = CliRun.run("generate", "--model", f32.toString(), "--context", "1000");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("1000") && r.err().contains("512"), r.err());
        r = CliRun.run("convert", "--random", "gpt-5", "--out", tmp.resolve("x.gguf").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("llama-3.2-1b"), r.err());
        assertFalse(Files.exists(tmp.resolve("x.gguf")));
        r = CliRun.run("convert", "--type", "q5_k", "--out", tmp.resolve("y.gguf").toString());
        assertEquals(2, r.code());
    }

    /** A copy of {@code model} whose tensor {@code name} is stated as GGML type {@code type} in the header. */
    static Path relabelled(Path model, String name, int type, Path out) throws Exception {
        byte[] b = Files.readAllBytes(model);
        byte[] key = name.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        int at = -1;
        search:
        for (int i = 0; i + key.length <= b.length; i++) {
            for (int j = 0; j < key.length; j++) {
                if (b[i + j] != key[j]) continue search;
            }
            at = i + key.length; // the tensor info: uint32 n_dims, uint64 ne[n_dims], uint32 type, uint64 offset
            break;
        }
        java.nio.ByteBuffer buf = java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        int nDims = buf.getInt(at);
        int typeAt = at + 4 + 8 * nDims;
        assertEquals(8, buf.getInt(typeAt), "the fixture's tensor is Q8_0");
        buf.putInt(typeAt, type);
        Files.write(out, b);
        return out;
    }

    @Test
    void aQ8TensorRelabelledQ4IsRefusedWithTheFileAndTheTensorNamed() throws Exception {
        Path bad = relabelled(q8, "blk.0.attn_q.weight", 2, tmp.resolve("relabelled.gguf"));
        Path text = tmp.resolve("r.txt");
        Files.writeString(text, "Once upon a time, there was a little girl.");
        for (String[] args : new String[][] {{"generate", "--steps", "5"}, {"perplexity", "--text", text.toString()},
                {"info"}}) {
            String[] all = java.util.Arrays.copyOf(args, args.length + 2);
            all[args.length] = "--model";
            all[args.length + 1] = bad.toString();
            CliRun r = CliRun.run(all);
            assertEquals(1, r.code(), args[0] + ": " + r.out() + r.err());
            assertEquals("", r.out(), args[0]);
            String err = r.err().strip();
            assertFalse(err.contains("\n"), err);
            assertTrue(err.startsWith("hsr: error: GGUF file " + bad + ": tensor \"blk.0.attn_q.weight\" is Q4_0 "),
                    err);
            assertTrue(err.contains("not of its stated type"), err);
        }
    }
}
