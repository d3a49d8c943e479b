package org.hsr.model.tensor;

import java.lang.foreign.MemorySegment;

/**
 * A stored matrix of {@code rows × cols} elements of one {@link GgmlType}, row-major: row {@code r} (the weights of
 * output {@code r}, so {@code y = W x}) is the {@link #rowBytes} bytes at {@code r · rowBytes} of {@link #data}. In
 * GGUF terms {@code cols} is {@code ne[0]}. The segment is typically a slice of a memory-mapped file and lives as
 * long as the arena of its model.
 *
 * @param name the tensor's name, for messages
 * @param type the element type
 * @param rows number of rows (outputs)
 * @param cols elements per row (inputs), a multiple of the type's block size
 * @param data exactly {@code rows · rowBytes} bytes
 */
public record WeightMatrix(String name, GgmlType type, int rows, int cols, MemorySegment data) {

    public WeightMatrix {
        if (rows < 1 || cols < 1 || cols % type.blockSize != 0) {
            throw new IllegalArgumentException("tensor " + name + ": shape " + rows + " x " + cols + " of " + type
                    + " (rows must be >= 1 and a multiple of " + type.blockSize + " elements)");
        }
        long expected = type.bytes(cols) * rows;
        if (data.byteSize() != expected) {
            throw new IllegalArgumentException("tensor " + name + ": " + data.byteSize() + " bytes != " + expected
                    + " of " + rows + " x " + cols + " " + type);
        }
    }

    /** Bytes of one row. */
    public long rowBytes() {
        return type.bytes(cols);
    }

    /** {@code Σ_j W[row][j]·x[j]}: one output of {@code W x}. */
    public float dotRow(int row, float[] x) {
        return TensorKernels.dot(TensorKernels.impl(), type, data, row * rowBytes(), x, 0, cols);
    }

    /** {@code out[r] = Σ_j W[r][j]·x[j]} for rows {@code from..to}. */
    void matvecRows(float[] x, float[] out, int from, int to) {
        TensorKernelSupport impl = TensorKernels.impl();
        long rowBytes = rowBytes();
        for (int r = from; r < to; r++) {
            out[r] = TensorKernels.dot(impl, type, data, r * rowBytes, x, 0, cols);
        }
    }

    /** Decodes row {@code row} into {@code out[0..cols)} (a token embedding, for instance). */
    public void dequantizeRow(int row, float[] out) {
        if (row < 0 || row >= rows) {
            throw new IllegalArgumentException("row " + row + " is outside 0.." + (rows - 1) + " of tensor " + name);
        }
        ScalarTensorKernelSupport.dequantize(type, data, row * rowBytes(), cols, out, 0);
    }
}
