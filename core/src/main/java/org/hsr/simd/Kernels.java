package org.hsr.simd;

import java.util.Objects;

/**
 * The kernel facade (Lucene's {@code VectorUtil} pattern): checks arguments, then delegates to the implementation
 * chosen once by {@link KernelProvider} — the Vector API one when it is available and enabled, else the scalar one.
 * Force the scalar path with {@code -Dhsr.vector=false}; pick a vector width with {@code -Dhsr.vectorBits=128|256|512}.
 */
public final class Kernels {

    private static final KernelSupport IMPL = KernelProvider.get();

    private Kernels() {}

    /** The implementation in use. */
    public static KernelSupport impl() {
        return IMPL;
    }

    /** {@code <a[aOff..], b[bOff..]>} over {@code len} entries. */
    public static float dot(float[] a, int aOff, float[] b, int bOff, int len) {
        Objects.checkFromIndexSize(aOff, len, a.length);
        Objects.checkFromIndexSize(bOff, len, b.length);
        return IMPL.dot(a, aOff, b, bOff, len);
    }

    /** {@code <a, b>} of two equal-length vectors. */
    public static float dot(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new IllegalArgumentException("vector dimensions differ: " + a.length + " != " + b.length);
        }
        return IMPL.dot(a, 0, b, 0, a.length);
    }

    /** One query against {@code count} consecutive row-major keys of dimension {@code d}. */
    public static void dotMany(float[] q, int qOff, float[] keys, int keysOff, int count, int d, float[] out, int outOff) {
        if (d <= 0) throw new IllegalArgumentException("dimension must be positive: " + d);
        Objects.checkFromIndexSize(qOff, d, q.length);
        Objects.checkFromIndexSize(keysOff, Math.multiplyExact(count, d), keys.length);
        Objects.checkFromIndexSize(outOff, count, out.length);
        IMPL.dotMany(q, qOff, keys, keysOff, count, d, out, outOff);
    }

    /** One query against {@code count} rows of {@code d} floats, {@code stride} floats apart (see {@link KernelSupport#dotRows}). */
    public static void dotRows(float[] q, int qOff, float[] x, int off, int stride, int count, int d, float[] out,
                               int outOff) {
        if (d <= 0 || stride < d) throw new IllegalArgumentException("need 0 < d <= stride, got d " + d + ", stride " + stride);
        Objects.checkFromIndexSize(qOff, d, q.length);
        if (count > 0) Objects.checkFromIndexSize(off, (long) (count - 1) * stride + d, x.length);
        Objects.checkFromIndexSize(outOff, count, out.length);
        IMPL.dotRows(q, qOff, x, off, stride, count, d, out, outOff);
    }

    /** Scores of packed 16-bit rows against a split query (see {@link KernelSupport#halfDots}). */
    public static void halfDots(float[] qs, int qsOff, int[] x, int off, int stride, int count, int pairs, boolean fp16,
                                float[] out, int outOff) {
        if (pairs <= 0 || stride < pairs) {
            throw new IllegalArgumentException("need 0 < pairs <= stride, got pairs " + pairs + ", stride " + stride);
        }
        Objects.checkFromIndexSize(qsOff, 2 * pairs, qs.length);
        if (count > 0) Objects.checkFromIndexSize(off, (long) (count - 1) * stride + pairs, x.length);
        Objects.checkFromIndexSize(outOff, count, out.length);
        IMPL.halfDots(qs, qsOff, x, off, stride, count, pairs, fp16, out, outOff);
    }

    /** The value pass over rows {@code stride} floats apart (see {@link KernelSupport#weightedRows}). */
    public static void weightedRows(float[] w, int wOff, float[] x, int off, int stride, int count, int len, float[] out,
                                    int outOff) {
        Objects.checkFromIndexSize(wOff, count, w.length);
        if (count > 0) Objects.checkFromIndexSize(off, (long) (count - 1) * stride + len, x.length);
        Objects.checkFromIndexSize(outOff, len, out.length);
        IMPL.weightedRows(w, wOff, x, off, stride, count, len, out, outOff);
    }

    /** The value pass over packed 16-bit rows (see {@link KernelSupport#halfWeightedRows}). */
    public static void halfWeightedRows(float[] w, int wOff, int[] x, int off, int stride, int count, int pairs,
                                        boolean fp16, float[] acc, int accOff) {
        Objects.checkFromIndexSize(wOff, count, w.length);
        if (count > 0) Objects.checkFromIndexSize(off, (long) (count - 1) * stride + pairs, x.length);
        Objects.checkFromIndexSize(accOff, 2 * pairs, acc.length);
        IMPL.halfWeightedRows(w, wOff, x, off, stride, count, pairs, fp16, acc, accOff);
    }

    /** A value sum over one packed 16-bit row into a split accumulator (see {@link KernelSupport#halfAxpy}). */
    public static void halfAxpy(float w, int[] x, int off, int pairs, boolean fp16, float[] acc, int accOff) {
        Objects.checkFromIndexSize(off, pairs, x.length);
        Objects.checkFromIndexSize(accOff, 2 * pairs, acc.length);
        IMPL.halfAxpy(w, x, off, pairs, fp16, acc, accOff);
    }

    /**
     * Writes {@code len} floats of {@code q} split for the 16-bit kernels: {@code qs[o+i] = q[2i]},
     * {@code qs[o+pairs+i] = q[2i+1]} (o = qsOff), zero past {@code len}, with {@code pairs = ceil(len/2)}.
     */
    public static void splitQuery(float[] q, int qOff, int len, float[] qs, int qsOff) {
        int pairs = (len + 1) / 2;
        Objects.checkFromIndexSize(qOff, len, q.length);
        Objects.checkFromIndexSize(qsOff, 2 * pairs, qs.length);
        for (int i = 0; i < pairs; i++) {
            qs[qsOff + i] = q[qOff + 2 * i];
            qs[qsOff + pairs + i] = 2 * i + 1 < len ? q[qOff + 2 * i + 1] : 0f;
        }
    }

    /** The inverse of {@link #splitQuery}: {@code out[outOff+t]} for {@code t < len} from a split accumulator. */
    public static void joinSplit(float[] acc, int accOff, int len, float[] out, int outOff) {
        int pairs = (len + 1) / 2;
        Objects.checkFromIndexSize(accOff, 2 * pairs, acc.length);
        Objects.checkFromIndexSize(outOff, len, out.length);
        for (int t = 0; t < len; t++) out[outOff + t] = acc[accOff + ((t & 1) == 0 ? t >> 1 : pairs + (t >> 1))];
    }

    /** {@code y[yOff..] += a·x[xOff..]} over {@code len} entries. */
    public static void axpy(float a, float[] x, int xOff, float[] y, int yOff, int len) {
        Objects.checkFromIndexSize(xOff, len, x.length);
        Objects.checkFromIndexSize(yOff, len, y.length);
        IMPL.axpy(a, x, xOff, y, yOff, len);
    }

    /** Maximum of {@code x[off..off+len)}, {@code -Infinity} when empty. */
    public static float max(float[] x, int off, int len) {
        Objects.checkFromIndexSize(off, len, x.length);
        return IMPL.max(x, off, len);
    }

    /** In place {@code exp(x − shift)}, returning the sum. */
    public static float expAndSum(float[] x, int off, int len, float shift) {
        Objects.checkFromIndexSize(off, len, x.length);
        return IMPL.expAndSum(x, off, len, shift);
    }

    /**
     * In place {@code (max(x − bias, 0) / max_i max(x_i − bias, 0))^alpha}: ReLU^α weights normalised by the row
     * maximum, returning their sum (0 for an all-zero row, NaN when a score is NaN or +Infinity); see
     * {@link KernelSupport#reluPowAndSum}.
     */
    public static float reluPowAndSum(float[] x, int off, int len, float bias, int alpha) {
        Objects.checkFromIndexSize(off, len, x.length);
        if (alpha < 1) throw new IllegalArgumentException("alpha must be >= 1: " + alpha);
        return IMPL.reluPowAndSum(x, off, len, bias, alpha);
    }

    /** In place {@code x *= s}. */
    public static void scale(float[] x, int off, int len, float s) {
        Objects.checkFromIndexSize(off, len, x.length);
        IMPL.scale(x, off, len, s);
    }

    /** Sum of {@code x[off..off+len)}. */
    public static float sum(float[] x, int off, int len) {
        Objects.checkFromIndexSize(off, len, x.length);
        return IMPL.sum(x, off, len);
    }

    /** Keys per group of the int8 sketch layout that the chosen implementation decodes fastest. */
    public static int int8Lanes() {
        return IMPL.int8Lanes();
    }

    /**
     * Packs four int8 codes (each in [−127, 127]) into one sketch word as signed base-256 digits,
     * {@code c0 + 256·c1 + 65536·c2 + 16777216·c3}: the layout {@link KernelSupport#int8Scores} reads. Unlike plain
     * byte concatenation, every left shift of the word by 8·j bits is then exactly {@code (c0 + … + 256^(3−j)·c_(3−j))
     * ·2^(8j)} as a signed int, which lets a vector kernel decode a word with three shifts and no sign extension.
     */
    public static int packInt8(int c0, int c1, int c2, int c3) {
        if (Math.max(Math.max(Math.abs(c0), Math.abs(c1)), Math.max(Math.abs(c2), Math.abs(c3))) > 127) {
            throw new IllegalArgumentException("int8 codes out of [-127, 127]: " + c0 + ", " + c1 + ", " + c2 + ", " + c3);
        }
        return pack(c0, c1, c2, c3);
    }

    /** A block's query for the int8 kernels; see {@link KernelSupport#int8Query}. */
    public static void int8Query(float[] q, int qOff, float[] scale, int sOff, int d, float[] prepared) {
        Objects.checkFromIndexSize(qOff, d, q.length);
        Objects.checkFromIndexSize(sOff, d, scale.length);
        Objects.checkFromIndexSize(0, (d + 3) / 4 * 4, prepared.length);
        IMPL.int8Query(q, qOff, scale, sOff, d, prepared);
    }

    /** The rounding bound of the chosen implementation's sketch scores; see {@link KernelSupport#int8Roundoff}. */
    public static double int8Roundoff(int quads) {
        return IMPL.int8Roundoff(quads);
    }

    /** Approximate scores of int8 sketch codes; see {@link KernelSupport#int8Scores}. */
    public static void int8Scores(int[] codes, int off, int groups, int quads, int lanes, float[] qs, float[] out,
                                  int outOff) {
        Objects.checkFromIndexSize(off, Math.multiplyExact(groups, quads * lanes), codes.length);
        Objects.checkFromIndexSize(0, 4 * quads, qs.length);
        Objects.checkFromIndexSize(outOff, groups * lanes, out.length);
        IMPL.int8Scores(codes, off, groups, quads, lanes, qs, out, outOff);
    }

    /** Sketch scores of the same codes for two queries, each word decoded once; see {@link KernelSupport#int8ScoresPair}. */
    public static void int8ScoresPair(int[] codes, int off, int groups, int quads, int lanes, float[] qsA, float[] qsB,
                                      float[] outA, int outAOff, float[] outB, int outBOff) {
        Objects.checkFromIndexSize(off, Math.multiplyExact(groups, quads * lanes), codes.length);
        Objects.checkFromIndexSize(0, 4 * quads, qsA.length);
        Objects.checkFromIndexSize(0, 4 * quads, qsB.length);
        Objects.checkFromIndexSize(outAOff, groups * lanes, outA.length);
        Objects.checkFromIndexSize(outBOff, groups * lanes, outB.length);
        IMPL.int8ScoresPair(codes, off, groups, quads, lanes, qsA, qsB, outA, outAOff, outB, outBOff);
    }

    /** The sketch filter from computed scores; see {@link KernelSupport#sketchFilter}. */
    public static int sketchFilter(float[] sketch, int sOff, int count, float base, float qNorm, float[] err,
                                   int errOff, float tc, int[] outSlots) {
        Objects.checkFromIndexSize(sOff, count, sketch.length);
        Objects.checkFromIndexSize(errOff, count, err.length);
        Objects.checkFromIndexSize(0, count, outSlots.length);
        return IMPL.sketchFilter(sketch, sOff, count, base, qNorm, err, errOff, tc, outSlots);
    }

    /** The sketch filter with the pruned slots' exp terms, from computed scores; see {@link KernelSupport#sketchFilterMass}. */
    public static int sketchFilterMass(float[] sketch, int sOff, int count, float base, float qNorm, float[] err,
                                       int errOff, float tc, float expScale, int[] outSlots, double[] mass) {
        Objects.checkFromIndexSize(sOff, count, sketch.length);
        Objects.checkFromIndexSize(errOff, count, err.length);
        Objects.checkFromIndexSize(0, count, outSlots.length);
        return IMPL.sketchFilterMass(sketch, sOff, count, base, qNorm, err, errOff, tc, expScale, outSlots, mass);
    }

    /** The value pass: {@code out[outOff..+dv) += Σ_j w[wOff+j]·v_j} over {@code count} row-major values. */
    public static void weightedSum(float[] w, int wOff, float[] v, int vOff, int count, int dv, float[] out, int outOff) {
        if (dv <= 0) throw new IllegalArgumentException("value dimension must be positive: " + dv);
        Objects.checkFromIndexSize(wOff, count, w.length);
        Objects.checkFromIndexSize(vOff, Math.multiplyExact(count, dv), v.length);
        Objects.checkFromIndexSize(outOff, dv, out.length);
        IMPL.weightedSum(w, wOff, v, vOff, count, dv, out, outOff);
    }

    /** The fused sketch filter of one block; see {@link KernelSupport#int8Filter}. */
    public static int int8Filter(int[] codes, int off, int groups, int quads, int lanes, float[] qs, float base,
                                 float qNorm, float[] err, int errOff, float tc, int[] outSlots) {
        Objects.checkFromIndexSize(off, Math.multiplyExact(groups, quads * lanes), codes.length);
        Objects.checkFromIndexSize(0, 4 * quads, qs.length);
        Objects.checkFromIndexSize(errOff, groups * lanes, err.length);
        Objects.checkFromIndexSize(0, groups * lanes, outSlots.length);
        return IMPL.int8Filter(codes, off, groups, quads, lanes, qs, base, qNorm, err, errOff, tc, outSlots);
    }

    /** The fused sketch filter that also sums the pruned slots' exp terms; see {@link KernelSupport#int8FilterMass}. */
    public static int int8FilterMass(int[] codes, int off, int groups, int quads, int lanes, float[] qs, float base,
                                     float qNorm, float[] err, int errOff, float tc, float expScale, int[] outSlots,
                                     double[] mass) {
        Objects.checkFromIndexSize(off, Math.multiplyExact(groups, quads * lanes), codes.length);
        Objects.checkFromIndexSize(0, 4 * quads, qs.length);
        Objects.checkFromIndexSize(errOff, groups * lanes, err.length);
        Objects.checkFromIndexSize(0, groups * lanes, outSlots.length);
        return IMPL.int8FilterMass(codes, off, groups, quads, lanes, qs, base, qNorm, err, errOff, tc, expScale,
                outSlots, mass);
    }

    /**
     * {@code <a, b>} accumulated in float64 (every product of two floats is exact in double): the score of a key that
     * survived the index's filters, accurate to the final rounding instead of fp32 summation error; it runs only on
     * the few keys that are reported.
     */
    public static double dotDouble(float[] a, int aOff, float[] b, int bOff, int len) {
        Objects.checkFromIndexSize(aOff, len, a.length);
        Objects.checkFromIndexSize(bOff, len, b.length);
        return IMPL.dotDouble(a, aOff, b, bOff, len);
    }

    /** {@code x −= c} on one row, tracking the per-dimension maximum of |x|; see {@link KernelSupport#subtractAbsMax}. */
    public static void subtractAbsMax(float[] c, float[] x, int xOff, float[] absMax, int len) {
        Objects.checkFromIndexSize(0, len, c.length);
        Objects.checkFromIndexSize(xOff, len, x.length);
        Objects.checkFromIndexSize(0, len, absMax.length);
        IMPL.subtractAbsMax(c, x, xOff, absMax, len);
    }

    /**
     * Packs a row of int8 codes ({@code q8[0 .. 4·quads)}, each already in [−127, 127], as
     * {@link KernelSupport#quantizeInt8} leaves them) into {@code quads} words, word p at {@code out[outOff + p·stride]}
     * ({@link #packInt8} without its range check, for the index build).
     */
    public static void packInt8Row(int[] q8, int quads, int[] out, int outOff, int stride) {
        Objects.checkFromIndexSize(0, 4 * quads, q8.length);
        if (quads > 0) Objects.checkFromIndexSize(outOff, (quads - 1) * stride + 1, out.length);
        for (int p = 0; p < quads; p++) {
            out[outOff + p * stride] = pack(q8[4 * p], q8[4 * p + 1], q8[4 * p + 2], q8[4 * p + 3]);
        }
    }

    private static int pack(int c0, int c1, int c2, int c3) {
        return c0 + 256 * c1 + 65536 * c2 + 16777216 * c3;
    }

    /** Int8 quantisation of one residual row with its error sums; see {@link KernelSupport#quantizeInt8}. */
    public static void quantizeInt8(float[] r, int rOff, float[] inv, float[] scale, int sOff, int d, int[] q8,
                                    float[] sums) {
        Objects.checkFromIndexSize(rOff, d, r.length);
        Objects.checkFromIndexSize(0, d, inv.length);
        Objects.checkFromIndexSize(sOff, d, scale.length);
        Objects.checkFromIndexSize(0, d, q8.length);
        Objects.checkFromIndexSize(0, 3, sums.length);
        IMPL.quantizeInt8(r, rOff, inv, scale, sOff, d, q8, sums);
    }
}
