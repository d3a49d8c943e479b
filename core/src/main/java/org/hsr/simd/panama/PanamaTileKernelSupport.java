package org.hsr.simd.panama;

import static org.hsr.simd.panama.PanamaVectorConstants.FLOAT_SPECIES;
import static org.hsr.simd.panama.PanamaVectorConstants.HAS_FAST_FMA;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.hsr.simd.ScalarTileKernelSupport;
import org.hsr.simd.TileKernelSupport;
import org.hsr.simd.TileKernels;

/**
 * Vector API tile kernels for prefill. Loaded by name from {@link TileKernels}. The matrix product is register
 * blocked, 6 rows of A times 2 vectors of a row of B (see {@code block6x2}); columns past the last whole block go
 * through a 6 × 1-vector block and a scalar tail.
 */
public final class PanamaTileKernelSupport implements TileKernelSupport {

    private static final VectorSpecies<Float> S = FLOAT_SPECIES;
    private static final int L = S.length();
    private static final ScalarTileKernelSupport SCALAR = new ScalarTileKernelSupport();

    public PanamaTileKernelSupport() {}

    @Override
    public String name() {
        return "panama-" + S.vectorBitSize() + (HAS_FAST_FMA ? "-fma" : "") + "-6x2";
    }

    private static FloatVector fma(FloatVector a, FloatVector b, FloatVector acc) {
        return HAS_FAST_FMA ? a.fma(b, acc) : a.mul(b).add(acc);
    }

    @Override
    public void gemm(float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float[] c, int cOff, int ldc,
                     int rows, int cols, int inner) {
        assert rows % TileKernels.ROW_BLOCK == 0 : rows;
        // the inner dimension in chunks whose panel of B (chunk × cols floats) fits in half of L1 next to the rows of
        // A being read: every row block sweeps all of B, which from L2 ran the score product at ~35 GFLOP/s
        int chunk = Math.max(16, Math.min(inner, B_PANEL_FLOATS / Math.max(1, cols)));
        for (int k0 = 0; k0 < inner; k0 += chunk) {
            int kc = Math.min(chunk, inner - k0);
            gemmPanel(a, aOff + k0, lda, b, bOff + k0 * ldb, ldb, c, cOff, ldc, rows, cols, kc);
        }
    }

    /** Floats of B per inner chunk: 16 KB, half of a 32 KB L1 data cache. */
    private static final int B_PANEL_FLOATS = 4096;

    private static void gemmPanel(float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float[] c, int cOff,
                                  int ldc, int rows, int cols, int inner) {
        for (int i = 0; i < rows; i += 6) {
            int a0 = aOff + i * lda, c0 = cOff + i * ldc;
            int j = 0;
            for (; j + 2 * L <= cols; j += 2 * L) block6x2(a, a0, lda, b, bOff + j, ldb, c, c0 + j, ldc, inner);
            for (; j + L <= cols; j += L) block6x1(a, a0, lda, b, bOff + j, ldb, c, c0 + j, ldc, inner);
            for (; j < cols; j++) {
                for (int r = 0; r < 6; r++) {
                    float acc = c[c0 + r * ldc + j];
                    for (int t = 0; t < inner; t++) acc += a[a0 + r * lda + t] * b[bOff + t * ldb + j];
                    c[c0 + r * ldc + j] = acc;
                }
            }
        }
    }

    /**
     * 6 rows × 2 vectors of C in 12 registers over the whole inner dimension: per step 2 loads of B, 6 broadcasts of
     * A and 12 independent {@code fma}s. With the two B vectors and a broadcast that is 15 of AVX2's 16 registers;
     * 4 × 3 (16 needed) spilled and ran at half the rate (bench/results/prefill-2026-12-01.md).
     */
    private static void block6x2(float[] a, int a0, int lda, float[] b, int b0, int ldb, float[] c, int c0, int ldc,
                                 int inner) {
        FloatVector c00 = FloatVector.fromArray(S, c, c0), c01 = FloatVector.fromArray(S, c, c0 + L);
        FloatVector c10 = FloatVector.fromArray(S, c, c0 + ldc), c11 = FloatVector.fromArray(S, c, c0 + ldc + L);
        FloatVector c20 = FloatVector.fromArray(S, c, c0 + 2 * ldc), c21 = FloatVector.fromArray(S, c, c0 + 2 * ldc + L);
        FloatVector c30 = FloatVector.fromArray(S, c, c0 + 3 * ldc), c31 = FloatVector.fromArray(S, c, c0 + 3 * ldc + L);
        FloatVector c40 = FloatVector.fromArray(S, c, c0 + 4 * ldc), c41 = FloatVector.fromArray(S, c, c0 + 4 * ldc + L);
        FloatVector c50 = FloatVector.fromArray(S, c, c0 + 5 * ldc), c51 = FloatVector.fromArray(S, c, c0 + 5 * ldc + L);
        for (int t = 0; t < inner; t++) {
            int bt = b0 + t * ldb, at = a0 + t;
            FloatVector b0v = FloatVector.fromArray(S, b, bt), b1v = FloatVector.fromArray(S, b, bt + L);
            FloatVector x = FloatVector.broadcast(S, a[at]);
            c00 = fma(x, b0v, c00);
            c01 = fma(x, b1v, c01);
            x = FloatVector.broadcast(S, a[at + lda]);
            c10 = fma(x, b0v, c10);
            c11 = fma(x, b1v, c11);
            x = FloatVector.broadcast(S, a[at + 2 * lda]);
            c20 = fma(x, b0v, c20);
            c21 = fma(x, b1v, c21);
            x = FloatVector.broadcast(S, a[at + 3 * lda]);
            c30 = fma(x, b0v, c30);
            c31 = fma(x, b1v, c31);
            x = FloatVector.broadcast(S, a[at + 4 * lda]);
            c40 = fma(x, b0v, c40);
            c41 = fma(x, b1v, c41);
            x = FloatVector.broadcast(S, a[at + 5 * lda]);
            c50 = fma(x, b0v, c50);
            c51 = fma(x, b1v, c51);
        }
        c00.intoArray(c, c0);
        c01.intoArray(c, c0 + L);
        c10.intoArray(c, c0 + ldc);
        c11.intoArray(c, c0 + ldc + L);
        c20.intoArray(c, c0 + 2 * ldc);
        c21.intoArray(c, c0 + 2 * ldc + L);
        c30.intoArray(c, c0 + 3 * ldc);
        c31.intoArray(c, c0 + 3 * ldc + L);
        c40.intoArray(c, c0 + 4 * ldc);
        c41.intoArray(c, c0 + 4 * ldc + L);
        c50.intoArray(c, c0 + 5 * ldc);
        c51.intoArray(c, c0 + 5 * ldc + L);
    }

    @Override
    public void gemmPacked(float[] a, int aOff, int lda, float[] b, int bOff, float[] c, int cOff, int ldc,
                           int rows, int cols, int inner, boolean accumulate) {
        assert rows % TileKernels.ROW_BLOCK == 0 && cols % (2 * L) == 0 : rows + " x " + cols;
        // column blocks outermost: a block's strip of B (inner × 2L floats, 8 KB at d = 128 and 256 bits) stays in L1
        // while every row block of A streams past it
        for (int j = 0; j < cols; j += 2 * L) {
            int b0 = bOff + TileKernels.panelIndex(inner, 0, j), b1 = bOff + TileKernels.panelIndex(inner, 0, j + L);
            for (int i = 0; i < rows; i += 6) {
                blockPacked(a, aOff + i * lda, lda, b, b0, b1, c, cOff + i * ldc + j, ldc, inner, accumulate);
            }
        }
    }

    /**
     * {@link #block6x2} over packed B: the two vectors of row t of the strip at {@code b0 + t·PANEL} and
     * {@code b1 + t·PANEL}, a constant stride, so the JIT hoists their range checks out of the loop (with the
     * strided B of {@code gemm} it cannot: the stride is not a constant); starting from zero unless
     * {@code accumulate}.
     */
    private static void blockPacked(float[] a, int a0, int lda, float[] b, int b0, int b1, float[] c, int c0, int ldc,
                                    int inner, boolean accumulate) {
        FloatVector c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (accumulate) {
            c00 = FloatVector.fromArray(S, c, c0);
            c01 = FloatVector.fromArray(S, c, c0 + L);
            c10 = FloatVector.fromArray(S, c, c0 + ldc);
            c11 = FloatVector.fromArray(S, c, c0 + ldc + L);
            c20 = FloatVector.fromArray(S, c, c0 + 2 * ldc);
            c21 = FloatVector.fromArray(S, c, c0 + 2 * ldc + L);
            c30 = FloatVector.fromArray(S, c, c0 + 3 * ldc);
            c31 = FloatVector.fromArray(S, c, c0 + 3 * ldc + L);
            c40 = FloatVector.fromArray(S, c, c0 + 4 * ldc);
            c41 = FloatVector.fromArray(S, c, c0 + 4 * ldc + L);
            c50 = FloatVector.fromArray(S, c, c0 + 5 * ldc);
            c51 = FloatVector.fromArray(S, c, c0 + 5 * ldc + L);
        } else {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = FloatVector.zero(S);
        }
        int a1 = a0 + lda, a2 = a0 + 2 * lda, a3 = a0 + 3 * lda, a4 = a0 + 4 * lda, a5 = a0 + 5 * lda;
        final int p = TileKernels.PANEL;
        for (int t = 0; t < inner; t++) {
            FloatVector b0v = FloatVector.fromArray(S, b, b0 + t * p), b1v = FloatVector.fromArray(S, b, b1 + t * p);
            FloatVector x = FloatVector.broadcast(S, a[a0 + t]);
            c00 = fma(x, b0v, c00);
            c01 = fma(x, b1v, c01);
            x = FloatVector.broadcast(S, a[a1 + t]);
            c10 = fma(x, b0v, c10);
            c11 = fma(x, b1v, c11);
            x = FloatVector.broadcast(S, a[a2 + t]);
            c20 = fma(x, b0v, c20);
            c21 = fma(x, b1v, c21);
            x = FloatVector.broadcast(S, a[a3 + t]);
            c30 = fma(x, b0v, c30);
            c31 = fma(x, b1v, c31);
            x = FloatVector.broadcast(S, a[a4 + t]);
            c40 = fma(x, b0v, c40);
            c41 = fma(x, b1v, c41);
            x = FloatVector.broadcast(S, a[a5 + t]);
            c50 = fma(x, b0v, c50);
            c51 = fma(x, b1v, c51);
        }
        c00.intoArray(c, c0);
        c01.intoArray(c, c0 + L);
        c10.intoArray(c, c0 + ldc);
        c11.intoArray(c, c0 + ldc + L);
        c20.intoArray(c, c0 + 2 * ldc);
        c21.intoArray(c, c0 + 2 * ldc + L);
        c30.intoArray(c, c0 + 3 * ldc);
        c31.intoArray(c, c0 + 3 * ldc + L);
        c40.intoArray(c, c0 + 4 * ldc);
        c41.intoArray(c, c0 + 4 * ldc + L);
        c50.intoArray(c, c0 + 5 * ldc);
        c51.intoArray(c, c0 + 5 * ldc + L);
    }

    /** 6 rows × 1 vector of C (the column tail). */
    private static void block6x1(float[] a, int a0, int lda, float[] b, int b0, int ldb, float[] c, int c0, int ldc,
                                 int inner) {
        FloatVector c0v = FloatVector.fromArray(S, c, c0), c1v = FloatVector.fromArray(S, c, c0 + ldc),
                c2v = FloatVector.fromArray(S, c, c0 + 2 * ldc), c3v = FloatVector.fromArray(S, c, c0 + 3 * ldc),
                c4v = FloatVector.fromArray(S, c, c0 + 4 * ldc), c5v = FloatVector.fromArray(S, c, c0 + 5 * ldc);
        for (int t = 0; t < inner; t++) {
            FloatVector bv = FloatVector.fromArray(S, b, b0 + t * ldb);
            int at = a0 + t;
            c0v = fma(FloatVector.broadcast(S, a[at]), bv, c0v);
            c1v = fma(FloatVector.broadcast(S, a[at + lda]), bv, c1v);
            c2v = fma(FloatVector.broadcast(S, a[at + 2 * lda]), bv, c2v);
            c3v = fma(FloatVector.broadcast(S, a[at + 3 * lda]), bv, c3v);
            c4v = fma(FloatVector.broadcast(S, a[at + 4 * lda]), bv, c4v);
            c5v = fma(FloatVector.broadcast(S, a[at + 5 * lda]), bv, c5v);
        }
        c0v.intoArray(c, c0);
        c1v.intoArray(c, c0 + ldc);
        c2v.intoArray(c, c0 + 2 * ldc);
        c3v.intoArray(c, c0 + 3 * ldc);
        c4v.intoArray(c, c0 + 4 * ldc);
        c5v.intoArray(c, c0 + 5 * ldc);
    }

    @Override
    public long reluPow(float[] s, int off, int ld, int rows, int cols, float bias, int alpha, double[] rowSums) {
        if (cols < 2 * L) return SCALAR.reluPow(s, off, ld, rows, cols, bias, alpha, rowSums);
        long kept = 0;
        FloatVector zero = FloatVector.zero(S), b = FloatVector.broadcast(S, bias);
        int bound = S.loopBound(cols);
        for (int r = 0; r < rows; r++) {
            int row = off + r * ld;
            FloatVector acc = zero;
            int j = 0;
            for (; j < bound; j += L) {
                FloatVector x = FloatVector.fromArray(S, s, row + j).sub(b).max(zero);
                FloatVector w = x;
                for (int p = 1; p < alpha; p++) w = w.mul(x);
                w.intoArray(s, row + j);
                acc = acc.add(w);
                kept += w.compare(VectorOperators.NE, 0f).trueCount();
            }
            float sum = acc.reduceLanes(VectorOperators.ADD);
            for (; j < cols; j++) {
                float w = pow(Math.max(s[row + j] - bias, 0f), alpha);
                s[row + j] = w;
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
        if (cols < 2 * L) {
            SCALAR.expOnline(s, off, ld, rows, cols, rowMax, rowSums, rescale);
            return;
        }
        int bound = S.loopBound(cols);
        for (int r = 0; r < rows; r++) {
            int row = off + r * ld;
            FloatVector mv = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
            int j = 0;
            for (; j < bound; j += L) mv = mv.max(FloatVector.fromArray(S, s, row + j));
            float tileMax = mv.reduceLanes(VectorOperators.MAX);
            for (; j < cols; j++) tileMax = Math.max(tileMax, s[row + j]);
            float newMax = Math.max(rowMax[r], tileMax);
            if (newMax == Float.NEGATIVE_INFINITY) {
                java.util.Arrays.fill(s, row, row + cols, 0f);
                rescale[r] = 1f;
                continue;
            }
            FloatVector shift = FloatVector.broadcast(S, newMax), acc = FloatVector.zero(S);
            for (j = 0; j < bound; j += L) {
                FloatVector e = FloatVector.fromArray(S, s, row + j).sub(shift).lanewise(VectorOperators.EXP);
                e.intoArray(s, row + j);
                acc = acc.add(e);
            }
            float sum = acc.reduceLanes(VectorOperators.ADD);
            for (; j < cols; j++) {
                float e = (float) Math.exp(s[row + j] - newMax);
                s[row + j] = e;
                sum += e;
            }
            float f = newMax == rowMax[r] ? 1f : (float) Math.exp(rowMax[r] - newMax); // most tiles leave the max
            rowSums[r] = rowSums[r] * f + sum;
            rescale[r] = f;
            rowMax[r] = newMax;
        }
    }

    @Override
    public void scaleRows(float[] x, int off, int ld, int rows, int cols, float[] factors) {
        if (cols < 2 * L) {
            SCALAR.scaleRows(x, off, ld, rows, cols, factors);
            return;
        }
        int bound = S.loopBound(cols);
        for (int r = 0; r < rows; r++) {
            float f = factors[r];
            if (f == 1f) continue;
            int row = off + r * ld, j = 0;
            for (; j < bound; j += L) FloatVector.fromArray(S, x, row + j).mul(f).intoArray(x, row + j);
            for (; j < cols; j++) x[row + j] *= f;
        }
    }

    @Override
    public long maskAbove(float[] s, int off, int ld, int rows, int cols, float[] thresholds, long[] masks) {
        if (cols < 2 * L) return SCALAR.maskAbove(s, off, ld, rows, cols, thresholds, masks);
        int bound = S.loopBound(cols);
        long any = 0;
        for (int r = 0; r < rows; r++) {
            int row = off + r * ld;
            float t = thresholds[r];
            long m = 0;
            int j = 0;
            for (; j < bound; j += L) {
                VectorMask<Float> pass = FloatVector.fromArray(S, s, row + j).compare(VectorOperators.GT, t);
                m |= pass.toLong() << j;
            }
            for (; j < cols; j++) {
                if (s[row + j] > t) m |= 1L << j;
            }
            masks[r] = m;
            any |= m;
        }
        return any;
    }

    @Override
    public long dropBelow(float[] p, int off, int ld, int rows, int cols, float[] thresholds, long[] masks,
                          double[] keptSums, double[] droppedSums) {
        if (cols < 2 * L) return SCALAR.dropBelow(p, off, ld, rows, cols, thresholds, masks, keptSums, droppedSums);
        int bound = S.loopBound(cols);
        FloatVector zero = FloatVector.zero(S);
        long any = 0;
        for (int r = 0; r < rows; r++) {
            int row = off + r * ld;
            float t = thresholds[r];
            FloatVector kept = zero, dropped = zero;
            long m = 0;
            int j = 0;
            for (; j < bound; j += L) {
                FloatVector x = FloatVector.fromArray(S, p, row + j);
                VectorMask<Float> pass = x.compare(VectorOperators.GT, t);
                FloatVector k = zero.blend(x, pass);
                k.intoArray(p, row + j);
                kept = kept.add(k);
                dropped = dropped.add(x.sub(k)); // x or 0, exactly: a sum of its own, never all − kept (cancellation)
                m |= pass.toLong() << j;
            }
            float keptSum = kept.reduceLanes(VectorOperators.ADD);
            float droppedSum = dropped.reduceLanes(VectorOperators.ADD);
            for (; j < cols; j++) {
                if (p[row + j] > t) {
                    m |= 1L << j;
                    keptSum += p[row + j];
                } else {
                    droppedSum += p[row + j];
                    p[row + j] = 0f;
                }
            }
            masks[r] = m;
            keptSums[r] += keptSum;
            droppedSums[r] += droppedSum;
            any |= m;
        }
        return any;
    }

    /** Kept keys of a row up to which {@link #sparseWeightedSum} adds each key's value row to the output in place. */
    private static final int FEW_KEYS = 4;

    @Override
    public void sparseWeightedSum(float[] s, int off, int ld, int rows, long[] masks, float bias, int alpha,
                                  float[] v, int vOff, int dv, float[] out, int outOff, int ldo, double[] rowSums) {
        if (dv < 2 * L) {
            SCALAR.sparseWeightedSum(s, off, ld, rows, masks, bias, alpha, v, vOff, dv, out, outOff, ldo, rowSums);
            return;
        }
        int bound = S.loopBound(dv);
        touchValueRows(masks, rows, v, vOff, dv);
        int[] at = new int[64];     // the row's kept keys: value row offsets
        float[] w = new float[64];  // and weights
        for (int r = 0; r < rows; r++) {
            long mask = masks[r];
            if (mask == 0) continue;
            int kept = 0;
            float sum = 0f;
            for (long m = mask; m != 0; m &= m - 1) {
                int j = Long.numberOfTrailingZeros(m);
                float x = s[off + r * ld + j];
                float wj = alpha > 0 ? pow(x - bias, alpha) : x;
                at[kept] = vOff + j * dv;
                w[kept++] = wj;
                sum += wj;
            }
            int oRow = outOff + r * ldo;
            if (kept <= FEW_KEYS) {
                // a few keys (ReLU at the paper's bias keeps about 2 per row and tile): each value row added to the
                // output row in place, one fixed-length loop per key instead of one mask walk per column chunk
                for (int k = 0; k < kept; k++) {
                    FloatVector wv = FloatVector.broadcast(S, w[k]);
                    int vRow = at[k], t = 0;
                    for (; t < bound; t += L) {
                        fma(wv, FloatVector.fromArray(S, v, vRow + t), FloatVector.fromArray(S, out, oRow + t))
                                .intoArray(out, oRow + t);
                    }
                    for (; t < dv; t++) out[oRow + t] += w[k] * v[vRow + t];
                }
            } else {
                // many keys: the output row in chunks of two vectors, each accumulated over the kept keys in registers
                int t = 0;
                for (; t + 2 * L <= bound; t += 2 * L) {
                    FloatVector o0 = FloatVector.fromArray(S, out, oRow + t), o1 = FloatVector.fromArray(S, out, oRow + t + L);
                    for (int k = 0; k < kept; k++) {
                        FloatVector wv = FloatVector.broadcast(S, w[k]);
                        o0 = fma(wv, FloatVector.fromArray(S, v, at[k] + t), o0);
                        o1 = fma(wv, FloatVector.fromArray(S, v, at[k] + t + L), o1);
                    }
                    o0.intoArray(out, oRow + t);
                    o1.intoArray(out, oRow + t + L);
                }
                for (; t < bound; t += L) {
                    FloatVector o0 = FloatVector.fromArray(S, out, oRow + t);
                    for (int k = 0; k < kept; k++) o0 = fma(FloatVector.broadcast(S, w[k]), FloatVector.fromArray(S, v, at[k] + t), o0);
                    o0.intoArray(out, oRow + t);
                }
                for (; t < dv; t++) {
                    float acc = out[oRow + t];
                    for (int k = 0; k < kept; k++) acc += w[k] * v[at[k] + t];
                    out[oRow + t] = acc;
                }
            }
            rowSums[r] += sum;
        }
    }

    /** Consumes {@link #touchValueRows}'s loads, so that the JIT keeps them. */
    @SuppressWarnings("unused")
    private static float touched;

    /**
     * Reads one float per cache line of every value row any row keeps, in key order, before the rows are summed: the
     * rows are then read from L1/L2. Without it the row-by-row sum waits on each value row's first miss (the rows of a
     * key tile come from L3 or memory, in no order a prefetcher follows); that was ~30% of a ReLU prefill's time.
     */
    private static void touchValueRows(long[] masks, int rows, float[] v, int vOff, int dv) {
        long any = 0;
        for (int r = 0; r < rows; r++) any |= masks[r];
        float acc = 0f;
        for (long m = any; m != 0; m &= m - 1) {
            int row = vOff + Long.numberOfTrailingZeros(m) * dv;
            for (int t = 0; t < dv; t += 16) acc += v[row + t];
        }
        touched = acc;
    }

    private static float pow(float x, int alpha) {
        float w = x;
        for (int p = 1; p < alpha; p++) w *= x;
        return w;
    }
}
