package org.hsr.model.tensor;

import java.lang.foreign.MemorySegment;

/**
 * The dot product of one stored row of a weight matrix with an fp32 vector, per element type: implemented once in
 * scalar Java ({@link ScalarTensorKernelSupport}) and once on the Vector API
 * ({@code org.hsr.model.tensor.panama.PanamaTensorKernelSupport}, loaded by name). Call them through
 * {@link TensorKernels}, which checks arguments; implementations only {@code assert}.
 *
 * <p>Every method reads {@code n} elements (a multiple of the type's block size) of the row stored at byte offset
 * {@code off} of {@code w}, little-endian, in the layout {@link GgmlType} describes, and returns
 * {@code Σ row[i]·x[xOff+i]}. Implementations are stateless and thread-safe.
 */
public interface TensorKernelSupport {

    /** Short name for logs and reports ("scalar", "panama-512"). */
    String name();

    float dotF32(MemorySegment w, long off, float[] x, int xOff, int n);

    float dotF16(MemorySegment w, long off, float[] x, int xOff, int n);

    float dotBF16(MemorySegment w, long off, float[] x, int xOff, int n);

    float dotQ8_0(MemorySegment w, long off, float[] x, int xOff, int n);

    float dotQ4_0(MemorySegment w, long off, float[] x, int xOff, int n);

    float dotQ4_K(MemorySegment w, long off, float[] x, int xOff, int n);

    float dotQ6_K(MemorySegment w, long off, float[] x, int xOff, int n);
}
