package org.hsr.attention;

import java.util.Arrays;
import org.hsr.simd.Kernels;

/**
 * Choosing the ReLU bias b (on the scaled score {@code s = c·<q,k>}).
 * <ul>
 *   <li>{@link #paper}: the paper's rule {@code b = σ·sqrt(0.4·ln n)}, which keeps the expected number of active keys
 *       per row at most {@code n^(4/5)} when scores are Gaussian with standard deviation σ (SPEC §3);</li>
 *   <li>{@link #scoreStd}: σ measured from the cache, for one query, on an evenly spaced sample of keys;</li>
 *   <li>{@link #forActiveFraction}: the b that leaves a target fraction of the keys active for a query (the
 *       {@code (1 − fraction)} quantile of its scores).</li>
 * </ul>
 */
public final class BiasRule {
    private BiasRule() {}

    /** The paper's bias {@code σ·sqrt(0.4·ln n)}. */
    public static double paper(double sigma, int n) {
        if (!(sigma >= 0) || !Double.isFinite(sigma)) throw new IllegalArgumentException("sigma must be finite and >= 0, got " + sigma);
        if (n < 1) throw new IllegalArgumentException("n must be >= 1, got " + n);
        return sigma * Math.sqrt(0.4 * Math.log(n));
    }

    /**
     * Standard deviation of the scaled scores {@code c·<q,k_j>} over at most {@code sample} evenly spaced keys of the
     * {@code n} row-major keys at {@code kOff}.
     */
    public static double scoreStd(float[] q, int qOff, float[] k, int kOff, int n, int d, float c, int sample) {
        check(n, d, sample);
        int step = Math.max(1, n / sample);
        double sum = 0, sum2 = 0;
        int count = 0;
        for (int j = 0; j < n; j += step) {
            double s = c * (double) Kernels.dot(q, qOff, k, kOff + j * d, d);
            sum += s;
            sum2 += s * s;
            count++;
        }
        double mean = sum / count;
        return Math.sqrt(Math.max(0, sum2 / count - mean * mean));
    }

    /**
     * The bias that leaves about {@code fraction} of the keys active ({@code s > b}) for this query: the
     * {@code (1 − fraction)} quantile of its scaled scores over all n keys.
     */
    public static float forActiveFraction(float[] q, int qOff, float[] k, int kOff, int n, int d, float c,
                                          double fraction) {
        check(n, d, 1);
        if (!(fraction > 0 && fraction < 1)) throw new IllegalArgumentException("fraction must be in (0, 1), got " + fraction);
        float[] s = new float[n];
        Kernels.dotMany(q, qOff, k, kOff, n, d, s, 0);
        Kernels.scale(s, 0, n, c);
        Arrays.sort(s);
        int active = (int) Math.round(fraction * n);
        // s > b holds for exactly the `active` largest scores when b is the next one down
        return active >= n ? Math.nextDown(s[0]) : s[n - 1 - active];
    }

    private static void check(int n, int d, int sample) {
        if (n < 1) throw new IllegalArgumentException("n must be >= 1, got " + n);
        if (d < 1) throw new IllegalArgumentException("d must be >= 1, got " + d);
        if (sample < 1) throw new IllegalArgumentException("sample must be >= 1, got " + sample);
    }
}
