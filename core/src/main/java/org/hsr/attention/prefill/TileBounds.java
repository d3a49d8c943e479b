package org.hsr.attention.prefill;

import org.hsr.simd.TileKernels;

/**
 * Certified upper bounds on the scaled scores of a query tile against every key tile it sees:
 * {@code ub[r][t] >= c·<q_r, k>} for every key k of tile t, in float64 semantics: the smaller of the ball bound
 * {@code <cq, centre> + ‖cq‖·radius} and the box bound {@code <cq, μ> + <|cq|, h>}. The products for all r and t are
 * three matrix products on the tile kernel (together about 3/64 of the scoring work), and a slack of
 * {@code 4·(d+8)·2^-24·‖cq‖·(norms of the tile's centre and radius, or of μ and h)} covers the fp32 rounding of those
 * products and of {@code cq = fl(c·q)}.
 */
final class TileBounds {
    private TileBounds() {}

    /** Fills {@code ub} (paddedRows × tiles, leading dimension {@code tiles}) and {@code qNorm[r] = ‖cq_r‖}. */
    static void upper(QueryTile qt, KeyTiles keys, int tiles, float[] ub, float[] box, double[] qNorm) {
        int rows = qt.paddedRows, d = qt.d, len = rows * tiles;
        java.util.Arrays.fill(ub, 0, len, 0f);
        java.util.Arrays.fill(box, 0, len, 0f);
        TileKernels.gemm(qt.q, 0, d, keys.centresT, 0, keys.tiles, ub, 0, tiles, rows, tiles, d);
        TileKernels.gemm(qt.q, 0, d, keys.midT, 0, keys.tiles, box, 0, tiles, rows, tiles, d);
        TileKernels.gemm(qt.qAbs, 0, d, keys.halfT, 0, keys.tiles, box, 0, tiles, rows, tiles, d);
        double slack = 4.0 * (d + 8) * 0x1p-24;
        for (int r = 0; r < rows; r++) {
            double qn = Math.sqrt(KeyTiles.norm2(qt.q, r * d, d)) * (1 + 1e-9);
            qNorm[r] = qn;
            for (int t = 0; t < tiles; t++) {
                int at = r * tiles + t;
                double ball = ub[at] + qn * keys.radius[t] + slack * qn * (keys.centreNorm[t] + keys.radius[t]);
                double cube = box[at] + slack * qn * keys.boxNorm[t];
                ub[at] = Math.nextUp((float) Math.min(ball, cube));
            }
        }
    }

    /** The largest bound of tile t over the rows that see any of it ({@code -Infinity} when none does). */
    static float tileMax(QueryTile qt, float[] ub, int tiles, int t) {
        float u = Float.NEGATIVE_INFINITY;
        for (int r = 0; r < qt.rows; r++) {
            if (qt.seen(r, t) > 0) u = Math.max(u, ub[r * tiles + t]);
        }
        return u;
    }
}
