package org.hsr.io;

import java.util.Arrays;

/**
 * An n-dimensional array read from or written to a {@code .npy} file, C order. Real data is held as {@code float[]}
 * (float64 inputs are narrowed, as the kernels are fp32), integer data as {@code long[]}; exactly one is non-null.
 *
 * @param shape  the dimensions, outermost first
 * @param floats the values of a real array, or null
 * @param longs  the values of an integer array, or null
 */
public record NpyArray(int[] shape, float[] floats, long[] longs) {

    public NpyArray {
        shape = shape.clone();
        long size = 1;
        for (int s : shape) {
            if (s < 0) throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            size *= s;
        }
        if ((floats == null) == (longs == null)) {
            throw new IllegalArgumentException("exactly one of floats and longs must be given");
        }
        long len = floats != null ? floats.length : longs.length;
        if (len != size) {
            throw new IllegalArgumentException("data length " + len + " != product of shape " + Arrays.toString(shape));
        }
    }

    public static NpyArray ofFloats(float[] data, int... shape) {
        return new NpyArray(shape, data, null);
    }

    public static NpyArray ofLongs(long[] data, int... shape) {
        return new NpyArray(shape, null, data);
    }

    public int rank() {
        return shape.length;
    }

    public int dim(int i) {
        return shape[i];
    }

    public boolean isReal() {
        return floats != null;
    }

    public long size() {
        return floats != null ? floats.length : longs.length;
    }

    /** Shape as NumPy prints it, e.g. {@code (3, 4)}. */
    public String shapeString() {
        return shapeString(shape);
    }

    static String shapeString(int[] shape) {
        StringBuilder b = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            if (i > 0) b.append(", ");
            b.append(shape[i]);
        }
        if (shape.length == 1) b.append(',');
        return b.append(')').toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NpyArray a && Arrays.equals(shape, a.shape) && Arrays.equals(floats, a.floats)
                && Arrays.equals(longs, a.longs);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(shape) * 31 + Arrays.hashCode(floats) + Arrays.hashCode(longs);
    }

    @Override
    public String toString() {
        return "NpyArray" + shapeString() + (isReal() ? " float" : " int64");
    }
}
