package org.hsr.model;

import java.util.Objects;
import org.hsr.model.tensor.Matmul;
import org.hsr.model.tensor.WeightMatrix;
import org.hsr.vector.Vectors;

/**
 * The Llama forward pass of llama2.c's {@code run.c}, one token at a time, for every {@link LlamaModel} (llama2.c
 * files and GGUF files alike): pre-norm blocks with RMSNorm, RoPE (adjacent pairs, or the half-split pairs of
 * {@code qwen2}, with optional llama3 frequency scaling), optional q/k/v biases, attention through an
 * {@link AttentionBackend}, a SwiGLU feed-forward layer, residual connections, a final RMSNorm and the classifier.
 * The weight matrices may be of any stored type; the matmuls run on the model's {@link Matmul} threads.
 *
 * <p>Positions must be fed in order {@code 0, 1, 2, …}; position 0 starts a new sequence and resets the backend.
 * Instances hold the activation buffers and are not thread-safe.
 */
public final class Transformer {

    private final Llama2Config config;
    private final LlamaModel model;
    private final LlamaModel.Hyper hyper;
    private final Matmul matmul;
    private final AttentionBackend attention;

    // current wave of activations
    private final float[] x;      // (dim) activation at the current position (the residual stream)
    private final float[] xb;     // (dim) same, inside a residual branch
    private final float[] xb2;    // (dim) an additional buffer for convenience
    private final float[] hb;     // (hiddenDim) buffer for the hidden dimension of the ffn
    private final float[] hb2;    // (hiddenDim) buffer for the hidden dimension of the ffn
    private final float[] q;      // (dim) query, all heads
    private final float[] k;      // (kvDim) key of this position, all kv heads
    private final float[] v;      // (kvDim) value of this position, all kv heads
    private final float[] logits; // (vocabSize) output logits
    private int nextPos;          // the position the next call must have (0 restarts)
    private long matmulNanos, attentionNanos;

    /** A forward pass over the llama2.c {@code model} whose attention step is {@code attention}. */
    public Transformer(Llama2Model model, AttentionBackend attention) {
        this(LlamaModel.of(model), attention);
    }

    /** A forward pass over {@code model} whose attention step is {@code attention}. */
    public Transformer(LlamaModel model, AttentionBackend attention) {
        this.model = model;
        this.config = model.config();
        this.hyper = model.hyper();
        this.matmul = model.matmul();
        this.attention = Objects.requireNonNull(attention, "attention");
        this.x = new float[config.dim()];
        this.xb = new float[config.dim()];
        this.xb2 = new float[config.dim()];
        this.hb = new float[config.hiddenDim()];
        this.hb2 = new float[config.hiddenDim()];
        this.q = new float[config.dim()];
        this.k = new float[config.kvDim()];
        this.v = new float[config.kvDim()];
        this.logits = new float[config.vocabSize()];
    }

    /** The model's configuration. */
    public Llama2Config config() {
        return config;
    }

    /** The attention backend. */
    public AttentionBackend attention() {
        return attention;
    }

    /** Nanoseconds spent in matmuls (projections, feed-forward, classifier) since construction. */
    public long matmulNanos() {
        return matmulNanos;
    }

    /** Nanoseconds spent in the attention backend (append and attend) since construction. */
    public long attentionNanos() {
        return attentionNanos;
    }

    /**
     * Continues a sequence whose first {@code pos} positions the backend already holds in every layer (filled by
     * other means, for instance a benchmark's bulk fill): the next call must be {@code forward(token, pos)}.
     */
    public void resumeAt(int pos) {
        if (pos < 0 || pos >= config.seqLen()) {
            throw new IllegalArgumentException("position " + pos + " is outside the context 0.." + (config.seqLen() - 1));
        }
        nextPos = pos;
    }

    /**
     * Runs {@code token} at position {@code pos} and returns the logits of the next token, {@code (vocabSize)}. The
     * array is reused: it is valid until the next call.
     *
     * @throws IllegalArgumentException if the token is outside the vocabulary, {@code pos} is at or beyond the model's
     *                                  context, or {@code pos} is neither 0 nor the position after the previous call
     */
    public float[] forward(int token, int pos) {
        int dim = config.dim();
        int hiddenDim = config.hiddenDim();
        if (token < 0 || token >= config.vocabSize()) {
            throw new IllegalArgumentException("token " + token + " is outside the vocabulary 0.." + (config.vocabSize() - 1));
        }
        if (pos < 0) {
            throw new IllegalArgumentException("position " + pos + " is negative");
        }
        if (pos >= config.seqLen()) {
            throw new IllegalArgumentException("sequence too long: position " + pos + " >= model context " + config.seqLen());
        }
        if (pos != 0 && pos != nextPos) {
            throw new IllegalArgumentException("position " + pos + " out of order: expected " + nextPos
                    + " (or 0 to start a new sequence)");
        }
        if (pos == 0) {
            attention.reset();
        }

        // copy the token embedding into x
        model.embedding().dequantizeRow(token, x);

        // forward all the layers
        for (int l = 0; l < config.nLayers(); l++) {
            LlamaModel.Layer w = model.layers()[l];

            // attention rmsnorm
            rmsnorm(xb, x, w.attnNorm(), dim, hyper.rmsEps());

            // qkv matmuls for this position (plus the biases where the model has them)
            matmul(w.wq(), xb, q);
            matmul(w.wk(), xb, k);
            matmul(w.wv(), xb, v);
            addBias(q, w.bq());
            addBias(k, w.bk());
            addBias(v, w.bv());

            // RoPE relative positional encoding of every q and k head
            rope(q, pos);
            rope(k, pos);

            // multihead attention over the cached positions 0..pos: cache k and v, then attend with q into xb
            long t0 = System.nanoTime();
            attention.append(l, k, v);
            attention.attend(l, q, xb);
            attentionNanos += System.nanoTime() - t0;

            // final matmul to get the output of the attention
            matmul(w.wo(), xb, xb2);

            // residual connection back into x
            for (int i = 0; i < dim; i++) {
                x[i] += xb2[i];
            }

            // ffn rmsnorm
            rmsnorm(xb, x, w.ffnNorm(), dim, hyper.rmsEps());

            // self.w2(F.silu(self.w1(x)) * self.w3(x)): first w1(x) and w3(x)
            matmul(w.w1(), xb, hb);
            matmul(w.w3(), xb, hb2);

            // SwiGLU non-linearity: silu(x) = x * sigmoid(x), times w3(x)
            for (int i = 0; i < hiddenDim; i++) {
                float val = hb[i];
                val *= (float) (1.0 / (1.0 + Math.exp(-val)));
                hb[i] = val * hb2[i];
            }

            // final matmul to get the output of the ffn
            matmul(w.w2(), hb, xb);

            // residual connection
            for (int i = 0; i < dim; i++) {
                x[i] += xb[i];
            }
        }

        // final rmsnorm
        rmsnorm(x, x, model.outputNorm(), dim, hyper.rmsEps());

        // classifier into logits
        matmul(model.output(), x, logits);
        nextPos = pos + 1;
        return logits;
    }

    /** RoPE of every q or k head of {@code vec} at {@code pos}; see {@link #rope(LlamaModel.Hyper, int, float[], int)}. */
    private void rope(float[] vec, int pos) {
        rope(hyper, config.headSize(), vec, pos);
    }

    /**
     * Rotates each pair of every head of {@code vec} (q: nHeads heads, k: nKvHeads) by {@code pos · freq_j}, with
     * {@code freq_j = theta^(-2j/headSize) / factor_j} for pair {@code j} of a head: the pair is {@code (2j, 2j+1)}
     * (adjacent) or {@code (j, j + headSize/2)} (half-split).
     */
    static void rope(LlamaModel.Hyper hyper, int headSize, float[] vec, int pos) {
        int half = headSize / 2;
        for (int h = 0; h < vec.length / headSize; h++) {
            for (int j = 0; j < half; j++) {
                float freq = (float) (1.0 / Math.pow(hyper.ropeTheta(), 2 * j / (double) headSize));
                if (hyper.ropeFactors() != null) {
                    freq /= hyper.ropeFactors()[j];
                }
                float val = pos * freq;
                float fcr = (float) Math.cos(val);
                float fci = (float) Math.sin(val);
                int i0 = h * headSize + (hyper.ropeHalfSplit() ? j : 2 * j);
                int i1 = i0 + (hyper.ropeHalfSplit() ? half : 1);
                float v0 = vec[i0];
                float v1 = vec[i1];
                vec[i0] = v0 * fcr - v1 * fci;
                vec[i1] = v0 * fci + v1 * fcr;
            }
        }
    }

    /** {@code out = W · in}, timed as matmul work. */
    private void matmul(WeightMatrix w, float[] in, float[] out) {
        long t0 = System.nanoTime();
        matmul.apply(w, in, out);
        matmulNanos += System.nanoTime() - t0;
    }

    static void addBias(float[] y, float[] bias) {
        if (bias != null) {
            for (int i = 0; i < y.length; i++) {
                y[i] += bias[i];
            }
        }
    }

    /** {@code o = weight * x / rms(x)}, with {@code rms(x) = sqrt(mean(x²) + eps)}; o may be x. */
    static void rmsnorm(float[] o, float[] x, float[] weight, int size, float eps) {
        // calculate sum of squares
        float ss = Vectors.dot(x, 0, x, 0, size);
        ss /= size;
        ss += eps;
        ss = (float) (1.0 / Math.sqrt(ss));
        // normalize and scale
        for (int j = 0; j < size; j++) {
            o[j] = weight[j] * (ss * x[j]);
        }
    }
}
