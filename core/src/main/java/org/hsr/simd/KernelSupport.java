package org.hsr.simd;

/**
 * The numeric kernels of the project, implemented once in scalar Java ({@link ScalarKernelSupport}) and once on the
 * Vector API ({@code org.hsr.simd.panama.PanamaKernelSupport}). Call them through the {@link Kernels} facade, which
 * checks arguments; implementations only {@code assert}.
 *
 * <p>Arrays are row-major: key {@code i} of dimension {@code d} starting at {@code off} occupies
 * {@code x[off + i*d .. off + i*d + d)}. Implementations are stateless and thread-safe.
 */
public interface KernelSupport {

    /** Short name for logs and reports ("scalar", "panama-256"). */
    String name();

    /** {@code Σ a[aOff+i]·b[bOff+i]} for {@code i < len}. */
    float dot(float[] a, int aOff, float[] b, int bOff, int len);

    /**
     * One query against a block of consecutive keys: {@code out[outOff+i] = <q, key i>} for {@code i < count}, where
     * key i is {@code keys[keysOff + i*d .. + d)}.
     */
    default void dotMany(float[] q, int qOff, float[] keys, int keysOff, int count, int d, float[] out, int outOff) {
        dotRows(q, qOff, keys, keysOff, d, count, d, out, outOff);
    }

    /**
     * {@code out[outOff+r] = <q[qOff..qOff+d), x[off + r·stride ..]>} for {@code r < count}: rows {@code stride >= d}
     * floats apart (the cache keeps each key's value beside it, so rows are {@code d + dv} apart).
     */
    void dotRows(float[] q, int qOff, float[] x, int off, int stride, int count, int d, float[] out, int outOff);

    /**
     * Scores of packed 16-bit rows (bf16, or fp16 when {@code fp16}; two elements per int, element 2i in the low
     * half): {@code out[outOff+r] = Σ_i qs[o+i]·lo(x_r[i]) + qs[o+pairs+i]·hi(x_r[i])} (o = qsOff) for {@code i < pairs}, row r at
     * {@code x[off + r·stride]}. {@code qs} holds the query's even elements, then its odd ones ({@link
     * Kernels#splitQuery}).
     */
    void halfDots(float[] qs, int qsOff, int[] x, int off, int stride, int count, int pairs, boolean fp16, float[] out,
                  int outOff);

    /**
     * {@code acc[a+i] += w·lo(x[off+i])} and {@code acc[a+pairs+i] += w·hi(x[off+i])} (a = accOff) for {@code i < pairs}: a value sum
     * over packed 16-bit rows, kept split into even and odd elements until {@link Kernels#joinSplit}.
     */
    void halfAxpy(float w, int[] x, int off, int pairs, boolean fp16, float[] acc, int accOff);

    /** {@code y[yOff+i] += a·x[xOff+i]} for {@code i < len} (the value sum of attention). */
    void axpy(float a, float[] x, int xOff, float[] y, int yOff, int len);

    /** {@code <a, b>} accumulated in float64 (products of floats are exact in double). */
    double dotDouble(float[] a, int aOff, float[] b, int bOff, int len);

    /** {@code max x[off..off+len)}; {@code -Infinity} for {@code len == 0}. */
    float max(float[] x, int off, int len);

    /** In place {@code x[i] = exp(x[i] − shift)}; returns {@code Σ x[i]} after the update. */
    float expAndSum(float[] x, int off, int len, float shift);

    /**
     * In place ReLU^α weights normalised by the row maximum: with {@code r_i = max(x[i] − bias, 0)} and
     * {@code r = max_i r_i}, {@code x[i] = (r_i / r)^alpha}, each in [0, 1] and 1 for the largest, so that neither a
     * power of a score just above the bias (underflow) nor a large α (overflow) loses the row; the power by squaring
     * (O(log α)). Returns their sum: 0 when every {@code r_i} is 0, at least 1 otherwise, NaN when a score is NaN
     * or +Infinity (the caller refuses the row). {@code alpha >= 1}.
     */
    float reluPowAndSum(float[] x, int off, int len, float bias, int alpha);

    /** In place {@code x[i] *= s}. */
    void scale(float[] x, int off, int len, float s);

    /** {@code Σ x[off..off+len)}: also the plain streaming read used to measure memory bandwidth. */
    float sum(float[] x, int off, int len);

    /**
     * Lane count of the int8 sketch layout this implementation decodes fastest (the int lanes of its vectors; 8 for
     * the scalar one). Indexes lay their codes out with this many keys per group.
     */
    int int8Lanes();

    /**
     * Approximate scores of int8-coded keys (the index's sketch). Keys come in groups of {@code lanes}; each group holds
     * {@code quads} words per key-lane, word {@code p} of lane {@code l} of group {@code g} at
     * {@code codes[off + (g*quads + p)*lanes + l]} holding the codes {@code c0..c3} (each in [−127, 127]) of dimensions
     * {@code 4p..4p+3} as signed base-256 digits, {@code word = c0 + 256·c1 + 65536·c2 + 16777216·c3}
     * ({@link org.hsr.simd.Kernels#packInt8}). {@code qs} comes from {@link #int8Query}. Writes
     * {@code out[outOff + g*lanes + l] ≈ Σ_i qs_i·code_i} for {@code i < 4*quads}, off by at most
     * {@link #int8Roundoff}{@code (quads)·Σ_i |qs_i|} (qs_i the exact products {@code q_i·scale_i}).
     */
    void int8Scores(int[] codes, int off, int groups, int quads, int lanes, float[] qs, float[] out, int outOff);

    /**
     * {@link #int8Scores} of the same codes for two prepared queries at once, {@code qsA} into {@code outA} and
     * {@code qsB} into {@code outB}: each code word is decoded once for both (the query heads of a grouped-query kv
     * head). The results equal two {@code int8Scores} calls bit for bit.
     */
    void int8ScoresPair(int[] codes, int off, int groups, int quads, int lanes, float[] qsA, float[] qsB, float[] outA,
                        int outAOff, float[] outB, int outBOff);

    /**
     * {@link #int8Filter} from sketch scores already computed ({@code sketch[sOff + s]} for slot {@code s < count}),
     * with the same bound and the same arithmetic: writes the passing slots to {@code outSlots}, returns how many.
     */
    int sketchFilter(float[] sketch, int sOff, int count, float base, float qNorm, float[] err, int errOff, float tc,
                     int[] outSlots);

    /** {@link #int8FilterMass} from sketch scores already computed (see {@link #sketchFilter}). */
    int sketchFilterMass(float[] sketch, int sOff, int count, float base, float qNorm, float[] err, int errOff,
                         float tc, float expScale, int[] outSlots, double[] mass);

    /**
     * A block's query for the int8 kernels: stands for {@code qs_i = q[qOff+i]·scale[sOff+i]} for {@code i < d} and
     * 0 up to {@code 4·ceil(d/4)}, written into {@code prepared} in the form this implementation's kernels read (the
     * parameter they call {@code qs}): the products themselves in the scalar kernels, the coefficients of their digit
     * decode in the vector ones. Always prepare with the implementation that will read it.
     */
    void int8Query(float[] q, int qOff, float[] scale, int sOff, int d, float[] prepared);

    /**
     * A bound C on the rounding of this implementation's int8 sketch scores, {@link #int8Query} included:
     * {@code |computed − Σ_i qs_i·code_i| <= C·Σ_i |qs_i|} for {@code 4*quads} dimensions (the index adds it to its
     * per-key error bounds).
     */
    double int8Roundoff(int quads);

    /**
     * The value pass of attention: {@code out[outOff+c] += Σ_{j<count} w[wOff+j]·v[vOff + j*dv + c]} for
     * {@code c < dv}, values row-major.
     */
    default void weightedSum(float[] w, int wOff, float[] v, int vOff, int count, int dv, float[] out, int outOff) {
        weightedRows(w, wOff, v, vOff, dv, count, dv, out, outOff);
    }

    /**
     * {@link #weightedSum} over rows {@code stride} floats apart: {@code out[outOff+c] += Σ_j w[wOff+j]·x[off +
     * j·stride + c]} for {@code c < len}.
     */
    void weightedRows(float[] w, int wOff, float[] x, int off, int stride, int count, int len, float[] out, int outOff);

    /**
     * The value pass over packed 16-bit rows: {@code halfAxpy(w[wOff+j], x, off + j·stride, pairs, fp16, acc, accOff)}
     * for every {@code j < count}, with the accumulator kept in registers across rows where it fits.
     */
    void halfWeightedRows(float[] w, int wOff, int[] x, int off, int stride, int count, int pairs, boolean fp16,
                          float[] acc, int accOff);

    /**
     * The sketch filter of one block, fused with {@link #int8Scores}: for slot {@code s < groups*lanes}, with
     * {@code sketch_s} its int8 score, writes {@code s} to {@code outSlots} (ascending) when
     * {@code base + sketch_s + qNorm·err[errOff+s] >= tc}; returns how many it wrote. {@code outSlots} holds at least
     * {@code groups·lanes} entries; those past the returned count may be overwritten.
     */
    int int8Filter(int[] codes, int off, int groups, int quads, int lanes, float[] qs, float base, float qNorm,
                   float[] err, int errOff, float tc, int[] outSlots);

    /**
     * {@link #int8Filter} that also sums, over the slots that fail the bound, {@code exp(max(expScale·(bound − tc), −80))}
     * into {@code mass[0]} (each term in [e^-80, 1], never below its unclamped value): the certified softmax policy's
     * dropped mass, without a call per key.
     */
    int int8FilterMass(int[] codes, int off, int groups, int quads, int lanes, float[] qs, float base, float qNorm,
                       float[] err, int errOff, float tc, float expScale, int[] outSlots, double[] mass);

    /**
     * Int8 quantisation of one residual row: {@code q8[t] = clamp(round(r[rOff+t]·inv[t]), −127, 127)} for
     * {@code t < d} (round half away from zero), and into {@code sums}: [0] {@code Σ e²} with
     * {@code e = r − scale[sOff+t]·q8[t]}, [1] {@code Σ (scale·q8)²}, [2] {@code Σ r²}, each accumulated in float.
     */
    void quantizeInt8(float[] r, int rOff, float[] inv, float[] scale, int sOff, int d, int[] q8, float[] sums);

    /**
     * A residual row and its running per-dimension maximum (the int8 scales come from it): for {@code i < len},
     * {@code x[xOff+i] −= c[i]} (one rounding, as {@code axpy(−1, c, x)}) and then
     * {@code absMax[i] = max(absMax[i], |x[xOff+i]|)}.
     */
    void subtractAbsMax(float[] c, float[] x, int xOff, float[] absMax, int len);
}
