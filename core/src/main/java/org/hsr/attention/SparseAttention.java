package org.hsr.attention;

import java.util.Arrays;
import org.hsr.index.BlockIndex;
import org.hsr.index.HalfSpaceIndex;
import org.hsr.index.SearchWork;
import org.hsr.index.ThresholdCollector;
import org.hsr.index.TopCollector;
import org.hsr.simd.Kernels;

/**
 * Attention for one query row computed through a half-space index (the paper's pipelines, SPEC §3–4).
 *
 * <p>The row sees the keys with ids {@code [0, visible)}: those below {@code indexed} through the index (a causal
 * limit when the index holds more), those in {@code [indexed, visible)} (keys not yet indexed) scored directly. Keys and values are also held in caller order,
 * key j at {@code k[kOff + j*d]} and value j at {@code v[vOff + j*dv]}, for the value sum and for dense fallbacks.
 * <ul>
 *   <li>ReLU^α: the index reports {@code <q,k> >= b/c}; only those keys get weight {@code (s − b)^α}. Exact.</li>
 *   <li>Softmax with a {@link Selection}: {@code threshold:T} reports {@code s >= T}; {@code top:R} walks with a
 *       top-R collector; {@code epsilon:E} walks best-first with a bar that follows the row maximum, then keeps the
 *       smallest prefix of the candidates whose certified dropped mass (from the index's bounds on every skipped
 *       key) is at most E. A row is computed densely (a fallback row) when no key passes a threshold or when the
 *       certified set would hold more than a tenth of the keys (the walk stops there).</li>
 * </ul>
 * Instances keep scratch buffers and are not thread-safe: use one per thread.
 */
public final class SparseAttention {

    /**
     * Above this fraction of candidates a certified softmax row is computed densely: scoring and summing a tenth of
     * the keys at random positions costs about what a dense pass over all of them does.
     */
    static final double DENSE_FALLBACK_FRACTION = 0.1;

    private final DenseAttention dense = new DenseAttention();
    private final StoredDenseAttention storedDense = new StoredDenseAttention();
    private final SearchWork work = new SearchWork();
    /** Told every row's kept keys, when set: a hook for tests and diagnostics, off by default. */
    private RowObserver observer;
    private int valueBytes;

    /**
     * Where a row's keys and values live, and how many of them the index holds: in the caller's arrays (caller order),
     * or, when {@code k} and {@code v} are null ({@link #stored}), only in the index's own rows.
     */
    public record Keys(HalfSpaceIndex index, float[] k, int kOff, float[] v, int vOff, int indexed, int d, int dv,
                       float maxKeyNorm, FallbackBackoff backoff) {
        /** Keys in the caller's arrays, with a fresh fallback memory. */
        public Keys(HalfSpaceIndex index, float[] k, int kOff, float[] v, int vOff, int indexed, int d, int dv,
                    float maxKeyNorm) {
            this(index, k, kOff, v, vOff, indexed, d, dv, maxKeyNorm, new FallbackBackoff());
        }

        /**
         * The keys and values a {@link BlockIndex} with values holds, all of them indexed; {@code backoff} null: every
         * {@code epsilon} row walks (the caller decides when to walk, as {@code KvCache} does per step).
         */
        public static Keys stored(BlockIndex index, FallbackBackoff backoff) {
            if (index.valueDimension() == 0) throw new IllegalArgumentException("the index holds no values");
            return new Keys(index, null, 0, null, 0, index.size(), index.dimension(), index.valueDimension(),
                    index.maxKeyNorm(), backoff);
        }

        boolean isStored() {
            return v == null;
        }
    }

    /**
     * One row: writes {@code dv} outputs at {@code outOff}. {@code selection} is ignored for ReLU.
     */
    public void attendRow(Keys keys, int visible, float[] q, int qOff, AttentionConfig cfg, Selection selection,
                          float[] out, int outOff, AttentionStats stats) {
        attend(keys, visible, q, qOff, 1, cfg, selection, out, outOff, stats, null, null, 0);
    }

    /**
     * {@link #attendRow(Keys, int, float[], int, AttentionConfig, Selection, float[], int, AttentionStats)}, also
     * writing what an exact merge of rows over disjoint key sets needs: {@code logWeight[at]}, the row's log weight,
     * the log of its total kept unnormalised weight in absolute units ({@code log Σ exp(c·<q,k_j>)} over the kept keys
     * for softmax, {@code log Σ (c·<q,k_j> − b)^α} for ReLU, −∞ when no key has weight), and {@code dropped[at]}, the
     * row's certified dropped-mass bound (an {@code epsilon} row; else 0). Keys must be {@link Keys#stored stored}.
     */
    public void attendRow(Keys keys, int visible, float[] q, int qOff, AttentionConfig cfg, Selection selection,
                          float[] out, int outOff, AttentionStats stats, double[] logWeight, double[] dropped, int at) {
        attendGroup(keys, visible, q, qOff, 1, cfg, selection, out, outOff, stats, logWeight, dropped, at);
    }

    /**
     * The {@code group} query heads of one grouped-query kv head, query g at {@code q[qOff + g·d]}, output g at
     * {@code out[outOff + g·dv]}: ReLU^α and {@code epsilon} rows share one walk of the index
     * ({@link HalfSpaceIndex#searchGroup}), which reads each block's sketch once for the group; the other policies run
     * row by row. Per row as {@link #attendRow}; with {@code logWeight} (else null) row g's log weight and dropped
     * bound go to index {@code at + g}. Keys must be stored when log weights are asked for.
     */
    public void attendGroup(Keys keys, int visible, float[] q, int qOff, int group, AttentionConfig cfg,
                            Selection selection, float[] out, int outOff, AttentionStats stats, double[] logWeight,
                            double[] dropped, int at) {
        if (logWeight != null) {
            if (!keys.isStored()) throw new IllegalArgumentException("log weights need keys stored in the index");
            for (int g = 0; g < group; g++) {
                logWeight[at + g] = Double.NaN; // every path below overwrites it
                dropped[at + g] = 0;
            }
        }
        try {
            attend(keys, visible, q, qOff, group, cfg, selection, out, outOff, stats, logWeight, dropped, at);
        } finally {
            partialLogWeight = null;
        }
    }

    // where the row being attended writes its log weight and dropped bound (null: not asked)
    private double[] partialLogWeight, partialDropped;
    private int partialAt;

    /** Directs the next row's log weight to index {@code at} of the arrays (null: not asked). */
    private void partialTo(double[] logWeight, double[] dropped, int at) {
        partialLogWeight = logWeight;
        partialDropped = dropped;
        partialAt = at;
    }

    private void partial(double logWeight, double dropped) {
        if (partialLogWeight == null) return;
        partialLogWeight[partialAt] = logWeight;
        partialDropped[partialAt] = dropped;
    }

    private void attend(Keys keys, int visible, float[] q, int qOff, int group, AttentionConfig cfg,
                        Selection selection, float[] out, int outOff, AttentionStats stats, double[] logWeight,
                        double[] dropped, int at) {
        float c = cfg.scaleFor(keys.d());
        for (int g = 0; g < group; g++) {
            double qNorm = norm(q, qOff + g * keys.d(), keys.d());
            if (qNorm * keys.maxKeyNorm() > 0x1p124) { // the index's limit (HalfSpaceIndex.MAX_NORM squared)
                throw new IllegalArgumentException(String.format(java.util.Locale.ROOT, "|q| = %.3g times the largest "
                        + "|k| = %.3g exceeds 2^124: fp32 scores could overflow", qNorm, keys.maxKeyNorm()));
            }
        }
        valueBytes = keys.dv() * (keys.isStored() ? ((BlockIndex) keys.index()).elementType().bytes() : Float.BYTES);
        Arrays.fill(out, outOff, outOff + group * keys.dv(), 0f);
        work.keysScored = 0;
        work.bytesRead = 0;
        if (cfg.kind() == AttentionConfig.Kind.RELU) {
            relu(keys, visible, q, qOff, group, cfg, c, out, outOff, stats, logWeight, dropped, at);
            return;
        }
        if (selection instanceof Selection.Epsilon e) {
            softmaxEpsilon(keys, visible, q, qOff, group, cfg, c, e.e(), out, outOff, stats, logWeight, dropped, at);
            return;
        }
        for (int g = 0; g < group; g++) {
            partialTo(logWeight, dropped, at + g);
            int qg = qOff + g * keys.d(), og = outOff + g * keys.dv();
            switch (selection) {
                case Selection.Dense ignored -> fallback(keys, visible, q, qg, cfg, c, out, og, stats, false);
                case Selection.Threshold t -> softmaxThreshold(keys, visible, q, qg, cfg, c, t.t(), out, og, stats);
                case Selection.Top t -> softmaxTop(keys, visible, q, qg, cfg, c, t.r(), out, og, stats);
                case Selection.Epsilon e -> throw new AssertionError("handled above");
            }
        }
    }

    // one collector per query of a group (grown as needed)
    private ThresholdCollector[] thresholds = {new ThresholdCollector(0f)};
    private EpsilonCollector[] epsilons = {new EpsilonCollector()};

    private void relu(Keys keys, int visible, float[] q, int qOff, int group, AttentionConfig cfg, float c,
                      float[] out, int outOff, AttentionStats stats, double[] logWeight, double[] dropped, int at) {
        // weights are non-zero exactly when <q,k> > b/c: report the half-space <q,k> >= b/c
        thresholds = grown(thresholds, group, () -> new ThresholdCollector(0f));
        for (int g = 0; g < group; g++) thresholds[g].reset(cfg.bias() / c);
        keys.index().searchGroup(q, qOff, group, Math.min(visible, keys.indexed()), thresholds, work);
        for (int g = 0; g < group; g++) {
            partialTo(logWeight, dropped, at + g);
            reluRow(keys, visible, q, qOff + g * keys.d(), cfg, c, thresholds[g], out, outOff + g * keys.dv(), stats);
        }
    }

    /** One ReLU row from the keys its walk reported into {@code threshold}. */
    private void reluRow(Keys keys, int visible, float[] q, int qOff, AttentionConfig cfg, float c,
                         ThresholdCollector threshold, float[] out, int outOff, AttentionStats stats) {
        gatherDirect(keys, visible, q, qOff, threshold);
        double sum = 0;
        int kept = 0;
        int[] ids = growIds(threshold.size());
        float[] weights = growWeights(threshold.size());
        // from the float64-accumulated scores: s − b cancels near the bias, where a float score's rounding would be a
        // visible part of it (times alpha in the weight); normalised by the row maximum of s − b, in float64, so the
        // weights ((s − b)/max)^α lie in [0, 1] (no underflow just above the bias, no overflow for a large α)
        double rMax = 0;
        for (int i = 0; i < threshold.size(); i++) rMax = Math.max(rMax, c * threshold.exactScores()[i] - cfg.bias());
        int alpha = cfg.alpha();
        for (int i = 0; i < threshold.size(); i++) {
            double r = (double) c * threshold.exactScores()[i] - cfg.bias();
            if (r <= 0) continue;
            double x = r / rMax;
            float wt = (float) (alpha == 1 ? x : alpha == 2 ? x * x : Math.pow(x, alpha));
            ids[kept] = threshold.ids()[i];
            weights[kept++] = wt;
            sum += wt;
        }
        addValues(keys, ids, weights, kept, out, outOff);
        if (sum > 0) {
            Kernels.scale(out, outOff, keys.dv(), (float) (1 / sum));
            DenseAttention.checkFinite(out, outOff, keys.dv());
        }
        partial(sum > 0 ? alpha * Math.log(rMax) + Math.log(sum) : Double.NEGATIVE_INFINITY, 0);
        if (observer != null) observer.row(ids, kept, 0);
        count(stats, visible, kept, sum == 0, false);
    }

    private void softmaxThreshold(Keys keys, int visible, float[] q, int qOff, AttentionConfig cfg, float c, float t,
                                  float[] out, int outOff, AttentionStats stats) {
        ThresholdCollector threshold = thresholds[0];
        threshold.reset(t / c);
        keys.index().search(q, qOff, Math.min(visible, keys.indexed()), threshold, work);
        gatherDirect(keys, visible, q, qOff, threshold);
        if (threshold.size() == 0) {
            fallback(keys, visible, q, qOff, cfg, c, out, outOff, stats, true);
            return;
        }
        softmaxOver(keys, q, qOff, threshold.ids(), threshold.exactScores(), threshold.size(), c, out, outOff, 0);
        count(stats, visible, threshold.size(), false, false);
    }

    private void softmaxTop(Keys keys, int visible, float[] q, int qOff, AttentionConfig cfg, float c, int r,
                            float[] out, int outOff, AttentionStats stats) {
        if (r >= visible) {
            fallback(keys, visible, q, qOff, cfg, c, out, outOff, stats, false);
            return;
        }
        if (top == null || top.capacity() != r) top = new TopCollector(r);
        else top.reset();
        keys.index().search(q, qOff, Math.min(visible, keys.indexed()), top, work);
        for (int j = keys.indexed(); j < visible; j++) {
            float s = (float) Kernels.dotDouble(q, qOff, keys.k(), keys.kOff() + j * keys.d(), keys.d());
            work.keysScored++;
            if (s >= top.minCompetitiveScore()) top.collect(j, s);
        }
        double[] topScores = growScores(top.size());
        for (int i = 0; i < top.size(); i++) topScores[i] = top.scores()[i];
        softmaxOver(keys, q, qOff, top.ids(), topScores, top.size(), c, out, outOff, 0);
        count(stats, visible, top.size(), false, false);
    }

    /**
     * The certified walk of {@code epsilon:E} for a group of rows: those the fallback memory does not send straight to
     * dense walk together, first with a tight bar ({@code ln(1/E) + 4} below the maximum), which certifies whenever the
     * skipped keys' bounds lie well below it, then the rows that did not certify with the safe bar {@code ln(N/E)},
     * with which every skipped key has probability at most E/N. A row whose walk collected more than a tenth of the
     * keys, or that did not certify, is computed densely (a fallback row). The fallback memory then learns each row's
     * outcome in row order.
     */
    private void softmaxEpsilon(Keys keys, int visible, float[] q, int qOff, int group, AttentionConfig cfg, float c,
                                double e, float[] out, int outOff, AttentionStats stats, double[] logWeight,
                                double[] dropped, int at) {
        FallbackBackoff backoff = keys.backoff();
        int d = keys.d(), dv = keys.dv();
        ensureGroup(group, d);
        int cap = (int) (DENSE_FALLBACK_FRACTION * visible);
        for (int g = 0; g < group; g++) {
            // recent rows over this index fell back: dense without walking first (no memory: always walk)
            rowDense[g] = backoff != null && backoff.skipWalk();
            rowDone[g] = false;
            rowOverflow[g] = false;
        }
        double[] gaps = {Math.log(1 / e) + 4, Math.log(Math.max(visible, 1) / e) + 0.01};
        for (double gap : gaps) {
            // the rows still walking, their queries side by side for one shared walk
            int m = 0;
            for (int g = 0; g < group; g++) {
                if (rowDense[g] || rowDone[g] || rowOverflow[g]) continue;
                rowOf[m] = g;
                System.arraycopy(q, qOff + g * d, groupQueries, m * d, d);
                m++;
            }
            if (m == 0) break;
            for (int i = 0; i < m; i++) {
                EpsilonCollector col = epsilons[i];
                col.reset(c, gap, cap);
                // the direct (diagonal) keys first: they are exact, and they raise the bar for the walk
                for (int j = keys.indexed(); j < visible; j++) {
                    double sc = Kernels.dotDouble(groupQueries, i * d, keys.k(), keys.kOff() + j * d, d);
                    work.keysScored++;
                    col.collectExact(j, sc);
                }
            }
            keys.index().searchGroup(groupQueries, 0, m, Math.min(visible, keys.indexed()), epsilons, work);
            for (int i = 0; i < m; i++) {
                int g = rowOf[i];
                EpsilonCollector col = epsilons[i];
                if (col.overflow) { // more than `cap` candidates: dense is cheaper
                    rowOverflow[g] = true;
                    continue;
                }
                // rounding slack on every fp32 score: the bound must hold for the float64 scores too
                double delta = 4.0 * (d + 4) * 0x1p-24 * c * norm(q, qOff + g * d, d) * keys.maxKeyNorm() + 1e-7;
                partialTo(logWeight, dropped, at + g);
                rowDone[g] = certify(keys, col, q, qOff + g * d, c, e, delta, visible, out, outOff + g * dv, stats);
            }
        }
        denseRows(keys, visible, q, qOff, group, rowDone, cfg, c, out, outOff, stats, logWeight, dropped, at);
        for (int g = 0; backoff != null && g < group; g++) {
            if (rowDense[g]) continue;
            if (rowDone[g]) backoff.certified();
            else backoff.fellBack();
        }
    }

    // the epsilon group's per-row state (grown as needed)
    private boolean[] rowDense = new boolean[1], rowDone = new boolean[1], rowOverflow = new boolean[1];
    private int[] rowOf = new int[1];
    private float[] groupQueries = new float[0];

    private void ensureGroup(int group, int d) {
        if (rowDense.length < group) {
            rowDense = new boolean[group];
            rowDone = new boolean[group];
            rowOverflow = new boolean[group];
            rowOf = new int[group];
        }
        if (groupQueries.length < group * d) groupQueries = new float[group * d];
        epsilons = grown(epsilons, group, EpsilonCollector::new);
    }

    /** {@code a}, or a copy of it with fresh entries up to length {@code n}. */
    private static <T> T[] grown(T[] a, int n, java.util.function.Supplier<T> fresh) {
        if (a.length >= n) return a;
        T[] more = Arrays.copyOf(a, n);
        for (int i = a.length; i < n; i++) more[i] = fresh.get();
        return more;
    }

    /**
     * The {@code epsilon} policy's memory of recent fallbacks over one index: after repeated fallbacks in a row, the
     * next rows are computed densely without walking, 2, 4, … up to 2^{@link #MAX_BACKOFF_LOG2} of them between
     * tries. One per index (a kv head of a layer), held by whoever holds the index; not thread-safe.
     */
    public static final class FallbackBackoff {
        private int streak; // fallbacks in a row
        private int denseRowsLeft; // rows still to compute densely before the next walk

        boolean skipWalk() {
            if (denseRowsLeft == 0) return false;
            denseRowsLeft--;
            return true;
        }

        void certified() {
            streak = 0;
        }

        void fellBack() {
            streak = Math.min(streak + 1, 1 + MAX_BACKOFF_LOG2);
            denseRowsLeft = streak <= 1 ? 0 : 1 << (streak - 1);
        }
    }

    /**
     * Rows computed densely straight away after repeated fallbacks over one index, doubling per fallback in a row up to
     * 2^this: a flat head (an encoder, an early layer) then pays for a failed walk on at most one row in 32 instead of
     * on every row (measured on MiniLM keys: every row fell back and the walk made the policy 1.5x slower than dense),
     * while a head that turns peaked is noticed within 32 rows.
     */
    static final int MAX_BACKOFF_LOG2 = 5;

    /**
     * Picks the smallest prefix of the candidates (by descending score) whose certified dropped mass is at most E and
     * computes the row over it; returns false when even all candidates do not certify.
     */
    private boolean certify(Keys keys, EpsilonCollector col, float[] q, int qOff, float c, double e, double delta,
                            int visible, float[] out, int outOff, AttentionStats stats) {
        int n = col.size;
        if (packed.length < n) {
            packed = new long[Math.max(n, 2 * packed.length)];
            tail = new double[packed.length + 1];
        }
        long[] packed = this.packed; // candidates by descending score
        for (int i = 0; i < n; i++) {
            int bits = Float.floatToIntBits(col.score(i));
            int ord = bits < 0 ? ~bits : bits | 0x80000000;
            packed[i] = ((long) ~ord << 32) | i;
        }
        Arrays.sort(packed, 0, n);
        double best = col.best();
        double dropped = col.prunedSum() * Math.exp(delta); // Σ exp(c·(ub − best)) over skipped keys, inflated
        double[] tail = this.tail; // tail[i] = Σ_{rank >= i} exp(c·(s − best) + δ)
        tail[n] = 0;
        for (int i = n - 1; i >= 0; i--) {
            tail[i] = tail[i + 1] + Math.exp(c * (col.score((int) packed[i]) - best) + delta);
        }
        double keptSum = 0;
        int keep = 0;
        double bound = 1;
        while (keep < n) {
            keptSum += Math.exp(c * (col.score((int) packed[keep]) - best) - delta);
            keep++;
            double d = dropped + tail[keep];
            bound = d / (d + keptSum);
            if (bound <= e) break;
        }
        if (!(bound <= e)) return false;
        int[] ids = growKeptIds(keep);
        double[] sc = growScores(keep);
        for (int i = 0; i < keep; i++) {
            ids[i] = col.ids[(int) packed[i]];
            sc[i] = col.exact[(int) packed[i]];
        }
        softmaxOver(keys, q, qOff, ids, sc, keep, c, out, outOff, bound);
        count(stats, visible, keep, false, false);
        if (stats != null) stats.droppedMassBoundMax = Math.max(stats.droppedMassBoundMax, bound);
        return true;
    }

    // the epsilon path's per-row scratch, grown as needed and reused
    private long[] packed = new long[0];
    private double[] tail = new double[1];
    private int[] keptIds = new int[0];
    private double[] scoreScratch = new double[0];
    private TopCollector top;

    private int[] growKeptIds(int n) {
        if (keptIds.length < n) keptIds = new int[Math.max(n, 2 * keptIds.length)];
        return keptIds;
    }

    private double[] growScores(int n) {
        if (scoreScratch.length < n) scoreScratch = new double[Math.max(n, 2 * scoreScratch.length)];
        return scoreScratch;
    }

    /**
     * Softmax over the kept keys: {@code Σ exp(s − max)·v / Σ exp(s − max)}, from the float64-accumulated scores the
     * index reports (an fp32 sum over a large-norm key is off by up to ~1e-6·|q||k|, which exp would turn into a
     * relative weight error of the same size).
     */
    private void softmaxOver(Keys keys, float[] q, int qOff, int[] ids, double[] scores, int count, float c, float[] out,
                             int outOff, double bound) {
        if (observer != null) observer.row(ids, count, bound);
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < count; i++) max = Math.max(max, scores[i]);
        double sum = 0;
        float[] weights = growWeights(count);
        for (int i = 0; i < count; i++) {
            float p = (float) Math.exp((double) c * (scores[i] - max));
            weights[i] = p;
            sum += p;
        }
        addValues(keys, ids, weights, count, out, outOff);
        Kernels.scale(out, outOff, keys.dv(), (float) (1 / sum));
        DenseAttention.checkFinite(out, outOff, keys.dv());
        partial(c * max + Math.log(sum), bound);
    }

    /** Value rows touched ahead of their sums (see {@link #addValues}). */
    private static final int VALUE_BATCH = 32;
    private float touched;
    private int[] idScratch = new int[256];
    private float[] weightScratch = new float[256];

    /**
     * {@code out += Σ_i weights[i]·v_(ids[i])}. The kept keys' value rows lie at random positions in an array far larger
     * than the caches, so each batch of rows is first touched, one load per cache line: those loads are independent
     * and overlap in the memory system, where summing row by row waits for each row in turn.
     */
    private void addValues(Keys keys, int[] ids, float[] weights, int count, float[] out, int outOff) {
        if (keys.isStored()) {
            addStoredValues((BlockIndex) keys.index(), ids, weights, count, out, outOff);
            return;
        }
        int dv = keys.dv();
        float touch = 0f;
        for (int from = 0; from < count; from += VALUE_BATCH) {
            int to = Math.min(count, from + VALUE_BATCH);
            for (int i = from; i < to; i++) {
                int base = keys.vOff() + ids[i] * dv;
                for (int o = 0; o < dv; o += 16) touch += keys.v()[base + o];
            }
            for (int i = from; i < to; i++) {
                Kernels.axpy(weights[i], keys.v(), keys.vOff() + ids[i] * dv, out, outOff, dv);
            }
        }
        touched = touch; // keeps the touching loads alive
    }

    private float[] valueAcc = new float[0];

    /** {@link #addValues} over the index's own rows (each value beside its key), into the rows' accumulator form. */
    private void addStoredValues(BlockIndex index, int[] ids, float[] weights, int count, float[] out, int outOff) {
        BlockIndex.Stored st = index.stored();
        int al = st.blocks().accumulatorLength();
        if (valueAcc.length < al) valueAcc = new float[al];
        Arrays.fill(valueAcc, 0, al, 0f);
        float touch = 0f;
        for (int from = 0; from < count; from += VALUE_BATCH) {
            int to = Math.min(count, from + VALUE_BATCH);
            for (int i = from; i < to; i++) touch += st.touchValue(ids[i]);
            for (int i = from; i < to; i++) st.addValue(ids[i], weights[i], valueAcc, 0);
        }
        touched = touch;
        st.blocks().finishValues(valueAcc, 0, 1f, out, outOff);
    }

    private int[] growIds(int n) {
        if (idScratch.length < n) idScratch = new int[Math.max(n, 2 * idScratch.length)];
        return idScratch;
    }

    private float[] growWeights(int n) {
        if (weightScratch.length < n) weightScratch = new float[Math.max(n, 2 * weightScratch.length)];
        return weightScratch;
    }

    /** Scores the keys outside the index ({@code [indexed, visible)}) directly and offers them to the collector. */
    private void gatherDirect(Keys keys, int visible, float[] q, int qOff, ThresholdCollector col) {
        for (int j = keys.indexed(); j < visible; j++) {
            double s = Kernels.dotDouble(q, qOff, keys.k(), keys.kOff() + j * keys.d(), keys.d());
            work.keysScored++;
            if ((float) s >= col.minCompetitiveScore()) col.collectExact(j, s);
        }
    }

    // the fallback rows of a group side by side: queries, outputs and log weights (grown as needed)
    private float[] fallbackQueries = new float[0], fallbackOut = new float[0];
    private double[] fallbackLogWeight = new double[0];

    /**
     * Computes the rows {@code g} of a group with {@code !done[g]} densely. Over stored keys they share one grouped
     * dense pass, which reads K and V once for all of them as {@link StoredDenseAttention} does for a whole group (row
     * by row, a group of four broad heads read them four times and cost 1.4x a grouped dense pass); over the caller's
     * arrays row by row.
     */
    private void denseRows(Keys keys, int visible, float[] q, int qOff, int group, boolean[] done, AttentionConfig cfg,
                           float c, float[] out, int outOff, AttentionStats stats, double[] logWeight,
                           double[] dropped, int at) {
        int d = keys.d(), dv = keys.dv(), m = 0;
        for (int g = 0; g < group; g++) if (!done[g]) m++;
        if (m == 0) return;
        if (!keys.isStored()) {
            for (int g = 0; g < group; g++) {
                if (done[g]) continue;
                partialTo(logWeight, dropped, at + g);
                fallback(keys, visible, q, qOff + g * d, cfg, c, out, outOff + g * dv, stats, true);
            }
            return;
        }
        if (fallbackQueries.length < m * d) fallbackQueries = new float[m * d];
        if (fallbackOut.length < m * dv) fallbackOut = new float[m * dv];
        if (fallbackLogWeight.length < m) fallbackLogWeight = new double[m];
        for (int g = 0, i = 0; g < group; g++) {
            if (!done[g]) System.arraycopy(q, qOff + g * d, fallbackQueries, d * i++, d);
        }
        long walked = work.keysScored, walkBytes = work.bytesRead; // taken by these rows (see count)
        work.keysScored = 0;
        work.bytesRead = 0;
        if (observer != null) for (int i = 0; i < m; i++) observer.row(null, -1, 0);
        AttentionStats local = new AttentionStats();
        storedDense.attendGroup(((BlockIndex) keys.index()).stored(), visible, fallbackQueries, 0, m, cfg.withScale(c),
                fallbackOut, 0, local, logWeight == null ? null : fallbackLogWeight, 0);
        for (int g = 0, i = 0; g < group; g++) {
            if (done[g]) continue;
            System.arraycopy(fallbackOut, dv * i, out, outOff + g * dv, dv);
            if (logWeight != null) {
                logWeight[at + g] = fallbackLogWeight[i];
                dropped[at + g] = 0;
            }
            i++;
        }
        countDense(stats, m, visible, local, walked, walkBytes, true);
    }

    /**
     * Counts {@code rows} rows computed densely into {@code stats}: {@code local} holds the dense pass's own counts,
     * {@code walked} and {@code walkBytes} the work of the walk they took over (see {@link #count}).
     */
    private static void countDense(AttentionStats stats, int rows, int visible, AttentionStats local, long walked,
                                   long walkBytes, boolean fallback) {
        if (stats == null) return;
        stats.rows += rows;
        stats.visibleKeys += (long) visible * rows;
        stats.keptKeys += local.keptKeys;
        stats.scoredKeys += (long) visible * rows; // each key once per row: the dense pass scores them all
        stats.fallbackWalkKeys += walked;
        stats.bytesRead += walkBytes + local.bytesRead;
        stats.emptyRows += local.emptyRows;
        if (fallback) stats.fallbackRows += rows;
    }

    private void fallback(Keys keys, int visible, float[] q, int qOff, AttentionConfig cfg, float c, float[] out,
                          int outOff, AttentionStats stats, boolean countFallback) {
        long scoredBefore = work.keysScored, walkBytes = work.bytesRead; // taken by this row (see count)
        work.keysScored = 0;
        work.bytesRead = 0;
        if (observer != null) observer.row(null, -1, 0);
        AttentionStats local = new AttentionStats();
        if (keys.isStored()) {
            storedDense.attendGroup(((BlockIndex) keys.index()).stored(), visible, q, qOff, 1, cfg.withScale(c), out,
                    outOff, local, partialLogWeight, partialAt);
            if (partialLogWeight != null) partialDropped[partialAt] = 0;
        } else {
            dense.attendRow(q, qOff, keys.k(), keys.kOff(), keys.v(), keys.vOff(), visible, keys.d(), keys.dv(), cfg,
                    c, out, outOff, local);
        }
        countDense(stats, 1, visible, local, scoredBefore, walkBytes, countFallback);
    }

    /** Receives the keys each row kept: a hook for tests and diagnostics. */
    public interface RowObserver {
        /**
         * {@code ids[0..count)} were kept (in no particular order), with {@code droppedMassBound} the certified bound
         * of an {@code epsilon} row (else 0); {@code count == -1} means the row was computed densely (every visible key).
         */
        void row(int[] ids, int count, double droppedMassBound);
    }

    /** Sets the observer told of every row (null: none, the default). */
    public void observe(RowObserver observer) {
        this.observer = observer;
    }

    /**
     * Counts one row; the walk's work so far ({@link #work}) is taken by the row that counts first (a group's shared
     * walk is counted once, by its first row).
     */
    private void count(AttentionStats stats, int visible, long kept, boolean empty, boolean fallback) {
        long scored = work.keysScored, bytes = work.bytesRead;
        work.keysScored = 0;
        work.bytesRead = 0;
        if (stats == null) return;
        stats.bytesRead += bytes + kept * (long) valueBytes;
        stats.rows++;
        stats.visibleKeys += visible;
        stats.keptKeys += kept;
        stats.scoredKeys += scored;
        if (empty) stats.emptyRows++;
        if (fallback) stats.fallbackRows++;
    }

    private static double norm(float[] x, int off, int len) {
        double s = 0;
        for (int i = 0; i < len; i++) s += (double) x[off + i] * x[off + i];
        return Math.sqrt(s);
    }
}
