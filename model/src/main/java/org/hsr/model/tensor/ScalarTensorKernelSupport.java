package org.hsr.model.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The scalar kernels: each dot product is the row's elements decoded one by one (as {@link #dequantize} does) times
 * {@code x}, accumulated per block in fp32 and scaled once per block where the type has one scale per block. The
 * reference the Vector API kernels are tested against, and the fallback where they cannot run.
 */
public final class ScalarTensorKernelSupport implements TensorKernelSupport {

    static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public ScalarTensorKernelSupport() {}

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public float dotF32(MemorySegment w, long off, float[] x, int xOff, int n) {
        float s = 0;
        for (int i = 0; i < n; i++) {
            s += w.get(F32_LE, off + 4L * i) * x[xOff + i];
        }
        return s;
    }

    @Override
    public float dotF16(MemorySegment w, long off, float[] x, int xOff, int n) {
        return dot16(w, off, x, xOff, n, false);
    }

    @Override
    public float dotBF16(MemorySegment w, long off, float[] x, int xOff, int n) {
        return dot16(w, off, x, xOff, n, true);
    }

    /** The 16-bit types: {@code brain} selects bf16, else fp16. */
    private static float dot16(MemorySegment w, long off, float[] x, int xOff, int n, boolean brain) {
        float s = 0;
        for (int i = 0; i < n; i++) {
            short h = w.get(I16_LE, off + 2L * i);
            s += (brain ? Quantizer.bf16ToFloat(h) : Float.float16ToFloat(h)) * x[xOff + i];
        }
        return s;
    }

    @Override
    public float dotQ8_0(MemorySegment w, long off, float[] x, int xOff, int n) {
        float s = 0;
        for (int b = 0; b < n / 32; b++) {
            long block = off + 34L * b;     // fp16 d, then 32 int8
            int xb = xOff + 32 * b;
            float blockSum = 0;
            for (int j = 0; j < 32; j++) {
                blockSum += w.get(ValueLayout.JAVA_BYTE, block + 2 + j) * x[xb + j];
            }
            s += Float.float16ToFloat(w.get(I16_LE, block)) * blockSum;
        }
        return s;
    }

    @Override
    public float dotQ4_0(MemorySegment w, long off, float[] x, int xOff, int n) {
        float s = 0;
        for (int b = 0; b < n / 32; b++) {
            long block = off + 18L * b;     // fp16 d, then 16 bytes: low nibbles elements 0-15, high 16-31
            int xb = xOff + 32 * b;
            float blockSum = 0;
            for (int j = 0; j < 16; j++) {
                int q = w.get(ValueLayout.JAVA_BYTE, block + 2 + j);
                blockSum += ((q & 0xF) - 8) * x[xb + j] + (((q >> 4) & 0xF) - 8) * x[xb + 16 + j];
            }
            s += Float.float16ToFloat(w.get(I16_LE, block)) * blockSum;
        }
        return s;
    }

    @Override
    public float dotQ4_K(MemorySegment w, long off, float[] x, int xOff, int n) {
        return dotDequantized(GgmlType.Q4_K, w, off, x, xOff, n);
    }

    @Override
    public float dotQ6_K(MemorySegment w, long off, float[] x, int xOff, int n) {
        return dotDequantized(GgmlType.Q6_K, w, off, x, xOff, n);
    }

    /** Decodes one super-block of 256 at a time and dots it with x. */
    private static float dotDequantized(GgmlType type, MemorySegment w, long off, float[] x, int xOff, int n) {
        float[] block = new float[256];
        float s = 0;
        for (int b = 0; b < n / 256; b++) {
            dequantize(type, w, off + (long) type.blockBytes * b, 256, block, 0);
            for (int j = 0; j < 256; j++) {
                s += block[j] * x[xOff + 256 * b + j];
            }
        }
        return s;
    }

    /**
     * Decodes {@code n} elements (a multiple of the block size) stored at byte {@code off} of {@code w} into
     * {@code out[outOff..]}.
     */
    public static void dequantize(GgmlType type, MemorySegment w, long off, int n, float[] out, int outOff) {
        switch (type) {
            case F32 -> {
                for (int i = 0; i < n; i++) out[outOff + i] = w.get(F32_LE, off + 4L * i);
            }
            case F16 -> {
                for (int i = 0; i < n; i++) out[outOff + i] = Float.float16ToFloat(w.get(I16_LE, off + 2L * i));
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) out[outOff + i] = Quantizer.bf16ToFloat(w.get(I16_LE, off + 2L * i));
            }
            case Q8_0 -> {
                for (int b = 0; b < n / 32; b++) {
                    long block = off + 34L * b;
                    float d = Float.float16ToFloat(w.get(I16_LE, block));
                    for (int j = 0; j < 32; j++) {
                        out[outOff + 32 * b + j] = d * w.get(ValueLayout.JAVA_BYTE, block + 2 + j);
                    }
                }
            }
            case Q4_0 -> {
                for (int b = 0; b < n / 32; b++) {
                    long block = off + 18L * b;
                    float d = Float.float16ToFloat(w.get(I16_LE, block));
                    for (int j = 0; j < 16; j++) {
                        int q = w.get(ValueLayout.JAVA_BYTE, block + 2 + j);
                        out[outOff + 32 * b + j] = d * ((q & 0xF) - 8);
                        out[outOff + 32 * b + 16 + j] = d * (((q >> 4) & 0xF) - 8);
                    }
                }
            }
            case Q4_K -> {
                for (int b = 0; b < n / 256; b++) {
                    dequantizeQ4K(w, off + 144L * b, out, outOff + 256 * b);
                }
            }
            case Q6_K -> {
                for (int b = 0; b < n / 256; b++) {
                    dequantizeQ6K(w, off + 210L * b, out, outOff + 256 * b);
                }
            }
        }
    }

    /** One Q4_K super-block: 8 sub-blocks of 32, each with a 6-bit scale and min packed into 12 bytes. */
    private static void dequantizeQ4K(MemorySegment w, long block, float[] out, int o) {
        float d = Float.float16ToFloat(w.get(I16_LE, block));
        float dmin = Float.float16ToFloat(w.get(I16_LE, block + 2));
        long scales = block + 4;    // 12 bytes
        long qs = block + 16;       // 128 bytes: each 32 bytes hold two sub-blocks (low nibbles, then high)
        for (int j = 0; j < 4; j++) {
            int sub = 2 * j;
            float d1 = d * scaleK4(w, scales, sub), m1 = dmin * minK4(w, scales, sub);
            float d2 = d * scaleK4(w, scales, sub + 1), m2 = dmin * minK4(w, scales, sub + 1);
            for (int l = 0; l < 32; l++) {
                int q = w.get(ValueLayout.JAVA_BYTE, qs + 32L * j + l) & 0xFF;
                out[o + 64 * j + l] = d1 * (q & 0xF) - m1;
                out[o + 64 * j + 32 + l] = d2 * (q >> 4) - m2;
            }
        }
    }

    /** The 6-bit scale of Q4_K sub-block {@code j} (0..7): llama.cpp's {@code get_scale_min_k4}. */
    private static int scaleK4(MemorySegment w, long scales, int j) {
        return j < 4 ? u8(w, scales + j) & 63 : (u8(w, scales + j + 4) & 0xF) | ((u8(w, scales + j - 4) >> 6) << 4);
    }

    /** The 6-bit min of Q4_K sub-block {@code j} (0..7). */
    private static int minK4(MemorySegment w, long scales, int j) {
        return j < 4 ? u8(w, scales + j + 4) & 63 : (u8(w, scales + j + 4) >> 4) | ((u8(w, scales + j) >> 6) << 4);
    }

    /** One Q6_K super-block: two halves of 128, each from 64 bytes of low nibbles and 32 bytes of high 2-bit pairs. */
    private static void dequantizeQ6K(MemorySegment w, long block, float[] out, int o) {
        long ql = block, qh = block + 128, sc = block + 192;
        float d = Float.float16ToFloat(w.get(I16_LE, block + 208));
        for (int half = 0; half < 2; half++) {
            long l0 = ql + 64L * half, h0 = qh + 32L * half, s0 = sc + 8L * half;
            int y = o + 128 * half;
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int h = u8(w, h0 + l);
                int q1 = ((u8(w, l0 + l) & 0xF) | ((h & 3) << 4)) - 32;
                int q2 = ((u8(w, l0 + l + 32) & 0xF) | (((h >> 2) & 3) << 4)) - 32;
                int q3 = ((u8(w, l0 + l) >> 4) | (((h >> 4) & 3) << 4)) - 32;
                int q4 = ((u8(w, l0 + l + 32) >> 4) | (((h >> 6) & 3) << 4)) - 32;
                out[y + l] = d * w.get(ValueLayout.JAVA_BYTE, s0 + is) * q1;
                out[y + l + 32] = d * w.get(ValueLayout.JAVA_BYTE, s0 + is + 2) * q2;
                out[y + l + 64] = d * w.get(ValueLayout.JAVA_BYTE, s0 + is + 4) * q3;
                out[y + l + 96] = d * w.get(ValueLayout.JAVA_BYTE, s0 + is + 6) * q4;
            }
        }
    }

    private static int u8(MemorySegment w, long off) {
        return w.get(ValueLayout.JAVA_BYTE, off) & 0xFF;
    }
}
