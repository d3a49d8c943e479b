package org.hsr.attention.baseline;

import java.util.Arrays;
import org.hsr.attention.AttentionStats;
import org.hsr.simd.Kernels;

/**
 * StreamingLLM-style attention (Xiao et al., "Efficient Streaming Language Models with Attention Sinks", ICLR 2024): a
 * peer baseline for sparse softmax attention whose kept set does not depend on the query. A row over n keys keeps the
 * first {@code sink} positions (the attention sinks) and the last {@code window} positions (the recent window),
 * <pre>  S = [0, min(sink, n)) ∪ [max(n − window, 0), n),</pre>
 * and computes the softmax exactly over S, renormalised over it (SPEC §4 "Sparse"). {@code sink + window >= n} is
 * dense attention.
 *
 * <p>Layout: key j at {@code kOff + j*d}, value j at {@code vOff + j*dv}, row-major. For a causal row of a prefill pass
 * the row's visible count as n: the window then ends at the row's own position.
 *
 * <p>Instances keep a reusable scratch row and are not thread-safe: use one per thread.
 */
public final class SinkWindowAttention {

    private float[] att = new float[0]; // (kept keys) scores, then softmax weights

    /**
     * One query row: writes {@code dv} outputs at {@code outOff} (overwriting them).
     *
     * @param q      the query, {@code d} floats at {@code qOff}
     * @param k      the keys, key j at {@code kOff + j*d}, at least n of them
     * @param v      the values, value j at {@code vOff + j*dv}, at least n of them
     * @param n      keys the row sees, >= 1
     * @param sink   leading positions kept, >= 0
     * @param window trailing positions kept, >= 0; {@code sink + window >= 1}
     * @param c      the score scale: scores are {@code c·<q,k>}
     * @param stats  counts the row (rows, visible, kept and scored keys); may be null
     */
    public void attendRow(float[] q, int qOff, float[] k, int kOff, float[] v, int vOff, int n, int d, int dv,
                          int sink, int window, float c, float[] out, int outOff, AttentionStats stats) {
        checkRow(q, qOff, k, kOff, v, vOff, n, d, dv, sink, window, c, out, outOff);
        // 1. the kept set as two runs: sinks [0, sinkEnd) and window [windowStart, n), merged when they meet
        int sinkEnd = Math.min(sink, n);
        int windowStart = Math.max(n - window, sinkEnd);
        int kept = sinkEnd + (n - windowStart);
        if (att.length < kept) att = new float[Math.max(kept, 2 * att.length)];
        // 2. att = c·<q, k_j> over both runs, packed: sinks at att[0..sinkEnd), window after them
        Kernels.dotMany(q, qOff, k, kOff, sinkEnd, d, att, 0);
        Kernels.dotMany(q, qOff, k, kOff + windowStart * d, n - windowStart, d, att, sinkEnd);
        Kernels.scale(att, 0, kept, c);
        // 3. softmax weights over the kept keys, max subtracted
        float max = Kernels.max(att, 0, kept);
        float sum = Kernels.expAndSum(att, 0, kept, max);
        assert sum > 0f : "the maximum's weight is 1, sum " + sum;
        // 4. out = Σ_j p_j·v_j / Σ_j p_j over the same two runs
        Arrays.fill(out, outOff, outOff + dv, 0f);
        Kernels.weightedSum(att, 0, v, vOff, sinkEnd, dv, out, outOff);
        Kernels.weightedSum(att, sinkEnd, v, vOff + windowStart * dv, n - windowStart, dv, out, outOff);
        Kernels.scale(out, outOff, dv, 1f / sum);
        // 5. the work: every kept key was scored exactly
        if (stats != null) {
            stats.rows++;
            stats.visibleKeys += n;
            stats.keptKeys += kept;
            stats.scoredKeys += kept;
        }
    }

    /** Keys a row over n keys keeps: {@code min(n, sink + window)}. */
    public static int keptCount(int n, int sink, int window) {
        return (int) Math.min(n, (long) sink + window);
    }

    private static void checkRow(float[] q, int qOff, float[] k, int kOff, float[] v, int vOff, int n, int d, int dv,
                                 int sink, int window, float c, float[] out, int outOff) {
        if (n < 1) throw new IllegalArgumentException("keys n must be >= 1, got " + n);
        if (d < 1) throw new IllegalArgumentException("dimension d must be >= 1, got " + d);
        if (dv < 1) throw new IllegalArgumentException("value dimension dv must be >= 1, got " + dv);
        if (sink < 0) throw new IllegalArgumentException("sink must be >= 0, got " + sink);
        if (window < 0) throw new IllegalArgumentException("window must be >= 0, got " + window);
        if (sink == 0 && window == 0) {
            throw new IllegalArgumentException("sink + window must be >= 1, got sink " + sink + " and window " + window);
        }
        if (!(Float.isFinite(c) && c > 0)) throw new IllegalArgumentException("scale c must be finite and > 0, got " + c);
        checkRange("query q", q, qOff, d, "1 query × d " + d);
        for (int t = 0; t < d; t++) {
            if (!Float.isFinite(q[qOff + t])) {
                throw new IllegalArgumentException("query q has a non-finite value (" + q[qOff + t] + ") in channel " + t);
            }
        }
        checkRange("keys k", k, kOff, (long) n * d, n + " keys × d " + d);
        checkRange("values v", v, vOff, (long) n * dv, n + " values × dv " + dv);
        checkRange("output out", out, outOff, dv, "dv " + dv);
    }

    private static void checkRange(String name, float[] a, int off, long len, String what) {
        if (a == null) throw new IllegalArgumentException(name + " is null");
        if (off < 0 || off + len > a.length) {
            throw new IllegalArgumentException(name + " has " + a.length + " floats, need " + (off + len) + " (offset "
                    + off + " + " + what + ")");
        }
    }
}
