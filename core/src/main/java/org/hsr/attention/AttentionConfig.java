package org.hsr.attention;

/**
 * What an attention call computes (SPEC §3–4).
 *
 * @param kind   softmax or ReLU^α
 * @param alpha  the ReLU power α, an integer >= 1 (ignored for softmax)
 * @param bias   the ReLU bias b, on the scaled score {@code s = c·<q,k>} (ignored for softmax)
 * @param scale  the score scale c; {@code NaN} means the default {@code 1/sqrt(d)}
 * @param causal whether query i sees only keys {@code j <= n - m + i}
 */
public record AttentionConfig(Kind kind, int alpha, float bias, float scale, boolean causal) {

    /** The two attention kinds of the paper. */
    public enum Kind { SOFTMAX, RELU }

    public AttentionConfig {
        if (kind == null) throw new IllegalArgumentException("kind is null");
        if (kind == Kind.RELU && alpha < 1) {
            throw new IllegalArgumentException("alpha must be an integer >= 1, got " + alpha);
        }
        if (!Float.isFinite(bias)) throw new IllegalArgumentException("bias must be finite, got " + bias);
        if (!Float.isNaN(scale) && !(Float.isFinite(scale) && scale > 0)) {
            throw new IllegalArgumentException("scale must be finite and > 0, got " + scale);
        }
    }

    public static AttentionConfig softmax(boolean causal) {
        return new AttentionConfig(Kind.SOFTMAX, 1, 0f, Float.NaN, causal);
    }

    public static AttentionConfig relu(int alpha, float bias, boolean causal) {
        return new AttentionConfig(Kind.RELU, alpha, bias, Float.NaN, causal);
    }

    public AttentionConfig withScale(float c) {
        return new AttentionConfig(kind, alpha, bias, c, causal);
    }

    /** The score scale for head dimension d. */
    public float scaleFor(int d) {
        return Float.isNaN(scale) ? (float) (1.0 / Math.sqrt(d)) : scale;
    }
}
