package org.hsr.cli;

import java.io.IOException;
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
import org.hsr.model.Llama2Config;
import org.hsr.model.Llama2Model;
import org.hsr.model.Tokenizer;
import org.hsr.simd.Kernels;
import picocli.CommandLine.Option;

/**
 * The options {@code generate} and {@code perplexity} share (SPEC §7): the model and tokenizer files (default: the
 * embedded stories260K and tok512) and the attention backend of the forward pass. {@link #backend} is the one place
 * that turns the attention flags into an {@link AttentionBackend}.
 */
final class ModelOptions {

    @Option(names = "--model", paramLabel = "M",
            description = "llama2.c version-0 model file (default: the embedded stories260K)")
    Path model;

    @Option(names = "--tokenizer", paramLabel = "T",
            description = "llama2.c tokenizer file (default: the embedded tok512)")
    Path tokenizer;

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

    /** The input files of these options, for the outputs' same-file check. */
    java.util.List<CliIO.Named> inputs() {
        return java.util.List.of(CliIO.named("--model", model), CliIO.named("--tokenizer", tokenizer));
    }

    /** The model of {@code --model}, or the embedded one. */
    Llama2Model loadModel() throws IOException {
        return model == null ? Llama2Model.loadEmbedded() : Llama2Model.load(model);
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

    /** The backend of this command's flags. */
    AttentionBackend backend(Llama2Config cfg) {
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
    static AttentionBackend backend(String attention, String kind, int alpha, float bias, String select,
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
    Map<String, Object> describe(Llama2Model m, Tokenizer t, AttentionStats stats) {
        Map<String, Object> js = new LinkedHashMap<>();
        js.put("model", m.source());
        js.put("tokenizer", t.source());
        js.put("attention", attention);
        js.put("kind", kind);
        if (kind.equals("relu")) {
            js.put("alpha", alpha);
            js.put("bias", bias);
        }
        if (select != null) {
            js.put("select", select);
        }
        js.put("kernels", Kernels.impl().name());
        // kept_frac_mean: kept keys over visible keys, summed over every (layer, head, position) row
        js.put("kept_frac_mean", stats == null ? null : stats.keptFraction());
        if (stats != null) {
            js.put("kept_mean", stats.keptMean());
            js.put("keys_touched_frac", stats.keysTouchedFraction());
            js.put("rows", stats.rows);
            js.put("empty_rows", stats.emptyRows);
            js.put("fallback_rows", stats.fallbackRows);
            if (select != null && select.startsWith("epsilon:")) {
                js.put("dropped_mass_bound_max", stats.droppedMassBoundMax);
            }
        }
        return js;
    }
}
