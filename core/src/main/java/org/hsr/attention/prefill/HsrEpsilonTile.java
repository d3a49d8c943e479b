package org.hsr.attention.prefill;

import java.util.Arrays;
import org.hsr.simd.TileKernels;

/**
 * Certified sparse softmax ({@code epsilon:E}, SPEC §4) of one query tile, in one pass over its key tiles in position
 * order. Every visible key is scored (an online-softmax step per tile: running max M_r and full sum Z_r), so the mass
 * of what is dropped is not bounded but summed: with D_r the dropped sum so far (rescaled with Z_r when the max
 * grows), the tile's weights {@code p = exp(s − M_r)} at most
 * {@code θ_r = (E·Z_r/g_r − D_r) / seen_rt} are dropped (their sum, at most {@code seen_rt·θ_r}, added to D_r) and
 * the rest kept, so {@code g_r·D_r <= E·Z_r} holds after every tile, and at the end since Z_r only grows. Values are
 * summed for the kept keys: a dense product over the tile (dropped weights zeroed) when more than a quarter of its
 * entries are kept, else per kept key. The row's certified bound {@code g_r·D_r/Z_r} is reported.
 * {@code g_r = exp(2δ_r)·(1 + 10^-3)} covers the fp32 rounding of the scores ({@code |s − s*| <= δ_r}) and of the exp
 * and sums.
 *
 * <p>With tile bounds ({@link TileBounds}, {@code ub_rt >= c·<q_r, k>} for every key of tile t), a tile after the first
 * is skipped unscored when its certified mass {@code seen_rt·exp(ub_rt − M_r)} fits, for every row, in half of the
 * budget left ({@code g_r·(D_r + mass) <= E·Z_r/2}); that mass is added to D_r. Skips then spend at most half of E
 * and the exact drops of later tiles keep the rest.
 */
final class HsrEpsilonTile {
    private HsrEpsilonTile() {}

    private static final int KT = QueryTile.KT;

    /** {@code bounded}: compute the tile bounds and skip the tiles they allow. */
    static void run(QueryTile qt, KeyTiles keys, float[] v, int vOff, double eps, boolean bounded, Scratch sc) {
        int tiles = qt.visibleTiles(), rows = qt.rows, pr = qt.paddedRows, dv = qt.dv;
        double[] g = sc.g, dropped = sc.dropped, kept = sc.kept;
        Arrays.fill(dropped, 0);
        Arrays.fill(kept, 0);
        double slack = 4.0 * (qt.d + 8) * 0x1p-24;
        for (int r = 0; r < rows; r++) {
            double qn = Math.sqrt(KeyTiles.norm2(qt.q, r * qt.d, qt.d)) * (1 + 1e-9);
            g[r] = Math.exp(2 * slack * qn * keys.maxKeyNorm) * (1 + 1e-3);
        }
        float[] ub = bounded ? sc.bounds(pr * tiles) : null;
        if (bounded) TileBounds.upper(qt, keys, tiles, ub, sc.box(pr * tiles), sc.qNorm);
        long skipped = 0;
        float[] theta = qt.thresholds;
        Arrays.fill(theta, rows, QueryTile.QT, Float.POSITIVE_INFINITY); // padding rows keep nothing
        long scored = 0, keptKeys = 0, valueReads = 0;
        for (int t = 0; t < tiles; t++) {
            if (bounded && t > 0 && skip(qt, ub, tiles, t, eps, g, dropped)) {
                skipped++;
                continue;
            }
            qt.score(keys, t, qt.s, 0);
            TileKernels.expOnline(qt.s, 0, KT, pr, KT, qt.rowMax, qt.rowSums, qt.rescale);
            TileKernels.scaleRows(qt.o, 0, qt.ldo, pr, dv, qt.rescale);
            for (int r = 0; r < rows; r++) {
                int seen = qt.seen(r, t);
                scored += seen;
                double f = qt.rescale[r];
                kept[r] *= f;
                dropped[r] *= f;
                double budget = eps * qt.rowSums[r] / g[r] - dropped[r];
                // rounded down, so that seen·θ stays within the budget
                theta[r] = budget <= 0 || seen == 0 ? 0f : Math.nextDown((float) (budget / seen));
            }
            if (TileKernels.dropBelow(qt.s, 0, KT, pr, KT, theta, qt.masks, kept, dropped) == 0) continue;
            int bits = 0;
            for (int r = 0; r < rows; r++) bits += Long.bitCount(qt.masks[r]);
            keptKeys += bits;
            if (4 * bits > rows * KT) {
                TileKernels.gemmPacked(qt.s, 0, KT, keys.packedValues, keys.valueOffset(t), qt.o, 0, qt.ldo, pr,
                        qt.ldo, KT, true);
                valueReads += keys.tileKeys(t);
            } else {
                TileKernels.sparseWeightedSum(qt.s, 0, KT, pr, keys.tileKeys(t), qt.masks, 0f, 0, v,
                        vOff + t * KT * dv, dv, qt.o, 0, qt.ldo, sc.unused);
                valueReads += bits;
            }
        }
        double worst = 0;
        for (int r = 0; r < rows; r++) {
            double z = qt.rowSums[r];
            if (z > 0) worst = Math.max(worst, g[r] * dropped[r] / z);
            qt.rowSums[r] = kept[r]; // the output is normalised over the kept keys
        }
        qt.stats.droppedMassBoundMax = Math.max(qt.stats.droppedMassBoundMax, worst);
        qt.stats.scoredKeys += scored;
        qt.stats.keptKeys += keptKeys;
        qt.stats.bytesRead += scored * keys.d * Float.BYTES + valueReads * dv * Float.BYTES;
        sc.tilePairs += tiles;
        sc.skippedTiles += skipped;
    }

    /**
     * Whether tile t's certified mass fits in half of every row's budget left; if so, adds it to the dropped sums.
     */
    private static boolean skip(QueryTile qt, float[] ub, int tiles, int t, double eps, double[] g, double[] dropped) {
        for (int r = 0; r < qt.rows; r++) {
            int seen = qt.seen(r, t);
            if (seen == 0) continue;
            double m = seen * Math.exp((double) ub[r * tiles + t] - qt.rowMax[r]);
            if (!(g[r] * (dropped[r] + m) <= eps * qt.rowSums[r] / 2)) return false;
        }
        for (int r = 0; r < qt.rows; r++) {
            int seen = qt.seen(r, t);
            if (seen > 0) dropped[r] += seen * Math.exp((double) ub[r * tiles + t] - qt.rowMax[r]);
        }
        return true;
    }
}
