package org.hsr.index;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** The brute-force float64 half-space oracle and SPEC §2's tolerance band. */
final class Oracle {
    private Oracle() {}

    static double dot(float[] q, int qOff, float[] keys, int j, int d) {
        double s = 0;
        for (int t = 0; t < d; t++) s += (double) q[qOff + t] * keys[j * d + t];
        return s;
    }

    static double norm(float[] x, int off, int d) {
        double s = 0;
        for (int t = 0; t < d; t++) s += (double) x[off + t] * x[off + t];
        return Math.sqrt(s);
    }

    /**
     * Asserts that {@code reported} (ids, ascending) is exactly {@code {j < n : <q,k_j> >= t}} in float64, except that
     * keys within {@code 1e-6·d·‖q‖·‖k_j‖} of t may go either way. Returns the number of truly reported keys.
     */
    static int assertExact(float[] q, int qOff, float[] keys, int n, int d, double t, int[] reported, String what) {
        boolean[] got = new boolean[n];
        int prev = -1;
        for (int id : reported) {
            if (id <= prev) fail(what + ": ids not strictly ascending at " + id);
            if (id >= n) fail(what + ": id " + id + " >= n " + n);
            got[id] = true;
            prev = id;
        }
        double qn = norm(q, qOff, d);
        int truth = 0;
        for (int j = 0; j < n; j++) {
            double s = dot(q, qOff, keys, j, d);
            double tol = 1e-6 * d * qn * norm(keys, j * d, d);
            if (s >= t) truth++;
            if (s >= t + tol && !got[j]) fail(what + ": missed key " + j + " (dot " + s + " >= t " + t + ")");
            if (s < t - tol && got[j]) fail(what + ": false hit " + j + " (dot " + s + " < t " + t + ")");
        }
        return truth;
    }

    /** The float64 dot products of q with every key, sorted ascending. */
    static double[] sortedScores(float[] q, int qOff, float[] keys, int n, int d) {
        double[] s = new double[n];
        for (int j = 0; j < n; j++) s[j] = dot(q, qOff, keys, j, d);
        java.util.Arrays.sort(s);
        return s;
    }

    static void assertFraction(double value, double max, String what) {
        assertTrue(value <= max, what + ": " + value + " > " + max);
    }
}
