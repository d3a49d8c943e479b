package org.hsr.kv;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicReference;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.Selection;
import org.hsr.attention.SparseAttention;
import org.hsr.attention.StoredDenseAttention;
import org.hsr.index.BlockIndex;

/**
 * A model's KV cache with a half-space index per (layer, kv head), for an inference engine: the index owns the only
 * copy of the keys and values (in the {@link KvShape#type() element type}, values beside their keys, in pages), and
 * attention reads them through it, sparse ({@link Method#HSR}) or dense ({@link Method#DENSE}, the baseline, over the
 * same storage).
 *
 * <p>Layouts (row-major, what an engine's projections produce): one position's keys for a layer are
 * {@code kvHeads × headDim} floats, head h at {@code h·headDim}; values likewise with {@code valueDim}; queries
 * {@code heads × headDim}; outputs {@code heads × valueDim}. Several positions follow each other. Every array comes
 * with an offset, so an engine passes its own buffers without copying.
 *
 * <pre>{@code
 * KvShape shape = KvShape.of(32, 32, 8, 128, ElementType.BF16);          // Llama-3-8B
 * try (KvCache cache = KvCache.builder(shape).attention(AttentionConfig.softmax(false))
 *         .selection(Selection.parse("epsilon:1e-3")).build()) {
 *     cache.append(layer, k, 0, v, 0, 1);       // after the layer's k, v projections
 *     cache.attend(layer, q, 0, out, 0);        // every query head of the newest position
 * }
 * }</pre>
 *
 * <p>Thread safety: a cache is driven by one thread at a time (one cache per sequence); a second thread that calls in
 * while a call runs gets an {@link IllegalStateException} (not a silently wrong answer). Within one call the kv heads
 * run in parallel on the {@link Builder#executor executor}, each with scratch of its own, with results identical to a
 * single-threaded run; the calling thread takes heads itself (caller-runs), so a call finishes even when every thread
 * of the executor is busy, for example when the engine's own work runs on the same fixed pool. Caches never share
 * mutable state, so different caches may be used from different threads at once, and may share one executor.
 *
 * <p>Contract with the engine: keys go in after RoPE (the cache never rotates); positions are append order, and a
 * position's attend sees the positions appended before it and itself. Each (layer, kv head) folds its newest keys into
 * index blocks every {@link BlockIndex#FOLD} positions at a phase of its own, so a decoding step pays at most a few
 * heads' folds, never every head's. After {@link #close} every call throws {@link IllegalStateException}.
 */
public final class KvCache implements AutoCloseable {

    /** How {@link #attend} computes. */
    public enum Method {
        /**
         * Through the index where it pays: exact for ReLU^α, the selection policy's kept set for softmax. Each (layer,
         * kv head) walks its index or computes its group densely, step by step, from what its last walks measured
         * (a head whose keys do not prune costs a dense pass; {@link AttentionStats#denseChosenRows} counts those rows).
         */
        HSR,
        /** Every visible key and value, over the same storage: the baseline. */
        DENSE,
        /** Through the index on every step, never chosen dense: for tests and for measuring the walk itself. */
        WALK
    }

    private final KvShape shape;
    private final AttentionConfig cfg;
    private final Selection selection;
    private final Method method;
    private final Executor executor; // null: the calling thread
    private final BlockIndex[] index; // (layers × kvHeads)
    private final HeadPlan[] plans; // (layers × kvHeads) walk or dense, per step of an HSR cache
    private final SparseAttention[] sparse; // (kvHeads) scratch per kv head, so heads can run in parallel
    private final StoredDenseAttention[] dense; // (kvHeads)
    private final AttentionStats[] headStats; // (kvHeads) per call, merged into stats
    private final AttentionStats[] walkStats; // (kvHeads) one step's walk, for its head's plan
    private final AttentionStats stats = new AttentionStats();
    private float[] gatherK = new float[0], gatherV = new float[0];

    private KvCache(Builder b) {
        this.shape = b.shape;
        AttentionConfig c = b.cfg;
        // decoding is causal by construction: each position sees the positions appended before it and itself
        this.cfg = c.causal() ? new AttentionConfig(c.kind(), c.alpha(), c.bias(), c.scale(), false) : c;
        this.selection = b.selection == null ? new Selection.Dense() : b.selection;
        this.method = b.method;
        this.executor = b.executor;
        int slots = shape.layers() * shape.kvHeads();
        index = new BlockIndex[slots];
        plans = new HeadPlan[slots];
        for (int s = 0; s < slots; s++) {
            index[s] = new BlockIndex(shape.headDim(), shape.valueDim(), shape.type(), foldPhase(s, slots));
            plans[s] = new HeadPlan();
        }
        sparse = new SparseAttention[shape.kvHeads()];
        dense = new StoredDenseAttention[shape.kvHeads()];
        headStats = new AttentionStats[shape.kvHeads()];
        walkStats = new AttentionStats[shape.kvHeads()];
        for (int h = 0; h < shape.kvHeads(); h++) {
            sparse[h] = new SparseAttention();
            dense[h] = new StoredDenseAttention();
            headStats[h] = new AttentionStats();
            walkStats[h] = new AttentionStats();
        }
    }

    /**
     * The fold phase of index {@code s} of {@code slots}: spread over {@code [0, FOLD)}, so that the folds of different
     * heads fall on different decoding steps (see {@link BlockIndex#BlockIndex(int, int, ElementType, int)}).
     */
    static int foldPhase(int s, int slots) {
        return (int) ((long) s * BlockIndex.FOLD / slots);
    }

    /** A builder for a cache of {@code shape}; attention defaults to exact softmax through the index. */
    public static Builder builder(KvShape shape) {
        return new Builder(Objects.requireNonNull(shape, "shape"));
    }

    /** Options of a cache; {@link #build} validates them. */
    public static final class Builder {
        private final KvShape shape;
        private AttentionConfig cfg = AttentionConfig.softmax(false);
        private Selection selection;
        private Method method = Method.HSR;
        private Executor executor;

        private Builder(KvShape shape) {
            this.shape = shape;
        }

        /** The attention operator (kind, α, bias, scale); causality is implied. */
        public Builder attention(AttentionConfig cfg) {
            this.cfg = Objects.requireNonNull(cfg, "attention");
            return this;
        }

        /** The softmax selection policy ({@code threshold:T}, {@code top:R}, {@code epsilon:E}); ignored for ReLU. */
        public Builder selection(Selection selection) {
            this.selection = selection;
            return this;
        }

        public Builder method(Method method) {
            this.method = Objects.requireNonNull(method, "method");
            return this;
        }

        /** Where the kv heads of one call run in parallel (for example a pool shared by every cache); null: inline. */
        public Builder executor(Executor executor) {
            this.executor = executor;
            return this;
        }

        public KvCache build() {
            if (cfg.kind() == AttentionConfig.Kind.SOFTMAX && method == Method.DENSE && selection != null
                    && !(selection instanceof Selection.Dense)) {
                throw new IllegalArgumentException("selection " + selection + " needs method HSR, not DENSE");
            }
            return new KvCache(this);
        }
    }

    public KvShape shape() {
        return shape;
    }

    public Method method() {
        return method;
    }

    /** Positions appended to {@code layer}. */
    public int length(int layer) {
        checkLayer(layer);
        return index[layer * shape.kvHeads()].size();
    }

    /** Positions of ({@code layer}, {@code kvHead}) held in the index's blocks (the rest are in its exact tail). */
    int foldedKeys(int layer, int kvHead) {
        return headIndex(layer, kvHead).foldedKeys();
    }

    /** Statistics of every attend so far (rows are query heads × positions). */
    public AttentionStats stats() {
        checkOpen();
        return stats;
    }

    /** Every byte the cache holds: stored keys and values and the indexes over them, spare page capacity included. */
    public long memoryBytes() {
        checkOpen();
        long total = 0;
        for (BlockIndex ix : index) total += ix.memoryBytes();
        return total;
    }

    /**
     * Appends {@code positions} positions to {@code layer}: keys from {@code k[kOff..]} ({@code positions × kvHeads ×
     * headDim}), values from {@code v[vOff..]} ({@code positions × kvHeads × valueDim}), rounded to the element type.
     * Everything is checked first (lengths, offsets, finite, fits the type); on error nothing is appended.
     */
    public void append(int layer, float[] k, int kOff, float[] v, int vOff, int positions) {
        enter();
        try {
            appendChecked(layer, k, kOff, v, vOff, positions);
        } finally {
            exit();
        }
    }

    private void appendChecked(int layer, float[] k, int kOff, float[] v, int vOff, int positions) {
        checkLayer(layer);
        if (positions < 0) throw new IllegalArgumentException("positions must be >= 0, got " + positions);
        checkRange("k", k, kOff, (long) positions * shape.keyWidth());
        checkRange("v", v, vOff, (long) positions * shape.valueWidth());
        checkStorable("k", k, kOff, positions * shape.keyWidth());
        checkStorable("v", v, vOff, positions * shape.valueWidth());
        int kvh = shape.kvHeads(), d = shape.headDim(), dv = shape.valueDim();
        for (int h = 0; h < kvh; h++) {
            int s = layer * kvh + h;
            if (positions == 1 || kvh == 1) { // one head's rows are contiguous: no copy
                index[s].add(k, kOff + h * d, v, vOff + h * dv, positions);
                continue;
            }
            // several positions of several heads: gather this head's rows (the index reads rows d apart)
            if (gatherK.length < positions * d) gatherK = new float[positions * d];
            if (gatherV.length < positions * dv) gatherV = new float[positions * dv];
            for (int p = 0; p < positions; p++) {
                System.arraycopy(k, kOff + (p * kvh + h) * d, gatherK, p * d, d);
                System.arraycopy(v, vOff + (p * kvh + h) * dv, gatherV, p * dv, dv);
            }
            index[s].add(gatherK, 0, gatherV, 0, positions);
        }
    }

    /**
     * {@link #append(int, float[], int, float[], int, int)} from off-heap tensors: {@code kOff} and {@code vOff} count
     * floats (native byte order) from the segments' starts.
     */
    public void append(int layer, MemorySegment k, long kOff, MemorySegment v, long vOff, int positions) {
        checkLayer(layer);
        if (positions < 0) throw new IllegalArgumentException("positions must be >= 0, got " + positions);
        long kLong = (long) positions * shape.keyWidth(), vLong = (long) positions * shape.valueWidth();
        if (Math.max(kLong, vLong) > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("positions " + positions + " x " + Math.max(shape.keyWidth(),
                    shape.valueWidth()) + " floats is more than one append can hold; append fewer positions at a time");
        }
        int kn = (int) kLong, vn = (int) vLong;
        checkSegment("k", k, kOff, kn);
        checkSegment("v", v, vOff, vn);
        float[] kh = new float[kn], vh = new float[vn];
        MemorySegment.copy(k, ValueLayout.JAVA_FLOAT_UNALIGNED, kOff * Float.BYTES, kh, 0, kn);
        MemorySegment.copy(v, ValueLayout.JAVA_FLOAT_UNALIGNED, vOff * Float.BYTES, vh, 0, vn);
        append(layer, kh, 0, vh, 0, positions);
    }

    /**
     * Attends every query head of the newest position of {@code layer}: queries from {@code q[qOff..]}
     * ({@code heads × headDim}), outputs to {@code out[outOff..]} ({@code heads × valueDim}).
     */
    public void attend(int layer, float[] q, int qOff, float[] out, int outOff) {
        attend(layer, q, qOff, 1, out, outOff);
    }

    /**
     * Attends the last {@code positions} positions of {@code layer} (a prefill block, causal: the position at
     * {@code n − positions + p} sees positions up to itself): queries {@code positions × heads × headDim} from
     * {@code q[qOff..]}, outputs {@code positions × heads × valueDim} to {@code out[outOff..]}.
     */
    public void attend(int layer, float[] q, int qOff, int positions, float[] out, int outOff) {
        attend(layer, q, qOff, positions, out, outOff, stats);
    }

    /** {@link #attend(int, float[], int, int, float[], int)} counting into {@code into} (null: not counted). */
    public void attend(int layer, float[] q, int qOff, int positions, float[] out, int outOff, AttentionStats into) {
        attend(layer, q, qOff, positions, out, outOff, method, into);
    }

    /**
     * {@link #attend(int, float[], int, int, float[], int, AttentionStats)} with {@code how} instead of the cache's
     * method, so that dense and sparse attention can be compared over one cache.
     */
    public void attend(int layer, float[] q, int qOff, int positions, float[] out, int outOff, Method how,
                       AttentionStats into) {
        enter();
        try {
            checkLayer(layer);
            run(layer, q, qOff, positions, out, outOff, how, into, null);
        } finally {
            exit();
        }
    }

    private void run(int layer, float[] q, int qOff, int positions, float[] out, int outOff, Method how,
                     AttentionStats into, Partial partial) {
        Objects.requireNonNull(how, "method");
        int n = length(layer);
        if (positions < 1 || positions > n) {
            throw new IllegalArgumentException("positions " + positions + " not in [1, " + n + "] (layer " + layer
                    + " holds " + n + ")");
        }
        checkRange("q", q, qOff, (long) positions * shape.queryWidth());
        checkRange("out", out, outOff, (long) positions * shape.outputWidth());
        checkValues("q", q, qOff, positions * shape.queryWidth());
        if (q == out && qOff < outOff + (long) positions * shape.outputWidth()
                && outOff < qOff + (long) positions * shape.queryWidth()) {
            throw new IllegalArgumentException("out overlaps q (the same array, offsets " + outOff + " and " + qOff
                    + "): outputs are written while queries are read");
        }
        int kvh = shape.kvHeads();
        if (executor == null || kvh == 1) {
            for (int h = 0; h < kvh; h++) {
                attendGroup(layer, h, n, positions, q, qOff, out, outOff, how, into, partial);
            }
            return;
        }
        for (AttentionStats st : headStats) st.reset();
        new HeadTasks(kvh, executor).run(head -> attendGroup(layer, head, n, positions, q, qOff, out, outOff, how,
                into == null ? null : headStats[head], partial));
        if (into != null) for (AttentionStats st : headStats) into.merge(st);
    }

    /**
     * {@link #attend(int, float[], int, float[], int)} of the newest position, plus what merging it exactly with the
     * same queries' attention over other positions (another shard of the sequence) needs, per query head h:
     * {@code logWeight[lwOff + h]}, the log of the row's total kept unnormalised weight in absolute units
     * ({@code log Σ exp(c·<q,k_j>)} over the kept keys for softmax, {@code log Σ (c·<q,k_j> − b)^α} for ReLU^α, −∞
     * when no key has weight), and {@code dropped[lwOff + h]}, the row's certified dropped-mass bound ({@code epsilon};
     * else 0). Rows o_s with log weights L_s merge as {@code Σ exp(L_s − M)·o_s / Σ exp(L_s − M)}, M = max L_s.
     */
    public void attendPartial(int layer, float[] q, int qOff, float[] out, int outOff, double[] logWeight,
                              double[] dropped, int lwOff) {
        attendPartial(layer, q, qOff, out, outOff, logWeight, dropped, lwOff, stats);
    }

    /** {@link #attendPartial(int, float[], int, float[], int, double[], double[], int)} counting into {@code into}. */
    public void attendPartial(int layer, float[] q, int qOff, float[] out, int outOff, double[] logWeight,
                              double[] dropped, int lwOff, AttentionStats into) {
        enter();
        try {
            attendPartialChecked(layer, q, qOff, out, outOff, logWeight, dropped, lwOff, into);
        } finally {
            exit();
        }
    }

    private void attendPartialChecked(int layer, float[] q, int qOff, float[] out, int outOff, double[] logWeight,
                                      double[] dropped, int lwOff, AttentionStats into) {
        checkLayer(layer);
        int heads = shape.heads();
        checkPartialRange("logWeight", logWeight, lwOff, heads);
        checkPartialRange("dropped", dropped, lwOff, heads);
        int n = length(layer);
        if (n == 0) { // nothing stored: every row is empty
            checkRange("q", q, qOff, shape.queryWidth());
            checkRange("out", out, outOff, shape.outputWidth());
            checkValues("q", q, qOff, shape.queryWidth());
            Arrays.fill(out, outOff, outOff + shape.outputWidth(), 0f);
            Arrays.fill(logWeight, lwOff, lwOff + heads, Double.NEGATIVE_INFINITY);
            Arrays.fill(dropped, lwOff, lwOff + heads, 0);
            return;
        }
        run(layer, q, qOff, 1, out, outOff, method, into, new Partial(logWeight, dropped, lwOff));
    }

    /** Where {@link #attendPartial} writes query head h's log weight and dropped bound: index {@code off + h}. */
    private record Partial(double[] logWeight, double[] dropped, int off) {}

    private static void checkPartialRange(String what, double[] x, int off, int need) {
        if (x == null) throw new IllegalArgumentException(what + " is null");
        if (off < 0 || off > x.length || x.length - off < need) {
            throw new IllegalArgumentException(what + " holds " + x.length + " doubles: offset " + off + " + " + need
                    + " needed doubles is past its end");
        }
    }

    /** The query heads of kv head {@code kvh} for every position of the block: they share its index and rows. */
    private void attendGroup(int layer, int kvh, int n, int positions, float[] q, int qOff, float[] out, int outOff,
                             Method how, AttentionStats st, Partial partial) {
        int s = layer * shape.kvHeads() + kvh, group = shape.group(), d = shape.headDim(), dv = shape.valueDim();
        BlockIndex ix = index[s];
        var keys = SparseAttention.Keys.stored(ix, null); // the head's plan decides when to walk
        HeadPlan plan = plans[s];
        AttentionStats walk = walkStats[kvh];
        long rowBytes = (long) (d + dv) * shape.type().bytes();
        for (int p = 0; p < positions; p++) {
            int visible = n - positions + p + 1;
            int q0 = qOff + p * shape.queryWidth() + kvh * group * d;
            int o0 = outOff + p * shape.outputWidth() + kvh * group * dv;
            double[] lw = partial == null ? null : partial.logWeight(), dr = partial == null ? null : partial.dropped();
            int h0 = partial == null ? 0 : partial.off() + kvh * group; // the group's first query head in lw, dr
            if (how == Method.DENSE || how == Method.HSR
                    && plan.choose(cfg, selection, visible, ix.foldedKeys()) == HeadPlan.Choice.DENSE) {
                long rows = st == null ? 0 : st.rows;
                dense[kvh].attendGroup(ix.stored(), visible, q, q0, group, cfg, out, o0, st, lw, h0);
                if (dr != null) Arrays.fill(dr, h0, h0 + group, 0);
                if (st != null && how == Method.HSR) st.denseChosenRows += st.rows - rows;
                continue;
            }
            // the group's query heads share one walk of the index
            walk.reset();
            sparse[kvh].attendGroup(keys, visible, q, q0, group, cfg, selection, out, o0, walk, lw, dr, h0);
            if (how == Method.HSR) plan.learn(walk, visible, rowBytes);
            if (st != null) st.merge(walk);
        }
    }

    /**
     * Starts a new sequence: every position, index, per-head plan and statistic is dropped (the memory is released), as
     * if the cache had just been built.
     */
    public void reset() {
        enter();
        try {
            int slots = index.length;
            for (int s = 0; s < slots; s++) {
                index[s] = new BlockIndex(shape.headDim(), shape.valueDim(), shape.type(), foldPhase(s, slots));
                plans[s] = new HeadPlan();
            }
            stats.reset();
        } finally {
            exit();
        }
    }

    /** Forgets every position {@code >= length} in every layer (speculative decoding, prompt caching). */
    public void truncate(int length) {
        enter();
        try {
            for (int layer = 0; layer < shape.layers(); layer++) {
                int n = length(layer);
                if (length < 0 || length > n) {
                    throw new IllegalArgumentException("truncate length " + length + " not in [0, " + n + "] (layer "
                            + layer + ")");
                }
            }
            for (BlockIndex ix : index) ix.truncate(length);
        } finally {
            exit();
        }
    }

    /** The stored key of {@code position} for ({@code layer}, {@code kvHead}) into {@code out[off..off+headDim)}. */
    public void readKey(int layer, int kvHead, int position, float[] out, int off) {
        BlockIndex ix = headIndex(layer, kvHead);
        checkRange("out", out, off, shape.headDim());
        ix.readKey(position, out, off);
    }

    /** The stored value of {@code position} into {@code out[off..off+valueDim)}. */
    public void readValue(int layer, int kvHead, int position, float[] out, int off) {
        BlockIndex ix = headIndex(layer, kvHead);
        checkRange("out", out, off, shape.valueDim());
        ix.readValue(position, out, off);
    }

    private BlockIndex headIndex(int layer, int kvHead) {
        checkLayer(layer);
        if (kvHead < 0 || kvHead >= shape.kvHeads()) {
            throw new IllegalArgumentException("kv head " + kvHead + " not in [0, " + shape.kvHeads() + ")");
        }
        return index[layer * shape.kvHeads() + kvHead];
    }

    /**
     * Releases the stored keys, values and indexes (the executor is the caller's); afterwards every call but
     * {@link #shape}, {@link #method} and {@code close} throws {@link IllegalStateException}. Idempotent.
     */
    @Override
    public void close() {
        closed = true;
        Arrays.fill(index, null);
    }

    private volatile boolean closed;
    private final AtomicReference<Thread> user = new AtomicReference<>(); // the thread inside a call, if any

    /**
     * Marks a call as running on this thread; a second thread that enters meanwhile gets an
     * {@link IllegalStateException} instead of silently wrong outputs (the cache is driven by one thread at a time).
     */
    private void enter() {
        checkOpen();
        Thread me = Thread.currentThread();
        if (!user.compareAndSet(null, me)) {
            Thread other = user.get();
            throw new IllegalStateException("the KvCache is in use by thread '" + (other == null ? "?" : other.getName())
                    + "': a cache is driven by one thread at a time (use one cache per sequence, or synchronise)");
        }
    }

    private void exit() {
        user.set(null);
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("the KvCache is closed");
    }

    private void checkLayer(int layer) {
        checkOpen();
        if (layer < 0 || layer >= shape.layers()) {
            throw new IllegalArgumentException("layer " + layer + " not in [0, " + shape.layers() + ")");
        }
    }

    private static void checkRange(String what, float[] x, int off, long need) {
        if (x == null) throw new IllegalArgumentException(what + " is null");
        if (off < 0 || off > x.length || x.length - off < need) {
            throw new IllegalArgumentException(what + " holds " + x.length + " floats: offset " + off + " + " + need
                    + " needed floats is past its end");
        }
    }

    private static void checkSegment(String what, MemorySegment x, long off, long need) {
        if (x == null) throw new IllegalArgumentException(what + " is null");
        long floats = x.byteSize() / Float.BYTES;
        if (off < 0 || off > floats || floats - off < need) {
            throw new IllegalArgumentException(what + " holds " + floats + " floats: offset " + off + " + " + need
                    + " needed floats is past its end");
        }
    }

    /** Finite and within the element type's range, for every head: checked before any head is appended. */
    private void checkStorable(String what, float[] x, int off, int len) {
        checkValues(what, x, off, len);
        for (int i = 0; i < len; i++) {
            if (!Float.isFinite(shape.type().round(x[off + i]))) {
                throw new IllegalArgumentException(what + "[" + (off + i) + "] = " + x[off + i] + " is beyond "
                        + shape.type().label() + "'s largest finite value " + shape.type().largest()
                        + "; nothing was appended");
            }
        }
    }

    private static void checkValues(String what, float[] x, int off, int len) {
        for (int i = 0; i < len; i++) {
            if (!Float.isFinite(x[off + i])) {
                throw new IllegalArgumentException(what + "[" + (off + i) + "] is " + x[off + i]
                        + ": inputs must be finite; nothing was appended or attended");
            }
        }
    }
}
