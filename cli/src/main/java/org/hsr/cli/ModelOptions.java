package org.hsr.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.Selection;
import org.hsr.model.HsrAttentionBackend;
import org.hsr.model.AttentionBackend;
import org.hsr.model.DenseReluAttention;
import org.hsr.model.DenseSoftmaxAttention;
import org.hsr.model.KvCacheBackend;
import org.hsr.model.Llama2Config;
import org.hsr.store.ElementType;
import org.hsr.model.Llama2Model;
import org.hsr.model.LlamaModel;
import org.hsr.model.TextTokenizer;
import org.hsr.model.Tokenizer;
import org.hsr.model.gguf.GgufFile;
import org.hsr.model.gguf.GgufModel;
import org.hsr.model.gguf.GgufTokenizers;
import org.hsr.model.tensor.Matmul;
import org.hsr.model.tensor.TensorKernels;
import org.hsr.vector.Vectors;
import picocli.CommandLine.Option;

/**
 * The options {@code generate} and {@code perplexity} share (SPEC §7): the model file (a llama2.c {@code .bin} or a
 * GGUF file, recognised from its contents; default: the embedded stories260K), the tokenizer (the GGUF file's own,
 * or a llama2.c tokenizer file; default: the embedded tok512 for llama2.c models), the context, threads and KV
 * storage, and the attention backend of the forward pass. {@link #backend} is the one place that turns the attention
 * flags into an {@link AttentionBackend}.
 */
final class ModelOptions {

    @Option(names = "--model", paramLabel = "M",
            description = "llama2.c version-0 .bin or GGUF (v2/v3) model file (default: the embedded stories260K)")
    Path model;

    @Option(names = "--tokenizer", paramLabel = "T",
            description = "llama2.c tokenizer file (default: the GGUF file's own tokenizer, or the embedded tok512)")
    Path tokenizer;

    @Option(names = "--context", paramLabel = "N",
            description = "positions to size the KV cache for; may only lower the model's (default: the model's "
                    + "seq_len or GGUF context_length)")
    Integer contextOption;

    /** {@code --context}, or 0 for the model's own. */
    int context;

    @Option(names = "--kv", paramLabel = "TYPE",
            description = "KV cache element type fp32, bf16 or fp16 (default: fp32 for llama2.c models, fp16 for "
                    + "GGUF ones, llama.cpp's default)")
    String kv;

    @Option(names = "--threads", paramLabel = "T", description = "matmul threads (default: the available processors)")
    Integer threads;

    @Option(names = "--attention", defaultValue = "dense", description = "dense or hsr (default: ${DEFAULT-VALUE})")
    String attention;

    @Option(names = "--kind", defaultValue = "softmax", description = "softmax or relu (default: ${DEFAULT-VALUE})")
    String kind;

    @Option(names = "--alpha", defaultValue = "1", description = "ReLU power, integer >= 1 (default: ${DEFAULT-VALUE})")
    int alpha;

    @Option(names = "--bias", defaultValue = "0", description = "ReLU bias b on the scaled score (default: ${DEFAULT-VALUE})")
    float bias;

    @Option(names = "--select", description = "softmax key selection for --attention hsr: threshold:T, top:R or epsilon:E")
    String select;

    /** A model ready to run, with its tokenizer and KV storage type. Close it to unmap a GGUF file. */
    record Loaded(LlamaModel model, TextTokenizer tokenizer, ElementType kv, String format) implements AutoCloseable {
        @Override
        public void close() {
            model.close();
        }
    }

    /** The model of {@code --model} (or the embedded one) with its tokenizer, context, threads and KV type. */
    Loaded load() throws IOException {
        if (contextOption != null) CliIO.requirePositive(contextOption, "--context"); // 0 is no context, not "default"
        context = contextOption == null ? 0 : contextOption;
        int t = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        CliIO.requirePositive(t, "--threads");
        ElementType storage = kv == null ? null : kvStorage(kv);
        if (model != null && Files.isRegularFile(model) && GgufFile.isGguf(model)) {
            LlamaModel m;
            try {
                m = GgufModel.load(model, context, t);
            } catch (IllegalArgumentException e) {
                throw new UsageException("--context: " + e.getMessage());
            }
            try {
                TextTokenizer tok;
                if (tokenizer != null) {
                    tok = Tokenizer.load(tokenizer, m.config().vocabSize());
                } else {
                    try (GgufFile f = GgufFile.open(model)) {
                        tok = GgufTokenizers.load(f);
                    }
                }
                return new Loaded(m, tok, storage != null ? storage : ElementType.FP16, "gguf");
            } catch (IOException | RuntimeException e) {
                m.close();
                throw e;
            }
        }
        Llama2Model m = model == null ? Llama2Model.loadEmbedded() : Llama2Model.load(model);
        Tokenizer tok = loadTokenizer(m);
        Llama2Config c = m.config();
        if (context > c.seqLen()) {
            throw new UsageException("--context " + context + " exceeds the model's seq_len " + c.seqLen());
        }
        LlamaModel lm = LlamaModel.of(m, new Matmul(t));
        if (context > 0) {
            Llama2Config shorter = new Llama2Config(c.dim(), c.hiddenDim(), c.nLayers(), c.nHeads(), c.nKvHeads(),
                    c.vocabSize(), context, c.sharedClassifier());
            lm = new LlamaModel(lm.source(), shorter, lm.hyper(), lm.embedding(), lm.layers(), lm.outputNorm(),
                    lm.output(), lm.matmul(), lm.resources());
        }
        return new Loaded(lm, tok, storage != null ? storage : ElementType.FP32, "llama2.c");
    }

    /** The input files of these options, for the outputs' same-file check. */
    java.util.List<CliIO.Named> inputs() {
        return java.util.List.of(CliIO.named("--model", model), CliIO.named("--tokenizer", tokenizer));
    }

    /** The KV type of a {@code --kv} value. */
    static ElementType kvStorage(String kv) {
        return CliIO.elementType(kv);
    }

    /** The tokenizer of {@code --tokenizer} (which must match the model's vocabulary), or the embedded one. */
    Tokenizer loadTokenizer(Llama2Model m) throws IOException {
        int vocab = m.config().vocabSize();
        if (tokenizer != null) {
            return Tokenizer.load(tokenizer, vocab);
        }
        Tokenizer t = Tokenizer.loadEmbedded();
        if (t.vocabSize() != vocab) {
            throw new UsageException("model " + m.source() + " has vocab_size " + vocab + ", the embedded tokenizer has "
                    + t.vocabSize() + " tokens: pass its --tokenizer");
        }
        return t;
    }

    /** The backend of this command's flags over the loaded model, storing keys and values as its KV type. */
    AttentionBackend backend(Loaded loaded) {
        return backend(loaded.model().config()).storing(loaded.kv());
    }

    /** The backend of this command's flags. */
    KvCacheBackend backend(Llama2Config cfg) {
        return backend(attention, kind, alpha, bias, select, cfg);
    }

    /**
     * Creates the attention backend of the forward pass from the command-line flags.
     *
     * @param attention {@code dense} or {@code hsr}
     * @param kind      {@code softmax} or {@code relu}
     * @param alpha     ReLU power (relu only), &gt;= 1
     * @param bias      ReLU bias on the scaled score (relu only), finite
     * @param select    softmax key-selection policy ({@code threshold:T}, {@code top:R}, {@code epsilon:E}) for
     *                  {@code hsr}, or null
     * @param cfg       the model, for the cache sizes
     * @throws UsageException for an unknown or inconsistent flag value
     */
    static KvCacheBackend backend(String attention, String kind, int alpha, float bias, String select,
                                    Llama2Config cfg) {
        if (!kind.equals("softmax") && !kind.equals("relu")) {
            throw new UsageException("--kind must be softmax or relu, got " + kind);
        }
        if (kind.equals("relu") && alpha < 1) {
            throw new UsageException("--alpha must be >= 1, got " + alpha);
        }
        if (kind.equals("relu") && !Float.isFinite(bias)) {
            throw new UsageException("--bias must be finite, got " + bias);
        }
        if (select != null && !kind.equals("softmax")) {
            throw new UsageException("--select applies to --kind softmax only");
        }
        return switch (attention) {
            case "dense" -> {
                if (select != null) {
                    throw new UsageException("--select applies to --attention hsr only");
                }
                yield kind.equals("softmax") ? new DenseSoftmaxAttention(cfg) : new DenseReluAttention(cfg, alpha, bias);
            }
            case "hsr" -> {
                AttentionConfig ac = kind.equals("softmax") ? AttentionConfig.softmax(true)
                        : AttentionConfig.relu(alpha, bias, true);
                Selection sel;
                try {
                    sel = Selection.parse(select);
                } catch (IllegalArgumentException e) {
                    throw new UsageException("--select: " + e.getMessage());
                }
                yield new HsrAttentionBackend(cfg, ac, sel);
            }
            default -> throw new UsageException("--attention must be dense or hsr, got " + attention);
        };
    }

    /** The JSON fields describing the model and the attention backend, and the backend's statistics. */
    Map<String, Object> describe(Loaded l, AttentionStats stats) {
        Map<String, Object> js = new LinkedHashMap<>();
        js.put("model", l.model().source());
        js.put("format", l.format());
        js.put("tokenizer", l.tokenizer().source());
        js.put("context", l.model().config().seqLen());
        js.put("kv", l.kv().label());
        js.put("threads", l.model().matmul().threads());
        js.put("attention", attention);
        js.put("kind", kind);
        if (kind.equals("relu")) {
            js.put("alpha", alpha);
            js.put("bias", bias);
        }
        if (select != null) {
            js.put("select", select);
        }
        js.put("kernels", Vectors.kernels());
        js.put("tensor_kernels", TensorKernels.impl().name());
        // kept_frac_mean: kept keys over visible keys, summed over every (layer, head, position) row
        js.put("kept_frac_mean", stats == null ? null : stats.keptFraction());
        if (stats != null) {
            js.put("kept_mean", stats.keptMean());
            js.put("keys_touched_frac", stats.keysTouchedFraction());
            js.put("rows", stats.rows);
            js.put("empty_rows", stats.emptyRows);
            js.put("fallback_rows", stats.fallbackRows);
            js.put("dense_chosen_rows", stats.denseChosenRows);
            if (select != null && select.startsWith("epsilon:")) {
                js.put("dropped_mass_bound_max", stats.droppedMassBoundMax);
            }
        }
        return js;
    }
}
