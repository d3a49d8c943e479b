package org.hsr.attention.baseline;

import java.util.Arrays;
import org.hsr.attention.AttentionStats;
import org.hsr.simd.Kernels;

/**
 * Quest (Tang et al., "Quest: Query-Aware Sparsity for Efficient Long-Context LLM Inference", ICML 2024): a peer
 * baseline for sparse softmax attention that selects whole pages of keys.
 *
 * <p>The keys are cut into pages of {@code pageSize} consecutive positions (16 in the paper; the last page may be
 * partial). Each page keeps, per channel i, the minimum {@code min_i} and maximum {@code max_i} of its keys. For a
 * query q the page's bound is
 * <pre>  ub(q) = Σ_i max(q_i·min_i, q_i·max_i) &gt;= &lt;q, k&gt;   for every key k of the page.</pre>
 * A row keeps the pages with the largest bounds, as many as the token budget allows (rounded up to whole pages; a
 * partial page counts as one page), and computes the softmax exactly over their keys, renormalised over them
 * (SPEC §4 "Sparse"). A budget that covers every visible key is dense attention.
 *
 * <p>The bound is evaluated as {@code <q, center> + <|q|, radius>} with {@code center = (min + max)/2} and
 * {@code radius >= (max − min)/2} per channel, which equals the sum above ({@code max(a·lo, a·hi) = a·(lo+hi)/2 +
 * |a|·(hi−lo)/2}) and turns page scoring into two {@link Kernels#dotMany} calls. The stored radius is rounded up so
 * that the box {@code center ± radius} contains {@code [min, max]} exactly; the bound is then an upper bound up to the
 * rounding of two fp32 dot products. Ties between equal bounds keep the page with the smaller id.
 *
 * <p>Layout: keys are row-major, key j at {@code j*d}, and are copied in (the instance owns them, like an index);
 * values stay with the caller, value j at {@code vOff + j*dv}. Non-finite keys are refused when added.
 *
 * <p>Instances keep reusable scratch buffers and are not thread-safe: use one per thread (or per kv head and thread).
 */
public final class QuestAttention {

    /** Keys per page in the Quest paper. */
    public static final int DEFAULT_PAGE_SIZE = 16;

    private final int d;
    private final int pageSize;
    private int n;
    private float[] keys = new float[0];   // (capacity, d) the keys, row-major
    private float[] center = new float[0]; // (pageCapacity, d) per page and channel, (min + max) / 2
    private float[] radius = new float[0]; // (pageCapacity, d) per page and channel, >= (max − min) / 2

    // scratch, reused across rows
    private final float[] qAbs;              // (d) |q|
    private float[] bound = new float[0];    // (pages) page upper bounds
    private float[] spread = new float[0];   // (pages) <|q|, radius_p>
    private long[] ranked = new long[0];     // (pages) (bound descending, page id) packed into one sortable long
    private int[] keptPages = new int[0];    // (pages) ids of the kept pages of the last row, ascending
    private int keptPageCount;
    private int lastVisible;
    private float[] att = new float[0];      // (kept keys) scores, then softmax weights

    /** Builds the page summaries of {@code n} keys {@code k[kOff .. kOff + n*d)} with pages of 16 keys. */
    public QuestAttention(float[] k, int kOff, int n, int d) {
        this(k, kOff, n, d, DEFAULT_PAGE_SIZE);
    }

    /** Builds the page summaries of {@code n} keys {@code k[kOff .. kOff + n*d)} with pages of {@code pageSize} keys. */
    public QuestAttention(float[] k, int kOff, int n, int d, int pageSize) {
        if (d < 1) throw new IllegalArgumentException("dimension d must be >= 1, got " + d);
        if (pageSize < 1) throw new IllegalArgumentException("page size must be >= 1, got " + pageSize);
        this.d = d;
        this.pageSize = pageSize;
        this.qAbs = new float[d];
        append(k, kOff, n);
    }

    /** Key dimension d. */
    public int dimension() {
        return d;
    }

    /** Keys held. */
    public int size() {
        return n;
    }

    /** Keys per page. */
    public int pageSize() {
        return pageSize;
    }

    /** Pages that cover the first {@code visible} keys; the last one may be partial. */
    public int pageCount(int visible) {
        return visible / pageSize + (visible % pageSize == 0 ? 0 : 1);
    }

    /**
     * Appends {@code count} keys {@code k[kOff .. kOff + count*d)} (positions {@code size() ..}) and updates the
     * summaries of the pages they touch. Validated first: on error nothing is appended.
     */
    public void append(float[] k, int kOff, int count) {
        // validate the whole call before changing anything
        if (k == null) throw new IllegalArgumentException("keys k is null");
        if (count < 0) throw new IllegalArgumentException("key count must be >= 0, got " + count);
        long floats = (long) count * d;
        if (kOff < 0 || kOff + floats > k.length) {
            throw new IllegalArgumentException("keys k has " + k.length + " floats, need " + (kOff + floats)
                    + " (offset " + kOff + " + " + count + " keys × dimension " + d + ")");
        }
        if ((long) n + count > Integer.MAX_VALUE / 2 || (long) (n + count) * d > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("too many keys: " + n + " + " + count + " at dimension " + d);
        }
        for (int i = 0; i < floats; i++) {
            float x = k[kOff + i];
            if (!Float.isFinite(x)) {
                throw new IllegalArgumentException("key " + (n + i / d) + " has a non-finite value (" + x
                        + ") in channel " + (i % d));
            }
        }
        if (count == 0) return;
        // copy the keys, growing the storage geometrically
        int total = n + count;
        if (keys.length < total * d) keys = Arrays.copyOf(keys, grownRows(total, keys.length / d) * d);
        System.arraycopy(k, kOff, keys, n * d, count * d);
        int firstTouched = n / pageSize;
        n = total;
        // re-summarise every page that gained keys (the old last page, if partial, and the new ones)
        int pages = pageCount(n);
        if (center.length < pages * d) {
            int cap = grownRows(pages, center.length / d) * d;
            center = Arrays.copyOf(center, cap);
            radius = Arrays.copyOf(radius, cap);
        }
        for (int p = firstTouched; p < pages; p++) summarisePage(p);
    }

    /** A new row capacity of at least {@code needed} rows: double the old one, within the int range of the floats. */
    private int grownRows(int needed, int current) {
        long limit = (Integer.MAX_VALUE - 8) / d;
        return (int) Math.min(Math.max(needed, 2L * current), limit);
    }

    /** Per channel min and max of page p's keys, stored as center and a rounded-up radius. */
    private void summarisePage(int p) {
        int from = p * pageSize, to = Math.min(from + pageSize, n), base = p * d;
        // center <- min, radius <- max over the page's keys, one key row at a time
        System.arraycopy(keys, from * d, center, base, d);
        System.arraycopy(keys, from * d, radius, base, d);
        for (int j = from + 1; j < to; j++) {
            for (int t = 0; t < d; t++) {
                float x = keys[j * d + t];
                center[base + t] = Math.min(center[base + t], x);
                radius[base + t] = Math.max(radius[base + t], x);
            }
        }
        // [lo, hi] -> center ± radius with radius rounded up, so the box contains [lo, hi] exactly
        for (int t = 0; t < d; t++) {
            float lo = center[base + t], hi = radius[base + t];
            float mid = 0.5f * lo + 0.5f * hi; // halves first: lo + hi may overflow
            center[base + t] = mid;
            radius[base + t] = Math.nextUp(Math.max(hi - mid, mid - lo));
        }
    }

    /**
     * One query row against all {@link #size()} keys: writes {@code dv} outputs at {@code outOff} (overwriting them).
     *
     * @param q            the query, {@code d} floats at {@code qOff}
     * @param v            the values, value j at {@code vOff + j*dv}, at least {@link #size()} of them
     * @param budgetTokens keys to keep, >= 1, rounded up to whole pages; {@code >= size()} is dense
     * @param c            the score scale: scores are {@code c·<q,k>}
     * @param stats        counts the row (rows, visible, kept and scored keys); may be null
     */
    public void attendRow(float[] q, int qOff, float[] v, int vOff, int dv, int budgetTokens, float c, float[] out,
                          int outOff, AttentionStats stats) {
        attendRow(q, qOff, n, v, vOff, dv, budgetTokens, c, out, outOff, stats);
    }

    /**
     * One query row against the first {@code visible} keys (a causal row of a prefill): as
     * {@link #attendRow(float[], int, float[], int, int, int, float, float[], int, AttentionStats)}, with pages cut at
     * {@code visible}. The bound of the page that holds key {@code visible − 1} still covers the whole stored page,
     * which keeps it an upper bound (a looser one) over the page's visible keys.
     */
    public void attendRow(float[] q, int qOff, int visible, float[] v, int vOff, int dv, int budgetTokens, float c,
                          float[] out, int outOff, AttentionStats stats) {
        checkRow(q, qOff, visible, v, vOff, dv, budgetTokens, c, out, outOff);
        int pages = pageCount(visible);
        long budgetPages = budgetTokens / pageSize + (budgetTokens % pageSize == 0 ? 0 : 1);
        lastVisible = visible;
        if (keptPages.length < pages) keptPages = new int[Math.max(pages, 2 * keptPages.length)];
        // 1. choose the pages: all of them when the budget covers the row, else the largest bounds
        if (budgetPages >= pages) {
            keptPageCount = pages;
            for (int p = 0; p < pages; p++) keptPages[p] = p;
        } else {
            keptPageCount = (int) budgetPages;
            pageBounds(q, qOff, pages);
            for (int p = 0; p < pages; p++) ranked[p] = rankKey(bound[p], p);
            selectSmallest(ranked, pages, keptPageCount);
            for (int i = 0; i < keptPageCount; i++) keptPages[i] = (int) ranked[i];
            Arrays.sort(keptPages, 0, keptPageCount);
        }
        int kept = keptKeys(visible);
        if (att.length < kept) att = new float[Math.max(kept, 2 * att.length)];
        // 2. att = c·<q, k_j> for every key of the kept pages, runs of consecutive pages scored in one call
        int pos = 0;
        for (int i = 0; i < keptPageCount; ) {
            int end = runEnd(i);
            int from = keptPages[i] * pageSize, to = Math.min((keptPages[end - 1] + 1) * pageSize, visible);
            Kernels.dotMany(q, qOff, keys, from * d, to - from, d, att, pos);
            pos += to - from;
            i = end;
        }
        assert pos == kept;
        Kernels.scale(att, 0, kept, c);
        // 3. softmax weights over the kept keys, max subtracted
        float max = Kernels.max(att, 0, kept);
        float sum = Kernels.expAndSum(att, 0, kept, max);
        assert sum > 0f : "the maximum's weight is 1, sum " + sum;
        // 4. out = Σ_j p_j·v_j / Σ_j p_j over the kept keys, the same runs
        Arrays.fill(out, outOff, outOff + dv, 0f);
        pos = 0;
        for (int i = 0; i < keptPageCount; ) {
            int end = runEnd(i);
            int from = keptPages[i] * pageSize, to = Math.min((keptPages[end - 1] + 1) * pageSize, visible);
            Kernels.weightedSum(att, pos, v, vOff + from * dv, to - from, dv, out, outOff);
            pos += to - from;
            i = end;
        }
        Kernels.scale(out, outOff, dv, 1f / sum);
        // 5. the work: every kept key was scored exactly
        if (stats != null) {
            stats.rows++;
            stats.visibleKeys += visible;
            stats.keptKeys += kept;
            stats.scoredKeys += kept;
        }
    }

    /** End (exclusive) of the run of consecutive page ids in {@code keptPages} that starts at index i. */
    private int runEnd(int i) {
        int end = i + 1;
        while (end < keptPageCount && keptPages[end] == keptPages[end - 1] + 1) end++;
        return end;
    }

    /** Keys of the kept pages that are visible. */
    private int keptKeys(int visible) {
        int kept = keptPageCount * pageSize;
        if (keptPageCount > 0 && keptPages[keptPageCount - 1] == pageCount(visible) - 1) {
            kept -= pageCount(visible) * pageSize - visible; // the last page is partial
        }
        return kept;
    }

    /** {@code bound[p] = <q, center_p> + <|q|, radius_p>} for the first {@code pages} pages. */
    private void pageBounds(float[] q, int qOff, int pages) {
        if (bound.length < pages) {
            int cap = Math.max(pages, 2 * bound.length);
            bound = new float[cap];
            spread = new float[cap];
            ranked = new long[cap];
        }
        for (int t = 0; t < d; t++) qAbs[t] = Math.abs(q[qOff + t]);
        Kernels.dotMany(q, qOff, center, 0, pages, d, bound, 0);
        Kernels.dotMany(qAbs, 0, radius, 0, pages, d, spread, 0);
        for (int p = 0; p < pages; p++) bound[p] += spread[p];
    }

    /**
     * A long whose ascending order is descending {@code bound}, then ascending page id; the page id is the low 32 bits.
     */
    static long rankKey(float bound, int page) {
        int bits = Float.floatToIntBits(bound);
        int ordered = bits ^ ((bits >> 31) & 0x7fffffff); // signed-int order == float order
        return ((long) ~ordered << 32) | page;
    }

    /**
     * Rearranges {@code a[0..len)} so that {@code a[0..k)} holds its k smallest values (in no particular order):
     * quickselect with a median-of-three pivot, finishing with a sort if the partitions keep coming out lopsided.
     */
    static void selectSmallest(long[] a, int len, int k) {
        assert k >= 1 && k <= len;
        int lo = 0, hi = len - 1, target = k - 1;
        int rounds = 2 * (32 - Integer.numberOfLeadingZeros(len)) + 8;
        while (lo < hi) {
            if (--rounds < 0) {
                Arrays.sort(a, lo, hi + 1);
                return;
            }
            // Hoare partition of [lo, hi] around the median of its first, middle and last entries
            int mid = (lo + hi) >>> 1;
            long pivot = Math.max(Math.min(a[lo], a[mid]), Math.min(Math.max(a[lo], a[mid]), a[hi]));
            int i = lo, j = hi;
            while (i <= j) {
                while (a[i] < pivot) i++;
                while (a[j] > pivot) j--;
                if (i <= j) {
                    long x = a[i];
                    a[i] = a[j];
                    a[j] = x;
                    i++;
                    j--;
                }
            }
            // now a[lo..j] <= pivot <= a[i..hi], and entries strictly between j and i equal the pivot
            if (target <= j) {
                hi = j;
            } else if (target >= i) {
                lo = i;
            } else {
                return;
            }
        }
    }

    /** Ids of the keys the last row kept, ascending (tests). */
    int[] lastKeptIds() {
        int[] ids = new int[keptKeys(lastVisible)];
        int pos = 0;
        for (int i = 0; i < keptPageCount; i++) {
            int from = keptPages[i] * pageSize, to = Math.min(from + pageSize, lastVisible);
            for (int j = from; j < to; j++) ids[pos++] = j;
        }
        return ids;
    }

    /** The fp32 bounds of every page for query q, as the ranking uses them (tests). */
    float[] pageBounds(float[] q, int qOff) {
        int pages = pageCount(n);
        pageBounds(q, qOff, pages);
        return Arrays.copyOf(bound, pages);
    }

    private void checkRow(float[] q, int qOff, int visible, float[] v, int vOff, int dv, int budgetTokens, float c,
                          float[] out, int outOff) {
        if (n == 0) throw new IllegalStateException("no keys: append keys before attending");
        if (q == null) throw new IllegalArgumentException("query q is null");
        if (qOff < 0 || (long) qOff + d > q.length) {
            throw new IllegalArgumentException("query q has " + q.length + " floats, need " + ((long) qOff + d)
                    + " (offset " + qOff + " + key dimension " + d + ")");
        }
        for (int t = 0; t < d; t++) {
            if (!Float.isFinite(q[qOff + t])) {
                throw new IllegalArgumentException("query q has a non-finite value (" + q[qOff + t] + ") in channel " + t);
            }
        }
        if (visible < 1 || visible > n) {
            throw new IllegalArgumentException("visible keys " + visible + " not in [1, " + n + "]");
        }
        if (dv < 1) throw new IllegalArgumentException("value dimension dv must be >= 1, got " + dv);
        if (v == null) throw new IllegalArgumentException("values v is null");
        if (vOff < 0 || vOff + (long) visible * dv > v.length) {
            throw new IllegalArgumentException("values v has " + v.length + " floats, need " + (vOff + (long) visible * dv)
                    + " (offset " + vOff + " + " + visible + " values × dv " + dv + ")");
        }
        if (budgetTokens < 1) throw new IllegalArgumentException("token budget must be >= 1, got " + budgetTokens);
        if (!(Float.isFinite(c) && c > 0)) throw new IllegalArgumentException("scale c must be finite and > 0, got " + c);
        if (out == null) throw new IllegalArgumentException("output out is null");
        if (outOff < 0 || (long) outOff + dv > out.length) {
            throw new IllegalArgumentException("output out has " + out.length + " floats, need " + ((long) outOff + dv)
                    + " (offset " + outOff + " + dv " + dv + ")");
        }
    }
}
