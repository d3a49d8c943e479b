package org.hsr.model.gguf;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import org.hsr.model.Llama2Config;
import org.hsr.model.LlamaModel;
import org.hsr.model.ModelFormatException;
import org.hsr.model.tensor.Matmul;
import org.hsr.model.tensor.ScalarTensorKernelSupport;
import org.hsr.model.tensor.WeightMatrix;

/**
 * A Llama-family model from a GGUF file: architectures {@code llama} (Llama 2/3, TinyLlama, SmolLM, Mistral) and
 * {@code qwen2} (biases on q, k, v; half-split RoPE). The shape and hyper-parameters come from the
 * {@code {arch}.*} metadata, the weights are the file's mapped tensors in their stored types, and the classifier is
 * the embedding matrix when {@code output.weight} is absent (tied embeddings).
 *
 * <p>RoPE: {@code llama} files rotate adjacent pairs (llama.cpp's converter permutes the q/k rows of Hugging Face
 * checkpoints into that order), {@code qwen2} files the pairs {@code (j, j + headSize/2)}. Frequency scaling: the
 * {@code rope_freqs.weight} tensor (llama3 files), or {@code {arch}.rope.scaling.type} {@code linear} or
 * {@code llama3} with its parameters; YaRN is refused.
 */
public final class GgufModel {

    private GgufModel() {}

    /**
     * Opens {@code path} and loads its model; closing the model unmaps the file.
     *
     * @param context the context to size caches for, 0 for the model's own ({@code <arch>.context_length}); a
     *                positive value may only lower it
     * @param threads matmul threads
     */
    public static LlamaModel load(Path path, int context, int threads) throws IOException {
        GgufFile f = GgufFile.open(path);
        try {
            return load(f, context, new Matmul(threads));
        } catch (IOException | RuntimeException e) {
            f.close();
            throw e;
        }
    }

    /** The model of an open file, which it takes over (closing the model closes the file). */
    public static LlamaModel load(GgufFile f, int context, Matmul matmul) throws ModelFormatException {
        String arch = f.getString("general.architecture", null);
        if (arch == null) {
            throw f.error("no general.architecture: not a model file");
        }
        if (!arch.equals("llama") && !arch.equals("qwen2")) {
            throw f.error("architecture \"" + arch + "\" is not supported (llama, qwen2)");
        }
        int dim = require(f, arch + ".embedding_length");
        int hidden = require(f, arch + ".feed_forward_length");
        int layers = require(f, arch + ".block_count");
        int heads = require(f, arch + ".attention.head_count");
        int kvHeads = f.getInt(arch + ".attention.head_count_kv", heads);
        int modelContext = f.getInt(arch + ".context_length", 2048);
        float eps = (float) f.getDouble(arch + ".attention.layer_norm_rms_epsilon", 1e-5);
        double theta = f.getDouble(arch + ".rope.freq_base", 10000.0);
        if (!(theta > 0) || Double.isInfinite(theta)) { // zero, negative, NaN and infinity make every angle 0 or NaN
            throw f.error(arch + ".rope.freq_base = " + theta + " is not a finite positive number");
        }
        if (!(eps >= 0) || Float.isInfinite(eps)) {
            throw f.error(arch + ".attention.layer_norm_rms_epsilon = " + eps + " is not a finite number >= 0");
        }
        GgufFile.TensorInfo emb = f.tensor("token_embd.weight");
        if (emb == null || emb.dims().length != 2) {
            throw f.error("token_embd.weight is missing or not 2-D");
        }
        int vocab = toInt(f, "token_embd.weight ne[1]", emb.dims()[1]);
        if (context < 0) {
            throw new IllegalArgumentException("context must be >= 0, got " + context);
        }
        if (context > modelContext) {
            throw new IllegalArgumentException("context " + context + " exceeds the model's context_length "
                    + modelContext);
        }
        int seqLen = context > 0 ? context : modelContext; // the file is the truth; a caller may only lower it
        Llama2Config config;
        try {
            config = new Llama2Config(dim, hidden, layers, heads, kvHeads, vocab, seqLen, !f.tensors().containsKey("output.weight"));
        } catch (IllegalArgumentException e) {
            throw f.error("bad model shape: " + e.getMessage());
        }
        int headSize = config.headSize();
        for (String key : new String[] {arch + ".rope.dimension_count", arch + ".attention.key_length",
                arch + ".attention.value_length"}) {
            int v = f.getInt(key, headSize);
            if (v != headSize) {
                throw f.error(key + " = " + v + " differs from the head size " + headSize + " (embedding_length / "
                        + "head_count); partial rotary or explicit head sizes are not supported");
            }
        }
        float[] factors = ropeFactors(f, arch, headSize, theta);
        boolean qwen = arch.equals("qwen2");
        int kvDim = config.kvDim();

        LlamaModel.Layer[] blocks = new LlamaModel.Layer[layers];
        for (int l = 0; l < layers; l++) {
            String p = "blk." + l + ".";
            blocks[l] = new LlamaModel.Layer(
                    vector(f, p + "attn_norm.weight", dim, true),
                    matrix(f, p + "attn_q.weight", dim, dim),
                    matrix(f, p + "attn_k.weight", kvDim, dim),
                    matrix(f, p + "attn_v.weight", kvDim, dim),
                    matrix(f, p + "attn_output.weight", dim, dim),
                    vector(f, p + "attn_q.bias", dim, qwen),
                    vector(f, p + "attn_k.bias", kvDim, qwen),
                    vector(f, p + "attn_v.bias", kvDim, qwen),
                    vector(f, p + "ffn_norm.weight", dim, true),
                    matrix(f, p + "ffn_gate.weight", hidden, dim),
                    matrix(f, p + "ffn_down.weight", dim, hidden),
                    matrix(f, p + "ffn_up.weight", hidden, dim));
        }
        WeightMatrix embedding = matrix(f, "token_embd.weight", vocab, dim);
        WeightMatrix output = config.sharedClassifier() ? embedding : matrix(f, "output.weight", vocab, dim);
        return new LlamaModel(f.source(), config, new LlamaModel.Hyper(arch, eps, theta, qwen, factors), embedding,
                blocks, vector(f, "output_norm.weight", dim, true), output, matmul, f);
    }

    private static int require(GgufFile f, String key) throws ModelFormatException {
        if (f.get(key) == null) {
            throw f.error("metadata " + key + " is missing");
        }
        return f.getInt(key, 0);
    }

    private static int toInt(GgufFile f, String what, long v) throws ModelFormatException {
        if (v > Integer.MAX_VALUE - 8) {
            throw f.error(what + " = " + v + " is too large");
        }
        return (int) v;
    }

    /** The tensor {@code name} as a (rows, cols) matrix: GGUF {@code ne = [cols, rows]}. */
    static WeightMatrix matrix(GgufFile f, String name, int rows, int cols) throws ModelFormatException {
        GgufFile.TensorInfo t = f.tensor(name);
        if (t == null) {
            throw f.error("tensor " + name + " is missing");
        }
        if (!Arrays.equals(t.dims(), new long[] {cols, rows})) {
            throw f.error("tensor " + name + " has shape " + t.shape() + ", expected [" + cols + ", " + rows + "]");
        }
        return new WeightMatrix(name, t.type(), rows, cols, f.data(t));
    }

    /** The 1-D tensor {@code name} decoded to floats (finite), or null when absent and not {@code required}. */
    static float[] vector(GgufFile f, String name, int n, boolean required) throws ModelFormatException {
        GgufFile.TensorInfo t = f.tensor(name);
        if (t == null) {
            if (required) throw f.error("tensor " + name + " is missing");
            return null;
        }
        if (!Arrays.equals(t.dims(), new long[] {n})) {
            throw f.error("tensor " + name + " has shape " + t.shape() + ", expected [" + n + "]");
        }
        float[] v = new float[n];
        ScalarTensorKernelSupport.dequantize(t.type(), f.data(t), 0, n, v, 0);
        for (int i = 0; i < n; i++) {
            if (!Float.isFinite(v[i])) {
                throw f.error("tensor " + name + " holds a non-finite value (" + v[i] + ") at index " + i);
            }
        }
        return v;
    }

    /** The divisors of the RoPE frequencies, or null for none. */
    static float[] ropeFactors(GgufFile f, String arch, int headSize, double theta) throws ModelFormatException {
        if (f.tensor("rope_freqs.weight") != null) {
            float[] factors = vector(f, "rope_freqs.weight", headSize / 2, true);
            for (float x : factors) {
                if (!(x > 0)) throw f.error("rope_freqs.weight holds a non-positive factor " + x);
            }
            return factors;
        }
        String type = f.getString(arch + ".rope.scaling.type", "none");
        double factor = f.getDouble(arch + ".rope.scaling.factor", 1.0);
        return switch (type) {
            case "none" -> null;
            case "linear" -> {
                if (!(factor > 0)) throw f.error(arch + ".rope.scaling.factor = " + factor + " is not positive");
                float[] v = new float[headSize / 2];
                Arrays.fill(v, (float) factor);
                yield v;
            }
            case "llama3" -> llama3Factors(headSize, theta, factor,
                    f.getDouble(arch + ".rope.scaling.low_freq_factor", 1.0),
                    f.getDouble(arch + ".rope.scaling.high_freq_factor", 4.0),
                    f.getDouble(arch + ".rope.scaling.original_context_length", 8192));
            default -> throw f.error(arch + ".rope.scaling.type \"" + type + "\" is not supported (none, linear, llama3)");
        };
    }

    /**
     * Llama 3.1's RoPE scaling as divisors of the frequencies {@code theta^(-2j/headSize)}: 1 for wavelengths
     * shorter than {@code original/high}, {@code factor} for those longer than {@code original/low}, a smooth blend
     * between (Meta's {@code apply_scaling}; what llama.cpp's converter writes into {@code rope_freqs.weight}).
     */
    public static float[] llama3Factors(int headSize, double theta, double factor, double low, double high,
                                        double original) {
        float[] v = new float[headSize / 2];
        double lowWavelen = original / low, highWavelen = original / high;
        for (int j = 0; j < v.length; j++) {
            double freq = 1.0 / Math.pow(theta, 2.0 * j / headSize);
            double wavelen = 2 * Math.PI / freq;
            if (wavelen < highWavelen) {
                v[j] = 1f;
            } else if (wavelen > lowWavelen) {
                v[j] = (float) factor;
            } else {
                double smooth = (original / wavelen - low) / (high - low);
                v[j] = (float) (1.0 / ((1 - smooth) / factor + smooth));
            }
        }
        return v;
    }
}
