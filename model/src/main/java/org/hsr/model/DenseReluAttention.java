package org.hsr.model;

import org.hsr.simd.Kernels;

/**
 * Dense ReLU^α attention (SPEC §3): weights {@code w_t = max(s_t − bias, 0)^alpha} of the scores
 * {@code s_t = q·k_t / sqrt(headSize)}, normalised by their sum; a head whose weights are all zero outputs the zero
 * vector and counts as an empty row. The exact reference for sparse ReLU^α backends.
 */
public final class DenseReluAttention extends DenseAttentionBackend {

    private final int alpha;
    private final float bias;

    /**
     * A ReLU^α backend with caches sized for {@code config}.
     *
     * @param alpha integer exponent, at least 1
     * @param bias  the bias b subtracted from the scaled score (finite)
     */
    public DenseReluAttention(Llama2Config config, int alpha, float bias) {
        super(config);
        if (alpha < 1) {
            throw new IllegalArgumentException("alpha must be >= 1: " + alpha);
        }
        if (!Float.isFinite(bias)) {
            throw new IllegalArgumentException("bias must be finite: " + bias);
        }
        this.alpha = alpha;
        this.bias = bias;
    }

    /** The exponent α. */
    public int alpha() {
        return alpha;
    }

    /** The bias b. */
    public float bias() {
        return bias;
    }

    @Override
    protected int weigh(float[] att, int n) {
        int kept = 0; // w_t > 0 exactly when s_t > b
        for (int t = 0; t < n; t++) {
            if (att[t] > bias) {
                kept++;
            }
        }
        // w = (max(s - b, 0) / max_t (s_t - b))^alpha, normalised by their sum; all zero stays all zero
        float sum = Kernels.reluPowAndSum(att, 0, n, bias, alpha);
        if (sum == 0f) {
            return 0;
        }
        if (!Float.isFinite(sum)) {
            throw new IllegalArgumentException("attention scores overflow fp32 (ReLU^" + alpha + " weight sum " + sum + ")");
        }
        Kernels.scale(att, 0, n, 1f / sum);
        return kept;
    }
}
