package org.hsr.index;

import static org.hsr.index.BlockIndex.BLOCK;
import static org.hsr.index.BlockIndex.TAIL_PAGE;

import java.util.Arrays;
import org.hsr.simd.Kernels;
import org.hsr.store.ElementType;

/**
 * The read side of a {@link BlockIndex}: the walk of one query, or of a group of queries that share it (the query
 * heads of one grouped-query kv head). Per query: the tail scanned exactly, then per block the ball bound
 * {@code <q,c> + ‖q‖·r}, then the int8 sketch bound per key, then the float64-accumulated score of the survivors.
 *
 * <p>A group walks the blocks together: each block's codes are read from memory once and scored against every query
 * of the group that did not skip the block, while they are in L1. The sketch pass streams the codes (n·d bytes, more
 * than the caches hold at decode lengths), so a group of four queries costs about one pass of memory traffic instead
 * of four, which is what a grouped-query dense pass over K and V gets too.
 *
 * <p>Thread-safe: the per-walk state is per thread.
 */
final class BlockSearcher {

    /** Blocks a best-first walk visits in order of bound before sweeping the rest in memory order. */
    static final int BEST_FIRST = 32;
    /** Candidates gathered over several blocks before their exact check (see {@link #scorePending}). */
    private static final int PENDING = 128;

    private final int d, quads, dPad, lanes;
    private final ElementType type;
    private final double gamma;
    private final ThreadLocal<Walk> walks;

    BlockSearcher(int d, ElementType type, int queryLength) {
        this.d = d;
        this.type = type;
        this.quads = (d + 3) / 4;
        this.dPad = 4 * quads;
        this.lanes = Kernels.int8Lanes();
        this.gamma = BlockIndex.gamma(d);
        this.walks = ThreadLocal.withInitial(() -> new Walk(dPad, d, queryLength));
    }

    /** One query's part of a walk. */
    private static final class Query {
        HitCollector col;
        int qOff;
        float qNorm, qMu, slackMu;
        boolean reportPruned;
        float[] centerDots = new float[0]; // <q, c_b> for every block
        final int[] pending = new int[PENDING + BLOCK];
        int pendingCount;
        long scored, sketchRead, skipped;
        float tc; // the centred bar at the current block
        float[] qs = new float[0]; // the current block's prepared query (group walks)
        final float[] sketch = new float[BLOCK]; // its sketch scores (group walks)

        /** The collector's bar in centred units (the block and sketch bounds are on the centred keys). */
        float centredBar() {
            return col.minCompetitiveScore() - qMu - slackMu;
        }

        /** Raw bound = centred bound + shift. */
        float shift() {
            return qMu + slackMu;
        }

        boolean done() {
            return col.minCompetitiveScore() == Float.POSITIVE_INFINITY;
        }
    }

    /** Per-thread walk scratch (reused; never shared between threads). */
    private static final class Walk {
        Query[] queries = new Query[0];
        final float[] qs; // one block's prepared query, used at once
        final float[] qp; // a query prepared for the stored rows' kernels
        final float[] key; // one decoded key
        final float[] sketch = new float[BLOCK];
        final int[] slots = new int[BLOCK];
        final double[] mass = new double[1];
        final int[] order = new int[BEST_FIRST];
        final float[] orderBounds = new float[BEST_FIRST];
        boolean[] visited = new boolean[0];
        final float[] tailScores = new float[TAIL_PAGE];
        float touched;

        Walk(int dPad, int d, int queryLength) {
            qs = new float[dPad];
            qp = new float[queryLength];
            key = new float[d];
        }

        Query[] active = new Query[0]; // the queries that sketch the current block

        Query[] queries(int count, int blocks) {
            if (queries.length < count) {
                Query[] more = Arrays.copyOf(queries, count);
                for (int i = queries.length; i < count; i++) more[i] = new Query();
                queries = more;
            }
            for (int i = 0; i < count; i++) {
                Query qr = queries[i];
                if (qr.centerDots.length < blocks) qr.centerDots = new float[blocks];
                qr.pendingCount = 0; // a walk on this thread that threw may have left candidates queued
                qr.scored = qr.sketchRead = qr.skipped = 0;
            }
            if (visited.length < blocks) visited = new boolean[blocks];
            if (active.length < count) active = new Query[count];
            return queries;
        }
    }

    /**
     * Walks {@code s} for {@code count} queries, query i at {@code q[qOff + i·d]} into {@code cols[i]}, over the ids
     * below {@code limit}; the work of all of them is added to {@code work} (null: not counted).
     */
    void search(BlockSnapshot s, float[] q, int qOff, int count, int limit, HitCollector[] cols, SearchWork work) {
        Walk w = walks.get();
        Query[] qs = w.queries(count, s.blocks());
        for (int i = 0; i < count; i++) {
            qs[i].col = cols[i];
            qs[i].qOff = qOff + i * d;
            qs[i].reportPruned = cols[i].wantsPruned();
        }
        int firstTailId = s.firstTailId();
        int tailCount = Math.max(0, Math.min(s.tailCount(), limit - firstTailId)); // the causal limit cuts the tail
        long bytes = scanTail(s, w, q, qs, count, tailCount);
        if (s.blocks() > 0) bytes += walkBlocks(s, w, q, qs, count, limit);
        if (work == null) return;
        for (int i = 0; i < count; i++) {
            Query qr = qs[i];
            work.keysSeen += Math.min(s.size(), Math.max(0, limit));
            work.blocksTotal += s.blocks();
            work.blocksSkipped += qr.skipped;
            work.sketchEntriesRead += qr.sketchRead;
            work.keysScored += tailCount + qr.scored;
            bytes += qr.scored * (long) d * type.bytes();
        }
        work.bytesRead += bytes;
    }

    /**
     * The tail, scanned exactly (first, so a top-R collector's bar rises before the blocks), page by page with every
     * query of the group while the page is in cache. Returns the bytes read.
     */
    private long scanTail(BlockSnapshot s, Walk w, float[] q, Query[] qs, int count, int tailCount) {
        int firstTailId = s.firstTailId();
        for (int start = 0; start < tailCount; start += TAIL_PAGE) {
            int rows = Math.min(TAIL_PAGE, tailCount - start);
            for (int i = 0; i < count; i++) {
                Query qr = qs[i];
                s.tail().prepareQuery(q, qr.qOff, w.qp, 0);
                s.tail().scores(w.qp, 0, start, rows, w.tailScores, 0);
                for (int j = 0; j < rows; j++) {
                    if (w.tailScores[j] >= qr.col.minCompetitiveScore()) {
                        qr.col.collectExact(firstTailId + start + j, s.tail().dotDouble(q, qr.qOff, start + j, w.key));
                    } else if (qr.reportPruned) {
                        qr.col.pruned(w.tailScores[j], 1);
                    }
                }
            }
        }
        return (long) tailCount * d * type.bytes();
    }

    /**
     * The blocks: per block the ball bound of every query, then the sketch of the queries it did not rule out, then
     * the exact scores of their candidates. A best-first walk takes the {@link #BEST_FIRST} blocks of largest bound
     * first, in descending order, which raises the collectors' bars early, then every other block in memory order
     * (visiting all blocks in sorted order jumps through memory, and measured 1.8x slower on the sketch pass than a
     * sequential sweep). Returns the bytes read, the candidates' exact scores left out.
     */
    private long walkBlocks(BlockSnapshot s, Walk w, float[] q, Query[] qs, int count, int limit) {
        boolean limited = limit < s.size();
        boolean bestFirst = false;
        for (int i = 0; i < count; i++) {
            Query qr = qs[i];
            qr.qNorm = (float) (Math.sqrt(Kernels.dotDouble(q, qr.qOff, q, qr.qOff, d)) * (1 + 1e-6));
            qr.qMu = Kernels.dot(q, qr.qOff, s.mu(), 0, d);
            qr.slackMu = (float) (gamma * qr.qNorm * s.muNorm());
            Kernels.dotMany(q, qr.qOff, s.center(), 0, s.blocks(), d, qr.centerDots, 0); // <q, c_b>, all blocks
            bestFirst |= qr.col.wantsBestFirst();
        }
        long bytes = (long) count * s.blocks() * (d + 1) * Float.BYTES;
        int prefix = bestFirst ? topBlocksByBound(s, w, qs, count, limited ? limit : Integer.MAX_VALUE) : 0;
        boolean[] visited = w.visited;
        Arrays.fill(visited, 0, s.blocks(), false); // here, not only at the end: a collector that threw left marks
        for (int i = 0, sweep = 0; ; ) {
            int b;
            boolean inPrefix = i < prefix;
            if (inPrefix) {
                b = w.order[i++];
            } else {
                if (i == prefix && prefix > 0) { // the prefix's candidates set the bars for the sweep
                    for (int g = 0; g < count; g++) scorePending(s, w, q, qs[g]);
                    i++;
                }
                while (sweep < s.blocks() && visited[sweep]) sweep++;
                if (sweep >= s.blocks()) break;
                b = sweep++;
            }
            visited[b] = true;
            if (limited && s.idRange()[2 * b] >= limit) continue; // every key of the block is past the causal limit
            int cut = limited && s.idRange()[2 * b + 1] >= limit ? limit : Integer.MAX_VALUE;
            int live = 0, sketched = 0;
            Query[] active = w.active;
            float bestBound = Float.NEGATIVE_INFINITY, lowestBar = Float.POSITIVE_INFINITY;
            for (int g = 0; g < count; g++) {
                Query qr = qs[g];
                if (qr.done()) continue;
                live++;
                float ub = qr.centerDots[b] + qr.qNorm * s.radius()[b], tc = qr.centredBar();
                bestBound = Math.max(bestBound, ub);
                lowestBar = Math.min(lowestBar, tc);
                if (ub < tc) {
                    qr.skipped++;
                    if (qr.reportPruned) qr.col.pruned(ub + qr.shift(), s.blockKeys(b));
                    continue;
                }
                qr.tc = tc;
                active[sketched++] = qr;
            }
            if (live == 0) break; // every collector wants no more
            if (sketched == 1) sketch(s, w, q, active[0], b, cut);
            else if (sketched > 1) sketchTogether(s, w, q, active, sketched, b, cut);
            if (sketched > 0) bytes += (long) BLOCK * (dPad + 2 * Integer.BYTES) + (long) sketched * dPad * Float.BYTES;
            if (inPrefix && bestBound < lowestBar) {
                // the prefix descends by the largest bound over the queries, and every block outside it has a bound
                // <= the prefix's smallest: every block not yet visited is out for every query (bars only rise)
                pruneUnvisited(s, w, qs, count, b, limited, limit);
                break;
            }
        }
        for (int g = 0; g < count; g++) scorePending(s, w, q, qs[g]);
        return bytes;
    }

    /** Every block not yet visited (and not past the limit) counted as skipped by every live query. */
    private static void pruneUnvisited(BlockSnapshot s, Walk w, Query[] qs, int count, int b, boolean limited,
                                       int limit) {
        for (int rest = 0; rest < s.blocks(); rest++) {
            if (w.visited[rest] && rest != b || limited && s.idRange()[2 * rest] >= limit) continue;
            for (int g = 0; g < count; g++) {
                Query qr = qs[g];
                if (qr.done() || rest == b) continue; // block b was counted in the walk
                qr.skipped++;
                if (qr.reportPruned) {
                    qr.col.pruned(qr.centerDots[rest] + qr.qNorm * s.radius()[rest] + qr.shift(), s.blockKeys(rest));
                }
            }
        }
    }

    /** Block b's sketch bound for one query (bar qr.tc): the fused kernels; its candidates are queued. */
    private void sketch(BlockSnapshot s, Walk w, float[] q, Query qr, int b, int cut) {
        Kernels.int8Query(q, qr.qOff, s.scale(), b * dPad, d, w.qs);
        filter(s, w, q, qr, b, cut, w.qs, null);
    }

    /**
     * Block b's sketch bound for several queries: each word of the block's codes is decoded once for a pair of them
     * ({@link Kernels#int8ScoresPair}), then each query's bound is filtered from its scores.
     */
    private void sketchTogether(BlockSnapshot s, Walk w, float[] q, Query[] active, int count, int b, int cut) {
        int[] codes = s.codes(b);
        int off = BlockSnapshot.codeOffset(b, quads);
        for (int i = 0; i < count; i++) {
            Query qr = active[i];
            if (qr.qs.length < dPad) qr.qs = new float[dPad];
            Kernels.int8Query(q, qr.qOff, s.scale(), b * dPad, d, qr.qs);
        }
        int i = 0;
        for (; i + 1 < count; i += 2) {
            Query a = active[i], c = active[i + 1];
            Kernels.int8ScoresPair(codes, off, BLOCK / lanes, quads, lanes, a.qs, c.qs, a.sketch, 0, c.sketch, 0);
        }
        if (i < count) Kernels.int8Scores(codes, off, BLOCK / lanes, quads, lanes, active[i].qs, active[i].sketch, 0);
        for (int j = 0; j < count; j++) filter(s, w, q, active[j], b, cut, active[j].qs, active[j].sketch);
    }

    /**
     * One query's sketch bounds of block b against its bar, from the scores in {@code sketch} (null: the fused
     * kernels score them with {@code qs}); the candidates are queued for the exact check.
     */
    private void filter(BlockSnapshot s, Walk w, float[] q, Query qr, int b, int cut, float[] qs, float[] sketch) {
        qr.sketchRead += BLOCK;
        int[] codes = s.codes(b);
        int off = BlockSnapshot.codeOffset(b, quads);
        float base = qr.centerDots[b], tc = qr.tc;
        int candidates;
        if (!qr.reportPruned) {
            // sketch scores and their bounds in vector form, only candidates come back
            candidates = sketch == null
                    ? Kernels.int8Filter(codes, off, BLOCK / lanes, quads, lanes, qs, base, qr.qNorm, s.errBound(),
                            b * BLOCK, tc, w.slots)
                    : Kernels.sketchFilter(sketch, 0, BLOCK, base, qr.qNorm, s.errBound(), b * BLOCK, tc, w.slots);
        } else if (!Float.isNaN(qr.col.prunedExpScale())) {
            // bulk: the kernel sums exp(scale·(bound − bar)) over the keys it prunes
            w.mass[0] = 0;
            float scale = qr.col.prunedExpScale();
            candidates = sketch == null
                    ? Kernels.int8FilterMass(codes, off, BLOCK / lanes, quads, lanes, qs, base, qr.qNorm, s.errBound(),
                            b * BLOCK, tc, scale, w.slots, w.mass)
                    : Kernels.sketchFilterMass(sketch, 0, BLOCK, base, qr.qNorm, s.errBound(), b * BLOCK, tc, scale,
                            w.slots, w.mass);
            qr.col.prunedMass(w.mass[0], tc + qr.shift());
        } else {
            // every bound reported on its own: sketch scores per key, and the survivors to the same exact check
            if (sketch == null) {
                Kernels.int8Scores(codes, off, BLOCK / lanes, quads, lanes, qs, w.sketch, 0);
                sketch = w.sketch;
            }
            candidates = 0;
            for (int j = 0; j < BLOCK; j++) {
                int slot = b * BLOCK + j;
                int id = s.slotId()[slot];
                if (id < 0 || id >= cut) continue;
                float bound = base + sketch[j] + qr.qNorm * s.errBound()[slot];
                if (bound < tc) qr.col.pruned(bound + qr.shift(), 1);
                else w.slots[candidates++] = j;
            }
        }
        for (int c = 0; c < candidates; c++) { // the candidate slots that are real keys below the limit
            int slot = b * BLOCK + w.slots[c];
            int id = s.slotId()[slot];
            if (id >= 0 && id < cut) qr.pending[qr.pendingCount++] = slot;
        }
        if (qr.pendingCount >= PENDING) scorePending(s, w, q, qr);
    }

    /**
     * Writes into {@code w.order} the (at most) {@link #BEST_FIRST} blocks of largest bound
     * {@code max over the queries of <q,c> + ‖q‖·r}, largest first, leaving out blocks whose keys all lie past the
     * causal limit; returns how many.
     */
    private static int topBlocksByBound(BlockSnapshot s, Walk w, Query[] qs, int count, int limit) {
        int[] top = w.order;
        float[] topUb = w.orderBounds;
        int n = 0;
        for (int b = 0; b < s.blocks(); b++) {
            if (s.idRange()[2 * b] >= limit) continue;
            float ub = Float.NEGATIVE_INFINITY;
            for (int g = 0; g < count; g++) ub = Math.max(ub, qs[g].centerDots[b] + qs[g].qNorm * s.radius()[b]);
            if (n == BEST_FIRST && !(ub > topUb[n - 1])) continue;
            int at = n == BEST_FIRST ? n - 1 : n++;
            while (at > 0 && ub > topUb[at - 1]) { // insertion into the descending list
                top[at] = top[at - 1];
                topUb[at] = topUb[at - 1];
                at--;
            }
            top[at] = b;
            topUb[at] = ub;
        }
        return n;
    }

    /**
     * The exact check of one query's pending candidates: each gets its float64-accumulated score and is collected when
     * it clears the collector's bar (else reported as pruned, when the collector wants that). The candidates' key rows
     * are scattered over the slot array, so first every cache line of every row is touched: those loads are
     * independent and overlap in the memory system, where scoring row by row would wait for each row in turn.
     */
    private static void scorePending(BlockSnapshot s, Walk w, float[] q, Query qr) {
        int n = qr.pendingCount;
        float touch = 0f;
        for (int i = 0; i < n; i++) touch += s.rows().touch(qr.pending[i], false);
        w.touched = touch; // keeps the touching loads alive
        for (int i = 0; i < n; i++) {
            int slot = qr.pending[i];
            double exact = s.rows().dotDouble(q, qr.qOff, slot, w.key);
            if ((float) exact >= qr.col.minCompetitiveScore()) qr.col.collectExact(s.slotId()[slot], exact);
            else if (qr.reportPruned) qr.col.pruned((float) exact, 1);
        }
        qr.scored += n;
        qr.pendingCount = 0;
    }
}
