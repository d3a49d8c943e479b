package org.hsr.simd;

/**
 * The scalar tile kernels: the readable reference of every tile kernel, and the fallback when the Vector API is
 * absent or disabled. Accumulation order inside the matrix product is the plain inner loop (one sum per entry).
 */
public final class ScalarTileKernelSupport implements TileKernelSupport {

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public void gemm(float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float[] c, int cOff, int ldc,
                     int rows, int cols, int inner) {
        assert rows % TileKernels.ROW_BLOCK == 0 : rows;
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                float acc = c[cOff + i * ldc + j];
                for (int t = 0; t < inner; t++) acc += a[aOff + i * lda + t] * b[bOff + t * ldb + j];
                c[cOff + i * ldc + j] = acc;
            }
        }
    }

    @Override
    public void gemmPacked(float[] a, int aOff, int lda, float[] b, int bOff, float[] c, int cOff, int ldc,
                           int rows, int cols, int inner, boolean accumulate) {
        assert rows % TileKernels.ROW_BLOCK == 0 && cols % TileKernels.COL_BLOCK == 0 : rows + " x " + cols;
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                float acc = accumulate ? c[cOff + i * ldc + j] : 0f;
                for (int t = 0; t < inner; t++) acc += a[aOff + i * lda + t] * b[bOff + TileKernels.panelIndex(inner, t, j)];
                c[cOff + i * ldc + j] = acc;
            }
        }
    }

    @Override
    public long reluPow(float[] s, int off, int ld, int rows, int cols, float bias, int alpha, double[] rowSums) {
        long kept = 0;
        for (int r = 0; r < rows; r++) {
            float sum = 0f;
            for (int j = 0; j < cols; j++) {
                int at = off + r * ld + j;
                float w = pow(Math.max(s[at] - bias, 0f), alpha);
                s[at] = w;
                sum += w;
                if (w != 0f) kept++;
            }
            rowSums[r] += sum;
        }
        return kept;
    }

    @Override
    public void expOnline(float[] s, int off, int ld, int rows, int cols, float[] rowMax, double[] rowSums,
                          float[] rescale) {
        for (int r = 0; r < rows; r++) {
            int row = off + r * ld;
            float tileMax = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < cols; j++) tileMax = Math.max(tileMax, s[row + j]);
            float newMax = Math.max(rowMax[r], tileMax);
            if (newMax == Float.NEGATIVE_INFINITY) { // nothing visible in this row yet
                java.util.Arrays.fill(s, row, row + cols, 0f);
                rescale[r] = 1f;
                continue;
            }
            float f = newMax == rowMax[r] ? 1f : (float) Math.exp(rowMax[r] - newMax); // most tiles leave the max
            float sum = 0f;
            for (int j = 0; j < cols; j++) {
                float e = (float) Math.exp(s[row + j] - newMax);
                s[row + j] = e;
                sum += e;
            }
            rowSums[r] = rowSums[r] * f + sum;
            rescale[r] = f;
            rowMax[r] = newMax;
        }
    }

    @Override
    public void scaleRows(float[] x, int off, int ld, int rows, int cols, float[] factors) {
        for (int r = 0; r < rows; r++) {
            float f = factors[r];
            if (f == 1f) continue;
            for (int j = 0; j < cols; j++) x[off + r * ld + j] *= f;
        }
    }

    @Override
    public long maskAbove(float[] s, int off, int ld, int rows, int cols, float[] thresholds, long[] masks) {
        long any = 0;
        for (int r = 0; r < rows; r++) {
            long m = 0;
            float t = thresholds[r];
            for (int j = 0; j < cols; j++) {
                if (s[off + r * ld + j] > t) m |= 1L << j;
            }
            masks[r] = m;
            any |= m;
        }
        return any;
    }

    @Override
    public long dropBelow(float[] p, int off, int ld, int rows, int cols, float[] thresholds, long[] masks,
                          double[] keptSums, double[] droppedSums) {
        long any = 0;
        for (int r = 0; r < rows; r++) {
            long m = 0;
            float t = thresholds[r], kept = 0f, dropped = 0f;
            for (int j = 0; j < cols; j++) {
                int at = off + r * ld + j;
                if (p[at] > t) {
                    m |= 1L << j;
                    kept += p[at];
                } else {
                    dropped += p[at];
                    p[at] = 0f;
                }
            }
            masks[r] = m;
            keptSums[r] += kept;
            droppedSums[r] += dropped;
            any |= m;
        }
        return any;
    }

    @Override
    public void sparseWeightedSum(float[] s, int off, int ld, int rows, long[] masks, float bias, int alpha,
                                  float[] v, int vOff, int dv, float[] out, int outOff, int ldo, double[] rowSums) {
        for (int r = 0; r < rows; r++) {
            float sum = 0f;
            for (long m = masks[r]; m != 0; m &= m - 1) {
                int j = Long.numberOfTrailingZeros(m);
                float x = s[off + r * ld + j];
                float w = alpha > 0 ? pow(x - bias, alpha) : x;
                sum += w;
                int vRow = vOff + j * dv, oRow = outOff + r * ldo;
                for (int t = 0; t < dv; t++) out[oRow + t] += w * v[vRow + t];
            }
            rowSums[r] += sum;
        }
    }

    /** {@code x^alpha} for a small integer alpha >= 1, by repeated multiplication (as the dense kernels do). */
    static float pow(float x, int alpha) {
        float w = x;
        for (int p = 1; p < alpha; p++) w *= x;
        return w;
    }
}
