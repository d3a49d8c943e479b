package org.hsr.index;

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
 * New keys go to a tail that is scanned exactly; once it holds {@link #FOLD} keys (or at the index's fold phase, see
 * {@link #BlockIndex(int, int, ElementType, int)}) its oldest whole blocks' worth is
 * partitioned into blocks and appended, without touching the existing blocks (a bulk add of at least FOLD keys into
 * an empty tail is partitioned straight from the caller's arrays). Ids stay the caller's (order of addition);
 * {@link #truncate} forgets the newest ones. Keys are rounded to the element type once, on the way in, and every bound
 * and score is computed from the rounded values.
 *
 * <p>The parts: {@link BlockSnapshot} is what a query reads, {@link BlockFolder} makes the blocks, {@link BlockSearcher}
 * walks them (one query, or the query heads of a grouped-query kv head together: {@link #searchGroup}).
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
    /** The fold phase of an index that folds whenever its tail holds {@link #FOLD} keys. */
    public static final int NO_PHASE = -1;
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
    static final double UNIT_ROUNDOFF = 0x1p-24;

    private final int d, dv, phase; // NO_PHASE: fold whenever the tail holds FOLD keys
    private final ElementType type;
    private final BlockFolder folder;
    private final BlockSearcher searcher;
    private volatile BlockSnapshot snap;
    private volatile float maxKeyNorm; // an upper bound on every stored key's norm (truncate leaves it an upper bound)

    /** Relative rounding bound of length-d float dot products, with a safety factor. */
    static double gamma(int d) {
        return 4.0 * (d + 4) * UNIT_ROUNDOFF;
    }

    /** An index of fp32 keys only (the half-space reporting index of {@code hsr search}). */
    public BlockIndex(int d) {
        this(d, 0, ElementType.FP32);
    }

    /** An index whose rows hold a key of {@code d} and a value of {@code dv} elements (0: none) of {@code type}. */
    public BlockIndex(int d, int dv, ElementType type) {
        this(d, dv, type, NO_PHASE);
    }

    /**
     * {@link #BlockIndex(int, int, ElementType)} whose folds come at a phase of their own: the tail is folded when the
     * index's size passes a position {@code ≡ phase (mod FOLD)} and the tail holds at least {@code FOLD/2} keys (so
     * it never holds more than {@code 1.5·FOLD}). A cache gives its heads phases spread over {@code [0, FOLD)}, so that
     * their folds fall on different decoding steps, also after a bulk add, instead of all on one (a 32-layer model
     * paid every head's fold in one token: 2.9 s).
     */
    public BlockIndex(int d, int dv, ElementType type, int phase) {
        if (phase != NO_PHASE && (phase < 0 || phase >= FOLD)) {
            throw new IllegalArgumentException("fold phase " + phase + " not in [0, " + FOLD + ")");
        }
        this.phase = phase;
        if (d < 1) throw new IllegalArgumentException("dimension must be >= 1, got " + d);
        if (dv < 0) throw new IllegalArgumentException("value dimension must be >= 0, got " + dv);
        this.d = d;
        this.dv = dv;
        this.type = type;
        if (BLOCK % Kernels.int8Lanes() != 0) {
            throw new IllegalStateException("block " + BLOCK + " not a multiple of lanes " + Kernels.int8Lanes());
        }
        Rows rows = Rows.empty(type, d, dv, PAGE_SLOTS);
        this.snap = BlockSnapshot.empty(rows, Rows.empty(type, d, dv, TAIL_PAGE));
        this.folder = new BlockFolder(d, dv, type);
        this.searcher = new BlockSearcher(d, type, rows.queryLength());
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
        return snap.size();
    }

    /**
     * An upper bound on the norm of every stored (rounded) key, for rounding slacks that scale with {@code ‖q‖·‖k‖}.
     * It only grows (after {@link #truncate} it is still an upper bound).
     */
    public float maxKeyNorm() {
        return maxKeyNorm;
    }

    /** Keys held in blocks (the rest are in the exactly-scanned tail). */
    public int foldedKeys() {
        BlockSnapshot s = snap;
        return s.size() - s.tailCount();
    }

    /** Every byte the index holds: stored keys and values, codes, bounds, ids, block data, spare page capacity. */
    public long memoryBytes() {
        BlockSnapshot s = snap;
        return s.bytes(d);
    }

    /** Bytes the index holds beyond one copy of the stored keys and values ({@link #memoryBytes} less those). */
    public long extraBytes() {
        return memoryBytes() - (long) snap.size() * (d + dv) * type.bytes();
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
        double maxSq = 0;
        for (int i = 0; i < count; i++) { // scores of keys beyond the limit could overflow fp32
            double sq = 0;
            for (int t = 0; t < d; t++) {
                double x = type.round(k[kOff + i * d + t]); // the stored key's norm
                sq += x * x;
            }
            HalfSpaceIndex.checkNorm(sq, "key " + i);
            maxSq = Math.max(maxSq, sq);
        }
        // before the snapshot that holds the keys is published: a reader of that snapshot sees this bound or a larger
        maxKeyNorm = Math.max(maxKeyNorm, (float) (Math.sqrt(maxSq) * (1 + 1e-6)));
        if (count == 0) return;
        BlockSnapshot s = snap;
        if ((long) s.size() + count > Integer.MAX_VALUE / 2) {
            throw new IllegalArgumentException("index full: " + s.size() + " + " + count + " keys");
        }
        if (s.tailCount() == 0 && count >= FOLD) {
            // a bulk add into an empty tail folds straight from the caller's arrays: copying them into tail rows
            // first cost a pass over the keys and fresh memory for all of them
            snap = folder.fold(s.withTail(s.size() + count, s.tail(), count), folder.new CallerRows(k, kOff, v, vOff));
            return;
        }
        // into the tail's rows: a page is written only past the rows that published snapshots hold, and a new page
        // comes with a new outer array, so a reader never sees a half-written row
        Rows tail = s.tail().withCapacity((long) s.tailCount() + count);
        for (int i = 0; i < count; i++) tail.write(s.tailCount() + i, k, kOff + i * d, v, vOff + i * dv);
        BlockSnapshot next = s.withTail(s.size() + count, tail, s.tailCount() + count);
        if (foldDue(s.size(), next.size(), next.tailCount())) next = folder.fold(next, new BlockFolder.TailRows(tail));
        snap = next;
    }

    /** Whether growing from {@code before} to {@code after} keys, with {@code tail} of them in the tail, folds. */
    private boolean foldDue(int before, int after, int tail) {
        if (phase == NO_PHASE) return tail >= FOLD;
        boolean crossed = Math.floorDiv(after - phase, FOLD) > Math.floorDiv(before - phase, FOLD);
        return crossed && tail >= FOLD / 2 || tail >= FOLD + FOLD / 2;
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


    /**
     * Forgets every id {@code >= length} (speculative decoding, prompt caching): the tail is cut, and when the cut falls
     * inside folded blocks, the folds from the one holding {@code length} on are undone and their surviving rows
     * (ids from that fold's first to {@code length}) appended again, which costs about one fold (a few thousand rows),
     * not a rebuild. Needs exclusive access: no search or read may run during it.
     */
    public synchronized void truncate(int length) {
        BlockSnapshot s = snap;
        if (length < 0 || length > s.size()) {
            throw new IllegalArgumentException("truncate length " + length + " not in [0, " + s.size() + "]");
        }
        if (length == s.size()) return;
        int firstTail = s.firstTailId();
        if (length >= firstTail) {
            int keep = length - firstTail;
            snap = s.withTail(length, s.tail().truncatedTo(keep), keep);
            return;
        }
        int f = s.folds() - 1;
        while (s.foldId()[f] > length) f--;
        int from = s.foldId()[f], count = length - from;
        // the surviving rows of the undone folds, read back in id order before the blocks are dropped
        float[] k = new float[count * d], v = new float[count * dv];
        for (int i = 0; i < count; i++) {
            int slot = s.idSlot()[from + i];
            s.rows().readKey(slot, k, i * d);
            if (dv > 0) s.rows().readValue(slot, v, i * dv);
        }
        int blocks = s.foldBlock()[f];
        snap = new BlockSnapshot(from, blocks, f == 0 ? null : s.mu(), f == 0 ? 0f : s.muNorm(), s.center(),
                s.radius(), s.scale(), s.codePages(), s.errBound(), s.slotId(), s.idRange(), s.idSlot(), s.foldBlock(),
                s.foldId(), f, s.rows(), Rows.empty(type, d, dv, TAIL_PAGE), 0);
        add(k, 0, v, 0, count);
    }

    /** The stored key of id {@code id} (a position) into {@code out[off..off+d)}. */
    public void readKey(int id, float[] out, int off) {
        BlockSnapshot s = snap;
        checkId(s, id);
        if (id >= s.firstTailId()) s.tail().readKey(id - s.firstTailId(), out, off);
        else s.rows().readKey(s.idSlot()[id], out, off);
    }

    /** The stored value of id {@code id} into {@code out[off..off+dv)}. */
    public void readValue(int id, float[] out, int off) {
        BlockSnapshot s = snap;
        checkId(s, id);
        if (id >= s.firstTailId()) s.tail().readValue(id - s.firstTailId(), out, off);
        else s.rows().readValue(s.idSlot()[id], out, off);
    }

    private static void checkId(BlockSnapshot s, int id) {
        if (id < 0 || id >= s.size()) throw new IllegalArgumentException("position " + id + " not in [0, " + s.size() + ")");
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
        BlockSnapshot s = snap;
        return new Stored(s.rows(), s.blocks() * BLOCK, s.slotId(), s.tail(), s.tailCount(), s.firstTailId(),
                s.idSlot());
    }

    @Override
    public void search(float[] q, int qOff, int limit, HitCollector collector, SearchWork work) {
        searcher.search(snap, q, qOff, 1, limit, new HitCollector[] {collector}, work);
    }

    /**
     * {@link #search} of {@code count} queries that share one walk, query i at {@code q[qOff + i·d]} into
     * {@code collectors[i]} (the query heads of one grouped-query kv head): each block's sketch codes are read from
     * memory once for all of them. Their work is added to {@code work}.
     */
    @Override
    public void searchGroup(float[] q, int qOff, int count, int limit, HitCollector[] collectors, SearchWork work) {
        HalfSpaceIndex.checkGroup(count, collectors);
        searcher.search(snap, q, qOff, count, limit, collectors, work);
    }
}
