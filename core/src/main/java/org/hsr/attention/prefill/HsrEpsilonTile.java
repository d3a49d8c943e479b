package org.hsr.attention.prefill;

import java.util.Arrays;
import org.hsr.simd.TileKernels;

/**
 * Certified sparse softmax ({@code epsilon:E}, SPEC §4) of one query tile. Key tiles are scored in order of their
 * bound, largest first (an online-softmax step each, the tile kept for the value pass), until what is left is proved
 * small: with M_r the row's running max, Z_r its running sum and {@code R_r = Σ_{unscored t} seen_rt·exp(ub_rt − M_r)}
 * (suffix sums over the sorted order, so the test is O(rows) per tile), scoring stops when
 * {@code g_r·R_r <= E/2·Z_r} for every row. Then, among the scored keys, weights {@code p = exp(s − M_r)} at most
 * {@code θ_r} are dropped, θ_r chosen so that {@code seen·θ_r} fills what is left of E; values are accumulated for the
 * kept keys only. The row's certified bound {@code g_r·(R_r + seen_r·θ_r) / K_r} (K_r the kept mass) is reported.
 * {@code g_r = exp(2δ_r)·(1 + 10^-3)} covers the fp32 rounding of the scores ({@code |s − s*| <= δ_r}) and of the exp
 * and sums.
 */
final class HsrEpsilonTile {
    private HsrEpsilonTile() {}

    private static final int QT = QueryTile.QT, KT = QueryTile.KT;

    static void run(QueryTile qt, KeyTiles keys, float[] v, int vOff, double eps, Scratch sc) {
        int tiles = qt.visibleTiles(), rows = qt.rows, pr = qt.paddedRows, dv = qt.dv;
        float[] ub = sc.bounds(pr * tiles);
        TileBounds.upper(qt, keys, tiles, ub, sc.box(pr * tiles), sc.qNorm);
        // key tiles by bound, largest first
        long[] order = sc.order(tiles);
        for (int t = 0; t < tiles; t++) order[t] = ((long) sortable(-TileBounds.tileMax(qt, ub, tiles, t)) << 32) | t;
        Arrays.sort(order, 0, tiles);
        // per row: U0 = largest bound, suffix[k] = Σ_{k' >= k} seen·exp(ub − U0) over the sorted tiles
        double[] suffix = sc.suffix(rows * (tiles + 1));
        double[] u0 = sc.u0, g = sc.g;
        double slack = 4.0 * (qt.d + 8) * 0x1p-24;
        for (int r = 0; r < rows; r++) {
            double top = Double.NEGATIVE_INFINITY;
            for (int t = 0; t < tiles; t++) if (qt.seen(r, t) > 0) top = Math.max(top, ub[r * tiles + t]);
            u0[r] = top;
            double acc = 0;
            suffix[r * (tiles + 1) + tiles] = 0;
            for (int k = tiles - 1; k >= 0; k--) {
                int t = (int) order[k];
                int seen = qt.seen(r, t);
                if (seen > 0) acc += seen * Math.exp(ub[r * tiles + t] - top);
                suffix[r * (tiles + 1) + k] = acc;
            }
            g[r] = Math.exp(2 * slack * sc.qNorm[r] * keys.maxKeyNorm) * (1 + 1e-3);
        }
        // score tiles in that order until the unscored rest is certified below E/2
        float[] strip = sc.strip(tiles), slotMax = sc.slotMax(tiles * QT);
        int slots = 0;
        while (slots < tiles) {
            int t = (int) order[slots], off = slots * QT * KT;
            qt.score(keys, t, strip, off);
            TileKernels.expOnline(strip, off, KT, pr, KT, qt.rowMax, qt.rowSums, qt.rescale);
            System.arraycopy(qt.rowMax, 0, slotMax, slots * QT, pr);
            slots++;
            if (restNegligible(qt, suffix, u0, g, tiles, slots, eps / 2)) break;
        }
        // per row: the dropping threshold θ from what is left of E
        double[] rest = sc.rest;
        long[] seenScored = sc.seenScored;
        Arrays.fill(seenScored, 0);
        long scored = 0;
        for (int r = 0; r < rows; r++) {
            rest[r] = remaining(qt, suffix, u0, tiles, r, slots);
            for (int k = 0; k < slots; k++) seenScored[r] += qt.seen(r, (int) order[k]);
            scored += seenScored[r];
            double budget = (eps * qt.rowSums[r] / g[r] - rest[r]) / (1 + eps / g[r]);
            qt.thresholds[r] = (float) Math.max(0, budget / Math.max(1, seenScored[r]));
        }
        Arrays.fill(qt.thresholds, rows, QT, Float.POSITIVE_INFINITY);
        // value pass over the scored tiles: p = stored·exp(slot max − final max), kept where p > θ
        Arrays.fill(qt.rowSums, 0);
        long kept = 0;
        for (int k = 0; k < slots; k++) {
            int t = (int) order[k], off = k * QT * KT;
            for (int r = 0; r < pr; r++) {
                float m = slotMax[k * QT + r];
                qt.rescale[r] = m == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(m - qt.rowMax[r]);
            }
            TileKernels.scaleRows(strip, off, KT, pr, KT, qt.rescale);
            if (TileKernels.maskAbove(strip, off, KT, pr, KT, qt.thresholds, qt.masks) == 0) continue;
            for (int r = 0; r < rows; r++) kept += Long.bitCount(qt.masks[r]);
            TileKernels.sparseWeightedSum(strip, off, KT, pr, keys.tileKeys(t), qt.masks, 0f, 0, v,
                    vOff + t * KT * dv, dv, qt.o, 0, qt.ldo, qt.rowSums);
        }
        double worst = 0;
        for (int r = 0; r < rows; r++) {
            double bound = g[r] * (rest[r] + seenScored[r] * (double) qt.thresholds[r]) / qt.rowSums[r];
            worst = Math.max(worst, bound);
        }
        qt.stats.droppedMassBoundMax = Math.max(qt.stats.droppedMassBoundMax, worst);
        qt.stats.scoredKeys += scored;
        qt.stats.keptKeys += kept;
        qt.stats.bytesRead += scored * keys.d * Float.BYTES + kept * dv * Float.BYTES;
        sc.skippedTiles += tiles - slots;
        sc.tilePairs += tiles;
    }

    /** Whether {@code g_r·R_r <= budget·Z_r} for every row once the first {@code slots} sorted tiles are scored. */
    private static boolean restNegligible(QueryTile qt, double[] suffix, double[] u0, double[] g, int tiles, int slots,
                                          double budget) {
        for (int r = 0; r < qt.rows; r++) {
            if (g[r] * remaining(qt, suffix, u0, tiles, r, slots) > budget * qt.rowSums[r]) return false;
        }
        return true;
    }

    /** {@code R_r}: the certified mass (relative to the row's running max) of the tiles past the first {@code slots}. */
    private static double remaining(QueryTile qt, double[] suffix, double[] u0, int tiles, int r, int slots) {
        double s = suffix[r * (tiles + 1) + slots];
        return s == 0 ? 0 : s * Math.exp(u0[r] - qt.rowMax[r]);
    }

    /** An int whose signed order is the order of the float (for sorting bounds packed into longs). */
    private static int sortable(float x) {
        int bits = Float.floatToIntBits(x);
        return bits ^ ((bits >> 31) & 0x7fffffff);
    }
}
