package org.hsr.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.hsr.TestData;
import org.hsr.store.ElementType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The storage kernels (strided fp32 rows; packed bf16/fp16 rows) of both implementations against float64 on the
 * decoded values, at awkward sizes; and the element types' rounding against SPEC §9's definitions.
 */
class HalfKernelsTest {

    static final int[] SIZES = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 127, 128, 129, 257};
    static final KernelSupport SCALAR = KernelProvider.scalar();

    static KernelSupport vector() {
        return KernelProvider.panama().orElse(KernelProvider.scalar());
    }

    /** Packs {@code len} floats of {@code x} as 16-bit patterns of {@code type}, two per int. */
    static int[] pack(ElementType type, float[] x, int len, int pad) {
        int pairs = (len + 1) / 2;
        int[] out = new int[pad + pairs];
        for (int i = 0; i < len; i++) out[pad + i / 2] |= type.encode(x[i]) << (16 * (i & 1));
        return out;
    }

    static void close(double expected, double actual, double tol, String what) {
        assertTrue(Math.abs(expected - actual) <= tol, what + ": expected " + expected + " got " + actual + " tol " + tol);
    }

    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"BF16", "FP16"})
    void halfDotsAndAxpyMatchFloat64(ElementType type) {
        boolean fp16 = type == ElementType.FP16;
        SplittableRandom r = new SplittableRandom(type.ordinal());
        int checked = 0;
        for (int len : SIZES) {
            int pairs = (len + 1) / 2;
            for (int count : new int[] {1, 2, 3, 5, 8}) {
                int stride = pairs + 3; // rows apart by more than a key, as keys with values beside them are
                float[][] rows = new float[count][];
                int[] packed = new int[2 + count * stride];
                for (int c = 0; c < count; c++) {
                    rows[c] = TestData.gaussian(r, len);
                    for (int t = 0; t < len; t++) rows[c][t] = type.round(rows[c][t] * 3);
                    int[] one = pack(type, rows[c], len, 0);
                    System.arraycopy(one, 0, packed, 2 + c * stride, pairs);
                }
                float[] q = TestData.gaussian(r, len + 1), qs = new float[1 + 2 * pairs];
                Kernels.splitQuery(q, 1, len, qs, 1);
                float[] o1 = new float[count + 1], o2 = new float[count + 1];
                SCALAR.halfDots(qs, 1, packed, 2, stride, count, pairs, fp16, o1, 1);
                vector().halfDots(qs, 1, packed, 2, stride, count, pairs, fp16, o2, 1);
                for (int c = 0; c < count; c++) {
                    double exact = 0, abs = 0;
                    for (int t = 0; t < len; t++) {
                        exact += (double) q[1 + t] * rows[c][t];
                        abs += Math.abs((double) q[1 + t] * rows[c][t]);
                    }
                    close(exact, o1[1 + c], 1e-6 * len * abs + 1e-30, type + " scalar halfDots len=" + len);
                    close(exact, o2[1 + c], 1e-6 * len * abs + 1e-30, type + " vector halfDots len=" + len);
                    checked++;
                }
                assertEquals(0f, o2[0]);
                // axpy of the first row into a split accumulator, then joined back
                float[] a1 = new float[3 + 2 * pairs], a2 = new float[3 + 2 * pairs];
                SCALAR.halfAxpy(-0.7f, packed, 2, pairs, fp16, a1, 3);
                vector().halfAxpy(-0.7f, packed, 2, pairs, fp16, a2, 3);
                float[] j1 = new float[len], j2 = new float[len];
                Kernels.joinSplit(a1, 3, len, j1, 0);
                Kernels.joinSplit(a2, 3, len, j2, 0);
                for (int t = 0; t < len; t++) {
                    assertEquals(-0.7f * rows[0][t], j1[t], 1e-6f * Math.abs(rows[0][t]), "scalar axpy");
                    assertEquals(j1[t], j2[t], 1e-6f * Math.abs(rows[0][t]), "vector axpy len=" + len);
                }
            }
        }
        assertTrue(checked > 300, "checked " + checked);
    }

    /** Every one of the 65536 fp16 and bf16 patterns (finite ones) decodes exactly in both implementations. */
    @ParameterizedTest
    @EnumSource(value = ElementType.class, names = {"BF16", "FP16"})
    void everyFinitePatternDecodesExactly(ElementType type) {
        boolean fp16 = type == ElementType.FP16;
        int[] words = new int[32768]; // pattern 2i in the low half, 2i+1 in the high half
        for (int i = 0; i < 32768; i++) words[i] = (2 * i) | (2 * i + 1) << 16;
        float[] acc = new float[65536];
        vector().halfAxpy(1f, words, 0, 32768, fp16, acc, 0);
        float[] scalar = new float[65536];
        SCALAR.halfAxpy(1f, words, 0, 32768, fp16, scalar, 0);
        int finite = 0;
        for (int i = 0; i < 32768; i++) {
            for (int half = 0; half < 2; half++) {
                int pattern = 2 * i + half;
                float expected = type.decode(pattern);
                if (!Float.isFinite(expected)) continue; // never stored: appends refuse values that round to Inf
                finite++;
                float got = acc[half == 0 ? i : 32768 + i];
                assertEquals(Float.floatToIntBits(expected == 0f ? 0f : expected),
                        Float.floatToIntBits(got == 0f ? 0f : got), type + " pattern 0x" + Integer.toHexString(pattern));
                assertEquals(expected, scalar[half == 0 ? i : 32768 + i], 0f);
            }
        }
        assertTrue(finite > 60000, "finite patterns " + finite);
    }

    @Test
    void dotRowsWithStrideMatchesFloat64() {
        SplittableRandom r = new SplittableRandom(17);
        for (int d : SIZES) {
            for (int count : new int[] {1, 3, 4, 5, 9}) {
                int stride = d + 7;
                float[] q = TestData.gaussian(r, d + 1), x = TestData.gaussian(r, 4 + count * stride);
                float[] o1 = new float[count], o2 = new float[count];
                SCALAR.dotRows(q, 1, x, 4, stride, count, d, o1, 0);
                vector().dotRows(q, 1, x, 4, stride, count, d, o2, 0);
                for (int c = 0; c < count; c++) {
                    double exact = 0, abs = 0;
                    for (int t = 0; t < d; t++) {
                        exact += (double) q[1 + t] * x[4 + c * stride + t];
                        abs += Math.abs((double) q[1 + t] * x[4 + c * stride + t]);
                    }
                    close(exact, o1[c], 1e-6 * d * abs, "scalar dotRows d=" + d);
                    close(exact, o2[c], 1e-6 * d * abs, "vector dotRows d=" + d);
                }
            }
        }
    }

    /** SPEC §9: bf16 is the upper half after adding 0x7FFF + lsb (round to nearest even); fp16 as the JDK rounds. */
    @Test
    void roundingFollowsTheSpec() {
        SplittableRandom r = new SplittableRandom(23);
        for (int i = 0; i < 200_000; i++) {
            float x = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(-6, 6)));
            int bits = Float.floatToRawIntBits(x);
            float bf = Float.intBitsToFloat(((bits + 0x7FFF + ((bits >> 16) & 1)) >>> 16) << 16);
            assertEquals(bf, ElementType.BF16.round(x), 0f, "bf16 of " + x);
            // nearest: no bf16 value is closer (ties to even aside)
            float up = Float.intBitsToFloat((Float.floatToRawIntBits(bf) + (x > 0 ? 0x10000 : -0x10000)));
            assertTrue(Math.abs(bf - x) <= Math.abs(up - x), "bf16 nearest " + x);
            if (Math.abs(x) < 65504) {
                assertEquals(Float.float16ToFloat(Float.floatToFloat16(x)), ElementType.FP16.round(x), 0f, "fp16 " + x);
            }
        }
        assertEquals(Float.POSITIVE_INFINITY, ElementType.FP16.round(70000f));
        assertEquals(65504f, ElementType.FP16.round(65504f));
        assertEquals(1.0f, ElementType.BF16.round(1.00390625f)); // a tie: to even
        assertEquals(1.015625f, ElementType.BF16.round(1.01171875f)); // a tie: to even (upward)
        assertEquals(ElementType.BF16, ElementType.parse("BF16"));
    }
}
