package org.hsr.attention.prefill;

import org.hsr.attention.AttentionConfig;
import org.hsr.simd.TileKernels;

/**
 * Dense attention of one query tile against every key tile it can see: {@code S = Q·K_tᵀ} on the register-blocked
 * kernel, the causal mask on the tiles that straddle the diagonal only, then ReLU^α with plain accumulation or an
 * online-softmax step (running max and sum, the accumulator rescaled when the max grows), and {@code O += W·V_t}.
 */
final class DenseTile {
    private DenseTile() {}

    static void run(QueryTile qt, KeyTiles keys, AttentionConfig cfg) {
        int rows = qt.paddedRows, dv = qt.dv, kt = QueryTile.KT;
        boolean softmax = cfg.kind() == AttentionConfig.Kind.SOFTMAX;
        long kept = 0;
        for (int t = 0; t < qt.visibleTiles(); t++) {
            qt.score(keys, t, qt.s, 0);
            if (softmax) {
                TileKernels.expOnline(qt.s, 0, kt, rows, kt, qt.rowMax, qt.rowSums, qt.rescale);
                TileKernels.scaleRows(qt.o, 0, qt.ldo, rows, dv, qt.rescale);
            } else {
                kept += TileKernels.reluPow(qt.s, 0, kt, rows, kt, cfg.bias(), cfg.alpha(), qt.rowSums);
            }
            // keys past n are masked (zero weights) and their packed values are zero
            TileKernels.gemmPacked(qt.s, 0, kt, keys.packedValues, keys.valueOffset(t), qt.o, 0, qt.ldo, rows, qt.ldo, kt,
                    true);
        }
        long seen = 0;
        for (int r = 0; r < qt.rows; r++) seen += qt.visible[r];
        qt.stats.scoredKeys += seen;
        qt.stats.keptKeys += softmax ? seen : kept;
        qt.stats.bytesRead += seen * (long) (keys.d + dv) * Float.BYTES;
    }
}
