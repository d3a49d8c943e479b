package org.hsr.attention;

/**
 * The float64 dense reference for both attention kinds (SPEC §3–4): the oracle of every test. Deliberately plain:
 * one query row at a time, every score computed, softmax with the max subtracted.
 */
public final class DenseReference {

    private DenseReference() {}

    /** Attention output, {@code heads × m × dv}, in float64. */
    public static double[] attend(AttentionInput in, AttentionConfig cfg) {
        int d = in.d(), dv = in.dv();
        double c = cfg.scaleFor(d);
        double[] out = new double[in.outputLength()];
        double[] att = new double[in.n()]; // (n) the weights of one query row
        for (int h = 0; h < in.heads(); h++) {
            int kBase = in.kOffset(h), vBase = in.vOffset(h);
            for (int i = 0; i < in.m(); i++) {
                int qOff = in.qOffset(h, i);
                int visible = in.visible(i, cfg.causal());
                // scores s_j = c·<q, k_j>
                for (int j = 0; j < visible; j++) {
                    double dot = 0;
                    for (int t = 0; t < d; t++) {
                        dot += (double) in.q()[qOff + t] * in.k()[kBase + j * d + t];
                    }
                    att[j] = c * dot;
                }
                // weights: softmax (max subtracted) or ReLU^α
                double sum = 0;
                if (cfg.kind() == AttentionConfig.Kind.SOFTMAX) {
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < visible; j++) max = Math.max(max, att[j]);
                    for (int j = 0; j < visible; j++) {
                        att[j] = Math.exp(att[j] - max);
                        sum += att[j];
                    }
                } else {
                    // (s − b)^α normalised by the row maximum of s − b: a score just above the bias, or a large α,
                    // neither underflows nor overflows, and the ratio w/Σw is unchanged
                    double rMax = 0;
                    for (int j = 0; j < visible; j++) rMax = Math.max(rMax, att[j] - cfg.bias());
                    for (int j = 0; j < visible; j++) {
                        att[j] = rMax > 0 ? Math.pow(Math.max(att[j] - cfg.bias(), 0) / rMax, cfg.alpha()) : 0;
                        sum += att[j];
                    }
                }
                // out = Σ_j w_j·v_j / Σ_j w_j; an all-zero ReLU row stays zero
                int oOff = (h * in.m() + i) * dv;
                if (sum == 0) continue;
                for (int j = 0; j < visible; j++) {
                    double w = att[j] / sum;
                    if (w == 0) continue;
                    for (int t = 0; t < dv; t++) {
                        out[oOff + t] += w * in.v()[vBase + j * dv + t];
                    }
                }
            }
        }
        return out;
    }

    /**
     * The error measure of every comparison with this reference: the largest per-row relative error in max-norm,
     * {@code max_i ‖out_i − ref_i‖∞ / ‖ref_i‖∞} over rows of {@code rowLen} (a row whose reference is all zero counts
     * its own max-norm).
     */
    public static double maxRowRelError(float[] out, double[] ref, int rowLen) {
        if (out.length != ref.length) {
            throw new IllegalArgumentException("output length " + out.length + " != reference length " + ref.length);
        }
        double worst = 0;
        for (int r = 0; r < ref.length / rowLen; r++) {
            double diff = 0, norm = 0;
            for (int t = 0; t < rowLen; t++) {
                diff = Math.max(diff, Math.abs(out[r * rowLen + t] - ref[r * rowLen + t]));
                norm = Math.max(norm, Math.abs(ref[r * rowLen + t]));
            }
            worst = Math.max(worst, norm == 0 ? diff : diff / norm);
        }
        return worst;
    }
}
