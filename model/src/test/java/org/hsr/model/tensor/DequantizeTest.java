package org.hsr.model.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The decoders against an independent reference written here from the block layouts (its own fp16 decoding by the
 * IEEE formula, its own nibble and bit unpacking in float64), and the encoders' round-trip error bounds.
 */
class DequantizeTest {

    /** IEEE binary16 by the formula: (-1)^s · 2^(e-15) · (1 + m/1024), subnormal 2^-14 · m/1024. */
    static double half(int bits) {
        int s = (bits >> 15) & 1, e = (bits >> 10) & 31, m = bits & 1023;
        double v = e == 0 ? Math.scalb(m / 1024.0, -14) : Math.scalb(1 + m / 1024.0, e - 15);
        return s == 1 ? -v : v;
    }

    /** The reference decoding of one stored row, straight from {@link GgmlType}'s description. */
    static double[] reference(GgmlType type, byte[] bytes, int n) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        double[] y = new double[n];
        for (int i = 0; i < n; i++) {
            switch (type) {
                case F32 -> y[i] = b.getFloat(4 * i);
                case F16 -> y[i] = half(b.getShort(2 * i) & 0xFFFF);
                case BF16 -> y[i] = Float.intBitsToFloat((b.getShort(2 * i) & 0xFFFF) << 16);
                case Q8_0 -> {
                    int block = i / 32 * 34;
                    y[i] = half(b.getShort(block) & 0xFFFF) * bytes[block + 2 + i % 32];
                }
                case Q4_0 -> {
                    int block = i / 32 * 18, j = i % 32;
                    int byteValue = bytes[block + 2 + j % 16] & 0xFF;
                    int nibble = j < 16 ? byteValue % 16 : byteValue / 16;
                    y[i] = half(b.getShort(block) & 0xFFFF) * (nibble - 8);
                }
                case Q4_K -> {
                    int block = i / 256 * 144, j = i % 256;
                    int sub = j / 32;                                   // sub-block of 32: scale sc, min m (6 bits)
                    int[] scales = new int[12];
                    for (int k = 0; k < 12; k++) scales[k] = bytes[block + 4 + k] & 0xFF;
                    int sc, m;
                    if (sub < 4) {
                        sc = scales[sub] % 64;
                        m = scales[sub + 4] % 64;
                    } else {                                            // low 4 bits in bytes 8..11, high 2 in 0..7
                        sc = scales[sub + 4] % 16 + (scales[sub - 4] / 64) * 16;
                        m = scales[sub + 4] / 16 + (scales[sub] / 64) * 16;
                    }
                    int q = bytes[block + 16 + (sub / 2) * 32 + j % 32] & 0xFF; // two sub-blocks share 32 bytes
                    int nibble = sub % 2 == 0 ? q % 16 : q / 16;
                    y[i] = half(b.getShort(block) & 0xFFFF) * sc * nibble - half(b.getShort(block + 2) & 0xFFFF) * m;
                }
                case Q6_K -> {
                    int block = i / 256 * 210, j = i % 256;
                    int halfIdx = j / 128, k = j % 128, quarter = k / 32, l = k % 32;
                    int lowByte = bytes[block + 64 * halfIdx + l + (quarter % 2) * 32] & 0xFF;
                    int low = quarter < 2 ? lowByte % 16 : lowByte / 16;
                    int highByte = bytes[block + 128 + 32 * halfIdx + l] & 0xFF;
                    int high = (highByte >> (2 * quarter)) % 4;
                    int scale = bytes[block + 192 + 8 * halfIdx + 2 * quarter + l / 16]; // int8, one per 16 elements
                    y[i] = half(b.getShort(block + 208) & 0xFFFF) * scale * (low + 16 * high - 32);
                }
            }
        }
        return y;
    }

    @ParameterizedTest
    @EnumSource(GgmlType.class)
    void decoderMatchesTheIndependentReference(GgmlType type) {
        SplittableRandom r = new SplittableRandom(31 + type.id);
        int n = 3 * 256;
        MemorySegment w = TensorKernelsTest.randomRow(type, n, 0, r);
        byte[] bytes = w.asSlice(0, type.bytes(n)).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        double[] expected = reference(type, bytes, n);
        float[] actual = new float[n];
        ScalarTensorKernelSupport.dequantize(type, w, 0, n, actual, 0);
        for (int i = 0; i < n; i++) {
            // float32 decoding of a float64 reference: equal to fp32 rounding (K-quants: two roundings, d·sc then ·q)
            double tol = 4e-7 * Math.abs(expected[i]) + (type == GgmlType.Q4_K ? 1e-7 : 0);
            assertEquals(expected[i], actual[i], tol, type + " element " + i);
        }
    }

    @Test
    void halfDecodingCoversEveryFiniteHalf() {
        for (int bits = 0; bits < 1 << 16; bits++) {
            if (((bits >> 10) & 31) == 31) continue;
            assertEquals(half(bits), Float.float16ToFloat((short) bits), 0, "half " + Integer.toHexString(bits));
        }
    }

    @Test
    void bf16RoundsToNearestEven() {
        // SPEC §9: 1 + 2^-8 is halfway between bf16 1 and 1 + 2^-7: ties go to the even one (1)
        assertEquals(1f, Quantizer.roundBf16(1f + 0x1p-8f));
        assertEquals(1f + 0x1p-6f, Quantizer.roundBf16(1f + 0x1p-7f + 0x1p-8f)); // tie, odd -> up to even
        assertEquals(1f + 0x1p-7f, Quantizer.roundBf16(1f + 0x1p-8f + 0x1p-12f)); // above halfway
        assertEquals(-3.5f, Quantizer.roundBf16(-3.5f));
    }

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"F32", "F16", "BF16", "Q8_0", "Q4_0"})
    void encodeThenDecodeIsWithinTheTypesResolution(GgmlType type) {
        SplittableRandom r = new SplittableRandom(7);
        int n = 32 * 9;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (r.nextGaussian() * (i < 32 ? 0 : 1)); // block 0 all zero
        ByteBuffer buf = ByteBuffer.allocate((int) type.bytes(n)).order(ByteOrder.LITTLE_ENDIAN);
        Quantizer.quantize(type, x, 0, n, buf);
        float[] y = new float[n];
        ScalarTensorKernelSupport.dequantize(type, MemorySegment.ofArray(buf.array()), 0, n, y, 0);
        for (int b = 0; b < n / 32; b++) {
            double amax = 0;
            for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[32 * b + j]));
            for (int j = 0; j < 32; j++) {
                int i = 32 * b + j;
                double bound = switch (type) {
                    case F32 -> 0;
                    case F16 -> Math.abs(x[i]) * 0x1p-11 + 0x1p-25;
                    case BF16 -> Math.abs(x[i]) * 0x1p-8;
                    case Q8_0 -> amax / 127 * (0.5 + 1e-3) + amax * 1e-3; // half a step, plus the fp16 scale's error
                    default -> amax / 8 * (1 + 1e-3) + amax * 1e-3; // Q4_0: step max/8, a whole step where 15 clamps
                };
                assertTrue(Math.abs(y[i] - x[i]) <= bound, type + " element " + i + ": " + x[i] + " -> " + y[i]);
            }
        }
    }
}
