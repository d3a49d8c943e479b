package org.hsr.attention;

import java.util.Arrays;
import org.hsr.index.BlockIndex;

/**
 * Batch attention through the half-space index: one {@link BlockIndex} per kv head, shared by the query heads of its
 * group. Non-causal calls index all keys once. Causal calls (decoding rows and the m = n prefill) run the queries in
 * blocks of {@link #QUERY_BLOCK}: before a block the index is grown to the keys every query of the block sees, and
 * the diagonal part (keys only some queries of the block see) is scored directly.
 */
public final class HsrAttention {

    /** Query rows per causal block. */
    public static final int QUERY_BLOCK = 128;

    private final SparseAttention sparse = new SparseAttention();

    /** Returns {@code heads × m × dv}. {@code selection} applies to softmax (null = dense softmax). */
    public float[] attend(AttentionInput in, AttentionConfig cfg, Selection selection, AttentionStats stats) {
        Selection sel = selection == null ? new Selection.Dense() : selection;
        int d = in.d(), dv = in.dv(), n = in.n(), m = in.m();
        float[] out = new float[in.outputLength()];
        for (int kvh = 0; kvh < in.kvHeads(); kvh++) {
            int kOff = kvh * n * d, vOff = kvh * n * dv;
            float maxNorm = maxNorm(in.k(), kOff, n, d);
            BlockIndex index = new BlockIndex(d);
            int indexed = 0;
            for (int i0 = 0; i0 < m; i0 += cfg.causal() ? QUERY_BLOCK : m) {
                int i1 = cfg.causal() ? Math.min(m, i0 + QUERY_BLOCK) : m;
                int shared = in.visible(i0, cfg.causal()); // keys every query of the block sees
                if (shared > indexed) {
                    index.add(Arrays.copyOfRange(in.k(), kOff + indexed * d, kOff + shared * d), shared - indexed);
                    indexed = shared;
                }
                var keys = new SparseAttention.Keys(index, in.k(), kOff, in.v(), vOff, indexed, d, dv, maxNorm);
                for (int g = 0; g < in.groupSize(); g++) {
                    int h = kvh * in.groupSize() + g;
                    for (int i = i0; i < i1; i++) {
                        sparse.attendRow(keys, in.visible(i, cfg.causal()), in.q(), in.qOffset(h, i), cfg, sel, out,
                                (h * m + i) * dv, stats);
                    }
                }
            }
        }
        return out;
    }

    static float maxNorm(float[] k, int off, int n, int d) {
        double best = 0;
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int t = 0; t < d; t++) s += (double) k[off + j * d + t] * k[off + j * d + t];
            best = Math.max(best, s);
        }
        return (float) (Math.sqrt(best) * (1 + 1e-6));
    }
}
