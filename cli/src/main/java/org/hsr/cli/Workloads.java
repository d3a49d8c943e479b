package org.hsr.cli;

import java.util.SplittableRandom;

/**
 * Benchmark data (SPEC §8). {@code gaussian}: the paper's setting, every entry of q, k, v i.i.d. N(0,1).
 *
 * <p>{@code llm}: a <b>synthetic</b> stand-in for the keys and queries of one decoding head of a trained model,
 * never a measurement on a real model. It builds in what is documented about real attention, each with a fixed
 * parameter:
 * <ul>
 *   <li><b>low effective rank</b>: bulk keys {@code k_j = μ + L·z_j}, L a d×(d/8) Gaussian matrix scaled by
 *       {@code 1/sqrt(d/8)}, {@code z_j ~ N(0, I)};</li>
 *   <li><b>a shared offset</b> μ ~ N(0, I) (trained keys: ‖mean k‖/mean ‖k‖ of 0.55–0.66);</li>
 *   <li><b>outlier channels</b>: 4 dimensions (0, d/4, d/2, 3d/4) scaled by 4;</li>
 *   <li><b>RoPE</b> on every key (theta 10000, interleaved pairs, key j at position j);</li>
 *   <li><b>massive activations</b>: the query is {@code q = 1.5·sqrt(d)·ν + N(0, 0.25·I)} for a fixed unit ν, rescaled so
 *       that the bulk's scaled scores have standard deviation 1; 2% of the keys (positions drawn at random) are
 *       "heavy hitters", shifted along ν so that their scaled score sits about 12 above the bulk;</li>
 *   <li><b>a sink token</b>: key 0 scores about 14 above the bulk;</li>
 *   <li><b>recency</b>: the last 32 keys score about 8 above the bulk.</li>
 * </ul>
 * Values are N(0,1). So a certified softmax keeps the sink, the recent window and the heavy hitters, about 2–3% of
 * the keys — the regime the paper's "massively activated" entries describe.
 */
final class Workloads {
    private Workloads() {}

    /** Queries (m×d), keys and values (n×d), and the standard deviation σ of the scaled scores (bias rule). */
    record Data(float[] q, float[] k, float[] v, int m, double scoreStd) {}

    static final double HEAVY_FRACTION = 0.02, HEAVY_BOOST = 12, SINK_BOOST = 14, RECENT_BOOST = 8;
    static final int RECENT = 32;

    static Data make(String dist, SplittableRandom r, int n, int m, int d) {
        float[] q = gaussian(r, m * d), k = gaussian(r, n * d), v = gaussian(r, n * d);
        if (dist.equals("gaussian")) return new Data(q, k, v, m, 1.0);
        int rank = Math.max(1, d / 8);
        float[] lowRank = gaussian(r, d * rank);
        float[] mu = gaussian(r, d);
        float[] nu = gaussian(r, d);
        normalise(nu); // the shared query direction
        double sqrtD = Math.sqrt(d);
        double inv = 1 / Math.sqrt(rank);
        for (int j = 0; j < n; j++) {
            float[] z = gaussian(r, rank);
            for (int t = 0; t < d; t++) {
                double x = 0;
                for (int a = 0; a < rank; a++) x += lowRank[t * rank + a] * z[a];
                double val = mu[t] + inv * x;
                if (t % Math.max(1, d / 4) == 0) val *= 4;
                k[j * d + t] = (float) val;
            }
            rope(k, j * d, d, j);
        }
        // queries: the shared direction plus noise; the bulk's scores come from μ, the low-rank part and the noise
        double qNorm = 1.5 * sqrtD;
        for (int i = 0; i < m; i++) {
            for (int t = 0; t < d; t++) q[i * d + t] = (float) (qNorm * nu[t] + 0.5 * q[i * d + t]);
        }
        // rescale the queries so the bulk's scaled scores have standard deviation 1
        double sigma = scoreStd(q, k, n, d);
        for (int i = 0; i < m * d; i++) q[i] /= (float) sigma;
        qNorm /= sigma;
        // score boosts along ν: a key gets about +boost (scaled score units) when k += boost·sqrt(d)/qNorm · ν
        for (int j = 0; j < n; j++) {
            double boost = j == 0 ? SINK_BOOST : j >= n - RECENT ? RECENT_BOOST
                    : r.nextDouble() < HEAVY_FRACTION ? HEAVY_BOOST : 0;
            if (boost == 0) continue;
            for (int t = 0; t < d; t++) k[j * d + t] += (float) (boost * sqrtD / qNorm * nu[t]);
        }
        return new Data(q, k, v, m, scoreStd(q, k, n, d));
    }

    /** σ of the scaled scores of the first query, on a sample of keys. */
    private static double scoreStd(float[] q, float[] k, int n, int d) {
        double s = 0, s2 = 0;
        int samples = Math.min(n, 4096);
        for (int j = 0; j < samples; j++) {
            double dot = 0;
            for (int t = 0; t < d; t++) dot += (double) q[t] * k[j * d + t];
            dot /= Math.sqrt(d);
            s += dot;
            s2 += dot * dot;
        }
        double mean = s / samples;
        return Math.sqrt(Math.max(1e-12, s2 / samples - mean * mean));
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
