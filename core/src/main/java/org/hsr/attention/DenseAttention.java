package org.hsr.attention;

import org.hsr.simd.Kernels;

/**
 * Dense fp32 attention on the SIMD kernels: the baseline every benchmark compares against. Per query row it makes one
 * pass over the visible keys ({@code q·K}), computes the weights in a scratch row that stays in cache, then one pass
 * over all the visible values ({@code Σ w_j·v_j}): each key and value byte is read once, which makes it memory-bound.
 *
 * <p>Instances hold a scratch row and are not thread-safe; use one per thread.
 */
public final class DenseAttention {

    private float[] att = new float[0]; // (n) scores, then weights, of the current row

    /** Computes all rows of {@code in}; returns {@code heads × m × dv}. */
    public float[] attend(AttentionInput in, AttentionConfig cfg, AttentionStats stats) {
        float[] out = new float[in.outputLength()];
        float c = cfg.scaleFor(in.d());
        for (int h = 0; h < in.heads(); h++) {
            for (int i = 0; i < in.m(); i++) {
                attendRow(in.q(), in.qOffset(h, i), in.k(), in.kOffset(h), in.v(), in.vOffset(h),
                        in.visible(i, cfg.causal()), in.d(), in.dv(), cfg, c, out, (h * in.m() + i) * in.dv(), stats);
            }
        }
        return out;
    }

    /**
     * One query row against the first {@code visible} keys and values starting at {@code kOff} / {@code vOff}; writes
     * {@code dv} outputs at {@code outOff} (overwriting them).
     */
    public void attendRow(float[] q, int qOff, float[] k, int kOff, float[] v, int vOff, int visible, int d, int dv,
                          AttentionConfig cfg, float c, float[] out, int outOff, AttentionStats stats) {
        if (att.length < visible) {
            att = new float[Math.max(visible, att.length * 2)];
        }
        // att[j] = c·<q, k_j>
        Kernels.dotMany(q, qOff, k, kOff, visible, d, att, 0);
        Kernels.scale(att, 0, visible, c);
        // weights and their sum
        float sum;
        long kept;
        if (cfg.kind() == AttentionConfig.Kind.SOFTMAX) {
            float max = Kernels.max(att, 0, visible);
            sum = Float.isFinite(max) ? Kernels.expAndSum(att, 0, visible, max) : Float.NaN;
            kept = visible;
        } else {
            kept = 0; // w_j > 0 exactly when s_j > b (x − b is 0 only for x == b in IEEE arithmetic)
            for (int j = 0; j < visible; j++) {
                if (att[j] > cfg.bias()) kept++;
            }
            // normalised by the row maximum of s − b: no underflow just above the bias, no overflow for large α
            sum = Kernels.reluPowAndSum(att, 0, visible, cfg.bias(), cfg.alpha());
        }
        if (!Float.isFinite(sum)) throw scoresOutOfRange(q, qOff, k, kOff, visible, d);
        // out = Σ_j w_j·v_j / Σ_j w_j over every visible value (dense: no skipping of zero weights)
        java.util.Arrays.fill(out, outOff, outOff + dv, 0f);
        if (sum > 0f) {
            Kernels.weightedSum(att, 0, v, vOff, visible, dv, out, outOff);
            Kernels.scale(out, outOff, dv, 1f / sum);
            checkFinite(out, outOff, dv);
        }
        if (stats != null) {
            stats.rows++;
            stats.visibleKeys += visible;
            stats.scoredKeys += visible;
            stats.keptKeys += kept;
            stats.bytesRead += (long) visible * (d + dv) * Float.BYTES;
            if (sum == 0f) stats.emptyRows++;
        }
    }

    /** A row whose fp32 scores c·<q, k_j> overflowed (or were NaN): refused, never returned as Inf or NaN. */
    static IllegalArgumentException scoresOutOfRange(float[] q, int qOff, float[] k, int kOff, int visible, int d) {
        double qNorm = 0, kMax = 0;
        for (int t = 0; t < d; t++) qNorm += (double) q[qOff + t] * q[qOff + t];
        for (int j = 0; j < visible; j++) {
            double s = 0;
            for (int t = 0; t < d; t++) s += (double) k[kOff + j * d + t] * k[kOff + j * d + t];
            kMax = Math.max(kMax, s);
        }
        return new IllegalArgumentException(String.format(java.util.Locale.ROOT, "attention scores overflow fp32: "
                + "|q| = %.3g times the largest |k| = %.3g exceeds the float range (%.3g); scale the queries or keys "
                + "down", Math.sqrt(qNorm), Math.sqrt(kMax), Float.MAX_VALUE));
    }

    /** Refuses an output row that overflowed fp32 in the value sum (values near the float range). */
    static void checkFinite(float[] out, int off, int dv) {
        for (int t = 0; t < dv; t++) {
            if (!Float.isFinite(out[off + t])) {
                throw new IllegalArgumentException("attention output overflows fp32 (" + out[off + t] + " at column "
                        + t + "): the values are too close to the float range (" + Float.MAX_VALUE + ")");
            }
        }
    }
}
