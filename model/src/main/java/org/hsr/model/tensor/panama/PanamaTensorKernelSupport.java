package org.hsr.model.tensor.panama;

import static org.hsr.model.tensor.panama.PanamaTensorConstants.B;
import static org.hsr.model.tensor.panama.PanamaTensorConstants.F;
import static org.hsr.model.tensor.panama.PanamaTensorConstants.HAS_FAST_FMA;
import static org.hsr.model.tensor.panama.PanamaTensorConstants.I;
import static org.hsr.model.tensor.panama.PanamaTensorConstants.PARTS;
import static org.hsr.model.tensor.panama.PanamaTensorConstants.S;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import org.hsr.model.tensor.GgmlType;
import org.hsr.model.tensor.ScalarTensorKernelSupport;
import org.hsr.model.tensor.TensorKernelSupport;

/**
 * Vector API dot products of stored weight rows with an fp32 vector. Loaded by name from
 * {@link org.hsr.model.tensor.TensorKernels}. Each kernel has the standard shape: a vector body, a scalar tail, one
 * {@code reduceLanes} at the end. The block types accumulate each block's products in a vector, then fold it into
 * the running sum with one fma by the block's scale, so that no lane reduction happens per block.
 */
public final class PanamaTensorKernelSupport implements TensorKernelSupport {

    private static final int L = F.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    private static final ScalarTensorKernelSupport SCALAR = new ScalarTensorKernelSupport();
    /** 2^112: scales an fp16 exponent/mantissa shifted into fp32 position to its value (subnormals included). */
    private static final float HALF_EXPONENT_SCALE = 0x1p112f;

    public PanamaTensorKernelSupport() {}

    @Override
    public String name() {
        return "panama-" + F.vectorBitSize() + (HAS_FAST_FMA ? "-fma" : "");
    }

    private static FloatVector fma(FloatVector a, FloatVector b, FloatVector acc) {
        return HAS_FAST_FMA ? a.fma(b, acc) : a.mul(b).add(acc);
    }

    @Override
    public float dotF32(MemorySegment w, long off, float[] x, int xOff, int n) {
        if (n < 2 * L) {
            return SCALAR.dotF32(w, off, x, xOff, n);
        }
        // four accumulators hide the fma latency; the loop is bound by reading the row
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F), acc2 = FloatVector.zero(F),
                acc3 = FloatVector.zero(F);
        int i = 0;
        for (; i <= n - 4 * L; i += 4 * L) {
            long o = off + 4L * i;
            acc0 = fma(FloatVector.fromMemorySegment(F, w, o, LE), FloatVector.fromArray(F, x, xOff + i), acc0);
            acc1 = fma(FloatVector.fromMemorySegment(F, w, o + 4L * L, LE), FloatVector.fromArray(F, x, xOff + i + L), acc1);
            acc2 = fma(FloatVector.fromMemorySegment(F, w, o + 8L * L, LE), FloatVector.fromArray(F, x, xOff + i + 2 * L), acc2);
            acc3 = fma(FloatVector.fromMemorySegment(F, w, o + 12L * L, LE), FloatVector.fromArray(F, x, xOff + i + 3 * L), acc3);
        }
        for (; i <= n - L; i += L) {
            acc0 = fma(FloatVector.fromMemorySegment(F, w, off + 4L * i, LE), FloatVector.fromArray(F, x, xOff + i), acc0);
        }
        float s = acc0.add(acc1).add(acc2.add(acc3)).reduceLanes(VectorOperators.ADD);
        return s + SCALAR.dotF32(w, off + 4L * i, x, xOff + i, n - i);
    }

    @Override
    public float dotF16(MemorySegment w, long off, float[] x, int xOff, int n) {
        return n < 2 * L ? SCALAR.dotF16(w, off, x, xOff, n) : dot16(w, off, x, xOff, n, false);
    }

    @Override
    public float dotBF16(MemorySegment w, long off, float[] x, int xOff, int n) {
        return n < 2 * L ? SCALAR.dotBF16(w, off, x, xOff, n) : dot16(w, off, x, xOff, n, true);
    }

    /**
     * The 16-bit types: {@code brain} selects bf16, else fp16. Two accumulators: the decode (widen, mask, shift,
     * scale) is the bottleneck, not the fma chain.
     */
    private static float dot16(MemorySegment w, long off, float[] x, int xOff, int n, boolean brain) {
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        int i = 0;
        for (; i <= n - 2 * L; i += 2 * L) {
            acc0 = fma(widen(w, off + 2L * i, brain), FloatVector.fromArray(F, x, xOff + i), acc0);
            acc1 = fma(widen(w, off + 2L * (i + L), brain), FloatVector.fromArray(F, x, xOff + i + L), acc1);
        }
        for (; i <= n - L; i += L) {
            acc0 = fma(widen(w, off + 2L * i, brain), FloatVector.fromArray(F, x, xOff + i), acc0);
        }
        float s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        return s + (brain ? SCALAR.dotBF16(w, off + 2L * i, x, xOff + i, n - i)
                : SCALAR.dotF16(w, off + 2L * i, x, xOff + i, n - i));
    }

    /**
     * L 16-bit values as floats. bf16: the upper half of an fp32 pattern. fp16: the exponent and mantissa shifted
     * into fp32 position and scaled by 2^112 (exact for normal and subnormal halves; the weights of a model are
     * finite), then the sign.
     */
    private static FloatVector widen(MemorySegment w, long off, boolean brain) {
        IntVector h = (IntVector) ShortVector.fromMemorySegment(S, w, off, LE).convertShape(VectorOperators.S2I, I, 0);
        if (brain) {
            return h.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
        }
        FloatVector magnitude = h.and(0x7FFF).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats()
                .mul(HALF_EXPONENT_SCALE);
        IntVector sign = h.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        return magnitude.reinterpretAsInts().or(sign).reinterpretAsFloats();
    }

    @Override
    public float dotQ8_0(MemorySegment w, long off, float[] x, int xOff, int n) {
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < n / 32; b++) {
            long block = off + 34L * b;
            int xb = xOff + 32 * b;
            // the block's 32 products q[j]·x[j] in a vector, then one fma by its scale d
            FloatVector blockSum = FloatVector.zero(F);
            for (int j = 0; j < 32; j += B.length()) {
                ByteVector q = ByteVector.fromMemorySegment(B, w, block + 2 + j, LE);
                for (int p = 0; p < PARTS; p++) {
                    FloatVector qf = (FloatVector) q.convertShape(VectorOperators.B2F, F, p);
                    blockSum = fma(qf, FloatVector.fromArray(F, x, xb + j + p * L), blockSum);
                }
            }
            float d = Float.float16ToFloat(w.get(I16_LE, block));
            acc = fma(blockSum, FloatVector.broadcast(F, d), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    @Override
    public float dotQ4_0(MemorySegment w, long off, float[] x, int xOff, int n) {
        FloatVector acc = FloatVector.zero(F);
        int step = Math.min(16, B.length()); // 16 bytes of nibbles per block
        for (int b = 0; b < n / 32; b++) {
            long block = off + 18L * b;
            int xb = xOff + 32 * b;
            FloatVector blockSum = FloatVector.zero(F);
            for (int j = 0; j < 16; j += step) {
                ByteVector q = ByteVector.fromMemorySegment(B, w, block + 2 + j, LE);
                ByteVector lo = q.and((byte) 0x0F).sub((byte) 8);                                    // elements j..
                ByteVector hi = q.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F).sub((byte) 8); // elements 16+j..
                for (int p = 0; p < PARTS && j + p * L < 16; p++) {
                    FloatVector lf = (FloatVector) lo.convertShape(VectorOperators.B2F, F, p);
                    FloatVector hf = (FloatVector) hi.convertShape(VectorOperators.B2F, F, p);
                    blockSum = fma(lf, FloatVector.fromArray(F, x, xb + j + p * L), blockSum);
                    blockSum = fma(hf, FloatVector.fromArray(F, x, xb + 16 + j + p * L), blockSum);
                }
            }
            float d = Float.float16ToFloat(w.get(I16_LE, block));
            acc = fma(blockSum, FloatVector.broadcast(F, d), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    @Override
    public float dotQ4_K(MemorySegment w, long off, float[] x, int xOff, int n) {
        return dotDecoded(GgmlType.Q4_K, w, off, x, xOff, n);
    }

    @Override
    public float dotQ6_K(MemorySegment w, long off, float[] x, int xOff, int n) {
        return dotDecoded(GgmlType.Q6_K, w, off, x, xOff, n);
    }

    /** K-quants: each super-block of 256 is decoded by the scalar decoder, the products are vectorised. */
    private static float dotDecoded(GgmlType type, MemorySegment w, long off, float[] x, int xOff, int n) {
        float[] block = new float[256];
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        for (int b = 0; b < n / 256; b++) {
            ScalarTensorKernelSupport.dequantize(type, w, off + (long) type.blockBytes * b, 256, block, 0);
            int xb = xOff + 256 * b;
            for (int j = 0; j < 256; j += 2 * L) {
                acc0 = fma(FloatVector.fromArray(F, block, j), FloatVector.fromArray(F, x, xb + j), acc0);
                acc1 = fma(FloatVector.fromArray(F, block, j + L), FloatVector.fromArray(F, x, xb + j + L), acc1);
            }
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }
}
