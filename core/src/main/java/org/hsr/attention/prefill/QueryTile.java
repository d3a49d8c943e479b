package org.hsr.attention.prefill;

import java.util.Arrays;
import org.hsr.attention.AttentionInput;
import org.hsr.attention.AttentionStats;
import org.hsr.simd.TileKernels;

/**
 * One query tile of one head and its scratch (reused from tile to tile by one worker thread; not thread-safe): the
 * queries scaled by c, the running output, row sums and maxima, one score tile, and the causal geometry.
 */
final class QueryTile {

    /** Query rows per tile. */
    static final int QT = 72;
    static final int KT = KeyTiles.KT;

    final int d, dv, ldo; // ldo: the output tile's leading dimension, dv rounded up to the column block
    final float[] q;          // (QT, d) c·q of the tile's rows, zero rows past the last
    final float[] qAbs;       // (QT, d) |c·q| (for the box bounds)
    final float[] s;          // (QT, KT) scores, then weights, of one key tile
    final float[] o;          // (QT, ldo) the output accumulator
    final float[] rowMax = new float[QT], rescale = new float[QT], thresholds = new float[QT];
    final double[] rowSums = new double[QT];
    final long[] masks = new long[QT];
    final int[] visible = new int[QT]; // keys row r may see (0 for padding rows)
    final AttentionStats stats = new AttentionStats();

    int head, first, rows, paddedRows; // query head, first row, rows in the tile, rows rounded up to the row block
    int maxVisible, minVisible;        // over the tile's real rows

    QueryTile(int d, int dv) {
        this.d = d;
        this.dv = dv;
        this.ldo = (dv + TileKernels.COL_BLOCK - 1) / TileKernels.COL_BLOCK * TileKernels.COL_BLOCK;
        this.q = new float[QT * d];
        this.qAbs = new float[QT * d];
        this.s = new float[QT * KT];
        this.o = new float[QT * ldo];
    }

    /** Loads rows {@code first..first+QT} of head h (scaled by c) and resets the accumulators. */
    void load(AttentionInput in, boolean causal, float c, int h, int first) {
        this.head = h;
        this.first = first;
        this.rows = Math.min(QT, in.m() - first);
        this.paddedRows = (rows + TileKernels.ROW_BLOCK - 1) / TileKernels.ROW_BLOCK * TileKernels.ROW_BLOCK;
        float[] src = in.q();
        for (int r = 0; r < rows; r++) {
            int from = in.qOffset(h, first + r);
            for (int u = 0; u < d; u++) q[r * d + u] = c * src[from + u];
        }
        Arrays.fill(q, rows * d, paddedRows * d, 0f);
        for (int u = 0; u < paddedRows * d; u++) qAbs[u] = Math.abs(q[u]);
        for (int r = 0; r < QT; r++) visible[r] = r < rows ? in.visible(first + r, causal) : 0;
        minVisible = visible[0];
        maxVisible = visible[rows - 1];
        Arrays.fill(o, 0, paddedRows * ldo, 0f);
        Arrays.fill(rowSums, 0);
        Arrays.fill(rowMax, Float.NEGATIVE_INFINITY);
    }

    /** Key tiles any row of this tile can see. */
    int visibleTiles() {
        return (maxVisible + KT - 1) / KT;
    }

    /** Keys of key tile t that row r sees (0..KT). */
    int seen(int r, int t) {
        return Math.max(0, Math.min(KT, visible[r] - t * KT));
    }

    /** {@code dst ← Q·K_tᵀ} (paddedRows × KT, leading dimension KT), then {@code -Infinity} where row r may not look. */
    void score(KeyTiles keys, int t, float[] dst, int dstOff) {
        TileKernels.gemmPacked(q, 0, d, keys.packed, keys.tileOffset(t), dst, dstOff, KT, paddedRows, KT, d, false);
        if ((t + 1) * KT <= minVisible && paddedRows == rows) return; // every row sees the whole tile
        for (int r = 0; r < paddedRows; r++) {
            int from = seen(r, t);
            if (from < KT) Arrays.fill(dst, dstOff + r * KT + from, dstOff + (r + 1) * KT, Float.NEGATIVE_INFINITY);
        }
    }

    /** Writes {@code o / rowSums} (or zeros for an empty row) to the output and counts the rows. */
    void finish(float[] out, int m) {
        for (int r = 0; r < rows; r++) {
            int at = (head * m + first + r) * dv;
            double sum = rowSums[r];
            if (sum > 0) {
                float inv = (float) (1 / sum);
                for (int u = 0; u < dv; u++) out[at + u] = o[r * ldo + u] * inv;
            } else {
                Arrays.fill(out, at, at + dv, 0f);
                stats.emptyRows++;
            }
            stats.rows++;
            stats.visibleKeys += visible[r];
        }
    }
}
