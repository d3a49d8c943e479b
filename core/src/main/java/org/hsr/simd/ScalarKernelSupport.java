package org.hsr.simd;

/** The scalar reference implementation of every kernel: plain loops, the fallback when the Vector API is absent. */
public final class ScalarKernelSupport implements KernelSupport {

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public float dot(float[] a, int aOff, float[] b, int bOff, int len) {
        float s = 0f;
        for (int i = 0; i < len; i++) {
            s += a[aOff + i] * b[bOff + i];
        }
        return s;
    }

    @Override
    public double dotDouble(float[] a, int aOff, float[] b, int bOff, int len) {
        // four independent chains hide the add latency
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i + 4 <= len; i += 4) {
            s0 += (double) a[aOff + i] * b[bOff + i];
            s1 += (double) a[aOff + i + 1] * b[bOff + i + 1];
            s2 += (double) a[aOff + i + 2] * b[bOff + i + 2];
            s3 += (double) a[aOff + i + 3] * b[bOff + i + 3];
        }
        for (; i < len; i++) s0 += (double) a[aOff + i] * b[bOff + i];
        return (s0 + s1) + (s2 + s3);
    }

    @Override
    public void dotRows(float[] q, int qOff, float[] x, int off, int stride, int count, int d, float[] out, int outOff) {
        for (int r = 0; r < count; r++) {
            out[outOff + r] = dot(q, qOff, x, off + r * stride, d);
        }
    }

    /** The value of the low 16 bits of {@code h} as bf16 or fp16. */
    public static float half(int h, boolean fp16) {
        return fp16 ? Float.float16ToFloat((short) h) : Float.intBitsToFloat(h << 16);
    }

    @Override
    public void halfDots(float[] qs, int qsOff, int[] x, int off, int stride, int count, int pairs, boolean fp16,
                         float[] out, int outOff) {
        for (int r = 0; r < count; r++) {
            float s = 0f;
            for (int i = 0, o = off + r * stride; i < pairs; i++) {
                int w = x[o + i];
                s += qs[qsOff + i] * half(w, fp16) + qs[qsOff + pairs + i] * half(w >>> 16, fp16);
            }
            out[outOff + r] = s;
        }
    }

    @Override
    public void halfAxpy(float w, int[] x, int off, int pairs, boolean fp16, float[] acc, int accOff) {
        for (int i = 0; i < pairs; i++) {
            int b = x[off + i];
            acc[accOff + i] += w * half(b, fp16);
            acc[accOff + pairs + i] += w * half(b >>> 16, fp16);
        }
    }

    @Override
    public void axpy(float a, float[] x, int xOff, float[] y, int yOff, int len) {
        for (int i = 0; i < len; i++) {
            y[yOff + i] += a * x[xOff + i];
        }
    }

    @Override
    public float max(float[] x, int off, int len) {
        float m = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < len; i++) {
            m = Math.max(m, x[off + i]);
        }
        return m;
    }

    @Override
    public float expAndSum(float[] x, int off, int len, float shift) {
        float s = 0f;
        for (int i = 0; i < len; i++) {
            float e = (float) Math.exp(x[off + i] - shift);
            x[off + i] = e;
            s += e;
        }
        return s;
    }

    @Override
    public float reluPowAndSum(float[] x, int off, int len, float bias, int alpha) {
        float rMax = 0f; // r_i = max(x_i - b, 0) in place, and their maximum (NaN propagates)
        for (int i = 0; i < len; i++) {
            float r = Math.max(x[off + i] - bias, 0f);
            x[off + i] = r;
            rMax = Math.max(rMax, r);
        }
        return reluNormalise(x, off, 0, len, rMax, alpha, 0f);
    }

    /**
     * {@code x[i] = (x[i] / rMax)^alpha} for i in [from, len), by squaring, adding to {@code sum}; also the Panama
     * kernel's tail. The division (not a multiplication by 1/rMax) keeps a subnormal row maximum exact.
     */
    public static float reluNormalise(float[] x, int off, int from, int len, float rMax, int alpha, float sum) {
        if (!(rMax > 0f)) return rMax == 0f ? 0f : Float.NaN; // all zero, or a NaN score
        if (rMax == Float.POSITIVE_INFINITY) return Float.NaN;
        float s = sum;
        for (int i = from; i < len; i++) {
            float b = x[off + i] / rMax, w = 1f;
            for (int a = alpha; ; ) {
                if ((a & 1) != 0) w *= b;
                a >>>= 1;
                if (a == 0) break;
                b *= b;
            }
            x[off + i] = w;
            s += w;
        }
        return s;
    }

    @Override
    public void scale(float[] x, int off, int len, float s) {
        for (int i = 0; i < len; i++) {
            x[off + i] *= s;
        }
    }

    @Override
    public float sum(float[] x, int off, int len) {
        float s = 0f;
        for (int i = 0; i < len; i++) {
            s += x[off + i];
        }
        return s;
    }

    @Override
    public int int8Lanes() {
        return 8;
    }

    @Override
    public void int8Scores(int[] codes, int off, int groups, int quads, int lanes, float[] qs, float[] out, int outOff) {
        for (int g = 0; g < groups; g++) {
            for (int l = 0; l < lanes; l++) {
                out[outOff + g * lanes + l] = sketchScore(codes, off, g, l, quads, lanes, qs);
            }
        }
    }

    @Override
    public void int8ScoresPair(int[] codes, int off, int groups, int quads, int lanes, float[] qsA, float[] qsB,
                               float[] outA, int outAOff, float[] outB, int outBOff) {
        int8Scores(codes, off, groups, quads, lanes, qsA, outA, outAOff);
        int8Scores(codes, off, groups, quads, lanes, qsB, outB, outBOff);
    }

    @Override
    public int sketchFilter(float[] sketch, int sOff, int count, float base, float qNorm, float[] err, int errOff,
                            float tc, int[] outSlots) {
        int n = 0;
        for (int s = 0; s < count; s++) if (base + sketch[sOff + s] + qNorm * err[errOff + s] >= tc) outSlots[n++] = s;
        return n;
    }

    @Override
    public int sketchFilterMass(float[] sketch, int sOff, int count, float base, float qNorm, float[] err, int errOff,
                                float tc, float expScale, int[] outSlots, double[] mass) {
        int n = 0;
        double sum = 0;
        for (int s = 0; s < count; s++) {
            float bound = base + sketch[sOff + s] + qNorm * err[errOff + s];
            if (bound >= tc) outSlots[n++] = s;
            else sum += Math.exp(Math.max(-80.0, (double) expScale * (bound - tc))); // as the vector form
        }
        mass[0] += sum;
        return n;
    }

    @Override
    public void weightedRows(float[] w, int wOff, float[] x, int off, int stride, int count, int len, float[] out,
                             int outOff) {
        for (int j = 0; j < count; j++) {
            axpy(w[wOff + j], x, off + j * stride, out, outOff, len);
        }
    }

    @Override
    public void halfWeightedRows(float[] w, int wOff, int[] x, int off, int stride, int count, int pairs, boolean fp16,
                                 float[] acc, int accOff) {
        for (int j = 0; j < count; j++) {
            halfAxpy(w[wOff + j], x, off + j * stride, pairs, fp16, acc, accOff);
        }
    }

    @Override
    public int int8Filter(int[] codes, int off, int groups, int quads, int lanes, float[] qs, float base, float qNorm,
                          float[] err, int errOff, float tc, int[] outSlots) {
        int count = 0;
        for (int g = 0; g < groups; g++) {
            for (int l = 0; l < lanes; l++) {
                float sketch = sketchScore(codes, off, g, l, quads, lanes, qs);
                int s = g * lanes + l;
                if (base + sketch + qNorm * err[errOff + s] >= tc) outSlots[count++] = s;
            }
        }
        return count;
    }

    @Override
    public int int8FilterMass(int[] codes, int off, int groups, int quads, int lanes, float[] qs, float base,
                              float qNorm, float[] err, int errOff, float tc, float expScale, int[] outSlots,
                              double[] mass) {
        int count = 0;
        double sum = 0;
        for (int g = 0; g < groups; g++) {
            for (int l = 0; l < lanes; l++) {
                float sketch = sketchScore(codes, off, g, l, quads, lanes, qs);
                int s = g * lanes + l;
                float bound = base + sketch + qNorm * err[errOff + s];
                if (bound >= tc) outSlots[count++] = s;
                else sum += Math.exp(Math.max(-80.0, (double) expScale * (bound - tc))); // as the vector form
            }
        }
        mass[0] += sum;
        return count;
    }

    /** {@code Σ qs[i]·code_i} of key-lane {@code l} of group {@code g}: the word's signed base-256 digits, low first. */
    private static float sketchScore(int[] codes, int off, int g, int l, int quads, int lanes, float[] qs) {
        float s = 0f;
        for (int p = 0; p < quads; p++) {
            int w = codes[off + (g * quads + p) * lanes + l];
            int c0 = (byte) w;
            w = (w - c0) >> 8;
            int c1 = (byte) w;
            w = (w - c1) >> 8;
            int c2 = (byte) w;
            int c3 = (w - c2) >> 8;
            s += qs[4 * p] * c0 + qs[4 * p + 1] * c1 + qs[4 * p + 2] * c2 + qs[4 * p + 3] * c3;
        }
        return s;
    }

    @Override
    public void int8Query(float[] q, int qOff, float[] scale, int sOff, int d, float[] prepared) {
        int padded = (d + 3) / 4 * 4;
        for (int i = 0; i < padded; i++) prepared[i] = i < d ? q[qOff + i] * scale[sOff + i] : 0f;
    }

    @Override
    public double int8Roundoff(int quads) {
        // qs_i rounded once, then a float sum of 4·quads products, each |qs_i·code_i| <= 127·|qs_i|: at most
        // 4·quads + 2 roundings on any term
        return (4.0 * quads + 3) * 127 * 0x1p-24 * (1 + 1e-3);
    }

    @Override
    public void subtractAbsMax(float[] c, float[] x, int xOff, float[] absMax, int len) {
        for (int i = 0; i < len; i++) {
            float r = x[xOff + i] - c[i];
            x[xOff + i] = r;
            absMax[i] = Math.max(absMax[i], Math.abs(r));
        }
    }

    @Override
    public void quantizeInt8(float[] r, int rOff, float[] inv, float[] scale, int sOff, int d, int[] q8, float[] sums) {
        float e2 = 0f, h2 = 0f, r2 = 0f;
        for (int t = 0; t < d; t++) {
            float x = r[rOff + t];
            float y = x * inv[t];
            int qv = Math.max(-127, Math.min(127, (int) (y + (y < 0f ? -0.5f : 0.5f))));
            float hat = scale[sOff + t] * qv;
            float e = x - hat;
            e2 += e * e;
            h2 += hat * hat;
            r2 += x * x;
            q8[t] = qv;
        }
        sums[0] = e2;
        sums[1] = h2;
        sums[2] = r2;
    }
}
