package org.hsr.attention;

import java.util.Arrays;
import org.hsr.index.BlockIndex;
import org.hsr.simd.Kernels;
import org.hsr.store.Rows;

/**
 * Dense attention over a cache's own storage ({@link BlockIndex.Stored}, any element type): the decode baseline that
 * the sparse path is measured against, reading the same rows. The query heads of one kv head (a grouped-query
 * group) are computed together, chunk by chunk: every chunk of {@link #CHUNK} key|value rows is scored against each
 * query of the group and its values summed while it is in cache, so K and V are read from memory once per group,
 * as a GQA-aware engine reads them.
 *
 * <p>Normalisation is online (FlashAttention's running maximum): softmax weights are {@code exp(s − M)} with M the
 * largest score so far, ReLU^α weights {@code ((s − b)/R)^α} with R the largest {@code s − b} so far, and the sums
 * are rescaled when M or R grows. So neither overflows in fp32 whatever the scores' size (an {@code (s − b)^α} would
 * for α = 20 and s − b = 100).
 *
 * <p>Instances hold scratch for one group and are not thread-safe; use one per thread.
 */
public final class StoredDenseAttention {

    /** Rows per chunk: 256 rows of d = dv = 128 are 128 KB in bf16, which stay in L2 while the group reuses them. */
    static final int CHUNK = 256;

    private float[] qp = new float[0]; // (group, queryLength) prepared queries
    private float[] att = new float[0]; // (group, CHUNK) scores, then weights
    private float[] acc = new float[0]; // (group, accumulatorLength) value sums
    private double[] top = new double[0]; // (group) running maximum: M (softmax) or R (ReLU)
    private double[] sum = new double[0]; // (group) running weight sum, relative to top

    /**
     * Attends {@code group} queries, query i at {@code q[qOff + i·d]}, over the stored keys with ids below
     * {@code limit}; writes output i at {@code out[outOff + i·dv]} (overwriting it).
     */
    public void attendGroup(BlockIndex.Stored st, int limit, float[] q, int qOff, int group, AttentionConfig cfg,
                            float[] out, int outOff, AttentionStats stats) {
        attendGroup(st, limit, q, qOff, group, cfg, out, outOff, stats, null, 0);
    }

    /**
     * {@link #attendGroup(BlockIndex.Stored, int, float[], int, int, AttentionConfig, float[], int, AttentionStats)},
     * also writing row i's log weight (as {@link SparseAttention}'s attendRow with log weights defines it) to
     * {@code logWeight[lwOff + i]} when {@code logWeight} is not null.
     */
    public void attendGroup(BlockIndex.Stored st, int limit, float[] q, int qOff, int group, AttentionConfig cfg,
                            float[] out, int outOff, AttentionStats stats, double[] logWeight, int lwOff) {
        Rows rows = st.blocks();
        int d = rows.d(), dv = rows.dv(), ql = rows.queryLength(), al = rows.accumulatorLength();
        float c = cfg.scaleFor(d);
        ensure(group, ql, al);
        for (int i = 0; i < group; i++) rows.prepareQuery(q, qOff + i * d, qp, i * ql);
        Arrays.fill(acc, 0, group * al, 0f);
        Arrays.fill(top, 0, group, cfg.kind() == AttentionConfig.Kind.SOFTMAX ? Double.NEGATIVE_INFINITY : 0);
        Arrays.fill(sum, 0, group, 0);
        long kept = 0;
        // the folded blocks in slot order, then the tail in id order; a chunk never crosses a page
        for (int r = 0; r < st.slots(); ) {
            int n = Math.min(CHUNK, Math.min(st.slots() - r, rows.rowsLeftInPage(r)));
            kept += chunk(rows, r, n, st.slotId(), 0, limit, group, cfg, c, ql, al);
            r += n;
        }
        Rows tail = st.tail();
        int tailRows = Math.max(0, Math.min(st.tailCount(), limit - st.firstTailId()));
        for (int r = 0; r < tailRows; ) {
            int n = Math.min(CHUNK, Math.min(tailRows - r, tail.rowsLeftInPage(r)));
            kept += chunk(tail, r, n, null, st.firstTailId(), limit, group, cfg, c, ql, al);
            r += n;
        }
        for (int i = 0; i < group; i++) {
            if (sum[i] > 0) {
                rows.finishValues(acc, i * al, (float) (1 / sum[i]), out, outOff + i * dv);
                // values near the float range overflow the fp32 value sums: refused as the other paths do, never
                // returned as Infinity
                DenseAttention.checkFinite(out, outOff + i * dv, dv);
            } else {
                Arrays.fill(out, outOff + i * dv, outOff + (i + 1) * dv, 0f);
            }
            if (logWeight != null) {
                // the sum is relative to top: exp(M) for softmax, R^α for ReLU
                double lt = cfg.kind() == AttentionConfig.Kind.SOFTMAX ? top[i] : cfg.alpha() * Math.log(top[i]);
                logWeight[lwOff + i] = sum[i] > 0 ? lt + Math.log(sum[i]) : Double.NEGATIVE_INFINITY;
            }
        }
        if (stats != null) {
            long visible = Math.min((long) limit, st.firstTailId() + (long) st.tailCount());
            for (int i = 0; i < group; i++) if (!(sum[i] > 0)) stats.emptyRows++;
            stats.rows += group;
            stats.visibleKeys += visible * group;
            stats.scoredKeys += visible * group;
            stats.keptKeys += kept;
            stats.bytesRead += visible * (d + dv) * rows.type().bytes();
        }
    }

    private void ensure(int group, int ql, int al) {
        if (qp.length < group * ql) qp = new float[group * ql];
        if (att.length < group * CHUNK) att = new float[group * CHUNK];
        if (acc.length < group * al) acc = new float[group * al];
        if (top.length < group) {
            top = new double[group];
            sum = new double[group];
        }
    }

    /**
     * One chunk of {@code n} rows from {@code row}: scores, the online weights and the value sums of every query of
     * the group. Rows whose id is padding (-1) or at or past {@code limit} get weight 0. Returns the non-zero weights.
     */
    private long chunk(Rows rows, int row, int n, int[] slotId, int firstId, int limit, int group, AttentionConfig cfg,
                       float c, int ql, int al) {
        long kept = 0;
        boolean relu = cfg.kind() == AttentionConfig.Kind.RELU;
        for (int i = 0; i < group; i++) {
            int o = i * CHUNK;
            rows.scores(qp, i * ql, row, n, att, o);
            // the chunk's scaled scores, masked, and their maximum (softmax: s; ReLU: s − b)
            float m = Float.NEGATIVE_INFINITY;
            int live = 0; // rows of the chunk that are visible
            for (int j = 0; j < n; j++) {
                boolean out = masked(slotId, row + j, firstId, limit);
                if (!out) live++;
                float s = out ? Float.NEGATIVE_INFINITY : relu ? c * att[o + j] - cfg.bias() : c * att[o + j];
                att[o + j] = s;
                if (s > m) m = s;
            }
            if (m == Float.NEGATIVE_INFINITY || relu && !(m > 0f)) continue; // nothing of weight in this chunk
            if (m > top[i]) { // rescale what was summed so far to the new maximum
                double f = relu ? (top[i] == 0 ? 0 : powInt(top[i] / m, cfg.alpha())) : Math.exp(top[i] - m);
                if (sum[i] > 0) {
                    Kernels.scale(acc, i * al, al, (float) f);
                    sum[i] *= f;
                }
                top[i] = m;
            }
            double topI = top[i];
            // the weights, in place: exp(s − M), or ((s − b)/R)^α (R >= every s − b so far, so no weight overflows)
            double chunkSum;
            if (!relu) {
                chunkSum = Kernels.expAndSum(att, o, n, (float) topI);
                if (live < n) chunkSum -= zeroMasked(o, n, slotId, row, firstId, limit);
            } else {
                // ((s − b)/m)^α relative to the chunk's maximum m, then scaled to the running maximum R >= m
                chunkSum = Kernels.reluPowAndSum(att, o, n, 0f, cfg.alpha());
                double f = m == topI ? 1 : powInt(m / topI, cfg.alpha());
                if (f != 1) {
                    Kernels.scale(att, o, n, (float) f);
                    chunkSum *= f;
                }
            }
            // kept: ReLU's non-zero weights; for softmax every visible key (its weight is positive even when it
            // rounds to zero in fp32)
            if (relu) {
                for (int j = 0; j < n; j++) if (att[o + j] != 0f) kept++;
            } else {
                kept += live;
            }
            rows.addValues(att, o, row, n, acc, i * al); // dense: every row's value, zero weights too
            sum[i] += chunkSum;
        }
        return kept;
    }

    /** Whether {@code row} is padding (id -1) or at or past {@code limit}: tail rows have ids {@code firstId + row}. */
    private static boolean masked(int[] slotId, int row, int firstId, int limit) {
        int id = slotId == null ? firstId + row : slotId[row];
        return id < 0 || id >= limit;
    }

    /** Sets the weights of masked rows to 0 (the vector exp clamps, so they are tiny, not 0); returns what they held. */
    private double zeroMasked(int o, int n, int[] slotId, int row, int firstId, int limit) {
        double removed = 0;
        for (int j = 0; j < n; j++) {
            if (masked(slotId, row + j, firstId, limit)) {
                removed += att[o + j];
                att[o + j] = 0f;
            }
        }
        return removed;
    }

    /** {@code x^n} for n >= 1 by squaring (n can be large; a loop of n multiplications would not end). */
    static double powInt(double x, int n) {
        double r = 1, b = x;
        for (int e = n; e > 0; e >>= 1) {
            if ((e & 1) != 0) r *= b;
            b *= b;
        }
        return r;
    }
}
