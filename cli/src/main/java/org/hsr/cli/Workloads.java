package org.hsr.cli;

import java.util.SplittableRandom;

/**
 * Benchmark data (SPEC §8). {@code gaussian}: the paper's setting, every entry of q, k, v i.i.d. N(0,1).
 * {@code llm}: a <b>synthetic</b> stand-in for trained attention keys, never a measurement on a real model. Its
 * parameters, all fixed here:
 * <ul>
 *   <li>low effective rank: {@code k_j = μ + L·z_j}, L a d×(d/8) Gaussian matrix scaled by 1/sqrt(d/8)·2, z_j ~ N(0, I);</li>
 *   <li>a shared offset μ with ‖μ‖ about 0.6 of a key's norm (trained keys show 0.55–0.66);</li>
 *   <li>4 outlier channels (dimensions 0, d/4, d/2, 3d/4) scaled by 5;</li>
 *   <li>RoPE on keys and queries (theta 10000, interleaved pairs, key j at position j, queries at position n);</li>
 *   <li>a sink token: key 0 is μ plus 6 times the query direction;</li>
 *   <li>recency: the last 32 keys get +1.5 times the query direction;</li>
 *   <li>queries: a shared unit direction ν times 2·sqrt(d)^(1/2) plus N(0, I), so scores are peaked.</li>
 * </ul>
 */
final class Workloads {
    private Workloads() {}

    /** Queries (m×d), keys and values (n×d), and the score standard deviation σ used by the paper's bias rule. */
    record Data(float[] q, float[] k, float[] v, int m, double scoreStd) {}

    static Data make(String dist, SplittableRandom r, int n, int m, int d) {
        float[] q = gaussian(r, m * d), k = gaussian(r, n * d), v = gaussian(r, n * d);
        if (dist.equals("gaussian")) return new Data(q, k, v, m, 1.0);
        int rank = Math.max(1, d / 8);
        float[] lowRank = gaussian(r, d * rank);
        float[] mu = gaussian(r, d);
        float[] nu = gaussian(r, d);
        normalise(nu);
        double keyScale = 2.0 / Math.sqrt(rank);
        for (int j = 0; j < n; j++) {
            float[] z = gaussian(r, rank);
            for (int t = 0; t < d; t++) {
                double x = 0;
                for (int a = 0; a < rank; a++) x += lowRank[t * rank + a] * z[a];
                double val = 0.9 * mu[t] + keyScale * x;
                if (t % Math.max(1, d / 4) == 0) val *= 5;
                if (j == 0) val += 6 * nu[t] * Math.sqrt(d) / 2;
                if (j >= n - 32) val += 1.5 * nu[t] * Math.sqrt(d) / 2;
                k[j * d + t] = (float) val;
            }
            rope(k, j * d, d, j);
        }
        for (int i = 0; i < m; i++) {
            for (int t = 0; t < d; t++) q[i * d + t] += (float) (2 * Math.sqrt(Math.sqrt(d)) * nu[t]);
            rope(q, i * d, d, n);
        }
        // σ of the scaled scores, measured on a sample
        double s = 0, s2 = 0;
        int samples = Math.min(n, 2048);
        for (int j = 0; j < samples; j++) {
            double dot = 0;
            for (int t = 0; t < d; t++) dot += (double) q[t] * k[j * d + t];
            dot /= Math.sqrt(d);
            s += dot;
            s2 += dot * dot;
        }
        double mean = s / samples;
        return new Data(q, k, v, m, Math.sqrt(Math.max(1e-12, s2 / samples - mean * mean)));
    }

    private static void rope(float[] x, int off, int d, int pos) {
        for (int j = 0; j + 1 < d; j += 2) {
            double angle = pos * Math.pow(10000, -(double) j / d);
            double c = Math.cos(angle), s = Math.sin(angle);
            float a = x[off + j], b = x[off + j + 1];
            x[off + j] = (float) (a * c - b * s);
            x[off + j + 1] = (float) (a * s + b * c);
        }
    }

    private static void normalise(float[] x) {
        double s = 0;
        for (float f : x) s += f * f;
        float inv = (float) (1 / Math.sqrt(s));
        for (int i = 0; i < x.length; i++) x[i] *= inv;
    }

    static float[] gaussian(SplittableRandom r, int len) {
        float[] x = new float[len];
        for (int i = 0; i < len; i++) x[i] = (float) r.nextGaussian();
        return x;
    }
}
