package org.hsr.simd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.hsr.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The Vector API kernels against the scalar ones at awkward sizes (tails, below and above the vector width). */
class KernelsTest {

    static final int[] SIZES = {1, 2, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 127, 128, 129, 1021};

    @Test
    void chosenImplementationMatchesTheRun() {
        if (TestData.expectSimd()) {
            assertTrue(KernelProvider.panama().isPresent(),
                    "SIMD run but the Vector API kernels did not load: " + KernelProvider.fallbackReason());
            assertTrue(Kernels.impl().name().startsWith("panama"), Kernels.impl().name());
        } else {
            assertEquals("scalar", Kernels.impl().name());
            // the scalar surefire run starts the JVM without the incubator module: the fallback must say so
            assertTrue(KernelProvider.fallbackReason().orElse("").contains("--add-modules jdk.incubator.vector"),
                    KernelProvider.fallbackReason().toString());
        }
    }

    /** The Vector API implementation, or in the scalar run the scalar one (then the comparisons are trivially tight). */
    static KernelSupport vector() {
        return KernelProvider.panama().orElse(KernelProvider.scalar());
    }

    static final KernelSupport SCALAR = KernelProvider.scalar();

    private static void close(double expected, double actual, double tol, String what) {
        assertTrue(Math.abs(expected - actual) <= tol, what + ": expected " + expected + " got " + actual + " tol " + tol);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 127, 128, 129, 1021})
    void dotSumMaxScale(int n) {
        SplittableRandom r = new SplittableRandom(n);
        int off = 3;
        float[] a = TestData.gaussian(r, n + off), b = TestData.gaussian(r, n + off);
        double absDot = 0, absSum = 0;
        for (int i = 0; i < n; i++) {
            absDot += Math.abs(a[off + i] * b[off + i]);
            absSum += Math.abs(a[off + i]);
        }
        double tol = 1e-6 * n;
        close(SCALAR.dot(a, off, b, off, n), vector().dot(a, off, b, off, n), tol * absDot + 1e-30, "dot n=" + n);
        close(SCALAR.sum(a, off, n), vector().sum(a, off, n), tol * absSum + 1e-30, "sum n=" + n);
        assertEquals(SCALAR.max(a, off, n), vector().max(a, off, n), "max n=" + n);
        float[] s1 = a.clone(), s2 = a.clone();
        SCALAR.scale(s1, off, n, 0.37f);
        vector().scale(s2, off, n, 0.37f);
        for (int i = 0; i < s1.length; i++) assertEquals(s1[i], s2[i], "scale n=" + n + " i=" + i);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 127, 128, 129, 1021})
    void axpyExpRelu(int n) {
        SplittableRandom r = new SplittableRandom(100 + n);
        float[] x = TestData.gaussian(r, n + 1), y = TestData.gaussian(r, n + 2);
        float[] y1 = y.clone(), y2 = y.clone();
        SCALAR.axpy(-1.7f, x, 1, y1, 2, n);
        vector().axpy(-1.7f, x, 1, y2, 2, n);
        for (int i = 0; i < y1.length; i++) close(y1[i], y2[i], 1e-6 * (Math.abs(y1[i]) + 1), "axpy n=" + n);

        float[] e1 = x.clone(), e2 = x.clone();
        float s1 = SCALAR.expAndSum(e1, 1, n, 0.5f), s2 = vector().expAndSum(e2, 1, n, 0.5f);
        for (int i = 0; i < e1.length; i++) close(e1[i], e2[i], 2e-6 * Math.abs(e1[i]), "exp n=" + n + " i=" + i);
        close(s1, s2, 1e-6 * n * s1, "exp sum n=" + n);

        for (int alpha = 1; alpha <= 3; alpha++) {
            float[] w1 = x.clone(), w2 = x.clone();
            float t1 = SCALAR.reluPowAndSum(w1, 1, n, 0.25f, alpha), t2 = vector().reluPowAndSum(w2, 1, n, 0.25f, alpha);
            for (int i = 0; i < w1.length; i++) close(w1[i], w2[i], 1e-6 * Math.abs(w1[i]), "relu n=" + n);
            close(t1, t2, 1e-6 * n * (t1 + 1e-30), "relu sum n=" + n + " alpha=" + alpha);
        }
    }

    @Test
    void dotManyAtAwkwardCountsAndDims() {
        SplittableRandom r = new SplittableRandom(7);
        int checked = 0;
        for (int d : SIZES) {
            for (int count : new int[] {1, 3, 4, 5, 9, 17}) {
                float[] q = TestData.gaussian(r, d + 1), keys = TestData.gaussian(r, count * d + 5);
                float[] o1 = new float[count + 2], o2 = new float[count + 2];
                SCALAR.dotMany(q, 1, keys, 5, count, d, o1, 2);
                vector().dotMany(q, 1, keys, 5, count, d, o2, 2);
                for (int i = 0; i < count; i++) {
                    double exact = 0, abs = 0;
                    for (int t = 0; t < d; t++) {
                        exact += (double) q[1 + t] * keys[5 + i * d + t];
                        abs += Math.abs((double) q[1 + t] * keys[5 + i * d + t]);
                    }
                    close(exact, o2[2 + i], 1e-6 * d * abs, "dotMany d=" + d + " count=" + count);
                    close(o1[2 + i], o2[2 + i], 2e-6 * d * abs, "dotMany vs scalar d=" + d);
                    checked++;
                }
                assertEquals(0f, o2[0]);
                assertEquals(0f, o2[1]);
            }
        }
        assertTrue(checked > 500);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 127, 128, 129, 1021})
    void dotDoubleIsFloat64Accurate(int n) {
        SplittableRandom r = new SplittableRandom(300 + n);
        float[] a = TestData.gaussian(r, n + 2), b = TestData.gaussian(r, n + 1);
        double exact = 0, abs = 0;
        for (int i = 0; i < n; i++) {
            exact += (double) a[2 + i] * b[1 + i];
            abs += Math.abs((double) a[2 + i] * b[1 + i]);
        }
        // only the order of float64 additions differs: far below fp32 rounding
        close(exact, vector().dotDouble(a, 2, b, 1, n), 1e-14 * n * abs + 1e-300, "dotDouble n=" + n);
        close(exact, SCALAR.dotDouble(a, 2, b, 1, n), 1e-14 * n * abs + 1e-300, "scalar dotDouble n=" + n);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 127, 128, 129, 1021})
    void quantizeInt8MatchesScalarAndItsOwnSums(int d) {
        SplittableRandom r = new SplittableRandom(700 + d);
        float[] x = TestData.gaussian(r, d + 3), inv = new float[d], scale = new float[d + 1];
        for (int t = 0; t < d; t++) {
            scale[1 + t] = (float) (0.01 + r.nextDouble() * 0.05);
            inv[t] = 1f / scale[1 + t];
        }
        inv[0] = 0f; // a dimension whose scale is 0 codes to 0
        int[] q1 = new int[d], q2 = new int[d];
        float[] s1 = new float[3], s2 = new float[3];
        SCALAR.quantizeInt8(x, 3, inv, scale, 1, d, q1, s1);
        vector().quantizeInt8(x, 3, inv, scale, 1, d, q2, s2);
        assertArrayEquals(q1, q2, "codes d=" + d);
        double e2 = 0, h2 = 0, r2 = 0;
        for (int t = 0; t < d; t++) {
            assertTrue(q1[t] >= -127 && q1[t] <= 127);
            assertEquals(Math.max(-127, Math.min(127, Math.round(x[3 + t] * inv[t]))), q1[t], 1, "rounding d=" + d);
            double hat = (double) scale[1 + t] * q1[t];
            e2 += (x[3 + t] - hat) * (x[3 + t] - hat);
            h2 += hat * hat;
            r2 += (double) x[3 + t] * x[3 + t];
        }
        double[] want = {e2, h2, r2};
        for (int i = 0; i < 3; i++) {
            close(want[i], s2[i], 1e-5 * (want[i] + 1e-6), "sum " + i + " d=" + d);
        }
    }

    /**
     * The int8 sketch kernels (vector and scalar) against the float64 sum of {@code qs·code}, within the rounding bound
     * each declares, at awkward dimension counts, with extreme codes (±127) and coefficients of mixed magnitude;
     * int8Filter and int8FilterMass against the same scores.
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 5, 8, 15, 16, 17, 32, 33, 64})
    void int8SketchScoresWithinTheirDeclaredRounding(int quads) {
        SplittableRandom r = new SplittableRandom(900 + quads);
        for (KernelSupport impl : new KernelSupport[] {SCALAR, vector()}) {
            int lanes = impl.int8Lanes(), groups = 3, n = 4 * quads;
            int[][] code = new int[groups * lanes][n];
            int[] words = new int[groups * quads * lanes + 5];
            for (int key = 0; key < groups * lanes; key++) {
                for (int t = 0; t < n; t++) {
                    code[key][t] = switch (r.nextInt(4)) {
                        case 0 -> 127;
                        case 1 -> -127;
                        default -> r.nextInt(255) - 127;
                    };
                }
                int g = key / lanes, l = key % lanes;
                for (int p = 0; p < quads; p++) {
                    words[5 + (g * quads + p) * lanes + l] = Kernels.packInt8(code[key][4 * p], code[key][4 * p + 1],
                            code[key][4 * p + 2], code[key][4 * p + 3]);
                }
            }
            // a query of d <= 4·quads dimensions (a partial last quad when quads % 4 != 0), at an offset, and the
            // block's scales; the kernels read it as prepared by int8Query
            int d = n - quads % 4;
            float[] q = new float[d + 2], scale = new float[d + 1], qs = new float[n];
            double absSum = 0;
            for (int t = 0; t < d; t++) {
                q[2 + t] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(5) - 2));
                scale[1 + t] = (float) (r.nextDouble() * Math.pow(10, r.nextInt(3) - 2));
                absSum += Math.abs((double) q[2 + t] * scale[1 + t]);
            }
            java.util.Arrays.fill(qs, Float.NaN); // every entry must be written
            impl.int8Query(q, 2, scale, 1, d, qs);
            float[] out = new float[groups * lanes + 1];
            impl.int8Scores(words, 5, groups, quads, lanes, qs, out, 1);
            double tol = impl.int8Roundoff(quads) * absSum;
            float[] err = new float[groups * lanes];
            for (int key = 0; key < groups * lanes; key++) {
                double exact = 0;
                for (int t = 0; t < d; t++) exact += (double) q[2 + t] * scale[1 + t] * code[key][t];
                close(exact, out[1 + key], tol, impl.name() + " quads=" + quads + " key=" + key);
                err[key] = (float) r.nextDouble();
            }
            // the fused filters pass exactly the slots whose bound clears tc, from the same scores
            float base = 0.25f, qNorm = 2f, tc = out[1 + lanes] + 0.5f;
            int[] slots = new int[groups * lanes];
            int count = impl.int8Filter(words, 5, groups, quads, lanes, qs, base, qNorm, err, 0, tc, slots);
            int want = 0;
            double mass = 0;
            for (int key = 0; key < groups * lanes; key++) {
                float bound = base + out[1 + key] + qNorm * err[key];
                if (bound >= tc) assertEquals(key, slots[want++], impl.name() + " filter slot");
                else mass += Math.exp(Math.max(-80, 0.5 * (bound - tc)));
            }
            assertEquals(want, count, impl.name() + " filter count quads=" + quads);
            double[] got = {0};
            assertEquals(want, impl.int8FilterMass(words, 5, groups, quads, lanes, qs, base, qNorm, err, 0, tc, 0.5f,
                    slots, got));
            close(mass, got[0], 1e-5 * mass + 1e-30, impl.name() + " filter mass");
            // two queries at once: each the same bits as alone; the filters from scores as the fused ones
            float[] q2 = new float[d + 2], qs2 = new float[n];
            for (int t = 0; t < d; t++) q2[2 + t] = (float) r.nextGaussian();
            impl.int8Query(q2, 2, scale, 1, d, qs2);
            float[] alone = new float[groups * lanes], pairA = new float[groups * lanes + 3];
            float[] pairB = new float[groups * lanes + 2];
            impl.int8Scores(words, 5, groups, quads, lanes, qs2, alone, 0);
            impl.int8ScoresPair(words, 5, groups, quads, lanes, qs, qs2, pairA, 3, pairB, 2);
            for (int key = 0; key < groups * lanes; key++) {
                assertEquals(out[1 + key], pairA[3 + key], impl.name() + " pair A key " + key);
                assertEquals(alone[key], pairB[2 + key], impl.name() + " pair B key " + key);
            }
            int[] fromScores = new int[groups * lanes];
            assertEquals(count, impl.sketchFilter(out, 1, groups * lanes, base, qNorm, err, 0, tc, fromScores));
            double[] got2 = {0};
            assertEquals(count, impl.sketchFilterMass(out, 1, groups * lanes, base, qNorm, err, 0, tc, 0.5f,
                    fromScores, got2));
            for (int i = 0; i < count; i++) assertEquals(slots[i], fromScores[i], impl.name() + " slot " + i);
            // the same arithmetic, but the vector exp may be the intrinsic in one kernel and its Java fallback in the
            // other (which one depends on when the JIT compiled each): they differ in the last bit of a float
            close(got[0], got2[0], 1e-6 * got[0] + 1e-300, impl.name() + " mass from scores");
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 127, 128, 129, 1021})
    void subtractAbsMaxIsExactlyTheScalarResidualAndMaximum(int n) {
        SplittableRandom r = new SplittableRandom(300 + n);
        float[] c = TestData.gaussian(r, n), x = TestData.gaussian(r, n + 5), start = TestData.gaussian(r, n);
        float[] x1 = x.clone(), x2 = x.clone(), m1 = start.clone(), m2 = start.clone();
        for (int i = 0; i < n; i++) m1[i] = m2[i] = Math.abs(start[i]) * 0.5f; // some entries stay the running maximum
        SCALAR.subtractAbsMax(c, x1, 3, m1, n);
        vector().subtractAbsMax(c, x2, 3, m2, n);
        for (int i = 0; i < n; i++) {
            float expected = x[3 + i] - c[i]; // the same single rounding as axpy(-1, c, x)
            assertEquals(expected, x1[3 + i], "scalar residual n=" + n + " i=" + i);
            assertEquals(Math.max(Math.abs(start[i]) * 0.5f, Math.abs(expected)), m1[i], "scalar max n=" + n);
        }
        assertArrayEquals(x1, x2, "residual n=" + n);
        assertArrayEquals(m1, m2, "running maximum n=" + n);
    }

    @Test
    void packInt8RowPacksEachWordAsPackInt8() {
        SplittableRandom r = new SplittableRandom(7);
        for (int quads : new int[] {1, 2, 3, 16, 33}) {
            int[] q8 = new int[4 * quads];
            for (int i = 0; i < q8.length; i++) q8[i] = r.nextInt(-127, 128);
            q8[0] = -127;
            q8[q8.length - 1] = 127;
            int stride = 16;
            int[] out = new int[2 + (quads - 1) * stride + 1];
            Kernels.packInt8Row(q8, quads, out, 2, stride);
            for (int p = 0; p < quads; p++) {
                assertEquals(Kernels.packInt8(q8[4 * p], q8[4 * p + 1], q8[4 * p + 2], q8[4 * p + 3]), out[2 + p * stride],
                        "quads=" + quads + " word " + p);
            }
        }
    }

    @Test
    void packInt8RefusesCodesOutsideTheRange() {
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> Kernels.packInt8(0, 128, 0, 0));
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> Kernels.packInt8(0, 0, 0, -128));
        assertEquals(-1 + 256 * 2 - 65536 * 3 + 16777216 * 127, Kernels.packInt8(-1, 2, -3, 127));
    }

    @Test
    void weightedSumAtAwkwardRowWidthsAndCounts() {
        SplittableRandom r = new SplittableRandom(13);
        int checked = 0;
        for (int dv : new int[] {1, 7, 31, 32, 33, 64, 80, 96, 127, 128, 129, 200, 256}) {
            for (int count : new int[] {0, 1, 7, 64, 65, 300}) {
                float[] w = TestData.gaussian(r, count + 1), v = TestData.gaussian(r, count * dv + 3);
                float[] o1 = TestData.gaussian(r, dv + 2), o2 = o1.clone();
                SCALAR.weightedSum(w, 1, v, 3, count, dv, o1, 2 - 1);
                vector().weightedSum(w, 1, v, 3, count, dv, o2, 2 - 1);
                for (int c = 0; c < o1.length; c++) {
                    double abs = 1;
                    for (int j = 0; j < count && c >= 1 && c < dv + 1; j++) abs += Math.abs(w[1 + j] * v[3 + j * dv + c - 1]);
                    close(o1[c], o2[c], 1e-6 * (count + 1) * abs, "weightedSum dv=" + dv + " count=" + count + " c=" + c);
                }
                assertEquals(o1[dv + 1], o2[dv + 1], "nothing written past the row");
                checked++;
            }
        }
        assertTrue(checked == 78);
    }

    @Test
    void boundaryFills() {
        for (int n : SIZES) {
            float[] ones = new float[n];
            java.util.Arrays.fill(ones, 1f);
            assertEquals(n, vector().dot(ones, 0, ones, 0, n), 0f);
            assertEquals(n, vector().sum(ones, 0, n), 0f);
            float[] neg = new float[n];
            java.util.Arrays.fill(neg, -3f);
            assertEquals(0f, vector().reluPowAndSum(neg.clone(), 0, n, 0f, 2));
            assertEquals(-3f, vector().max(neg, 0, n));
            float[] zeros = new float[n];
            assertEquals(n, vector().expAndSum(zeros, 0, n, 0f), 1e-6 * n);
        }
    }

    @Test
    void facadeChecksBounds() {
        float[] a = new float[4];
        org.junit.jupiter.api.Assertions.assertThrows(IndexOutOfBoundsException.class, () -> Kernels.dot(a, 2, a, 0, 3));
        var ex = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> Kernels.dot(a, new float[5]));
        assertTrue(ex.getMessage().contains("4 != 5"), ex.getMessage());
    }
}
