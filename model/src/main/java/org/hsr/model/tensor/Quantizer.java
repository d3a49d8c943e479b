package org.hsr.model.tensor;

import java.nio.ByteBuffer;

/**
 * Writes fp32 values as stored tensor elements (the encoders of {@link GgmlType}; the kernels decode them), and the
 * bf16 conversions of SPEC §9. Q8_0 and Q4_0 round as llama.cpp's reference quantisers do
 * ({@code quantize_row_q8_0_ref}, {@code quantize_row_q4_0_ref}).
 */
public final class Quantizer {

    private Quantizer() {}

    /** The bf16 value as an fp32: its 16 bits are the upper half of the fp32 pattern. */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /** fp32 to bf16, round-to-nearest-even (SPEC §9: add {@code 0x7FFF + ((bits >> 16) & 1)}, keep the upper 16 bits). */
    public static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x40); // stays a (quiet) NaN
        }
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    /** {@code f} rounded to bf16 and back (SPEC §9). */
    public static float roundBf16(float f) {
        return bf16ToFloat(floatToBf16(f));
    }

    /** {@code f} rounded to fp16 and back ({@code Float.floatToFloat16}, round-to-nearest-even). */
    public static float roundFp16(float f) {
        return Float.float16ToFloat(Float.floatToFloat16(f));
    }

    /**
     * Appends {@code n} values {@code x[off..off+n)} (a multiple of the block size) to {@code out} (little-endian) as
     * {@code type}.
     *
     * @throws IllegalArgumentException if {@code n} is not a multiple of the block size, or the type is a K-quant
     *                                  (this project reads those but does not write them)
     */
    public static void quantize(GgmlType type, float[] x, int off, int n, ByteBuffer out) {
        if (n % type.blockSize != 0) {
            throw new IllegalArgumentException(type + " row length " + n + " is not a multiple of the block size "
                    + type.blockSize);
        }
        switch (type) {
            case F32 -> {
                for (int i = 0; i < n; i++) out.putFloat(x[off + i]);
            }
            case F16 -> {
                for (int i = 0; i < n; i++) out.putShort(Float.floatToFloat16(x[off + i]));
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) out.putShort(floatToBf16(x[off + i]));
            }
            case Q8_0 -> {
                for (int b = off; b < off + n; b += 32) {
                    // d = max|x| / 127; q = round(x / d)
                    float amax = 0;
                    for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b + j]));
                    float d = amax / 127f;
                    float id = d != 0 ? 1f / d : 0f;
                    out.putShort(Float.floatToFloat16(d));
                    for (int j = 0; j < 32; j++) out.put((byte) Math.round(x[b + j] * id));
                }
            }
            case Q4_0 -> {
                for (int b = off; b < off + n; b += 32) {
                    // d = (the value of largest magnitude) / -8; nibble = min(15, (int) (x / d + 8.5))
                    float amax = 0, max = 0;
                    for (int j = 0; j < 32; j++) {
                        if (Math.abs(x[b + j]) > amax) {
                            amax = Math.abs(x[b + j]);
                            max = x[b + j];
                        }
                    }
                    float d = max / -8f;
                    float id = d != 0 ? 1f / d : 0f;
                    out.putShort(Float.floatToFloat16(d));
                    for (int j = 0; j < 16; j++) {
                        int lo = Math.min(15, (int) (x[b + j] * id + 8.5f));
                        int hi = Math.min(15, (int) (x[b + 16 + j] * id + 8.5f));
                        out.put((byte) (lo | (hi << 4)));
                    }
                }
            }
            case Q4_K, Q6_K -> throw new IllegalArgumentException("writing " + type + " is not supported (read only)");
        }
    }
}
