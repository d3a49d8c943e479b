package org.hsr.model;

import java.util.Objects;
import org.hsr.simd.Kernels;

/**
 * The Llama-2 forward pass of llama2.c's {@code run.c}, one token at a time: pre-norm blocks with RMSNorm (eps 1e-5),
 * RoPE on interleaved pairs (theta 10000), attention through an {@link AttentionBackend}, a SwiGLU feed-forward layer,
 * residual connections, a final RMSNorm and the classifier.
 *
 * <p>Positions must be fed in order {@code 0, 1, 2, …}; position 0 starts a new sequence and resets the backend.
 * Instances hold the activation buffers and are not thread-safe.
 */
public final class Transformer {

    private static final float RMS_EPS = 1e-5f;
    private static final double ROPE_THETA = 10000.0;

    private final Llama2Config config;
    private final Llama2Weights w;
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

    /** A forward pass over {@code model} whose attention step is {@code attention}. */
    public Transformer(Llama2Model model, AttentionBackend attention) {
        this.config = model.config();
        this.w = model.weights();
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

    /**
     * Runs {@code token} at position {@code pos} and returns the logits of the next token, {@code (vocabSize)}. The
     * array is reused: it is valid until the next call.
     *
     * @throws IllegalArgumentException if the token is outside the vocabulary, {@code pos} is at or beyond the model's
     *                                  context, or {@code pos} is neither 0 nor the position after the previous call
     */
    public float[] forward(int token, int pos) {
        int dim = config.dim();
        int kvDim = config.kvDim();
        int hiddenDim = config.hiddenDim();
        int headSize = config.headSize();
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
        System.arraycopy(w.tokenEmbeddingTable, token * dim, x, 0, dim);

        // forward all the layers
        for (int l = 0; l < config.nLayers(); l++) {

            // attention rmsnorm
            rmsnorm(xb, x, w.rmsAttWeight, l * dim, dim);

            // qkv matmuls for this position
            matmul(q, xb, w.wq, l * dim * dim, dim, dim);
            matmul(k, xb, w.wk, l * kvDim * dim, dim, kvDim);
            matmul(v, xb, w.wv, l * kvDim * dim, dim, kvDim);

            // RoPE relative positional encoding: rotate each pair (2j, 2j+1) of every q and k head by
            // pos * theta^(-2j/headSize)
            for (int i = 0; i < dim; i += 2) {
                int headDim = i % headSize; // 2j
                float freq = (float) (1.0 / Math.pow(ROPE_THETA, headDim / (double) headSize));
                float val = pos * freq;
                float fcr = (float) Math.cos(val);
                float fci = (float) Math.sin(val);
                int rotn = i < kvDim ? 2 : 1; // how many vectors? 2 = q and k, 1 = q only
                for (int vi = 0; vi < rotn; vi++) {
                    float[] vec = vi == 0 ? q : k;
                    float v0 = vec[i];
                    float v1 = vec[i + 1];
                    vec[i] = v0 * fcr - v1 * fci;
                    vec[i + 1] = v0 * fci + v1 * fcr;
                }
            }

            // multihead attention over the cached positions 0..pos: cache k and v, then attend with q into xb
            attention.append(l, k, v);
            attention.attend(l, q, xb);

            // final matmul to get the output of the attention
            matmul(xb2, xb, w.wo, l * dim * dim, dim, dim);

            // residual connection back into x
            for (int i = 0; i < dim; i++) {
                x[i] += xb2[i];
            }

            // ffn rmsnorm
            rmsnorm(xb, x, w.rmsFfnWeight, l * dim, dim);

            // self.w2(F.silu(self.w1(x)) * self.w3(x)): first w1(x) and w3(x)
            matmul(hb, xb, w.w1, l * dim * hiddenDim, dim, hiddenDim);
            matmul(hb2, xb, w.w3, l * dim * hiddenDim, dim, hiddenDim);

            // SwiGLU non-linearity: silu(x) = x * sigmoid(x), times w3(x)
            for (int i = 0; i < hiddenDim; i++) {
                float val = hb[i];
                val *= (float) (1.0 / (1.0 + Math.exp(-val)));
                hb[i] = val * hb2[i];
            }

            // final matmul to get the output of the ffn
            matmul(xb, hb, w.w2, l * dim * hiddenDim, hiddenDim, dim);

            // residual connection
            for (int i = 0; i < dim; i++) {
                x[i] += xb[i];
            }
        }

        // final rmsnorm
        rmsnorm(x, x, w.rmsFinalWeight, 0, dim);

        // classifier into logits
        matmul(logits, x, w.wcls, 0, dim, config.vocabSize());
        nextPos = pos + 1;
        return logits;
    }

    /** {@code o = weight[wOff..] * x / rms(x)}, with {@code rms(x) = sqrt(mean(x²) + eps)}; o may be x. */
    static void rmsnorm(float[] o, float[] x, float[] weight, int wOff, int size) {
        // calculate sum of squares
        float ss = Kernels.dot(x, 0, x, 0, size);
        ss /= size;
        ss += RMS_EPS;
        ss = (float) (1.0 / Math.sqrt(ss));
        // normalize and scale
        for (int j = 0; j < size; j++) {
            o[j] = weight[wOff + j] * (ss * x[j]);
        }
    }

    /** {@code xout (d) = W (d, n) · x (n)}, with W the row-major matrix at {@code w[wOff..]}. */
    static void matmul(float[] xout, float[] x, float[] w, int wOff, int n, int d) {
        for (int i = 0; i < d; i++) {
            xout[i] = Kernels.dot(w, wOff + i * n, x, 0, n);
        }
    }
}
