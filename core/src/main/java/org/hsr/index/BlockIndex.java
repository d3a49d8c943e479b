package org.hsr.index;

import java.util.Arrays;
import org.hsr.simd.Kernels;

/**
 * The fast exact half-space index. Three filters, each a certified upper bound on {@code <q,k>}, so nothing is ever
 * missed:
 * <ol>
 *   <li><b>Centring.</b> Keys are stored relative to a mean μ fixed when the first keys are folded in, so
 *       {@code <q,k> = <q,μ> + <q,k−μ>} and every bound works on the centred part (real keys share a large offset).</li>
 *   <li><b>Blocks.</b> Keys are reordered into blocks of {@link #BLOCK} tight keys ({@link BlockPartitioner}); block
 *       B has a centre c and radius r, and {@code <q,x> <= <q,c> + ‖q‖·r} for all its centred keys x, so a block whose
 *       bound is below the threshold is skipped whole.</li>
 *   <li><b>An int8 sketch.</b> Inside a block every key is stored as {@code x = c + s⊙code + e} with per-block,
 *       per-dimension scales s and int8 codes, and {@code ‖e‖} plus a rounding margin is kept per key:
 *       {@code <q,x> <= <q,c> + <q⊙s, code> + ‖q‖·(‖e‖ + margin)}. Only keys that pass are scored exactly in fp32.</li>
 * </ol>
 * New keys go to a tail that is scanned exactly; once it holds {@link #FOLD} keys its oldest whole blocks' worth is
 * partitioned into blocks and appended, without touching the existing blocks (a bulk add of at least FOLD keys into
 * an empty tail is partitioned straight from the caller's array). Ids stay the caller's (order of
 * addition).
 *
 * <p>Thread safety: as the interface says; the state is a snapshot published through a volatile field. Writers only
 * write past what published snapshots hold (new slots of a page, new pages in a new outer array, small arrays grown
 * by copying), and a fold starts a new tail, so a reader never sees a half-written block or key.
 */
public final class BlockIndex implements HalfSpaceIndex {

    /** Keys per block: a multiple of every int8 lane count (8, 16), small enough that clustered blocks are tight. */
    public static final int BLOCK = 64;
    /** Tail size that triggers a fold into blocks. */
    public static final int FOLD = 4096;
    /**
     * Blocks per page of codes and of slot-ordered keys. The two big arrays grow a page at a time, so their spare
     * capacity is at most one page (a whole-array growth by 1.5x left up to half of it spare after appends), and a fold
     * never copies the blocks already folded. 16 blocks (1024 keys) per page: pages of 4 blocks measured 5-10% slower
     * queries than one array, 16 within noise of it.
     */
    static final int PAGE_BLOCKS = 16;
    static final int PAGE_SLOTS = PAGE_BLOCKS * BLOCK;
    /** Keys per page of the tail (a whole number of blocks), which grows a page at a time. */
    static final int TAIL_PAGE = 4 * BLOCK;
    private static final double UNIT_ROUNDOFF = 0x1p-24;

    private final int d;
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
            float[][] keyPages, // pages of PAGE_BLOCKS*BLOCK slots: (slot in page, d) exact fp32 keys in slot order
            float[][] tailPages, // pages of TAIL_PAGE keys (d floats each) not yet folded, ids size-tailCount ..
            int tailCount) {}

    private volatile Snapshot snap;
    private final ThreadLocal<Scratch> scratch;

    /** Per-thread query scratch (reused; never shared between threads). */
    private static final class Scratch {
        float[] qs;
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

        Scratch(int dPad) {
            qs = new float[dPad];
        }
    }

    public BlockIndex(int d) {
        if (d < 1) throw new IllegalArgumentException("dimension must be >= 1, got " + d);
        this.d = d;
        this.quads = (d + 3) / 4;
        this.dPad = 4 * quads;
        this.lanes = Kernels.int8Lanes();
        if (BLOCK % lanes != 0) throw new IllegalStateException("block " + BLOCK + " not a multiple of lanes " + lanes);
        this.gamma = 4.0 * (d + 4) * UNIT_ROUNDOFF;
        this.sketchRoundoff = Kernels.int8Roundoff(quads);
        this.snap = new Snapshot(0, 0, null, 0f, new float[0], new float[0], new float[0], new int[0][], new float[0],
                new int[0], new int[0], new float[0][], new float[0][], 0);
        this.scratch = ThreadLocal.withInitial(() -> new Scratch(dPad));
    }

    @Override
    public int dimension() {
        return d;
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

    /** Bytes the index holds beyond one fp32 copy of the keys: codes, bounds, ids, block data, spare capacity. */
    public long extraBytes() {
        Snapshot s = snap;
        long keyBytes = (long) s.size * d * Float.BYTES;
        long total = 4L * (s.center.length + s.radius.length + s.scale.length + s.errBound.length + s.slotId.length
                + s.idRange.length) + (s.mu == null ? 0 : 4L * d);
        for (float[] page : s.tailPages) if (page != null) total += 4L * page.length;
        for (int[] page : s.codePages) if (page != null) total += 4L * page.length;
        for (float[] page : s.keyPages) if (page != null) total += 4L * page.length;
        return total - keyBytes;
    }

    @Override
    public synchronized void add(float[] keys, int count) {
        HalfSpaceIndex.checkKeys(keys, count, d);
        if (count == 0) return;
        Snapshot s = snap;
        if ((long) s.size + count > Integer.MAX_VALUE / 2) {
            throw new IllegalArgumentException("index full: " + s.size + " + " + count + " keys");
        }
        if (s.tailCount == 0 && count >= FOLD) {
            // a bulk add into an empty tail folds straight from the caller's array: copying it into tail pages first
            // cost a pass over the keys and 4 bytes of fresh memory per float
            Snapshot all = new Snapshot(s.size + count, s.blocks, s.mu, s.muNorm, s.center, s.radius, s.scale,
                    s.codePages, s.errBound, s.slotId, s.idRange, s.keyPages, s.tailPages, count);
            snap = fold(all, new float[][] {keys}, count);
            return;
        }
        float[][] tail = s.tailPages;
        int tailCount = s.tailCount;
        // into the tail's pages: a page is written only past the keys that published snapshots hold, and a new page
        // comes with a new outer array, so a reader never sees a half-written key
        int pagesNeeded = (int) (((long) tailCount + count + TAIL_PAGE - 1) / TAIL_PAGE);
        if (pagesNeeded > tail.length) tail = Arrays.copyOf(tail, pagesNeeded);
        for (int copied = 0; copied < count; ) {
            int pos = tailCount + copied, p = pos / TAIL_PAGE, within = pos % TAIL_PAGE;
            if (tail[p] == null) tail[p] = new float[TAIL_PAGE * d];
            int take = Math.min(count - copied, TAIL_PAGE - within);
            System.arraycopy(keys, copied * d, tail[p], within * d, take * d);
            copied += take;
        }
        tailCount += count;
        Snapshot next = new Snapshot(s.size + count, s.blocks, s.mu, s.muNorm, s.center, s.radius, s.scale,
                s.codePages, s.errBound, s.slotId, s.idRange, s.keyPages, tail, tailCount);
        if (tailCount >= FOLD) {
            next = fold(next, next.tailPages, TAIL_PAGE);
        }
        snap = next;
    }

    /**
     * Partitions the tail's oldest keys, a whole number of blocks of them, into blocks and appends those; the rest
     * (fewer than a block) stay in a new tail. The tail's {@code s.tailCount} keys are read from {@code src}, pages of
     * {@code srcPageKeys} keys each (the tail's own pages, or the caller's array for a bulk add). Returns the new
     * snapshot.
     */
    private Snapshot fold(Snapshot s, float[][] src, int srcPageKeys) {
        int n = s.tailCount / BLOCK * BLOCK;
        int firstId = s.size - s.tailCount;
        float[] mu = s.mu;
        if (mu == null) {
            double[] acc = new double[d];
            for (int i = 0; i < n; i++) {
                float[] page = src[i / srcPageKeys];
                for (int t = 0, o = (i % srcPageKeys) * d; t < d; t++) acc[t] += page[o + t];
            }
            mu = new float[d];
            for (int t = 0; t < d; t++) mu[t] = (float) (acc[t] / n);
        }
        float muNorm = (float) (norm(mu, 0, d) * (1 + 1e-6));
        // the keys, partitioned as they are (the partition is translation-invariant), so that afterwards x holds them in
        // slot order: the slot-ordered copy is then a sequential copy, not a gather through the permutation
        float[] x = new float[n * d];
        copyKeys(src, srcPageKeys, 0, n, x);
        int[] perm = BlockPartitioner.partition(x, n, d, BLOCK);
        int newBlocks = (n + BLOCK - 1) / BLOCK;
        int blocks = s.blocks + newBlocks;
        int slots = blocks * BLOCK;
        float[] center = grow(s.center, (long) blocks * d);
        float[] radius = grow(s.radius, blocks);
        float[] scale = grow(s.scale, (long) blocks * dPad);
        int pages = (blocks + PAGE_BLOCKS - 1) / PAGE_BLOCKS;
        int[][] codePages = s.codePages.length >= pages ? s.codePages : Arrays.copyOf(s.codePages, pages);
        float[][] keyPages = s.keyPages.length >= pages ? s.keyPages : Arrays.copyOf(s.keyPages, pages);
        for (int p = 0; p < pages; p++) {
            if (codePages[p] == null) codePages[p] = new int[PAGE_BLOCKS * BLOCK * quads];
            if (keyPages[p] == null) keyPages[p] = new float[PAGE_SLOTS * d];
        }
        float[] errBound = grow(s.errBound, slots);
        int[] slotId = growInt(s.slotId, slots);
        int[] idRange = growInt(s.idRange, 2L * blocks);
        float[] cen = new float[d];
        float[] inv = new float[d];
        int[] q8 = new int[dPad];
        double sumSlack = 1 + 2.0 * (d + 2) * UNIT_ROUNDOFF; // float sums of d squares: relative error <= d·u
        float[] sums = new float[3];
        double[] kNorms = new double[BLOCK];
        for (int nb = 0; nb < newBlocks; nb++) {
            int b = s.blocks + nb;
            int from = nb * BLOCK, cnt = Math.min(n, from + BLOCK) - from;
            // the partition left x in leaf order: the block's keys are the cnt rows from `rows`; they go to the slot
            // array as they are, and then become their centred form x = k − μ and their residuals r = x − c in place
            int rows = from * d;
            for (int slot = 0; slot < cnt; slot++) {
                int gslot = b * BLOCK + slot;
                System.arraycopy(x, rows + slot * d, keyPages[gslot / PAGE_SLOTS], keyOffset(gslot), d);
                kNorms[slot] = Math.sqrt(Kernels.dot(x, rows + slot * d, x, rows + slot * d, d));
                Kernels.axpy(-1f, mu, 0, x, rows + slot * d, d);
            }
            // centre: mean of the block's centred keys
            Arrays.fill(cen, 0f);
            for (int slot = 0; slot < cnt; slot++) Kernels.axpy(1f, x, rows + slot * d, cen, 0, d);
            Kernels.scale(cen, 0, d, 1f / cnt);
            System.arraycopy(cen, 0, center, b * d, d);
            double cNorm = Math.sqrt(Kernels.dot(cen, 0, cen, 0, d)) * sumSlack;
            // residuals, and the per-dimension scale: largest |r| / 127
            Arrays.fill(inv, 0f);
            for (int slot = 0; slot < cnt; slot++) Kernels.subtractAbsMax(cen, x, rows + slot * d, inv, d);
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
                float[] slotKeys = keyPages[gslot / PAGE_SLOTS];
                int codeBase = codeOffset(b) + (group * quads) * lanes + lane, keyBase = keyOffset(gslot);
                if (slot >= cnt) { // padding slot: never reported
                    slotId[gslot] = -1;
                    errBound[gslot] = 0f;
                    for (int p = 0; p < quads; p++) codes[codeBase + p * lanes] = 0;
                    Arrays.fill(slotKeys, keyBase, keyBase + d, 0f);
                    continue;
                }
                int local = perm[from + slot];
                slotId[gslot] = firstId + local;
                minId = Math.min(minId, firstId + local);
                maxId = Math.max(maxId, firstId + local);
                // codes, and the residual e = r − s⊙code that the sketch leaves
                Kernels.quantizeInt8(x, rows + slot * d, inv, scale, b * dPad, d, q8, sums);
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
        // the keys left over (fewer than a block) start the new tail
        int rest = s.tailCount - n;
        float[][] tail = new float[rest == 0 ? 0 : 1][];
        if (rest > 0) {
            tail[0] = new float[TAIL_PAGE * d];
            copyKeys(src, srcPageKeys, n, rest, tail[0]);
        }
        return new Snapshot(s.size, blocks, mu, muNorm, center, radius, scale, codePages, errBound, slotId, idRange,
                keyPages, tail, rest);
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
        for (int start = 0; start < tailCount; start += TAIL_PAGE) {
            int count = Math.min(TAIL_PAGE, tailCount - start);
            float[] page = s.tailPages[start / TAIL_PAGE];
            Kernels.dotMany(q, qOff, page, 0, count, d, sc.tailScores, 0);
            for (int j = 0; j < count; j++) {
                if (sc.tailScores[j] >= collector.minCompetitiveScore()) {
                    int id = firstTailId + start + j;
                    collector.collectExact(id, Kernels.dotDouble(q, qOff, page, j * d, d));
                } else if (collector.wantsPruned()) {
                    collector.pruned(sc.tailScores[j], 1);
                }
            }
        }
        scored += tailCount;
        bytes += (long) tailCount * d * Float.BYTES;
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
            bytes += (scored - tailCount) * (long) d * Float.BYTES;
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

    /** Copies keys [from, from + count) of {@code src} (pages of {@code pageKeys} keys) to the start of {@code dst}. */
    private void copyKeys(float[][] src, int pageKeys, int from, int count, float[] dst) {
        for (int i = 0; i < count; ) {
            int at = from + i, take = Math.min(count - i, pageKeys - at % pageKeys);
            System.arraycopy(src[at / pageKeys], (at % pageKeys) * d, dst, i * d, take * d);
            i += take;
        }
    }

    /** Offset of block b's codes in its page. */
    private int codeOffset(int b) {
        return (b % PAGE_BLOCKS) * BLOCK * quads;
    }

    /** Offset of a slot's fp32 key in its page. */
    private int keyOffset(int slot) {
        return (slot % PAGE_SLOTS) * d;
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
        for (int i = 0; i < n; i++) {
            int slot = sc.pending[i];
            float[] page = s.keyPages[slot / PAGE_SLOTS];
            for (int o = keyOffset(slot), end = o + d; o < end; o += 16) touch += page[o];
        }
        sc.touched = touch; // keeps the touching loads alive
        for (int i = 0; i < n; i++) {
            int slot = sc.pending[i];
            double exact = Kernels.dotDouble(q, qOff, s.keyPages[slot / PAGE_SLOTS], keyOffset(slot), d);
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
