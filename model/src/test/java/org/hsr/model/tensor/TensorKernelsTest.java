package org.hsr.model.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The Vector API row kernels against the scalar twins, for every element type, at awkward sizes (one block, primes,
 * around the vector width, 1021) and at unaligned offsets; both against the float64 dot of the decoded row.
 */
class TensorKernelsTest {

    /** Element counts: for block types these many blocks. */
    static final int[] SIZES = {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 127, 128, 129, 1021};

    static TensorKernelSupport vector() {
        return TensorKernels.panama().orElse(TensorKernels.scalar());
    }

    @Test
    void chosenImplementationMatchesTheRun() {
        if (Boolean.getBoolean("hsr.expectSimd")) {
            assertTrue(TensorKernels.panama().isPresent(), "SIMD run but the Vector API tensor kernels did not load");
            assertTrue(TensorKernels.impl().name().startsWith("panama"), TensorKernels.impl().name());
        } else {
            assertEquals("scalar", TensorKernels.impl().name());
        }
    }

    /** A stored row of {@code n} elements of {@code type} at byte offset {@code off} of a fresh segment. */
    static MemorySegment randomRow(GgmlType type, int n, int off, SplittableRandom r) {
        ByteBuffer buf = ByteBuffer.allocate(off + (int) type.bytes(n) + 7).order(ByteOrder.LITTLE_ENDIAN);
        buf.position(off);
        switch (type) {
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    // any finite half: exponent 0..30 (zero and subnormals included), random sign and mantissa
                    buf.putShort((short) ((r.nextInt(2) << 15) | (r.nextInt(31) << 10) | r.nextInt(1024)));
                }
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) {
                    // finite bf16 of moderate exponent, so that the float sums stay finite
                    buf.putShort((short) ((r.nextInt(2) << 15) | ((100 + r.nextInt(50)) << 7) | r.nextInt(128)));
                }
            }
            case Q4_K, Q6_K -> {
                byte[] b = new byte[(int) type.bytes(n)];
                r.nextBytes(b);
                ByteBuffer blocks = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
                for (int k = 0; k < n / 256; k++) {
                    int base = k * type.blockBytes;
                    short d = Float.floatToFloat16((float) (r.nextDouble() * 0.01));
                    if (type == GgmlType.Q4_K) {
                        blocks.putShort(base, d);
                        blocks.putShort(base + 2, Float.floatToFloat16((float) (r.nextDouble() * 0.01)));
                    } else {
                        blocks.putShort(base + 208, d);
                    }
                }
                buf.put(b);
            }
            default -> {
                float[] x = new float[n];
                for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian() * (i % 13 == 0 ? 4 : 1);
                Quantizer.quantize(type, x, 0, n, buf);
            }
        }
        return MemorySegment.ofArray(buf.array()); // a heap segment: the kernels must not assume native memory
    }

    @ParameterizedTest
    @EnumSource(GgmlType.class)
    void vectorMatchesScalarAndTheDecodedRow(GgmlType type) {
        SplittableRandom r = new SplittableRandom(type.id);
        int checked = 0;
        for (int size : SIZES) {
            int n = size * type.blockSize;
            if (n > 1 << 18) continue;
            for (int off : new int[] {0, 3}) {
                MemorySegment w = randomRow(type, n, off, r);
                int xOff = off + 1;
                float[] x = new float[xOff + n + 2];
                for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
                float[] row = new float[n];
                ScalarTensorKernelSupport.dequantize(type, w, off, n, row, 0);
                double exact = 0, abs = 0;
                for (int i = 0; i < n; i++) {
                    exact += (double) row[i] * x[xOff + i];
                    abs += Math.abs((double) row[i] * x[xOff + i]);
                }
                double tol = 1e-6 * n * abs + 1e-30;
                float s = TensorKernels.dot(TensorKernels.scalar(), type, w, off, x, xOff, n);
                float v = TensorKernels.dot(vector(), type, w, off, x, xOff, n);
                String what = type + " n=" + n + " off=" + off;
                assertTrue(Math.abs(s - exact) <= tol, what + ": scalar " + s + " vs float64 " + exact);
                assertTrue(Math.abs(v - exact) <= tol, what + ": vector " + v + " vs float64 " + exact);
                assertTrue(Math.abs(v - s) <= tol, what + ": vector " + v + " vs scalar " + s);
                checked++;
            }
        }
        assertTrue(checked >= 10, "only " + checked + " sizes checked");
    }

    @Test
    void facadeChecksItsArguments() {
        MemorySegment w = MemorySegment.ofArray(new byte[34]);
        float[] x = new float[32];
        assertEquals(0f, TensorKernels.dot(GgmlType.Q8_0, w, 0, x, 0, 32));
        var e = assertThrows(IllegalArgumentException.class, () -> TensorKernels.dot(GgmlType.Q8_0, w, 0, x, 0, 31));
        assertTrue(e.getMessage().contains("31") && e.getMessage().contains("32"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TensorKernels.dot(GgmlType.Q8_0, w, 1, x, 0, 32));
        assertTrue(e.getMessage().contains("34"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TensorKernels.dot(GgmlType.F32, w, 0, x, 30, 4));
        assertTrue(e.getMessage().contains("32"), e.getMessage());
    }

    @Test
    void matmulOverThreadsEqualsOneThread() {
        SplittableRandom r = new SplittableRandom(5);
        int rows = 301, cols = 320;
        MemorySegment data = randomRow(GgmlType.Q8_0, rows * cols, 0, r);
        WeightMatrix m = new WeightMatrix("w", GgmlType.Q8_0, rows, cols,
                data.asSlice(0, GgmlType.Q8_0.bytes((long) rows * cols)));
        float[] x = new float[cols];
        for (int i = 0; i < cols; i++) x[i] = (float) r.nextGaussian();
        float[] one = new float[rows], three = new float[rows];
        try (Matmul a = new Matmul(1); Matmul b = new Matmul(3)) {
            a.apply(m, x, one);
            b.apply(m, x, three);
        }
        // the same kernel per row; not bit-equal in general, as the Vector API's reduceLanes order may differ
        // between interpreted and compiled code
        for (int i = 0; i < rows; i++) {
            float single = m.dotRow(i, x);
            assertEquals(single, one[i], 1e-5 * (1 + Math.abs(single)), "row " + i);
            assertEquals(single, three[i], 1e-5 * (1 + Math.abs(single)), "row " + i);
        }
    }
}
