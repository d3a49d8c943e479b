package org.hsr.attention.prefill;

import org.hsr.simd.TileKernels;

/**
 * The keys of one kv head cut into tiles of {@link #KT} consecutive positions: each tile packed transposed
 * ({@code d × KT}, zero past the last key) in the column panels of {@link TileKernels#gemmPacked}, so that a query
 * tile's scores are one matrix product streamed at a constant stride; for the dense path the values too, each tile
 * {@code KT × dvPad} in panels (zero past the last key and past dv); and, when built
 * {@code withBounds}, each tile's centre c (the mean of its keys) and radius {@code r = max ‖k − c‖} for certified
 * upper bounds {@code <q,k> <= <q,c> + ‖q‖·r} on every key of the tile, and its box (per dimension a midpoint μ
 * and half-width h with {@code |k_u − μ_u| <= h_u}) for {@code <q,k> <= <q,μ> + <|q|,h>}: the ball is tight for
 * isotropic keys, the box for keys with a few large channels. Built once per prefill call, in position
 * order (ranges of tiles in parallel); read-only afterwards and shared by the query heads of the group and by every
 * thread.
 */
final class KeyTiles {

    /** Keys per tile: one {@code long} bit mask per query row covers a tile. */
    static final int KT = 64;

    final int n, d, tiles;
    /** Value columns rounded up to {@link TileKernels#COL_BLOCK} (the leading dimension of the output tiles). */
    final int dvPad;
    /** (tiles, d × KT in panels): key j of tile t, dimension u at {@code t·d·KT + panelIndex(d, u, j)}. */
    final float[] packed;
    /** (tiles, KT × dvPad in panels): value of key j of tile t, column u at {@code t·KT·dvPad + panelIndex(KT, j, u)};
     * null when not built. */
    final float[] packedValues;
    /** (d, tiles): the centres, transposed (null without bounds). */
    final float[] centresT;
    /** (d, tiles): box midpoints and half-widths, transposed (null without bounds). */
    final float[] midT, halfT;
    /** (tiles): radius about the centre, rounded up; the norms of centre and of midpoint plus half-width. */
    final double[] radius, centreNorm, boxNorm;
    /** (tiles): the largest squared key norm of each tile. */
    private final double[] tileNorm2;
    /** The largest key norm of the head, rounded up (for rounding slacks); set by {@link #seal}. */
    double maxKeyNorm;

    private final float[] k, v;
    private final int kOff, vOff, dv;

    /**
     * Tiles of keys {@code k[kOff..]} (n × d); with {@code v} non-null also the packed values {@code v[vOff..]}
     * (n × dv); with {@code withBounds} the tile bounds. Allocates only: {@link #build} fills ranges of tiles (from
     * several threads at once), then {@link #seal} once.
     */
    KeyTiles(float[] k, int kOff, int n, int d, float[] v, int vOff, int dv, boolean withBounds) {
        this.n = n;
        this.d = d;
        this.tiles = (n + KT - 1) / KT;
        this.dvPad = (dv + TileKernels.COL_BLOCK - 1) / TileKernels.COL_BLOCK * TileKernels.COL_BLOCK;
        this.k = k;
        this.kOff = kOff;
        this.v = v;
        this.vOff = vOff;
        this.dv = dv;
        this.packed = new float[tiles * d * KT];
        this.packedValues = v != null ? new float[tiles * KT * dvPad] : null;
        this.tileNorm2 = new double[tiles];
        if (withBounds) {
            centresT = new float[d * tiles];
            midT = new float[d * tiles];
            halfT = new float[d * tiles];
            radius = new double[tiles];
            centreNorm = new double[tiles];
            boxNorm = new double[tiles];
        } else {
            centresT = midT = halfT = null;
            radius = centreNorm = boxNorm = null;
        }
    }

    /** Packs tiles {@code from..to−1} and, with bounds, computes theirs. */
    void build(int from, int to) {
        double[] mean = new double[d];
        float[] lo = new float[d], hi = new float[d], centre = new float[d];
        for (int t = from; t < to; t++) {
            int first = t * KT, last = Math.min(n, first + KT);
            double norm2 = 0;
            for (int j = first; j < last; j++) {
                int base = t * d * KT, col = j - first, row = kOff + j * d;
                for (int u = 0; u < d; u++) packed[base + TileKernels.panelIndex(d, u, col)] = k[row + u];
                norm2 = Math.max(norm2, norm2(k, row, d));
                if (v != null) {
                    int vBase = t * KT * dvPad, vRow = vOff + j * dv;
                    for (int u = 0; u < dv; u++) packedValues[vBase + TileKernels.panelIndex(KT, col, u)] = v[vRow + u];
                }
            }
            tileNorm2[t] = norm2;
            if (radius != null) bounds(t, first, last, mean, lo, hi, centre);
        }
    }

    /** The largest key norm, once every tile is built. */
    void seal() {
        double max = 0;
        for (double x : tileNorm2) max = Math.max(max, x);
        maxKeyNorm = Math.sqrt(max) * (1 + 1e-6);
    }

    /** Centre, radius and box of tile t (keys first..last−1), in one pass over the keys for mean and box. */
    private void bounds(int t, int first, int last, double[] mean, float[] lo, float[] hi, float[] centre) {
        java.util.Arrays.fill(mean, 0);
        java.util.Arrays.fill(lo, Float.POSITIVE_INFINITY);
        java.util.Arrays.fill(hi, Float.NEGATIVE_INFINITY);
        for (int j = first; j < last; j++) {
            int row = kOff + j * d;
            for (int u = 0; u < d; u++) {
                float x = k[row + u];
                mean[u] += x;
                lo[u] = Math.min(lo[u], x);
                hi[u] = Math.max(hi[u], x);
            }
        }
        double mid2 = 0, half2 = 0;
        for (int u = 0; u < d; u++) {
            centre[u] = (float) (mean[u] / (last - first));
            centresT[u * tiles + t] = centre[u];
            // the box: midpoint in fp32, half-width the largest distance to it, rounded up
            float mid = (float) (((double) lo[u] + hi[u]) / 2);
            float half = Math.nextUp((float) Math.max((double) hi[u] - mid, (double) mid - lo[u]));
            midT[u * tiles + t] = mid;
            halfT[u * tiles + t] = half;
            mid2 += (double) mid * mid;
            half2 += (double) half * half;
        }
        // the radius about the fp32 centre actually stored, in float64, then rounded up
        double r2 = 0;
        for (int j = first; j < last; j++) {
            double sum = 0;
            for (int u = 0; u < d; u++) {
                double e = (double) k[kOff + j * d + u] - centre[u];
                sum += e * e;
            }
            r2 = Math.max(r2, sum);
        }
        radius[t] = Math.sqrt(r2) * (1 + 1e-9);
        centreNorm[t] = Math.sqrt(norm2(centre, 0, d)) * (1 + 1e-9);
        boxNorm[t] = (Math.sqrt(mid2) + Math.sqrt(half2)) * (1 + 1e-9);
    }

    /** Bytes of the packed keys and values and of the bounds. */
    long memoryBytes() {
        long floats = packed.length + (packedValues != null ? packedValues.length : 0)
                + (centresT != null ? 3L * centresT.length : 0);
        long doubles = tileNorm2.length + (radius != null ? 3L * radius.length : 0);
        return floats * Float.BYTES + doubles * Double.BYTES;
    }

    /** Offset of tile t in {@link #packed}. */
    int tileOffset(int t) {
        return t * d * KT;
    }

    /** Offset of tile t in {@link #packedValues}. */
    int valueOffset(int t) {
        return t * KT * dvPad;
    }

    /** Keys in tile t (KT except for the last tile). */
    int tileKeys(int t) {
        return Math.min(KT, n - t * KT);
    }

    static double norm2(float[] x, int off, int len) {
        double s = 0;
        for (int u = 0; u < len; u++) s += (double) x[off + u] * x[off + u];
        return s;
    }
}
