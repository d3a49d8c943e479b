package org.hsr.attention.prefill;

import java.util.Arrays;
import org.hsr.attention.AttentionConfig;
import org.hsr.simd.TileKernels;

/**
 * Exact ReLU^α of one query tile through the tile bounds: a key tile whose bound, over every row of the query tile,
 * is at most the bias contributes nothing (each weight {@code max(s − b, 0)^α} is exactly zero) and is skipped; the
 * others are scored on the matrix kernel, and values are accumulated only for the keys above the bias (a bit mask
 * per row), the weights computed from the same fp32 scores as the dense path.
 */
final class HsrReluTile {
    private HsrReluTile() {}

    /** {@code bounded}: compute the tile bounds and skip the tiles they allow. */
    static void run(QueryTile qt, KeyTiles keys, float[] v, int vOff, AttentionConfig cfg, boolean bounded,
                    Scratch scratch) {
        int tiles = qt.visibleTiles(), kt = QueryTile.KT, dv = qt.dv;
        float[] ub = bounded ? scratch.bounds(qt.paddedRows * tiles) : null;
        if (bounded) TileBounds.upper(qt, keys, tiles, ub, scratch.box(qt.paddedRows * tiles), scratch.qNorm);
        float bias = cfg.bias();
        Arrays.fill(qt.thresholds, bias);
        long scored = 0, kept = 0, skipped = 0;
        for (int t = 0; t < tiles; t++) {
            if (bounded && TileBounds.tileMax(qt, ub, tiles, t) <= bias) {
                skipped++;
                continue;
            }
            qt.score(keys, t, qt.s, 0);
            for (int r = 0; r < qt.rows; r++) scored += qt.seen(r, t);
            if (TileKernels.maskAbove(qt.s, 0, kt, qt.paddedRows, kt, qt.thresholds, qt.masks) == 0) continue;
            for (int r = 0; r < qt.rows; r++) kept += Long.bitCount(qt.masks[r]);
            TileKernels.sparseWeightedSum(qt.s, 0, kt, qt.paddedRows, keys.tileKeys(t), qt.masks, bias, cfg.alpha(),
                    v, vOff + t * kt * dv, dv, qt.o, 0, qt.ldo, qt.rowSums);
        }
        qt.stats.scoredKeys += scored;
        qt.stats.keptKeys += kept;
        qt.stats.bytesRead += scored * keys.d * Float.BYTES + kept * dv * Float.BYTES;
        scratch.skippedTiles += skipped;
        scratch.tilePairs += tiles;
    }
}
