package org.hsr.attention;

import java.util.Arrays;
import org.hsr.index.BlockIndex;

/**
 * Batch attention through the half-space index: one {@link BlockIndex} per kv head, shared by the query heads of its
 * group, built once over all keys in position order. Causal rows (decoding rows and the m = n prefill) search with
 * the causal limit, so blocks of later positions are skipped whole and the block that straddles the limit is filtered
 * by id.
 */
public final class HsrAttention {

    private final SparseAttention sparse = new SparseAttention();

    /** Returns {@code heads × m × dv}. {@code selection} applies to softmax (null = dense softmax). */
    public float[] attend(AttentionInput in, AttentionConfig cfg, Selection selection, AttentionStats stats) {
        Selection sel = selection == null ? new Selection.Dense() : selection;
        int d = in.d(), dv = in.dv(), n = in.n(), m = in.m();
        float[] out = new float[in.outputLength()];
        for (int kvh = 0; kvh < in.kvHeads(); kvh++) {
            int kOff = kvh * n * d, vOff = kvh * n * dv;
            float maxNorm = maxNorm(in.k(), kOff, n, d);
            // keys go in by position, a fold at a time, so each block holds keys of one stretch of positions and a
            // causal row skips every block past its last visible key
            BlockIndex index = new BlockIndex(d);
            for (int from = 0; from < n; from += BlockIndex.FOLD) {
                int count = Math.min(BlockIndex.FOLD, n - from);
                index.add(Arrays.copyOfRange(in.k(), kOff + from * d, kOff + (from + count) * d), count);
            }
            var keys = new SparseAttention.Keys(index, in.k(), kOff, in.v(), vOff, n, d, dv, maxNorm);
            for (int g = 0; g < in.groupSize(); g++) {
                int h = kvh * in.groupSize() + g;
                for (int i = 0; i < m; i++) {
                    sparse.attendRow(keys, in.visible(i, cfg.causal()), in.q(), in.qOffset(h, i), cfg, sel, out,
                            (h * m + i) * dv, stats);
                }
            }
        }
        return out;
    }

    /** The largest key norm of {@code n} row-major keys at {@code off}, rounded up (for rounding slacks). */
    public static float maxNorm(float[] k, int off, int n, int d) {
        double best = 0;
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int t = 0; t < d; t++) s += (double) k[off + j * d + t] * k[off + j * d + t];
            best = Math.max(best, s);
        }
        return (float) (Math.sqrt(best) * (1 + 1e-6));
    }
}
