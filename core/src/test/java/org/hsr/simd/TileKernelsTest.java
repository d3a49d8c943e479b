package org.hsr.simd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.hsr.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The tile kernels: the scalar ones against float64 loops, the Vector API ones against the scalar ones, at awkward
 * sizes (columns below, at and past whole register blocks; inner dimensions 1, odd and head-sized).
 */
class TileKernelsTest {

    static final TileKernelSupport SCALAR = TileKernels.scalar();

    /** The Vector API implementation, or in the scalar run the scalar one. */
    static TileKernelSupport vector() {
        return TileKernels.panama().orElse(SCALAR);
    }

    @Test
    void chosenImplementationMatchesTheRun() {
        if (TestData.expectSimd()) {
            assertTrue(TileKernels.panama().isPresent(), "SIMD run but the tile kernels did not load");
            assertTrue(TileKernels.impl().name().startsWith("panama"), TileKernels.impl().name());
        } else {
            assertEquals("scalar", TileKernels.impl().name());
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 3, 7, 8, 9, 16, 17, 23, 24, 25, 47, 48, 49, 64, 65, 130})
    void gemmMatchesFloat64(int cols) {
        for (int inner : new int[] {1, 5, 37, 128}) {
            for (int rows : new int[] {6, 12, 72}) {
                SplittableRandom r = new SplittableRandom(cols * 1000L + inner * 10L + rows);
                int lda = inner + 3, ldb = cols + 5, ldc = cols + 2, off = 7;
                float[] a = TestData.gaussian(r, off + rows * lda), b = TestData.gaussian(r, off + inner * ldb);
                float[] c0 = TestData.gaussian(r, off + rows * ldc);
                float[] cs = c0.clone(), cv = c0.clone();
                SCALAR.gemm(a, off, lda, b, off, ldb, cs, off, ldc, rows, cols, inner);
                vector().gemm(a, off, lda, b, off, ldb, cv, off, ldc, rows, cols, inner);
                for (int i = 0; i < rows; i++) {
                    for (int j = 0; j < cols; j++) {
                        double exact = c0[off + i * ldc + j], abs = Math.abs(exact);
                        for (int t = 0; t < inner; t++) {
                            double p = (double) a[off + i * lda + t] * b[off + t * ldb + j];
                            exact += p;
                            abs += Math.abs(p);
                        }
                        double tol = 1e-6 * (inner + 2) * abs + 1e-30;
                        int at = off + i * ldc + j;
                        assertTrue(Math.abs(cs[at] - exact) <= tol, "scalar " + rows + "x" + cols + "x" + inner);
                        assertTrue(Math.abs(cv[at] - cs[at]) <= 2 * tol, "vector " + rows + "x" + cols + "x" + inner);
                    }
                }
                // entries outside the matrix (the gaps of the leading dimension) are untouched
                for (int i = 0; i < rows; i++) {
                    for (int j = cols; j < ldc && off + i * ldc + j < c0.length; j++) {
                        assertEquals(c0[off + i * ldc + j], cv[off + i * ldc + j]);
                    }
                }
            }
        }
    }

    /** Packed B ({@code gemmPacked}) against the plain product on the same matrix, overwriting and accumulating. */
    @ParameterizedTest
    @ValueSource(ints = {32, 64, 96, 160})
    void gemmPackedMatchesGemm(int cols) {
        for (int inner : new int[] {1, 5, 37, 64, 128}) {
            for (int rows : new int[] {6, 12, 72}) {
                for (boolean accumulate : new boolean[] {false, true}) {
                    SplittableRandom r = new SplittableRandom(cols * 1000L + inner * 10L + rows + (accumulate ? 7 : 0));
                    int lda = inner + 3, ldc = cols + 2, off = 5;
                    float[] a = TestData.gaussian(r, off + rows * lda), b = TestData.gaussian(r, inner * cols);
                    float[] packed = new float[off + inner * cols + 3];
                    for (int t = 0; t < inner; t++) {
                        for (int j = 0; j < cols; j++) packed[off + TileKernels.panelIndex(inner, t, j)] = b[t * cols + j];
                    }
                    float[] c0 = TestData.gaussian(r, off + rows * ldc), ref = c0.clone();
                    if (!accumulate) {
                        for (int i = 0; i < rows; i++) java.util.Arrays.fill(ref, off + i * ldc, off + i * ldc + cols, 0f);
                    }
                    SCALAR.gemm(a, off, lda, b, 0, cols, ref, off, ldc, rows, cols, inner);
                    float[] cs = c0.clone(), cv = c0.clone();
                    SCALAR.gemmPacked(a, off, lda, packed, off, cs, off, ldc, rows, cols, inner, accumulate);
                    TileKernels.gemmPacked(a, off, lda, packed, off, cv, off, ldc, rows, cols, inner, accumulate);
                    String what = rows + "x" + cols + "x" + inner + (accumulate ? " +=" : " =");
                    for (int i = 0; i < rows; i++) {
                        for (int j = 0; j < ldc && off + i * ldc + j < c0.length; j++) {
                            int at = off + i * ldc + j;
                            if (j >= cols) {
                                assertEquals(c0[at], cv[at], "gap untouched " + what);
                                continue;
                            }
                            double abs = Math.abs(accumulate ? c0[at] : 0);
                            for (int t = 0; t < inner; t++) abs += Math.abs((double) a[off + i * lda + t] * b[t * cols + j]);
                            double tol = 1e-6 * (inner + 2) * abs + 1e-30;
                            assertEquals(ref[at], cs[at], tol, "scalar " + what);
                            assertEquals(ref[at], cv[at], 2 * tol, "vector " + what);
                        }
                    }
                }
            }
        }
        assertThrows(IllegalArgumentException.class, () -> TileKernels.gemmPacked(new float[64], 0, 1, new float[64], 0,
                new float[64], 0, 16, 6, 16, 1, false), "cols not a multiple of the column block");
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 7, 8, 15, 16, 17, 33, 63, 64})
    void elementwiseTileKernelsMatchScalar(int cols) {
        SplittableRandom r = new SplittableRandom(cols);
        int rows = 8, ld = cols + 3, off = 5;
        float[] s = TestData.gaussian(r, off + rows * ld);
        s[off + ld + cols - 1] = Float.NEGATIVE_INFINITY; // a masked entry
        for (int j = 0; j < cols; j++) s[off + 2 * ld + j] = Float.NEGATIVE_INFINITY; // a fully masked row
        for (int alpha = 1; alpha <= 3; alpha++) {
            float[] s1 = s.clone(), s2 = s.clone();
            double[] sum1 = new double[rows], sum2 = new double[rows];
            long k1 = SCALAR.reluPow(s1, off, ld, rows, cols, 0.3f, alpha, sum1);
            long k2 = vector().reluPow(s2, off, ld, rows, cols, 0.3f, alpha, sum2);
            assertEquals(k1, k2, "kept count");
            long expectKept = 0;
            for (int i = 0; i < rows; i++) {
                double e = 0;
                for (int j = 0; j < cols; j++) {
                    double w = Math.pow(Math.max(s[off + i * ld + j] - 0.3f, 0), alpha);
                    e += w;
                    if (w > 0) expectKept++;
                    assertEquals(w, s2[off + i * ld + j], 1e-6 * Math.max(1, w));
                }
                assertEquals(e, sum2[i], 1e-5 * Math.max(1, e));
                assertEquals(sum1[i], sum2[i], 1e-5 * Math.max(1, e));
            }
            assertEquals(expectKept, k2);
        }
        // online softmax over two tiles: the running max, sums and rescale factors
        float[] max1 = new float[rows], max2 = new float[rows], f1 = new float[rows], f2 = new float[rows];
        java.util.Arrays.fill(max1, Float.NEGATIVE_INFINITY);
        max1[0] = 3f; // a row that had a larger max before
        System.arraycopy(max1, 0, max2, 0, rows);
        double[] z1 = new double[rows], z2 = new double[rows];
        z1[0] = z2[0] = 1.5;
        float[] e1 = s.clone(), e2 = s.clone();
        SCALAR.expOnline(e1, off, ld, rows, cols, max1, z1, f1);
        vector().expOnline(e2, off, ld, rows, cols, max2, z2, f2);
        for (int i = 0; i < rows; i++) {
            assertEquals(max1[i], max2[i], "row max " + i);
            assertEquals(f1[i], f2[i], 1e-6f);
            assertEquals(z1[i], z2[i], 1e-5 * Math.max(1, z1[i]));
            for (int j = 0; j < cols; j++) {
                double want = s[off + i * ld + j] == Float.NEGATIVE_INFINITY ? 0
                        : Math.exp(s[off + i * ld + j] - max1[i]);
                assertEquals(want, e2[off + i * ld + j], 2e-6 * Math.max(1e-30, want) + 1e-37, "exp " + i + "," + j);
            }
        }
        assertEquals(1f, f2[2], "a fully masked row keeps its accumulator");
        assertEquals(0.0, z2[2]);
        // masks and sparse weighted sums
        float[] thr = new float[rows];
        for (int i = 0; i < rows; i++) thr[i] = 0.2f * i - 0.5f;
        long[] m1 = new long[rows], m2 = new long[rows];
        assertEquals(SCALAR.maskAbove(s, off, ld, rows, cols, thr, m1), vector().maskAbove(s, off, ld, rows, cols, thr, m2));
        assertArrayEquals(m1, m2);
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) assertEquals(s[off + i * ld + j] > thr[i], (m2[i] >>> j & 1) == 1);
        }
        // kept and dropped weights: masks exact, dropped entries zeroed, both sums (weights of very different sizes,
        // so a dropped sum taken as all − kept would lose it)
        float[] w = e2.clone();
        for (int j = 0; j < cols; j += 3) w[off + 4 * ld + j] = 1e-9f * (j + 1);
        float[] thrW = new float[rows];
        for (int i = 0; i < rows; i++) thrW[i] = i == 5 ? Float.POSITIVE_INFINITY : 0.01f * i;
        float[] w1 = w.clone(), w2 = w.clone();
        long[] dm1 = new long[rows], dm2 = new long[rows];
        double[] kept1 = new double[rows], kept2 = new double[rows], drop1 = new double[rows], drop2 = new double[rows];
        assertEquals(SCALAR.dropBelow(w1, off, ld, rows, cols, thrW, dm1, kept1, drop1),
                vector().dropBelow(w2, off, ld, rows, cols, thrW, dm2, kept2, drop2));
        assertArrayEquals(dm1, dm2);
        assertArrayEquals(w1, w2);
        for (int i = 0; i < rows; i++) {
            double k = 0, dr = 0;
            for (int j = 0; j < cols; j++) {
                float x = w[off + i * ld + j];
                boolean keep = x > thrW[i];
                assertEquals(keep, (dm2[i] >>> j & 1) == 1);
                assertEquals(keep ? x : 0f, w2[off + i * ld + j]);
                if (keep) k += x;
                else dr += x;
            }
            assertEquals(k, kept2[i], 1e-6 * k + 1e-30, "kept " + i);
            assertEquals(dr, drop2[i], 1e-6 * dr + 1e-30, "dropped " + i);
            assertEquals(dr, drop1[i], 1e-6 * dr + 1e-30, "dropped (scalar) " + i);
        }
        float[] fac = new float[rows];
        for (int i = 0; i < rows; i++) fac[i] = i == 3 ? 1f : 0.5f + i;
        float[] x1 = s.clone(), x2 = s.clone();
        SCALAR.scaleRows(x1, off, ld, rows, cols, fac);
        vector().scaleRows(x2, off, ld, rows, cols, fac);
        assertArrayEquals(x1, x2);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 5, 8, 16, 17, 31, 32, 33, 64, 128, 130})
    void sparseWeightedSumMatchesFloat64(int dv) {
        SplittableRandom r = new SplittableRandom(dv);
        int rows = 8, cols = 61, ld = 64, off = 2;
        float[] s = TestData.gaussian(r, off + rows * ld), v = TestData.gaussian(r, 3 + cols * dv);
        long[] masks = new long[rows];
        for (int i = 0; i < rows; i++) masks[i] = i == 1 ? 0 : r.nextLong() & ((1L << cols) - 1);
        // rows with 1, 3, 4 and 5 kept keys: both sides of the kernel's few-keys form (the last key of the tile in one)
        masks[2] = 1L << (cols - 1);
        masks[3] = 0b1010_0001L << 20;
        masks[4] = 0b1111L;
        masks[5] = 0b11111L << 7;
        for (int alpha : new int[] {0, 1, 2}) {
            float bias = alpha == 0 ? 0f : -4f; // ReLU weights from raw scores s − b (all positive here)
            float[] o0 = TestData.gaussian(r, rows * (dv + 1));
            float[] o1 = o0.clone(), o2 = o0.clone();
            double[] z1 = new double[rows], z2 = new double[rows];
            SCALAR.sparseWeightedSum(s, off, ld, rows, masks, bias, alpha, v, 3, dv, o1, 0, dv + 1, z1);
            vector().sparseWeightedSum(s, off, ld, rows, masks, bias, alpha, v, 3, dv, o2, 0, dv + 1, z2);
            for (int i = 0; i < rows; i++) {
                double z = 0;
                double[] want = new double[dv];
                double scaleAbs = 0;
                for (int j = 0; j < cols; j++) {
                    if ((masks[i] >>> j & 1) == 0) continue;
                    double x = s[off + i * ld + j], w = alpha == 0 ? x : Math.pow(x - bias, alpha);
                    z += w;
                    for (int t = 0; t < dv; t++) want[t] += w * v[3 + j * dv + t];
                    scaleAbs += Math.abs(w);
                }
                assertEquals(z, z2[i], 1e-5 * (1 + scaleAbs));
                for (int t = 0; t < dv; t++) {
                    double e = o0[i * (dv + 1) + t] + want[t], tol = 1e-5 * (1 + scaleAbs * 4);
                    assertEquals(e, o1[i * (dv + 1) + t], tol, "scalar");
                    assertEquals(e, o2[i * (dv + 1) + t], tol, "vector");
                }
                assertEquals(o0[i * (dv + 1) + dv], o2[i * (dv + 1) + dv], "the gap after each row is untouched");
            }
        }
    }

    @Test
    void facadeRejectsBadShapes() {
        float[] x = new float[64];
        var e = assertThrows(IllegalArgumentException.class,
                () -> TileKernels.gemm(x, 0, 4, x, 0, 4, x, 0, 4, 3, 4, 4));
        assertTrue(e.getMessage().contains("rows 3"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> TileKernels.maskAbove(x, 0, 65, 1, 65, new float[1], new long[1]));
        assertThrows(IndexOutOfBoundsException.class, () -> TileKernels.gemm(x, 0, 12, x, 0, 12, x, 0, 12, 6, 8, 8));
    }
}
