package org.hsr.simd.panama;

import static org.hsr.simd.panama.PanamaVectorConstants.FLOAT_SPECIES;
import static org.hsr.simd.panama.PanamaVectorConstants.HAS_FAST_FMA;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;
import org.hsr.simd.KernelSupport;
import org.hsr.simd.ScalarKernelSupport;

/**
 * Vector API kernels. Loaded by name from {@link org.hsr.simd.KernelProvider}; nothing else in the core links
 * against {@code jdk.incubator.vector}. Each kernel has the standard shape: a vector body with independent
 * accumulators, a scalar tail, one {@code reduceLanes} at the end. Below {@code 2 * lanes} entries the scalar
 * kernel is faster and is used instead (Lucene's rule).
 */
public final class PanamaKernelSupport implements KernelSupport {

    private static final VectorSpecies<Float> S = FLOAT_SPECIES;
    private static final int L = S.length();
    private static final VectorSpecies<Integer> IS = PanamaVectorConstants.INT_SPECIES;
    private static final float MIN_EXPONENT = -80f;
    private static final ScalarKernelSupport SCALAR = new ScalarKernelSupport();

    public PanamaKernelSupport() {}

    @Override
    public String name() {
        return "panama-" + S.vectorBitSize() + (HAS_FAST_FMA ? "-fma" : "");
    }

    /**
     * {@code a·b + acc}, fused when FMA is fast here. Small enough (25 bytes of bytecode) for C2 to inline it
     * everywhere; a larger helper returning a vector is boxed wherever it is not inlined (see {@code groupScores}).
     */
    private static FloatVector fma(FloatVector a, FloatVector b, FloatVector acc) {
        return HAS_FAST_FMA ? a.fma(b, acc) : a.mul(b).add(acc);
    }

    @Override
    public float dot(float[] a, int aOff, float[] b, int bOff, int len) {
        if (len < 2 * L) {
            return SCALAR.dot(a, aOff, b, bOff, len);
        }
        // Four accumulators: FMA latency (4 cycles) over throughput (2/cycle) wants >= 8 chains for pure compute,
        // but at head dimensions (64-128 floats = 8-16 vectors) the loop is short and memory-bound; four measured best.
        FloatVector acc0 = FloatVector.zero(S), acc1 = FloatVector.zero(S), acc2 = FloatVector.zero(S),
                acc3 = FloatVector.zero(S);
        int i = 0;
        int bound4 = len - 4 * L;
        for (; i <= bound4; i += 4 * L) {
            acc0 = fma(FloatVector.fromArray(S, a, aOff + i), FloatVector.fromArray(S, b, bOff + i), acc0);
            acc1 = fma(FloatVector.fromArray(S, a, aOff + i + L), FloatVector.fromArray(S, b, bOff + i + L), acc1);
            acc2 = fma(FloatVector.fromArray(S, a, aOff + i + 2 * L), FloatVector.fromArray(S, b, bOff + i + 2 * L), acc2);
            acc3 = fma(FloatVector.fromArray(S, a, aOff + i + 3 * L), FloatVector.fromArray(S, b, bOff + i + 3 * L), acc3);
        }
        int bound = S.loopBound(len);
        for (; i < bound; i += L) {
            acc0 = fma(FloatVector.fromArray(S, a, aOff + i), FloatVector.fromArray(S, b, bOff + i), acc0);
        }
        float s = acc0.add(acc1).add(acc2.add(acc3)).reduceLanes(VectorOperators.ADD);
        for (; i < len; i++) {
            s += a[aOff + i] * b[bOff + i];
        }
        return s;
    }

    @Override
    public double dotDouble(float[] a, int aOff, float[] b, int bOff, int len) {
        if (len < 2 * L) {
            return SCALAR.dotDouble(a, aOff, b, bOff, len);
        }
        // each float vector widens to two double vectors (F2D, parts 0 and 1); products and sums in float64
        VectorSpecies<Double> ds = PanamaVectorConstants.DOUBLE_SPECIES;
        DoubleVector acc0 = DoubleVector.zero(ds), acc1 = DoubleVector.zero(ds);
        int bound = S.loopBound(len);
        int i = 0;
        for (; i < bound; i += L) {
            FloatVector x = FloatVector.fromArray(S, a, aOff + i), y = FloatVector.fromArray(S, b, bOff + i);
            DoubleVector x0 = (DoubleVector) x.convertShape(VectorOperators.F2D, ds, 0);
            DoubleVector x1 = (DoubleVector) x.convertShape(VectorOperators.F2D, ds, 1);
            DoubleVector y0 = (DoubleVector) y.convertShape(VectorOperators.F2D, ds, 0);
            DoubleVector y1 = (DoubleVector) y.convertShape(VectorOperators.F2D, ds, 1);
            acc0 = x0.fma(y0, acc0);
            acc1 = x1.fma(y1, acc1);
        }
        double s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < len; i++) {
            s += (double) a[aOff + i] * b[bOff + i];
        }
        return s;
    }

    @Override
    public void dotRows(float[] q, int qOff, float[] keys, int keysOff, int stride, int count, int d, float[] out,
                        int outOff) {
        if (d < 2 * L) {
            SCALAR.dotRows(q, qOff, keys, keysOff, stride, count, d, out, outOff);
            return;
        }
        int bound = S.loopBound(d);
        int k = 0;
        // Four keys per pass: each query vector is loaded once for four independent FMA chains, one per key, and the
        // four key rows stream from memory side by side (this is the memory-bound q·K scan of dense attention).
        for (; k + 4 <= count; k += 4) {
            int r0 = keysOff + k * stride, r1 = r0 + stride, r2 = r1 + stride, r3 = r2 + stride;
            FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S),
                    a3 = FloatVector.zero(S);
            int i = 0;
            for (; i < bound; i += L) {
                FloatVector qv = FloatVector.fromArray(S, q, qOff + i);
                a0 = fma(FloatVector.fromArray(S, keys, r0 + i), qv, a0);
                a1 = fma(FloatVector.fromArray(S, keys, r1 + i), qv, a1);
                a2 = fma(FloatVector.fromArray(S, keys, r2 + i), qv, a2);
                a3 = fma(FloatVector.fromArray(S, keys, r3 + i), qv, a3);
            }
            float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD),
                    s2 = a2.reduceLanes(VectorOperators.ADD), s3 = a3.reduceLanes(VectorOperators.ADD);
            for (; i < d; i++) {
                float qi = q[qOff + i];
                s0 += keys[r0 + i] * qi;
                s1 += keys[r1 + i] * qi;
                s2 += keys[r2 + i] * qi;
                s3 += keys[r3 + i] * qi;
            }
            out[outOff + k] = s0;
            out[outOff + k + 1] = s1;
            out[outOff + k + 2] = s2;
            out[outOff + k + 3] = s3;
        }
        for (; k < count; k++) {
            out[outOff + k] = dot(q, qOff, keys, keysOff + k * stride, d);
        }
    }

    private static final float FP16_EXPONENT_SHIFT = 0x1p112f; // 2^(127-15): rebias an fp16 exponent moved into fp32 place
    private static final FloatVector FP16_SCALE = FloatVector.broadcast(S, FP16_EXPONENT_SHIFT);

    /**
     * The even elements (low halves) of L packed 16-bit pairs as floats. bf16: a shift. fp16: exponent and mantissa
     * moved into fp32 place ({@code << 13}) and rebiased by one multiply by 2^112, which is exact for normal and
     * subnormal halves alike (stored values are finite), with the sign or-ed in.
     */
    private static FloatVector lowHalves(IntVector w, boolean fp16) {
        if (!fp16) return w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
        IntVector mag = w.lanewise(VectorOperators.LSHL, 13).and(0x0FFFE000);
        IntVector sign = w.lanewise(VectorOperators.LSHL, 16).and(0x80000000);
        return mag.or(sign).reinterpretAsFloats().mul(FP16_SCALE);
    }

    /** The odd elements (high halves), as {@link #lowHalves}. */
    private static FloatVector highHalves(IntVector w, boolean fp16) {
        if (!fp16) return w.and(0xFFFF0000).reinterpretAsFloats();
        IntVector mag = w.lanewise(VectorOperators.LSHR, 3).and(0x0FFFE000);
        return mag.or(w.and(0x80000000)).reinterpretAsFloats().mul(FP16_SCALE);
    }

    @Override
    public void halfDots(float[] qs, int qsOff, int[] x, int off, int stride, int count, int pairs, boolean fp16,
                         float[] out, int outOff) {
        if (pairs < L) {
            SCALAR.halfDots(qs, qsOff, x, off, stride, count, pairs, fp16, out, outOff);
            return;
        }
        int bound = IS.loopBound(pairs);
        int r = 0;
        // Two rows per pass, each with an even and an odd accumulator: the query vectors are loaded once for both
        // rows; a row of d = 128 is 4 int vectors at 512 bits, so more rows per pass only add register pressure.
        for (; r + 2 <= count; r += 2) {
            int o0 = off + r * stride, o1 = o0 + stride;
            FloatVector e0 = FloatVector.zero(S), d0 = FloatVector.zero(S), e1 = FloatVector.zero(S),
                    d1 = FloatVector.zero(S);
            int i = 0;
            for (; i < bound; i += L) {
                FloatVector qe = FloatVector.fromArray(S, qs, qsOff + i), qo = FloatVector.fromArray(S, qs, qsOff + pairs + i);
                IntVector w0 = IntVector.fromArray(IS, x, o0 + i), w1 = IntVector.fromArray(IS, x, o1 + i);
                e0 = fma(lowHalves(w0, fp16), qe, e0);
                d0 = fma(highHalves(w0, fp16), qo, d0);
                e1 = fma(lowHalves(w1, fp16), qe, e1);
                d1 = fma(highHalves(w1, fp16), qo, d1);
            }
            float s0 = e0.add(d0).reduceLanes(VectorOperators.ADD), s1 = e1.add(d1).reduceLanes(VectorOperators.ADD);
            for (; i < pairs; i++) {
                int w0 = x[o0 + i], w1 = x[o1 + i];
                float qe = qs[qsOff + i], qo = qs[qsOff + pairs + i];
                s0 += qe * ScalarKernelSupport.half(w0, fp16) + qo * ScalarKernelSupport.half(w0 >>> 16, fp16);
                s1 += qe * ScalarKernelSupport.half(w1, fp16) + qo * ScalarKernelSupport.half(w1 >>> 16, fp16);
            }
            out[outOff + r] = s0;
            out[outOff + r + 1] = s1;
        }
        if (r < count) SCALAR.halfDots(qs, qsOff, x, off + r * stride, stride, count - r, pairs, fp16, out, outOff + r);
    }

    @Override
    public void halfWeightedRows(float[] w, int wOff, int[] x, int off, int stride, int count, int pairs, boolean fp16,
                                 float[] acc, int accOff) {
        if (pairs < L) {
            SCALAR.halfWeightedRows(w, wOff, x, off, stride, count, pairs, fp16, acc, accOff);
            return;
        }
        if (pairs > 4 * L) {
            // Rows wider than one block of accumulators (dv = 128 at 256 bits): one sequential axpy per row. Column
            // blocks would read every row in strided pieces: measured 12.4 ms against 8.0 ms for a bf16 dense decode
            // step at n = 131072 (the same lesson as weightedRows).
            for (int j = 0; j < count; j++) halfAxpy(w[wOff + j], x, off + j * stride, pairs, fp16, acc, accOff);
            return;
        }
        // One column block of at most four int vectors (eight float accumulators: the even and odd elements), which
        // stays in registers over all rows, so the accumulator is loaded and stored once, not once per row.
        int vecEnd = IS.loopBound(pairs), odd = accOff + pairs;
        int c = 0;
        for (; c + 4 * L <= vecEnd; c += 4 * L) {
            FloatVector e0 = FloatVector.fromArray(S, acc, accOff + c), e1 = FloatVector.fromArray(S, acc, accOff + c + L),
                    e2 = FloatVector.fromArray(S, acc, accOff + c + 2 * L), e3 = FloatVector.fromArray(S, acc, accOff + c + 3 * L);
            FloatVector o0 = FloatVector.fromArray(S, acc, odd + c), o1 = FloatVector.fromArray(S, acc, odd + c + L),
                    o2 = FloatVector.fromArray(S, acc, odd + c + 2 * L), o3 = FloatVector.fromArray(S, acc, odd + c + 3 * L);
            for (int j = 0; j < count; j++) {
                FloatVector wj = FloatVector.broadcast(S, w[wOff + j]);
                int r = off + j * stride + c;
                IntVector b0 = IntVector.fromArray(IS, x, r), b1 = IntVector.fromArray(IS, x, r + L),
                        b2 = IntVector.fromArray(IS, x, r + 2 * L), b3 = IntVector.fromArray(IS, x, r + 3 * L);
                e0 = fma(lowHalves(b0, fp16), wj, e0);
                o0 = fma(highHalves(b0, fp16), wj, o0);
                e1 = fma(lowHalves(b1, fp16), wj, e1);
                o1 = fma(highHalves(b1, fp16), wj, o1);
                e2 = fma(lowHalves(b2, fp16), wj, e2);
                o2 = fma(highHalves(b2, fp16), wj, o2);
                e3 = fma(lowHalves(b3, fp16), wj, e3);
                o3 = fma(highHalves(b3, fp16), wj, o3);
            }
            e0.intoArray(acc, accOff + c);
            e1.intoArray(acc, accOff + c + L);
            e2.intoArray(acc, accOff + c + 2 * L);
            e3.intoArray(acc, accOff + c + 3 * L);
            o0.intoArray(acc, odd + c);
            o1.intoArray(acc, odd + c + L);
            o2.intoArray(acc, odd + c + 2 * L);
            o3.intoArray(acc, odd + c + 3 * L);
        }
        for (; c < vecEnd; c += L) { // the remaining whole vectors, one column vector at a time
            FloatVector e = FloatVector.fromArray(S, acc, accOff + c), o = FloatVector.fromArray(S, acc, odd + c);
            for (int j = 0; j < count; j++) {
                FloatVector wj = FloatVector.broadcast(S, w[wOff + j]);
                IntVector b = IntVector.fromArray(IS, x, off + j * stride + c);
                e = fma(lowHalves(b, fp16), wj, e);
                o = fma(highHalves(b, fp16), wj, o);
            }
            e.intoArray(acc, accOff + c);
            o.intoArray(acc, odd + c);
        }
        for (; c < pairs; c++) { // scalar tail columns
            float e = acc[accOff + c], o = acc[odd + c];
            for (int j = 0; j < count; j++) {
                int b = x[off + j * stride + c];
                e += w[wOff + j] * ScalarKernelSupport.half(b, fp16);
                o += w[wOff + j] * ScalarKernelSupport.half(b >>> 16, fp16);
            }
            acc[accOff + c] = e;
            acc[odd + c] = o;
        }
    }

    @Override
    public void halfAxpy(float w, int[] x, int off, int pairs, boolean fp16, float[] acc, int accOff) {
        if (pairs < L) {
            SCALAR.halfAxpy(w, x, off, pairs, fp16, acc, accOff);
            return;
        }
        FloatVector wv = FloatVector.broadcast(S, w);
        int bound = IS.loopBound(pairs);
        int i = 0;
        for (; i < bound; i += L) {
            IntVector b = IntVector.fromArray(IS, x, off + i);
            int e = accOff + i, o = accOff + pairs + i;
            fma(lowHalves(b, fp16), wv, FloatVector.fromArray(S, acc, e)).intoArray(acc, e);
            fma(highHalves(b, fp16), wv, FloatVector.fromArray(S, acc, o)).intoArray(acc, o);
        }
        for (; i < pairs; i++) {
            int b = x[off + i];
            acc[accOff + i] += w * ScalarKernelSupport.half(b, fp16);
            acc[accOff + pairs + i] += w * ScalarKernelSupport.half(b >>> 16, fp16);
        }
    }

    @Override
    public void axpy(float a, float[] x, int xOff, float[] y, int yOff, int len) {
        if (len < 2 * L) {
            SCALAR.axpy(a, x, xOff, y, yOff, len);
            return;
        }
        FloatVector av = FloatVector.broadcast(S, a);
        int bound = S.loopBound(len);
        int i = 0;
        for (; i < bound; i += L) {
            FloatVector yv = FloatVector.fromArray(S, y, yOff + i);
            fma(FloatVector.fromArray(S, x, xOff + i), av, yv).intoArray(y, yOff + i);
        }
        for (; i < len; i++) {
            y[yOff + i] += a * x[xOff + i];
        }
    }

    @Override
    public float max(float[] x, int off, int len) {
        if (len < 2 * L) {
            return SCALAR.max(x, off, len);
        }
        FloatVector m0 = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY), m1 = m0;
        int i = 0;
        for (; i + 2 * L <= len; i += 2 * L) {
            m0 = m0.max(FloatVector.fromArray(S, x, off + i));
            m1 = m1.max(FloatVector.fromArray(S, x, off + i + L));
        }
        float m = m0.max(m1).reduceLanes(VectorOperators.MAX);
        for (; i < len; i++) {
            m = Math.max(m, x[off + i]);
        }
        return m;
    }

    @Override
    public float expAndSum(float[] x, int off, int len, float shift) {
        if (len < 2 * L) {
            return SCALAR.expAndSum(x, off, len, shift);
        }
        FloatVector sv = FloatVector.broadcast(S, shift);
        FloatVector acc = FloatVector.zero(S);
        int bound = S.loopBound(len);
        int i = 0;
        for (; i < bound; i += L) {
            FloatVector e = FloatVector.fromArray(S, x, off + i).sub(sv).lanewise(VectorOperators.EXP);
            e.intoArray(x, off + i);
            acc = acc.add(e);
        }
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; i < len; i++) {
            float e = (float) Math.exp(x[off + i] - shift);
            x[off + i] = e;
            s += e;
        }
        return s;
    }

    @Override
    public float reluPowAndSum(float[] x, int off, int len, float bias, int alpha) {
        if (len < 2 * L) {
            return SCALAR.reluPowAndSum(x, off, len, bias, alpha);
        }
        FloatVector bv = FloatVector.broadcast(S, bias);
        FloatVector zero = FloatVector.zero(S);
        int bound = S.loopBound(len);
        // pass 1: r = max(x - b, 0) in place, and the row maximum
        FloatVector m = zero;
        int i = 0;
        for (; i < bound; i += L) {
            FloatVector r = FloatVector.fromArray(S, x, off + i).sub(bv).max(zero);
            r.intoArray(x, off + i);
            m = m.max(r);
        }
        float rMax = m.reduceLanes(VectorOperators.MAX);
        boolean nan = m.test(VectorOperators.IS_NAN).anyTrue(); // lanewise max keeps NaN; the reduction may not
        for (; i < len; i++) {
            float r = Math.max(x[off + i] - bias, 0f);
            x[off + i] = r;
            rMax = Math.max(rMax, r);
        }
        if (nan || !(rMax > 0f) || rMax == Float.POSITIVE_INFINITY) {
            return ScalarKernelSupport.reluNormalise(x, off, len, len, nan ? Float.NaN : rMax, alpha, 0f);
        }
        // pass 2: w = (r / rMax)^alpha by squaring, in [0, 1]
        FloatVector mv = FloatVector.broadcast(S, rMax);
        FloatVector acc = zero;
        for (i = 0; i < bound; i += L) {
            FloatVector b = FloatVector.fromArray(S, x, off + i).div(mv), w = FloatVector.broadcast(S, 1f);
            for (int a = alpha; ; ) {
                if ((a & 1) != 0) w = w.mul(b);
                a >>>= 1;
                if (a == 0) break;
                b = b.mul(b);
            }
            w.intoArray(x, off + i);
            acc = acc.add(w);
        }
        return ScalarKernelSupport.reluNormalise(x, off, bound, len, rMax, alpha, acc.reduceLanes(VectorOperators.ADD));
    }

    @Override
    public void scale(float[] x, int off, int len, float s) {
        if (len < 2 * L) {
            SCALAR.scale(x, off, len, s);
            return;
        }
        FloatVector sv = FloatVector.broadcast(S, s);
        int bound = S.loopBound(len);
        int i = 0;
        for (; i < bound; i += L) {
            FloatVector.fromArray(S, x, off + i).mul(sv).intoArray(x, off + i);
        }
        for (; i < len; i++) {
            x[off + i] *= s;
        }
    }

    @Override
    public float sum(float[] x, int off, int len) {
        if (len < 2 * L) {
            return SCALAR.sum(x, off, len);
        }
        // Four accumulators so the loop is limited by loads, not by the add latency: this is the bandwidth probe.
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i + 4 * L <= len; i += 4 * L) {
            a0 = a0.add(FloatVector.fromArray(S, x, off + i));
            a1 = a1.add(FloatVector.fromArray(S, x, off + i + L));
            a2 = a2.add(FloatVector.fromArray(S, x, off + i + 2 * L));
            a3 = a3.add(FloatVector.fromArray(S, x, off + i + 3 * L));
        }
        int bound = S.loopBound(len);
        for (; i < bound; i += L) {
            a0 = a0.add(FloatVector.fromArray(S, x, off + i));
        }
        float s = a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
        for (; i < len; i++) {
            s += x[off + i];
        }
        return s;
    }

    @Override
    public int int8Lanes() {
        return IS.length();
    }

    @Override
    public void int8Scores(int[] codes, int off, int groups, int quads, int lanes, float[] qs, float[] out, int outOff) {
        if (lanes != IS.length()) {
            SCALAR.int8Scores(codes, off, groups, quads, lanes, qs, out, outOff);
            return;
        }
        for (int g = 0; g < groups; g++) {
            groupScores(codes, off + g * quads * lanes, quads, qs, out, outOff + g * lanes);
        }
    }

    @Override
    public void weightedRows(float[] w, int wOff, float[] v, int vOff, int stride, int count, int dv, float[] out,
                             int outOff) {
        if (dv < 2 * L || dv > 8 * L) {
            // Tiny rows: scalar. Rows wider than 8 accumulators (dv = 128 at 256 bits): one sequential axpy per row;
            // tiling the columns would read every row in strided pieces (measured 2x slower at n = 131072).
            for (int j = 0; j < count; j++) axpy(w[wOff + j], v, vOff + j * stride, out, outOff, dv);
            return;
        }
        // The output row fits in registers: accumulate over a block of keys so `out` is loaded and stored once per
        // block, not once per key (per-key axpy at 512 bits, n = 131072, dv = 128: 4.1-5.0 ms; this: 2.0-2.2 ms).
        final int block = 64; // what the column loop below re-reads from L1 stays <= 32 KiB
        int vecEnd = S.loopBound(dv);
        for (int j0 = 0; j0 < count; j0 += block) {
            int j1 = Math.min(count, j0 + block);
            int c = 0;
            if (vecEnd == 8 * L) {
                FloatVector a0 = FloatVector.fromArray(S, out, outOff), a1 = FloatVector.fromArray(S, out, outOff + L),
                        a2 = FloatVector.fromArray(S, out, outOff + 2 * L), a3 = FloatVector.fromArray(S, out, outOff + 3 * L),
                        a4 = FloatVector.fromArray(S, out, outOff + 4 * L), a5 = FloatVector.fromArray(S, out, outOff + 5 * L),
                        a6 = FloatVector.fromArray(S, out, outOff + 6 * L), a7 = FloatVector.fromArray(S, out, outOff + 7 * L);
                for (int j = j0; j < j1; j++) {
                    FloatVector wj = FloatVector.broadcast(S, w[wOff + j]);
                    int r = vOff + j * stride;
                    a0 = fma(FloatVector.fromArray(S, v, r), wj, a0);
                    a1 = fma(FloatVector.fromArray(S, v, r + L), wj, a1);
                    a2 = fma(FloatVector.fromArray(S, v, r + 2 * L), wj, a2);
                    a3 = fma(FloatVector.fromArray(S, v, r + 3 * L), wj, a3);
                    a4 = fma(FloatVector.fromArray(S, v, r + 4 * L), wj, a4);
                    a5 = fma(FloatVector.fromArray(S, v, r + 5 * L), wj, a5);
                    a6 = fma(FloatVector.fromArray(S, v, r + 6 * L), wj, a6);
                    a7 = fma(FloatVector.fromArray(S, v, r + 7 * L), wj, a7);
                }
                a0.intoArray(out, outOff);
                a1.intoArray(out, outOff + L);
                a2.intoArray(out, outOff + 2 * L);
                a3.intoArray(out, outOff + 3 * L);
                a4.intoArray(out, outOff + 4 * L);
                a5.intoArray(out, outOff + 5 * L);
                a6.intoArray(out, outOff + 6 * L);
                a7.intoArray(out, outOff + 7 * L);
                c = 8 * L;
            }
            for (; c < vecEnd; c += L) { // narrower rows: one accumulator per column vector, the block from L1
                FloatVector a = FloatVector.fromArray(S, out, outOff + c);
                for (int j = j0; j < j1; j++) {
                    a = fma(FloatVector.fromArray(S, v, vOff + j * stride + c), FloatVector.broadcast(S, w[wOff + j]), a);
                }
                a.intoArray(out, outOff + c);
            }
            for (; c < dv; c++) { // scalar tail columns
                float s = out[outOff + c];
                for (int j = j0; j < j1; j++) s += w[wOff + j] * v[vOff + j * stride + c];
                out[outOff + c] = s;
            }
        }
    }

    /**
     * The sketch scores of one group of {@code lanes} keys into {@code out}. Each word holds four codes as signed
     * base-256 digits ({@link org.hsr.simd.Kernels#packInt8}), so {@code F_j = (float) (word << 8·(3−j))} is, exactly,
     * {@code 2^24·(c_j + c_(j−1)/256 + …)} for j < 3 (at most 24 significant bits), and {@code F_3 = (float) word}
     * rounds by at most 64. With the coefficients of {@link #int8Query}, {@code Σ_j k_j·F_j = Σ_j qs_j·c_j}:
     * three shifts, four int-to-float casts and four FMAs per four dimensions of {@code lanes} keys, where isolating and
     * sign-extending every byte took seven shifts. Four accumulators, one per digit, so the FMA chains are
     * independent. (convert(I2F) and ByteVector B2F fall off the intrinsics.) It stores its result instead of
     * returning a vector: this method is too large to be inlined at every call site, and a vector that crosses a
     * call that is not inlined is boxed, which made the decode ~15x slower.
     */
    private static void groupScores(int[] codes, int base, int quads, float[] k, float[] out, int outOff) {
        int lanes = IS.length();
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        for (int p = 0; p < quads; p++) {
            IntVector w = IntVector.fromArray(IS, codes, base + p * lanes);
            FloatVector f0 = (FloatVector) w.lanewise(VectorOperators.LSHL, 24).castShape(S, 0);
            FloatVector f1 = (FloatVector) w.lanewise(VectorOperators.LSHL, 16).castShape(S, 0);
            FloatVector f2 = (FloatVector) w.lanewise(VectorOperators.LSHL, 8).castShape(S, 0);
            FloatVector f3 = (FloatVector) w.castShape(S, 0);
            // fma written out (not through the fma helper): a helper C2 declines to inline would box the vectors
            FloatVector k0 = FloatVector.broadcast(S, k[4 * p]), k1 = FloatVector.broadcast(S, k[4 * p + 1]),
                    k2 = FloatVector.broadcast(S, k[4 * p + 2]), k3 = FloatVector.broadcast(S, k[4 * p + 3]);
            a0 = HAS_FAST_FMA ? f0.fma(k0, a0) : f0.mul(k0).add(a0);
            a1 = HAS_FAST_FMA ? f1.fma(k1, a1) : f1.mul(k1).add(a1);
            a2 = HAS_FAST_FMA ? f2.fma(k2, a2) : f2.mul(k2).add(a2);
            a3 = HAS_FAST_FMA ? f3.fma(k3, a3) : f3.mul(k3).add(a3);
        }
        a0.add(a1).add(a2.add(a3)).intoArray(out, outOff);
    }

    @Override
    public void int8ScoresPair(int[] codes, int off, int groups, int quads, int lanes, float[] qsA, float[] qsB,
                               float[] outA, int outAOff, float[] outB, int outBOff) {
        if (lanes != IS.length()) {
            SCALAR.int8ScoresPair(codes, off, groups, quads, lanes, qsA, qsB, outA, outAOff, outB, outBOff);
            return;
        }
        for (int g = 0; g < groups; g++) {
            groupScoresPair(codes, off + g * quads * lanes, quads, qsA, qsB, outA, outAOff + g * lanes, outB,
                    outBOff + g * lanes);
        }
    }

    /**
     * {@link #groupScores} for two queries: each word's four digit vectors are made once and multiplied into both
     * queries' four accumulators, in the same order as {@code groupScores} does for each, so the results are the same
     * bit for bit. Twelve vector registers live (eight accumulators, four digits), within AVX2's sixteen.
     */
    private static void groupScoresPair(int[] codes, int base, int quads, float[] ka, float[] kb, float[] outA,
                                        int outAOff, float[] outB, int outBOff) {
        int lanes = IS.length();
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int p = 0; p < quads; p++) {
            IntVector w = IntVector.fromArray(IS, codes, base + p * lanes);
            FloatVector f0 = (FloatVector) w.lanewise(VectorOperators.LSHL, 24).castShape(S, 0);
            FloatVector f1 = (FloatVector) w.lanewise(VectorOperators.LSHL, 16).castShape(S, 0);
            FloatVector f2 = (FloatVector) w.lanewise(VectorOperators.LSHL, 8).castShape(S, 0);
            FloatVector f3 = (FloatVector) w.castShape(S, 0);
            int k = 4 * p;
            if (HAS_FAST_FMA) { // written out: a helper C2 declines to inline would box the vectors
                a0 = f0.fma(FloatVector.broadcast(S, ka[k]), a0);
                a1 = f1.fma(FloatVector.broadcast(S, ka[k + 1]), a1);
                a2 = f2.fma(FloatVector.broadcast(S, ka[k + 2]), a2);
                a3 = f3.fma(FloatVector.broadcast(S, ka[k + 3]), a3);
                b0 = f0.fma(FloatVector.broadcast(S, kb[k]), b0);
                b1 = f1.fma(FloatVector.broadcast(S, kb[k + 1]), b1);
                b2 = f2.fma(FloatVector.broadcast(S, kb[k + 2]), b2);
                b3 = f3.fma(FloatVector.broadcast(S, kb[k + 3]), b3);
            } else {
                a0 = f0.mul(FloatVector.broadcast(S, ka[k])).add(a0);
                a1 = f1.mul(FloatVector.broadcast(S, ka[k + 1])).add(a1);
                a2 = f2.mul(FloatVector.broadcast(S, ka[k + 2])).add(a2);
                a3 = f3.mul(FloatVector.broadcast(S, ka[k + 3])).add(a3);
                b0 = f0.mul(FloatVector.broadcast(S, kb[k])).add(b0);
                b1 = f1.mul(FloatVector.broadcast(S, kb[k + 1])).add(b1);
                b2 = f2.mul(FloatVector.broadcast(S, kb[k + 2])).add(b2);
                b3 = f3.mul(FloatVector.broadcast(S, kb[k + 3])).add(b3);
            }
        }
        a0.add(a1).add(a2.add(a3)).intoArray(outA, outAOff);
        b0.add(b1).add(b2.add(b3)).intoArray(outB, outBOff);
    }

    @Override
    public int sketchFilter(float[] sketch, int sOff, int count, float base, float qNorm, float[] err, int errOff,
                            float tc, int[] outSlots) {
        if (count % L != 0) return SCALAR.sketchFilter(sketch, sOff, count, base, qNorm, err, errOff, tc, outSlots);
        FloatVector baseV = FloatVector.broadcast(S, base);
        int n = 0;
        for (int s = 0; s < count; s += L) { // the same arithmetic as int8Filter's
            FloatVector bound = FloatVector.fromArray(S, sketch, sOff + s).add(baseV)
                    .add(FloatVector.fromArray(S, err, errOff + s).mul(qNorm));
            n = appendPassing(bound.compare(VectorOperators.GE, tc), s, outSlots, n);
        }
        return n;
    }

    @Override
    public int sketchFilterMass(float[] sketch, int sOff, int count, float base, float qNorm, float[] err, int errOff,
                                float tc, float expScale, int[] outSlots, double[] mass) {
        if (count % L != 0) {
            return SCALAR.sketchFilterMass(sketch, sOff, count, base, qNorm, err, errOff, tc, expScale, outSlots, mass);
        }
        FloatVector baseV = FloatVector.broadcast(S, base), tcV = FloatVector.broadcast(S, tc);
        FloatVector acc = FloatVector.zero(S);
        int n = 0;
        for (int s = 0; s < count; s += L) { // the same arithmetic as int8FilterMass's
            FloatVector bound = FloatVector.fromArray(S, sketch, sOff + s).add(baseV)
                    .add(FloatVector.fromArray(S, err, errOff + s).mul(qNorm));
            VectorMask<Float> pass = bound.compare(VectorOperators.GE, tcV);
            acc = acc.add(bound.sub(tcV).mul(expScale).max(MIN_EXPONENT).lanewise(VectorOperators.EXP), pass.not());
            n = appendPassing(pass, s, outSlots, n);
        }
        mass[0] += acc.reduceLanes(VectorOperators.ADD);
        return n;
    }

    /** Bit masks of the digits j < 3 within a quad (lane t of a vector at a multiple of 4: t % 4 != 3). */
    private static final VectorMask<Float> NOT_TOP_DIGIT = VectorMask.fromLong(S, 0x7777_7777_7777_7777L);
    /** Lane i takes lane i+1 (the last lane wraps to lane 0). */
    private static final VectorShuffle<Float> NEXT_LANE = VectorShuffle.iota(S, 1, 1, true);

    /**
     * The coefficients {@link #groupScores} reads: with {@code qs_t = q_t·s_t} (0 from d on),
     * {@code k_(4p+3) = 2^−24·qs_(4p+3)} and {@code k_(4p+j) = 2^−24·(qs_(4p+j) − qs_(4p+j+1)/256)} for {@code j < 3}.
     */
    @Override
    public void int8Query(float[] q, int qOff, float[] scale, int sOff, int d, float[] k) {
        int n = (d + 3) / 4 * 4;
        int t = 0;
        for (int bound = S.loopBound(d); t < bound; t += L) {
            FloatVector x = FloatVector.fromArray(S, q, qOff + t).mul(FloatVector.fromArray(S, scale, sOff + t));
            // lane i needs lane i+1's product: a lane rotation. The last lane is a top digit (L is a multiple of 4), so
            // what wraps into it is masked off. (Loading q[t+1 ..] instead could not take the last whole vector, and
            // the scalar loop below then ran a whole vector's worth per block: a quarter of the sketch pass.)
            FloatVector next = x.rearrange(NEXT_LANE);
            x.sub(next.mul(1f / 256), NOT_TOP_DIGIT).mul(0x1p-24f).intoArray(k, t);
        }
        for (; t < n; t++) {
            float x = t < d ? q[qOff + t] * scale[sOff + t] : 0f;
            float next = t % 4 == 3 || t + 1 >= d ? 0f : q[qOff + t + 1] * scale[sOff + t + 1];
            k[t] = (x - next / 256) * 0x1p-24f;
        }
    }

    @Override
    public double int8Roundoff(int quads) {
        // Σ_j |k_j·F_j| <= 128.6·Σ_i |qs_i| (|F_j|·2^-24 < 127.51, |k_j|·2^24 <= |qs_j| + |qs_(j+1)|/256); the FMA chains
        // and the final three adds round at most quads + 3 times on any term; each coefficient rounds once (u); the
        // cast of the whole word rounds by <= 64, i.e. 2^-18·|qs| per quad
        double u = 0x1p-24;
        // each coefficient: two products, a scaling and a difference, <= 3 roundings of |qs_t| + |qs_(t+1)|/256
        return ((quads + 4) * u * 128.6 + 3 * 129 * u + 0x1p-18) * (1 + 1e-3);
    }

    @Override
    public int int8Filter(int[] codes, int off, int groups, int quads, int lanes, float[] qs, float base, float qNorm,
                          float[] err, int errOff, float tc, int[] outSlots) {
        if (lanes != IS.length()) {
            return SCALAR.int8Filter(codes, off, groups, quads, lanes, qs, base, qNorm, err, errOff, tc, outSlots);
        }
        // the bound base + sketch + ‖q‖·err compared in vector form: most groups have no candidate and cost no branch
        FloatVector baseV = FloatVector.broadcast(S, base);
        float[] sketch = new float[groups * lanes];
        int count = 0;
        for (int g = 0; g < groups; g++) {
            groupScores(codes, off + g * quads * lanes, quads, qs, sketch, g * lanes);
            FloatVector bound = FloatVector.fromArray(S, sketch, g * lanes).add(baseV)
                    .add(FloatVector.fromArray(S, err, errOff + g * lanes).mul(qNorm));
            VectorMask<Float> pass = bound.compare(VectorOperators.GE, tc);
            count = appendPassing(pass, g * lanes, outSlots, count);
        }
        return count;
    }

    @Override
    public int int8FilterMass(int[] codes, int off, int groups, int quads, int lanes, float[] qs, float base,
                              float qNorm, float[] err, int errOff, float tc, float expScale, int[] outSlots,
                              double[] mass) {
        if (lanes != IS.length()) {
            return SCALAR.int8FilterMass(codes, off, groups, quads, lanes, qs, base, qNorm, err, errOff, tc, expScale,
                    outSlots, mass);
        }
        FloatVector baseV = FloatVector.broadcast(S, base);
        FloatVector tcV = FloatVector.broadcast(S, tc);
        FloatVector acc = FloatVector.zero(S);
        float[] sketch = new float[groups * lanes];
        int count = 0;
        for (int g = 0; g < groups; g++) {
            groupScores(codes, off + g * quads * lanes, quads, qs, sketch, g * lanes);
            FloatVector bound = FloatVector.fromArray(S, sketch, g * lanes).add(baseV)
                    .add(FloatVector.fromArray(S, err, errOff + g * lanes).mul(qNorm));
            VectorMask<Float> pass = bound.compare(VectorOperators.GE, tcV);
            // exp(expScale·(bound − tc)) <= 1 on the failing lanes; the passing lanes add nothing. The exponent is
            // clamped at -80 so a term never underflows below its true value (the sum must stay an upper bound).
            acc = acc.add(bound.sub(tcV).mul(expScale).max(MIN_EXPONENT).lanewise(VectorOperators.EXP), pass.not());
            count = appendPassing(pass, g * lanes, outSlots, count);
        }
        mass[0] += acc.reduceLanes(VectorOperators.ADD);
        return count;
    }

    @Override
    public void subtractAbsMax(float[] c, float[] x, int xOff, float[] absMax, int len) {
        if (len < 2 * L) {
            SCALAR.subtractAbsMax(c, x, xOff, absMax, len);
            return;
        }
        int bound = S.loopBound(len);
        int i = 0;
        for (; i < bound; i += L) {
            FloatVector r = FloatVector.fromArray(S, x, xOff + i).sub(FloatVector.fromArray(S, c, i));
            r.intoArray(x, xOff + i);
            FloatVector.fromArray(S, absMax, i).max(r.abs()).intoArray(absMax, i);
        }
        for (; i < len; i++) {
            float r = x[xOff + i] - c[i];
            x[xOff + i] = r;
            absMax[i] = Math.max(absMax[i], Math.abs(r));
        }
    }

    @Override
    public void quantizeInt8(float[] r, int rOff, float[] inv, float[] scale, int sOff, int d, int[] q8, float[] sums) {
        if (d < 2 * L) {
            SCALAR.quantizeInt8(r, rOff, inv, scale, sOff, d, q8, sums);
            return;
        }
        FloatVector half = FloatVector.broadcast(S, 0.5f), zero = FloatVector.zero(S);
        FloatVector e2 = zero, h2 = zero, r2 = zero;
        int bound = S.loopBound(d);
        int t = 0;
        for (; t < bound; t += L) {
            FloatVector x = FloatVector.fromArray(S, r, rOff + t);
            FloatVector y = x.mul(FloatVector.fromArray(S, inv, t));
            // round half away from zero: truncate y ± 0.5
            y = y.add(half.blend(half.neg(), y.compare(VectorOperators.LT, 0f)));
            IntVector qv = ((IntVector) y.castShape(IS, 0)).max(-127).min(127);
            qv.intoArray(q8, t);
            FloatVector hat = ((FloatVector) qv.castShape(S, 0)).mul(FloatVector.fromArray(S, scale, sOff + t));
            FloatVector e = x.sub(hat);
            e2 = fma(e, e, e2);
            h2 = fma(hat, hat, h2);
            r2 = fma(x, x, r2);
        }
        float se = e2.reduceLanes(VectorOperators.ADD), sh = h2.reduceLanes(VectorOperators.ADD),
                sr = r2.reduceLanes(VectorOperators.ADD);
        for (; t < d; t++) {
            float x = r[rOff + t];
            float y = x * inv[t];
            int qv = Math.max(-127, Math.min(127, (int) (y + (y < 0f ? -0.5f : 0.5f))));
            float hat = scale[sOff + t] * qv;
            float e = x - hat;
            se += e * e;
            sh += hat * hat;
            sr += x * x;
            q8[t] = qv;
        }
        sums[0] = se;
        sums[1] = sh;
        sums[2] = sr;
    }

    /**
     * Appends {@code base + i} for every set lane i of {@code pass} to {@code out} at {@code count}; returns the new
     * count. With 512-bit vectors (AVX-512: vpcompressd) a branch-free compress that stores a whole vector, so out
     * must have room for {@code count + lanes} (entries past the new count are scratch). Measured on the Gaussian walk,
     * n = 131072, three alternated runs: 7000 candidates per query 1.31-1.37 -> 1.18-1.24 ms; at 2300, within noise.
     * Elsewhere (AVX2 has no compress instruction) a loop over the mask bits.
     */
    private static int appendPassing(VectorMask<Float> pass, int base, int[] out, int count) {
        if (COMPRESS) {
            VectorMask<Integer> lanes = pass.cast(IS);
            LANE_IOTA.add(base).compress(lanes).intoArray(out, count);
            return count + lanes.trueCount();
        }
        return pass.anyTrue() ? appendLanes(pass.toLong(), base, out, count) : count;
    }

    private static final boolean COMPRESS = S.vectorBitSize() == 512;
    private static final IntVector LANE_IOTA = (IntVector) IS.iotaShuffle(0, 1, false).toVector();

    /** Appends {@code base + i} to {@code out} for every set bit i of {@code bits}; returns the new count. */
    private static int appendLanes(long bits, int base, int[] out, int count) {
        while (bits != 0) {
            out[count++] = base + Long.numberOfTrailingZeros(bits);
            bits &= bits - 1;
        }
        return count;
    }
}
