package org.hsr.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import org.hsr.model.Llama2Config;
import org.hsr.model.Llama2Model;
import org.hsr.model.LlamaModel;
import org.hsr.model.TextTokenizer;
import org.hsr.model.gguf.GgufFile;
import org.hsr.model.gguf.GgufModel;
import org.hsr.model.gguf.GgufTokenizers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code hsr info}: what a model file holds (architecture, shapes, tensor types, memory), without running it. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Describe a llama2.c or GGUF model: architecture, shape, tensor types, tokenizer and memory.")
final class InfoCommand implements Callable<Integer> {

    @Option(names = "--model", paramLabel = "M", description = "model file (default: the embedded stories260K)")
    Path model;
    @Option(names = "--json", paramLabel = "F", description = "also write the description as JSON") Path json;

    @Override
    public Integer call() throws Exception {
        CliIO.checkOutputs(List.of(CliIO.named("--model", model)), List.of(CliIO.named("--json", json)));
        Map<String, Object> js = new LinkedHashMap<>();
        if (model != null && Files.isRegularFile(model) && GgufFile.isGguf(model)) {
            try (GgufFile f = GgufFile.open(model)) {
                js.put("format", "gguf v" + f.version());
                js.put("name", f.getString("general.name", ""));
                js.put("architecture", f.getString("general.architecture", "?"));
                Map<String, Long> types = new TreeMap<>();
                for (GgufFile.TensorInfo t : f.tensors().values()) types.merge(t.type().name(), t.bytes(), Long::sum);
                js.put("tensors", f.tensors().size());
                js.put("tensor_bytes_by_type", types);
                js.put("file_bytes", f.fileBytes());
                js.put("model_context", f.getInt(f.getString("general.architecture", "") + ".context_length", 0));
                TextTokenizer tok = f.get("tokenizer.ggml.model") == null ? null : GgufTokenizers.load(f);
                js.put("tokenizer", f.getString("tokenizer.ggml.model", "none")
                        + (tok == null ? "" : ", " + tok.vocabSize() + " tokens"));
            }
            try (LlamaModel m = GgufModel.load(model, 0, 1)) {
                describe(js, m);
            }
        } else {
            Llama2Model m = model == null ? Llama2Model.loadEmbedded() : Llama2Model.load(model);
            js.put("format", "llama2.c version 0");
            js.put("architecture", "llama");
            try (LlamaModel lm = LlamaModel.of(m)) {
                js.put("tensor_bytes_by_type", Map.of("F32", lm.weightBytes()));
                describe(js, lm);
            }
        }
        for (var e : js.entrySet()) {
            System.out.printf("%-22s %s%n", e.getKey(), e.getValue());
        }
        if (json != null) {
            new CliIO.Outputs().json(json, js).write();
        }
        return 0;
    }

    private static void describe(Map<String, Object> js, LlamaModel m) {
        Llama2Config c = m.config();
        LlamaModel.Hyper h = m.hyper();
        js.put("dim", c.dim());
        js.put("hidden_dim", c.hiddenDim());
        js.put("layers", c.nLayers());
        js.put("heads", c.nHeads());
        js.put("kv_heads", c.nKvHeads());
        js.put("head_size", c.headSize());
        js.put("vocab_size", c.vocabSize());
        js.put("tied_embeddings", c.sharedClassifier());
        js.put("rms_eps", h.rmsEps());
        js.put("rope", "theta " + h.ropeTheta() + (h.ropeHalfSplit() ? ", half-split pairs" : ", adjacent pairs")
                + (h.ropeFactors() == null ? "" : ", scaled frequencies"));
        js.put("matrix_types", m.layers()[0].wq().type() + " (attn_q), " + m.layers()[0].w2().type() + " (ffn_down), "
                + m.embedding().type() + " (token_embd)");
        js.put("weight_bytes", m.weightBytes());
        int ctx = c.seqLen();
        long perPosition = 2L * c.nLayers() * c.kvDim(); // keys and values, every layer
        js.put("default_context", ctx);
        js.put("kv_bytes_per_position_fp32", 4 * perPosition);
        js.put("kv_bytes_at_default_context", Map.of("fp32", 4 * perPosition * ctx, "bf16", 2 * perPosition * ctx));
    }
}
