package org.hsr.index;

import java.util.Arrays;
import org.hsr.simd.Kernels;
import org.hsr.store.ElementType;
import org.hsr.store.Rows;

/**
 * The fast exact half-space index, which also owns the only copy of its keys (and, when it is a KV cache's index,
 * of their values, each beside its key), stored in an {@link ElementType}. Three filters, each a certified upper
 * bound on {@code <q,k>} for the <i>stored</i> key, so nothing is ever missed:
 * <ol>
 *   <li><b>Centring.</b> Keys are stored relative to a mean μ fixed when the first keys are folded in, so
 *       {@code <q,k> = <q,μ> + <q,k−μ>} and every bound works on the centred part (real keys share a large offset).</li>
 *   <li><b>Blocks.</b> Keys are reordered into blocks of {@link #BLOCK} tight keys ({@link BlockPartitioner}); block
 *       B has a centre c and radius r, and {@code <q,x> <= <q,c> + ‖q‖·r} for all its centred keys x, so a block whose
 *       bound is below the threshold is skipped whole.</li>
 *   <li><b>An int8 sketch.</b> Inside a block every key is stored as {@code x = c + s⊙code + e} with per-block,
 *       per-dimension scales s and int8 codes, and {@code ‖e‖} plus a rounding margin is kept per key:
 *       {@code <q,x> <= <q,c> + <q⊙s, code> + ‖q‖·(‖e‖ + margin)}. Only keys that pass are scored exactly.</li>
 * </ol>
 * New keys go to a tail that is scanned exactly; once it holds {@link #FOLD} keys its oldest whole blocks' worth is
 * partitioned into blocks and appended, without touching the existing blocks (a bulk add of at least FOLD keys into
 * an empty tail is partitioned straight from the caller's arrays). Ids stay the caller's (order of addition);
 * {@link #truncate} forgets the newest ones. Keys are rounded to the element type once, on the way in, and every bound
 * and score is computed from the rounded values.
 *
 * <p>Thread safety: as the interface says; the state is a snapshot published through a volatile field. Writers only
 * write past what published snapshots hold (new rows of a page, new pages in a new outer array, small arrays grown
 * by copying), and a fold starts a new tail, so a reader never sees a half-written block or key. {@link #truncate}
 * is the exception: it needs exclusive access (no search or read may run during it).
 */
public final class BlockIndex implements HalfSpaceIndex {

    /** Keys per block: a multiple of every int8 lane count (8, 16), small enough that clustered blocks are tight. */
    public static final int BLOCK = 64;
    /** Tail size that triggers a fold into blocks. */
    public static final int FOLD = 4096;
    /**
     * Blocks per page of codes and of slot-ordered rows. The two big arrays grow a page at a time, so their spare
     * capacity is at most one page (a whole-array growth by 1.5x left up to half of it spare after appends), and a fold
     * never copies the blocks already folded. 16 blocks (1024 keys) per page: pages of 4 blocks measured 5-10% slower
     * queries than one array, 16 within noise of it.
     */
    static final int PAGE_BLOCKS = 16;
    static final int PAGE_SLOTS = PAGE_BLOCKS * BLOCK;
    /** Keys per page of the tail (a whole number of blocks), which grows a page at a time. */
    static final int TAIL_PAGE = 4 * BLOCK;
    private static final double UNIT_ROUNDOFF = 0x1p-24;

    private final int d, dv;
    private final ElementType type;
    private final int quads; // ceil(d/4): int words per key in the sketch
    private final int dPad; // 4*quads
    private final int lanes; // keys per sketch group
    private final double gamma; // relative rounding bound for length-d float dot products, with a safety factor
    private final double sketchRoundoff; // the sketch kernel's rounding per unit of Σ|q_t·s_t|

    /** Everything a query reads; immutable once published (arrays may have spare capacity past the counts). */
    private record Snapshot(
            int size,           // keys added
            int blocks,         // blocks folded
            float[] mu,         // (d) centring offset, null before the first fold
            float muNorm,
            float[] center,     // (blocks, d) block centres of the centred keys
            float[] radius,     // (blocks) certified radius around the centre
            float[] scale,      // (blocks, dPad) per-dimension code scales
            int[][] codePages,  // pages of PAGE_BLOCKS blocks: (block in page, BLOCK/lanes groups, quads, lanes) codes
            float[] errBound,   // (blocks*BLOCK) per-slot ‖e‖ + rounding margin, multiplied by ‖q‖
            int[] slotId,       // (blocks*BLOCK) caller id of each slot, -1 for padding
            int[] idRange,      // (blocks, 2) smallest and largest id in each block (for causal limits)
            int[] idSlot,       // (size - tailCount) slot of each folded id
            int[] foldBlock,    // (folds) first block of each fold: folds cover consecutive ids and blocks
            int[] foldId,       // (folds) first id of each fold
            int folds,
            Rows rows,          // (blocks*BLOCK) slot-ordered stored key | value rows, pages of PAGE_SLOTS
            Rows tail,          // (tailCount) rows not yet folded, ids size-tailCount .., pages of TAIL_PAGE
            int tailCount) {

        int firstTailId() {
            return size - tailCount;
        }

        Snapshot withTail(int newSize, Rows newTail, int newTailCount) {
            return new Snapshot(newSize, blocks, mu, muNorm, center, radius, scale, codePages, errBound, slotId, idRange,
                    idSlot, foldBlock, foldId, folds, rows, newTail, newTailCount);
        }
    }

    private volatile Snapshot snap;
    private final ThreadLocal<Scratch> scratch;

    /** Per-thread query scratch (reused; never shared between threads). */
    private static final class Scratch {
        float[] qs;
        final float[] qp; // the query prepared for the stored rows' kernels
        final float[] key; // one decoded key
        final float[] sketch = new float[BLOCK];
        final int[] slots = new int[BLOCK];
        final int[] pending = new int[PENDING + BLOCK];
        int pendingCount;
        float touched;
        final double[] mass = new double[1];
        float[] centerDots = new float[0];
        final int[] order = new int[BEST_FIRST];
        final float[] orderBounds = new float[BEST_FIRST];
        boolean[] visited = new boolean[0];
        final float[] tailScores = new float[TAIL_PAGE];

        Scratch(int dPad, int d, int queryLength) {
            qs = new float[dPad];
            qp = new float[queryLength];
            key = new float[d];
        }
    }

    /** An index of fp32 keys only (the half-space reporting index of {@code hsr search}). */
    public BlockIndex(int d) {
        this(d, 0, ElementType.FP32);
    }

    /** An index whose rows hold a key of {@code d} and a value of {@code dv} elements (0: none) of {@code type}. */
    public BlockIndex(int d, int dv, ElementType type) {
        if (d < 1) throw new IllegalArgumentException("dimension must be >= 1, got " + d);
        if (dv < 0) throw new IllegalArgumentException("value dimension must be >= 0, got " + dv);
        this.d = d;
        this.dv = dv;
        this.type = type;
        this.quads = (d + 3) / 4;
        this.dPad = 4 * quads;
        this.lanes = Kernels.int8Lanes();
        if (BLOCK % lanes != 0) throw new IllegalStateException("block " + BLOCK + " not a multiple of lanes " + lanes);
        this.gamma = 4.0 * (d + 4) * UNIT_ROUNDOFF;
        this.sketchRoundoff = Kernels.int8Roundoff(quads);
        Rows rows = Rows.empty(type, d, dv, PAGE_SLOTS);
        this.snap = new Snapshot(0, 0, null, 0f, new float[0], new float[0], new float[0], new int[0][], new float[0],
                new int[0], new int[0], new int[0], new int[0], new int[0], 0, rows,
                Rows.empty(type, d, dv, TAIL_PAGE), 0);
        this.scratch = ThreadLocal.withInitial(() -> new Scratch(dPad, d, rows.queryLength()));
    }

    @Override
    public int dimension() {
        return d;
    }

    /** Value elements per row (0 for an index of keys only). */
    public int valueDimension() {
        return dv;
    }

    /** The storage type of keys and values. */
    public ElementType elementType() {
        return type;
    }

    @Override
    public int size() {
        return snap.size;
    }

    /** Keys held in blocks (the rest are in the exactly-scanned tail). */
    public int foldedKeys() {
        Snapshot s = snap;
        return s.size - s.tailCount;
    }

    /** Every byte the index holds: stored keys and values, codes, bounds, ids, block data, spare page capacity. */
    public long memoryBytes() {
        Snapshot s = snap;
        long total = 4L * (s.center.length + s.radius.length + s.scale.length + s.errBound.length + s.slotId.length
                + s.idRange.length + s.idSlot.length + s.foldBlock.length + s.foldId.length)
                + (s.mu == null ? 0 : 4L * d) + s.rows.bytes() + s.tail.bytes();
        for (int[] page : s.codePages) if (page != null) total += 4L * page.length;
        return total;
    }

    /** Bytes the index holds beyond one copy of the stored keys and values ({@link #memoryBytes} less those). */
    public long extraBytes() {
        return memoryBytes() - (long) snap.size * (d + dv) * type.bytes();
    }

    @Override
    public void add(float[] keys, int count) {
        if (dv != 0) throw new IllegalArgumentException("this index stores values (dv " + dv + "): add keys with values");
        add(keys, 0, null, 0, count);
    }

    /**
     * Appends {@code count} rows: key i from {@code k[kOff + i·d ..]}, value i from {@code v[vOff + i·dv ..]}
     * ({@code v} may be null when dv = 0), rounded to the element type. Everything is checked first (lengths, finite,
     * fits the type); on error nothing is added.
     */
    public synchronized void add(float[] k, int kOff, float[] v, int vOff, int count) {
        checkRows("key", k, kOff, count, d);
        if (dv > 0) checkRows("value", v, vOff, count, dv);
        for (int i = 0; i < count; i++) { // scores of keys beyond the limit could overflow fp32
            double sq = 0;
            for (int t = 0; t < d; t++) sq += (double) k[kOff + i * d + t] * k[kOff + i * d + t];
            HalfSpaceIndex.checkNorm(sq, "key " + i);
        }
        if (count == 0) return;
        Snapshot s = snap;
        if ((long) s.size + count > Integer.MAX_VALUE / 2) {
            throw new IllegalArgumentException("index full: " + s.size + " + " + count + " keys");
        }
        if (s.tailCount == 0 && count >= FOLD) {
            // a bulk add into an empty tail folds straight from the caller's arrays: copying them into tail rows
            // first cost a pass over the keys and fresh memory for all of them
            snap = fold(s.withTail(s.size + count, s.tail, count), new CallerRows(k, kOff, v, vOff));
            return;
        }
        // into the tail's rows: a page is written only past the rows that published snapshots hold, and a new page
        // comes with a new outer array, so a reader never sees a half-written row
        Rows tail = s.tail.withCapacity((long) s.tailCount + count);
        for (int i = 0; i < count; i++) tail.write(s.tailCount + i, k, kOff + i * d, v, vOff + i * dv);
        Snapshot next = s.withTail(s.size + count, tail, s.tailCount + count);
        if (next.tailCount >= FOLD) next = fold(next, new TailRows(tail));
        snap = next;
    }

    private void checkRows(String what, float[] x, int off, int count, int len) {
        if (count < 0) throw new IllegalArgumentException("row count must be >= 0, got " + count);
        if (x == null) throw new IllegalArgumentException(what + "s are null");
        long need = (long) count * len;
        if (off < 0 || off > x.length || x.length - off < need) {
            throw new IllegalArgumentException(what + "s hold " + x.length + " floats, need " + count + " x " + len
                    + " from offset " + off);
        }
        for (int i = 0; i < need; i++) {
            float f = x[off + i];
            if (!Float.isFinite(f)) {
                throw new IllegalArgumentException(what + " " + (i / len) + " holds a non-finite value (" + f
                        + ") at dimension " + (i % len) + "; nothing was added");
            }
            if (!Float.isFinite(type.round(f))) {
                throw new IllegalArgumentException(what + " " + (i / len) + " holds " + f + " at dimension " + (i % len)
                        + ", beyond " + type.label() + "'s largest finite value " + type.largest() + "; nothing was added");
            }
        }
    }

    /** Where a fold reads its source rows: the tail's own rows, or the caller's arrays of a bulk add. */
    private interface FoldSource {
        /** The stored (rounded) key of source row i into {@code dst[off..off+d)}. */
        void key(int i, float[] dst, int off);

        /** The stored (rounded) value of source row i into {@code dst[0..dv)}. */
        void value(int i, float[] dst);
    }

    private final class TailRows implements FoldSource {
        private final Rows tail;

        TailRows(Rows tail) {
            this.tail = tail;
        }

        @Override
        public void key(int i, float[] dst, int off) {
            tail.readKey(i, dst, off);
        }

        @Override
        public void value(int i, float[] dst) {
            tail.readValue(i, dst, 0);
        }
    }

    private final class CallerRows implements FoldSource {
        private final float[] k, v;
        private final int kOff, vOff;

        CallerRows(float[] k, int kOff, float[] v, int vOff) {
            this.k = k;
            this.kOff = kOff;
            this.v = v;
            this.vOff = vOff;
        }

        @Override
        public void key(int i, float[] dst, int off) {
            for (int t = 0; t < d; t++) dst[off + t] = type.round(k[kOff + i * d + t]);
        }

        @Override
        public void value(int i, float[] dst) {
            for (int t = 0; t < dv; t++) dst[t] = type.round(v[vOff + i * dv + t]);
        }
    }

    /**
     * Partitions the tail's oldest keys, a whole number of blocks of them, into blocks and appends those; the rest
     * (fewer than a block) stay in a new tail. The tail's {@code s.tailCount} rows are read from {@code src}. Returns
     * the new snapshot.
     */
    private Snapshot fold(Snapshot s, FoldSource src) {
        int n = s.tailCount / BLOCK * BLOCK;
        int firstId = s.firstTailId();
        // the keys, partitioned as they are (the partition is translation-invariant), so that afterwards x holds them in
        // slot order
        float[] x = new float[n * d];
        for (int i = 0; i < n; i++) src.key(i, x, i * d);
        float[] mu = s.mu;
        if (mu == null) {
            double[] acc = new double[d];
            for (int i = 0; i < n; i++) for (int t = 0; t < d; t++) acc[t] += x[i * d + t];
            mu = new float[d];
            for (int t = 0; t < d; t++) mu[t] = (float) (acc[t] / n);
        }
        float muNorm = (float) (norm(mu, 0, d) * (1 + 1e-6));
        int[] perm = BlockPartitioner.partition(x, n, d, BLOCK);
        int newBlocks = (n + BLOCK - 1) / BLOCK;
        int blocks = s.blocks + newBlocks;
        int slots = blocks * BLOCK;
        float[] center = grow(s.center, (long) blocks * d);
        float[] radius = grow(s.radius, blocks);
        float[] scale = grow(s.scale, (long) blocks * dPad);
        int pages = (blocks + PAGE_BLOCKS - 1) / PAGE_BLOCKS;
        int[][] codePages = s.codePages.length >= pages ? s.codePages : Arrays.copyOf(s.codePages, pages);
        for (int p = 0; p < pages; p++) if (codePages[p] == null) codePages[p] = new int[PAGE_BLOCKS * BLOCK * quads];
        Rows rows = s.rows.withCapacity(slots);
        float[] errBound = grow(s.errBound, slots);
        int[] slotId = growInt(s.slotId, slots);
        int[] idRange = growInt(s.idRange, 2L * blocks);
        int[] idSlot = growInt(s.idSlot, (long) firstId + n);
        int[] foldBlock = growInt(s.foldBlock, s.folds + 1), foldId = growInt(s.foldId, s.folds + 1);
        foldBlock[s.folds] = s.blocks;
        foldId[s.folds] = firstId;
        float[] cen = new float[d];
        float[] inv = new float[d];
        float[] value = new float[dv];
        int[] q8 = new int[dPad];
        double sumSlack = 1 + 2.0 * (d + 2) * UNIT_ROUNDOFF; // float sums of d squares: relative error <= d·u
        float[] sums = new float[3];
        double[] kNorms = new double[BLOCK];
        for (int nb = 0; nb < newBlocks; nb++) {
            int b = s.blocks + nb;
            int from = nb * BLOCK, cnt = Math.min(n, from + BLOCK) - from;
            // the partition left x in leaf order: the block's keys are the cnt rows from `base`; they go to the slot
            // rows with their values, and then become their centred form x = k − μ and residuals r = x − c in place
            int base = from * d;
            for (int slot = 0; slot < cnt; slot++) {
                int gslot = b * BLOCK + slot;
                int local = perm[from + slot];
                if (dv > 0) src.value(local, value);
                rows.write(gslot, x, base + slot * d, value, 0);
                kNorms[slot] = Math.sqrt(Kernels.dot(x, base + slot * d, x, base + slot * d, d));
                Kernels.axpy(-1f, mu, 0, x, base + slot * d, d);
            }
            // centre: mean of the block's centred keys
            Arrays.fill(cen, 0f);
            for (int slot = 0; slot < cnt; slot++) Kernels.axpy(1f, x, base + slot * d, cen, 0, d);
            Kernels.scale(cen, 0, d, 1f / cnt);
            System.arraycopy(cen, 0, center, b * d, d);
            double cNorm = Math.sqrt(Kernels.dot(cen, 0, cen, 0, d)) * sumSlack;
            // residuals, and the per-dimension scale: largest |r| / 127
            Arrays.fill(inv, 0f);
            for (int slot = 0; slot < cnt; slot++) Kernels.subtractAbsMax(cen, x, base + slot * d, inv, d);
            for (int t = 0; t < d; t++) {
                scale[b * dPad + t] = inv[t] / 127f;
                inv[t] = inv[t] > 0f ? 127f / inv[t] : 0f;
            }
            for (int t = d; t < dPad; t++) scale[b * dPad + t] = 0f;
            double sNorm = Math.sqrt(Kernels.dotDouble(scale, b * dPad, scale, b * dPad, dPad)) * (1 + 1e-6);
            double rMax = 0, kMax = 0;
            int minId = Integer.MAX_VALUE, maxId = -1;
            for (int slot = 0; slot < BLOCK; slot++) {
                int gslot = b * BLOCK + slot;
                int group = slot / lanes, lane = slot % lanes;
                int[] codes = codePages[b / PAGE_BLOCKS];
                int codeBase = codeOffset(b) + (group * quads) * lanes + lane;
                if (slot >= cnt) { // padding slot: never reported (its row stays as allocated: zeros)
                    slotId[gslot] = -1;
                    errBound[gslot] = 0f;
                    for (int p = 0; p < quads; p++) codes[codeBase + p * lanes] = 0;
                    continue;
                }
                int id = firstId + perm[from + slot];
                slotId[gslot] = id;
                idSlot[id] = gslot;
                minId = Math.min(minId, id);
                maxId = Math.max(maxId, id);
                // codes, and the residual e = r − s⊙code that the sketch leaves
                Kernels.quantizeInt8(x, base + slot * d, inv, scale, b * dPad, d, q8, sums);
                float e2 = sums[0], h2 = sums[1], r2 = sums[2];
                Kernels.packInt8Row(q8, quads, codes, codeBase, lanes);
                double kNorm = kNorms[slot];
                double rNorm = Math.sqrt(r2), hatNorm = Math.sqrt(h2);
                rMax = Math.max(rMax, rNorm);
                kMax = Math.max(kMax, kNorm);
                // The float arithmetic above (k − μ, − c, s·code, the sums of squares) is off from the exact residual
                // by at most a few units of roundoff of ‖k‖, ‖μ‖, ‖r‖, ‖ŝ‖; gamma covers that and the query-side
                // rounding of <q,c>, <q⊙s,code> and <q,μ>.
                // The sketch kernel's own rounding is at most roundoff·Σ|q_t·s_t| <= roundoff·‖q‖·‖s‖.
                errBound[gslot] = (float) ((Math.sqrt(e2) * sumSlack + sketchRoundoff * sNorm
                        + gamma * (cNorm + hatNorm + muNorm + rNorm + kNorm)) * (1 + 1e-6));
            }
            idRange[2 * b] = minId;
            idRange[2 * b + 1] = maxId;
            radius[b] = (float) ((rMax * sumSlack + gamma * (cNorm + rMax + muNorm + kMax)) * (1 + 1e-6));
        }
        // the rows left over (fewer than a block) start the new tail
        int rest = s.tailCount - n;
        Rows tail = Rows.empty(type, d, dv, TAIL_PAGE).withCapacity(rest);
        for (int i = 0; i < rest; i++) {
            src.key(n + i, cen, 0);
            if (dv > 0) src.value(n + i, value);
            tail.write(i, cen, 0, value, 0);
        }
        return new Snapshot(s.size, blocks, mu, muNorm, center, radius, scale, codePages, errBound, slotId, idRange,
                idSlot, foldBlock, foldId, s.folds + 1, rows, tail, rest);
    }

    /**
     * Forgets every id {@code >= length} (speculative decoding, prompt caching): the tail is cut, and when the cut falls
     * inside folded blocks, the folds from the one holding {@code length} on are undone and their surviving rows
     * (ids from that fold's first to {@code length}) appended again, which costs about one fold (a few thousand rows),
     * not a rebuild. Needs exclusive access: no search or read may run during it.
     */
    public synchronized void truncate(int length) {
        Snapshot s = snap;
        if (length < 0 || length > s.size) {
            throw new IllegalArgumentException("truncate length " + length + " not in [0, " + s.size + "]");
        }
        if (length == s.size) return;
        int firstTail = s.firstTailId();
        if (length >= firstTail) {
            int keep = length - firstTail;
            snap = s.withTail(length, s.tail.truncatedTo(keep), keep);
            return;
        }
        int f = s.folds - 1;
        while (s.foldId[f] > length) f--;
        int from = s.foldId[f], count = length - from;
        // the surviving rows of the undone folds, read back in id order before the blocks are dropped
        float[] k = new float[count * d], v = new float[count * dv];
        for (int i = 0; i < count; i++) {
            int slot = s.idSlot[from + i];
            s.rows.readKey(slot, k, i * d);
            if (dv > 0) s.rows.readValue(slot, v, i * dv);
        }
        int blocks = s.foldBlock[f];
        snap = new Snapshot(from, blocks, f == 0 ? null : s.mu, f == 0 ? 0f : s.muNorm, s.center, s.radius, s.scale,
                s.codePages, s.errBound, s.slotId, s.idRange, s.idSlot, s.foldBlock, s.foldId, f, s.rows,
                Rows.empty(type, d, dv, TAIL_PAGE), 0);
        add(k, 0, v, 0, count);
    }

    /** The stored key of id {@code id} (a position) into {@code out[off..off+d)}. */
    public void readKey(int id, float[] out, int off) {
        Snapshot s = snap;
        checkId(s, id);
        if (id >= s.firstTailId()) s.tail.readKey(id - s.firstTailId(), out, off);
        else s.rows.readKey(s.idSlot[id], out, off);
    }

    /** The stored value of id {@code id} into {@code out[off..off+dv)}. */
    public void readValue(int id, float[] out, int off) {
        Snapshot s = snap;
        checkId(s, id);
        if (id >= s.firstTailId()) s.tail.readValue(id - s.firstTailId(), out, off);
        else s.rows.readValue(s.idSlot[id], out, off);
    }

    private static void checkId(Snapshot s, int id) {
        if (id < 0 || id >= s.size) throw new IllegalArgumentException("position " + id + " not in [0, " + s.size + ")");
    }

    /**
     * The stored rows as they lie, for passes over every key (dense attention reads the same storage as the index):
     * {@code slots} rows of {@code blocks} (slot order, caller id {@code slotId[slot]}, -1 for padding), then
     * {@code tailCount} rows of {@code tail} with ids {@code firstTailId ..}.
     */
    public record Stored(Rows blocks, int slots, int[] slotId, Rows tail, int tailCount, int firstTailId, int[] idSlot) {
        /** {@code acc += w·v_id} in the rows' accumulator form. */
        public void addValue(int id, float w, float[] acc, int accOff) {
            if (id >= firstTailId) tail.addValue(w, id - firstTailId, acc, accOff);
            else blocks.addValue(w, idSlot[id], acc, accOff);
        }

        /** One load per cache line of id's value row (see {@link Rows#touch}). */
        public float touchValue(int id) {
            return id >= firstTailId ? tail.touch(id - firstTailId, true) : blocks.touch(idSlot[id], true);
        }
    }

    /** The rows as they are now (a consistent snapshot). */
    public Stored stored() {
        Snapshot s = snap;
        return new Stored(s.rows, s.blocks * BLOCK, s.slotId, s.tail, s.tailCount, s.firstTailId(), s.idSlot);
    }

    @Override
    public void search(float[] q, int qOff, int limit, HitCollector collector, SearchWork work) {
        Snapshot s = snap;
        Scratch sc = scratch.get();
        sc.pendingCount = 0; // a previous search on this thread that threw may have left candidates queued
        int firstTailId = s.size - s.tailCount;
        int tailCount = Math.max(0, Math.min(s.tailCount, limit - firstTailId)); // the causal limit cuts the tail
        boolean limited = limit < s.size;
        long scored = 0, sketchRead = 0, skipped = 0, bytes = 0;
        // 1. the tail, scanned exactly (first, so a top-R collector's bar rises before the blocks)
        if (tailCount > 0) s.tail.prepareQuery(q, qOff, sc.qp, 0);
        for (int start = 0; start < tailCount; start += TAIL_PAGE) {
            int count = Math.min(TAIL_PAGE, tailCount - start);
            s.tail.scores(sc.qp, 0, start, count, sc.tailScores, 0);
            for (int j = 0; j < count; j++) {
                if (sc.tailScores[j] >= collector.minCompetitiveScore()) {
                    int id = firstTailId + start + j;
                    collector.collectExact(id, s.tail.dotDouble(q, qOff, start + j, sc.key));
                } else if (collector.wantsPruned()) {
                    collector.pruned(sc.tailScores[j], 1);
                }
            }
        }
        scored += tailCount;
        bytes += (long) tailCount * d * type.bytes();
        if (s.blocks > 0) {
            // 2. the blocks: block bound, then the sketch bound per key, then the exact (float64-accumulated) score
            float qNorm = (float) (norm(q, qOff, d) * (1 + 1e-6));
            float qMu = Kernels.dot(q, qOff, s.mu, 0, d);
            float slackMu = (float) (gamma * qNorm * s.muNorm);
            boolean bestFirst = collector.wantsBestFirst();
            boolean reportPruned = collector.wantsPruned();
            float shift = qMu + slackMu; // raw bound = centred bound + shift
            // <q, c_b> for every block centre in one pass over the centres
            if (sc.centerDots.length < s.blocks) {
                sc.centerDots = new float[s.blocks];
                sc.visited = new boolean[s.blocks];
            }
            float[] baseDots = sc.centerDots;
            Kernels.dotMany(q, qOff, s.center, 0, s.blocks, d, baseDots, 0);
            // The visiting order. A best-first walk takes the BEST_FIRST blocks of largest bound first, in descending
            // order, which raises the collector's bar early, then every other block in memory order: visiting all blocks
            // in sorted order jumps through memory, and measured 1.8x slower on the sketch pass than a sequential sweep.
            int prefix = bestFirst ? topBlocksByBound(s, sc, baseDots, qNorm, limited ? limit : Integer.MAX_VALUE) : 0;
            boolean[] visited = sc.visited;
            Arrays.fill(visited, 0, s.blocks, false); // here, not only at the end: a collector that threw left marks
            for (int i = 0, sweep = 0; ; ) {
                int b;
                boolean inPrefix = i < prefix;
                if (inPrefix) {
                    b = sc.order[i++];
                } else {
                    if (i == prefix && prefix > 0) { // the prefix's candidates set the bar for the sweep
                        scored += scorePending(s, sc, q, qOff, collector, reportPruned);
                        i++;
                    }
                    while (sweep < s.blocks && visited[sweep]) sweep++;
                    if (sweep >= s.blocks) break;
                    b = sweep++;
                }
                visited[b] = true;
                if (collector.minCompetitiveScore() == Float.POSITIVE_INFINITY) break; // the collector wants no more
                if (limited && s.idRange[2 * b] >= limit) continue; // every key of the block is past the causal limit
                boolean cut = limited && s.idRange[2 * b + 1] >= limit;
                float tc = collector.minCompetitiveScore() - qMu - slackMu;
                float base = baseDots[b];
                bytes += (long) (d + 1) * Float.BYTES;
                if (base + qNorm * s.radius[b] < tc) {
                    if (inPrefix) {
                        // the prefix descends and every block outside it has a bound <= the prefix's smallest, so
                        // every block not yet visited is out too
                        for (int rest = 0; rest < s.blocks; rest++) {
                            if (visited[rest] && rest != b || limited && s.idRange[2 * rest] >= limit) continue;
                            skipped++;
                            if (reportPruned) {
                                collector.pruned(baseDots[rest] + qNorm * s.radius[rest] + shift, blockKeys(s, rest));
                            }
                        }
                        break;
                    }
                    skipped++;
                    if (reportPruned) collector.pruned(base + qNorm * s.radius[b] + shift, blockKeys(s, b));
                    continue;
                }
                Kernels.int8Query(q, qOff, s.scale, b * dPad, d, sc.qs);
                sketchRead += BLOCK;
                bytes += (long) BLOCK * (dPad + 2 * Integer.BYTES) + (long) dPad * Float.BYTES;
                if (!reportPruned) {
                    // the fused kernel: sketch scores and their bounds in vector form, only candidates come back
                    int candidates = Kernels.int8Filter(s.codePages[b / PAGE_BLOCKS], codeOffset(b), BLOCK / lanes, quads, lanes, sc.qs,
                            base, qNorm, s.errBound, b * BLOCK, tc, sc.slots);
                    queueCandidates(s, b, candidates, sc, cut ? limit : Integer.MAX_VALUE);
                    if (sc.pendingCount >= PENDING) scored += scorePending(s, sc, q, qOff, collector, false);
                    continue;
                }
                float expScale = collector.prunedExpScale();
                if (!Float.isNaN(expScale)) {
                    // bulk: the kernel sums exp(scale·(bound − bar)) over the keys it prunes
                    sc.mass[0] = 0;
                    int candidates = Kernels.int8FilterMass(s.codePages[b / PAGE_BLOCKS], codeOffset(b), BLOCK / lanes, quads, lanes,
                            sc.qs, base, qNorm, s.errBound, b * BLOCK, tc, expScale, sc.slots, sc.mass);
                    collector.prunedMass(sc.mass[0], tc + shift);
                    queueCandidates(s, b, candidates, sc, cut ? limit : Integer.MAX_VALUE);
                    if (sc.pendingCount >= PENDING) scored += scorePending(s, sc, q, qOff, collector, true);
                    continue;
                }
                // every bound reported on its own: sketch scores per key, and the survivors to the same exact check
                Kernels.int8Scores(s.codePages[b / PAGE_BLOCKS], codeOffset(b), BLOCK / lanes, quads, lanes, sc.qs, sc.sketch, 0);
                for (int j = 0; j < BLOCK; j++) {
                    int slot = b * BLOCK + j;
                    int id = s.slotId[slot];
                    if (id < 0 || cut && id >= limit) continue;
                    float sketchBound = base + sc.sketch[j] + qNorm * s.errBound[slot];
                    if (sketchBound < tc) collector.pruned(sketchBound + shift, 1);
                    else sc.pending[sc.pendingCount++] = slot;
                }
                if (sc.pendingCount >= PENDING) scored += scorePending(s, sc, q, qOff, collector, true);
            }
            scored += scorePending(s, sc, q, qOff, collector, reportPruned);
            bytes += (scored - tailCount) * (long) d * type.bytes();
        }
        if (work != null) {
            work.keysSeen += Math.min(s.size, Math.max(0, limit));
            work.blocksTotal += s.blocks;
            work.blocksSkipped += skipped;
            work.sketchEntriesRead += sketchRead;
            work.keysScored += scored;
            work.bytesRead += bytes;
        }
    }

    /** Offset of block b's codes in its page. */
    private int codeOffset(int b) {
        return (b % PAGE_BLOCKS) * BLOCK * quads;
    }

    /** Blocks a best-first walk visits in order of bound before sweeping the rest in memory order. */
    static final int BEST_FIRST = 32;

    /**
     * Writes into {@code sc.order} the (at most) {@link #BEST_FIRST} blocks of largest bound {@code <q,c> + ‖q‖·r},
     * largest first, leaving out blocks whose keys all lie past the causal limit; returns how many.
     */
    private static int topBlocksByBound(Snapshot s, Scratch sc, float[] baseDots, float qNorm, int limit) {
        int[] top = sc.order;
        float[] topUb = sc.orderBounds;
        int count = 0;
        for (int b = 0; b < s.blocks; b++) {
            if (s.idRange[2 * b] >= limit) continue;
            float ub = baseDots[b] + qNorm * s.radius[b];
            if (count == BEST_FIRST && !(ub > topUb[count - 1])) continue;
            int at = count == BEST_FIRST ? count - 1 : count++;
            while (at > 0 && ub > topUb[at - 1]) { // insertion into the descending list
                top[at] = top[at - 1];
                topUb[at] = topUb[at - 1];
                at--;
            }
            top[at] = b;
            topUb[at] = ub;
        }
        return count;
    }

    /** Candidates gathered over several blocks before their exact check (see {@link #scorePending}). */
    private static final int PENDING = 128;

    /** Adds the candidate slots of block b that are real keys below the limit to the pending list. */
    private static void queueCandidates(Snapshot s, int b, int candidates, Scratch sc, int limit) {
        for (int c = 0; c < candidates; c++) {
            int slot = b * BLOCK + sc.slots[c];
            int id = s.slotId[slot];
            if (id >= 0 && id < limit) sc.pending[sc.pendingCount++] = slot;
        }
    }

    /**
     * The exact check of the pending candidates: each gets its float64-accumulated score and is collected when it
     * clears the collector's bar (else reported as pruned when {@code reportBelow}). The candidates' key rows are
     * scattered over the slot array, so first every cache line of every row is touched: those loads are independent and
     * overlap in the memory system, where scoring row by row would wait for each row in turn. Returns how many keys
     * were scored.
     */
    private int scorePending(Snapshot s, Scratch sc, float[] q, int qOff, HitCollector collector,
                             boolean reportBelow) {
        int n = sc.pendingCount;
        float touch = 0f;
        for (int i = 0; i < n; i++) touch += s.rows.touch(sc.pending[i], false);
        sc.touched = touch; // keeps the touching loads alive
        for (int i = 0; i < n; i++) {
            int slot = sc.pending[i];
            double exact = s.rows.dotDouble(q, qOff, slot, sc.key);
            if ((float) exact >= collector.minCompetitiveScore()) collector.collectExact(s.slotId[slot], exact);
            else if (reportBelow) collector.pruned((float) exact, 1);
        }
        sc.pendingCount = 0;
        return n;
    }

    /** Real (non-padding) keys in block b: all but possibly the last block of a fold are full. */
    private static int blockKeys(Snapshot s, int b) {
        int n = 0;
        for (int j = 0; j < BLOCK; j++) if (s.slotId[b * BLOCK + j] >= 0) n++;
        return n;
    }

    private static double norm(float[] x, int off, int len) {
        double s = 0;
        for (int i = 0; i < len; i++) s += (double) x[off + i] * x[off + i];
        return Math.sqrt(s);
    }

    /** Grows by an eighth: these per-block and per-slot arrays are small, and a larger step would be spare memory. */
    private static float[] grow(float[] a, long need) {
        if (need <= a.length) return a;
        if (need > Integer.MAX_VALUE - 16) throw new IllegalArgumentException("index too large: " + need + " floats");
        return Arrays.copyOf(a, (int) Math.min(Integer.MAX_VALUE - 16, Math.max(need, a.length + (a.length >> 3))));
    }

    private static int[] growInt(int[] a, long need) {
        if (need <= a.length) return a;
        if (need > Integer.MAX_VALUE - 16) throw new IllegalArgumentException("index too large: " + need + " ints");
        return Arrays.copyOf(a, (int) Math.min(Integer.MAX_VALUE - 16, Math.max(need, a.length + (a.length >> 3))));
    }
}
