package org.hsr.store;

import java.util.Arrays;
import org.hsr.simd.Kernels;

/**
 * Rows of a key ({@code d} elements) and its value ({@code dv} elements, possibly none) side by side, stored in an
 * {@link ElementType}, in pages of {@code rowsPerPage} rows: the storage of the KV cache and of the index, which owns
 * the only copy. A page is one Java array, so the rows are bounded only by the heap, and growing never copies a row.
 *
 * <p>A page holds its rows' keys, then their values, each contiguous (a dense pass streams keys, then values, and a
 * sparse one finds a kept key's value in the same page). Elements are storage units: floats for fp32, ints (two
 * 16-bit elements each) for bf16 and fp16, with
 * the key's odd last element padded by a zero when {@code d} is odd (likewise the value). Kernels read a query in the
 * form {@link #prepareQuery} leaves, and sum values into an accumulator of {@link #accumulatorLength} floats that
 * {@link #finishValues} turns into the plain {@code dv} outputs.
 *
 * <p>An instance is immutable as to which pages it has; {@link #withCapacity} returns one with more pages sharing the
 * old ones. Writers write only rows that no reader reads yet (the index publishes counts through its snapshot).
 */
public final class Rows {
    private final ElementType type;
    private final int d, dv, rowsPerPage;
    private final int keyUnits, valueUnits, stride; // storage units per key, per value, per row
    private final float[][] floatPages; // FP32
    private final int[][] halfPages; // BF16, FP16
    private final boolean fp16;

    private Rows(ElementType type, int d, int dv, int rowsPerPage, float[][] floatPages, int[][] halfPages) {
        this.type = type;
        this.d = d;
        this.dv = dv;
        this.rowsPerPage = rowsPerPage;
        this.keyUnits = type == ElementType.FP32 ? d : (d + 1) / 2;
        this.valueUnits = type == ElementType.FP32 ? dv : (dv + 1) / 2;
        this.stride = keyUnits + valueUnits;
        this.floatPages = floatPages;
        this.halfPages = halfPages;
        this.fp16 = type == ElementType.FP16;
    }

    /** No rows yet. */
    public static Rows empty(ElementType type, int d, int dv, int rowsPerPage) {
        if (d < 1 || dv < 0 || rowsPerPage < 1) {
            throw new IllegalArgumentException("need d >= 1, dv >= 0, rows per page >= 1; got " + d + ", " + dv + ", "
                    + rowsPerPage);
        }
        return type == ElementType.FP32
                ? new Rows(type, d, dv, rowsPerPage, new float[0][], null)
                : new Rows(type, d, dv, rowsPerPage, null, new int[0][]);
    }

    public ElementType type() {
        return type;
    }

    public int d() {
        return d;
    }

    public int dv() {
        return dv;
    }

    public int rowsPerPage() {
        return rowsPerPage;
    }

    /** Rows the allocated pages hold. */
    public long capacity() {
        return (long) pages() * rowsPerPage;
    }

    private int pages() {
        return floatPages != null ? floatPages.length : halfPages.length;
    }

    /** These rows with room for at least {@code rows} (this instance when it has it); existing pages are shared. */
    public Rows withCapacity(long rows) {
        long need = (rows + rowsPerPage - 1) / rowsPerPage;
        if (need <= pages()) return this;
        if (need > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("too many rows: " + rows);
        int n = (int) need;
        if (floatPages != null) {
            float[][] p = Arrays.copyOf(floatPages, n);
            for (int i = floatPages.length; i < n; i++) p[i] = new float[rowsPerPage * stride];
            return new Rows(type, d, dv, rowsPerPage, p, null);
        }
        int[][] p = Arrays.copyOf(halfPages, n);
        for (int i = halfPages.length; i < n; i++) p[i] = new int[rowsPerPage * stride];
        return new Rows(type, d, dv, rowsPerPage, null, p);
    }

    /** These rows without the pages past the first {@code rows} rows' (pages are shared). */
    public Rows truncatedTo(long rows) {
        int keep = (int) ((rows + rowsPerPage - 1) / rowsPerPage);
        if (keep >= pages()) return this;
        return floatPages != null
                ? new Rows(type, d, dv, rowsPerPage, Arrays.copyOf(floatPages, keep), null)
                : new Rows(type, d, dv, rowsPerPage, null, Arrays.copyOf(halfPages, keep));
    }

    /** Bytes of every allocated page. */
    public long bytes() {
        return (long) pages() * rowsPerPage * stride * (floatPages != null ? Float.BYTES : Integer.BYTES);
    }

    /** Offset in its page of a row's key: a page holds its rows' keys, then their values. */
    private int at(int row) {
        return (row % rowsPerPage) * keyUnits;
    }

    /** Offset in its page of a row's value. */
    private int vat(int row) {
        return rowsPerPage * keyUnits + (row % rowsPerPage) * valueUnits;
    }

    /**
     * Writes row {@code row}: the key from {@code k[kOff..kOff+d)} and the value from {@code v[vOff..vOff+dv)}
     * ({@code v} may be null when dv = 0), rounded to the element type (the caller checked they fit).
     */
    public void write(int row, float[] k, int kOff, float[] v, int vOff) {
        int p = row / rowsPerPage, o = at(row);
        if (floatPages != null) {
            System.arraycopy(k, kOff, floatPages[p], o, d);
            if (dv > 0) System.arraycopy(v, vOff, floatPages[p], vat(row), dv);
            return;
        }
        pack(k, kOff, d, halfPages[p], o);
        if (dv > 0) pack(v, vOff, dv, halfPages[p], vat(row));
    }

    private void pack(float[] x, int off, int len, int[] dst, int dstOff) {
        for (int i = 0; i < len; i += 2) {
            int lo = type.encode(x[off + i]), hi = i + 1 < len ? type.encode(x[off + i + 1]) : 0;
            dst[dstOff + i / 2] = lo | hi << 16;
        }
    }

    /** Copies row {@code from} of {@code src} (same type and shape) into row {@code to} of these rows. */
    public void copyRow(Rows src, int from, int to) {
        Object a = floatPages != null ? src.floatPages[from / src.rowsPerPage] : src.halfPages[from / src.rowsPerPage];
        Object b = floatPages != null ? floatPages[to / rowsPerPage] : halfPages[to / rowsPerPage];
        System.arraycopy(a, src.at(from), b, at(to), keyUnits);
        System.arraycopy(a, src.vat(from), b, vat(to), valueUnits);
    }

    /** The stored key of {@code row} as floats into {@code out[off..off+d)}. */
    public void readKey(int row, float[] out, int off) {
        read(row, false, d, out, off);
    }

    /** The stored value of {@code row} as floats into {@code out[off..off+dv)}. */
    public void readValue(int row, float[] out, int off) {
        read(row, true, dv, out, off);
    }

    private void read(int row, boolean value, int len, float[] out, int off) {
        int p = row / rowsPerPage, o = value ? vat(row) : at(row);
        if (floatPages != null) {
            System.arraycopy(floatPages[p], o, out, off, len);
            return;
        }
        int[] page = halfPages[p];
        for (int i = 0; i < len; i++) {
            int w = page[o + i / 2];
            out[off + i] = type.decode((i & 1) == 0 ? w & 0xFFFF : w >>> 16);
        }
    }

    /** Floats a prepared query takes: d for fp32, 2·ceil(d/2) for the 16-bit types. */
    public int queryLength() {
        return floatPages != null ? d : 2 * keyUnits;
    }

    /**
     * Writes {@code q[qOff..qOff+d)} at {@code prepared[pOff..pOff+queryLength())} in the form {@link #scores} reads
     * (as it is, or split into even and odd elements).
     */
    public void prepareQuery(float[] q, int qOff, float[] prepared, int pOff) {
        if (floatPages != null) System.arraycopy(q, qOff, prepared, pOff, d);
        else Kernels.splitQuery(q, qOff, d, prepared, pOff);
    }

    /**
     * fp32 scores {@code out[outOff+i] = <q, k_(row+i)>} of {@code count} rows within one page (the caller splits at
     * page boundaries, {@link #rowsLeftInPage}), for a query prepared by {@link #prepareQuery}.
     */
    public void scores(float[] prepared, int pOff, int row, int count, float[] out, int outOff) {
        assert count <= rowsLeftInPage(row);
        int p = row / rowsPerPage, o = at(row);
        if (floatPages != null) Kernels.dotRows(prepared, pOff, floatPages[p], o, keyUnits, count, d, out, outOff);
        else Kernels.halfDots(prepared, pOff, halfPages[p], o, keyUnits, count, keyUnits, fp16, out, outOff);
    }

    /** Rows from {@code row} to the end of its page. */
    public int rowsLeftInPage(int row) {
        return rowsPerPage - row % rowsPerPage;
    }

    /** {@code <q[qOff..], k_row>} accumulated in float64 (exact products), with {@code scratch} of d floats. */
    public double dotDouble(float[] q, int qOff, int row, float[] scratch) {
        int p = row / rowsPerPage, o = at(row);
        if (floatPages != null) return Kernels.dotDouble(q, qOff, floatPages[p], o, d);
        int[] page = halfPages[p];
        if (!fp16) { // bf16 decodes by a shift and a mask: no scratch needed, two float64 chains
            double s0 = 0, s1 = 0;
            int t = 0;
            for (; t + 1 < d; t += 2) {
                int w = page[o + t / 2];
                s0 += (double) q[qOff + t] * Float.intBitsToFloat(w << 16);
                s1 += (double) q[qOff + t + 1] * Float.intBitsToFloat(w & 0xFFFF0000);
            }
            if (t < d) s0 += (double) q[qOff + t] * Float.intBitsToFloat(page[o + t / 2] << 16);
            return s0 + s1;
        }
        for (int t = 0; t < d; t++) {
            int w = page[o + t / 2];
            scratch[t] = Float.float16ToFloat((short) ((t & 1) == 0 ? w : w >>> 16));
        }
        return Kernels.dotDouble(q, qOff, scratch, 0, d);
    }

    /** One load per cache line of the row's key (and value when {@code withValue}), for loads to overlap. */
    public float touch(int row, boolean withValue) {
        int p = row / rowsPerPage;
        float t = 0f;
        for (int part = withValue ? 1 : 0; part >= 0; part--) {
            int o = part == 1 ? vat(row) : at(row), end = o + (part == 1 ? valueUnits : keyUnits);
            if (floatPages != null) {
                float[] page = floatPages[p];
                for (; o < end; o += 16) t += page[o];
            } else {
                int[] page = halfPages[p];
                for (; o < end; o += 16) t += page[o];
            }
        }
        return t;
    }

    /** Floats of the value accumulator: dv for fp32, 2·ceil(dv/2) (even, then odd elements) for the 16-bit types. */
    public int accumulatorLength() {
        return floatPages != null ? dv : 2 * valueUnits;
    }

    /** {@code acc += w·v_row} in the accumulator's form, the accumulator at {@code acc[accOff..]}. */
    public void addValue(float w, int row, float[] acc, int accOff) {
        int p = row / rowsPerPage, o = vat(row);
        if (floatPages != null) Kernels.axpy(w, floatPages[p], o, acc, accOff, dv);
        else Kernels.halfAxpy(w, halfPages[p], o, valueUnits, fp16, acc, accOff);
    }

    /**
     * {@code acc += Σ_j w[wOff+j]·v_(row+j)} for {@code j < count}, rows within one page: the dense value pass, with the
     * accumulator in registers across rows.
     */
    public void addValues(float[] w, int wOff, int row, int count, float[] acc, int accOff) {
        assert count <= rowsLeftInPage(row);
        int p = row / rowsPerPage, o = vat(row);
        if (floatPages != null) Kernels.weightedRows(w, wOff, floatPages[p], o, valueUnits, count, dv, acc, accOff);
        else Kernels.halfWeightedRows(w, wOff, halfPages[p], o, valueUnits, count, valueUnits, fp16, acc, accOff);
    }

    /** Writes {@code scale·acc} (the accumulator at {@code acc[accOff..]}) as the {@code dv} plain outputs at {@code out[outOff..]}. */
    public void finishValues(float[] acc, int accOff, float scale, float[] out, int outOff) {
        if (floatPages != null) System.arraycopy(acc, accOff, out, outOff, dv);
        else Kernels.joinSplit(acc, accOff, dv, out, outOff);
        if (scale != 1f) Kernels.scale(out, outOff, dv, scale);
    }
}
