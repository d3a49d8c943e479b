package org.hsr.attention.baseline;

/** The float64 oracle of the baselines: softmax attention of one query row over exactly the given key ids. */
final class SubsetSoftmax {

    private SubsetSoftmax() {}

    /** {@code Σ_{j∈ids} p_j·v_j / Σ_{j∈ids} p_j} with {@code p_j = exp(c·<q,k_j> − max)}, in float64. */
    static double[] attend(float[] q, int qOff, float[] k, float[] v, int d, int dv, double c, int[] ids) {
        // scores s_j = c·<q, k_j> over the given ids
        double[] s = new double[ids.length];
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < ids.length; i++) {
            s[i] = c * dot64(q, qOff, k, ids[i] * d, d);
            max = Math.max(max, s[i]);
        }
        // weights, max subtracted, and their sum
        double sum = 0;
        for (int i = 0; i < ids.length; i++) {
            s[i] = Math.exp(s[i] - max);
            sum += s[i];
        }
        // out = Σ p_j·v_j / Σ p_j
        double[] out = new double[dv];
        for (int i = 0; i < ids.length; i++) {
            for (int t = 0; t < dv; t++) out[t] += s[i] / sum * v[ids[i] * dv + t];
        }
        return out;
    }

    static double dot64(float[] a, int aOff, float[] b, int bOff, int len) {
        double dot = 0;
        for (int t = 0; t < len; t++) dot += (double) a[aOff + t] * b[bOff + t];
        return dot;
    }
}
