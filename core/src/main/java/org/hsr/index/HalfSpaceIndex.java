package org.hsr.index;

import java.util.Arrays;

/**
 * A half-space reporting index over keys of dimension {@link #dimension()} (SPEC §2), modelled on FAISS's
 * {@code Index}: given a query q and a raw dot-product threshold t it reports exactly the keys with
 * {@code <q,k> >= t} (inclusive; no score scale: attention's {@code 1/sqrt(d)} is applied by the caller), and it
 * accepts new keys at any time. Keys are row-major, key i at {@code keys[i*d .. i*d + d)}; ids are assigned in order
 * of addition from 0.
 *
 * <p><b>Thread safety.</b> Concurrent queries are safe. One writer may {@link #add} while readers query; each query
 * sees a consistent prefix of the keys (all keys added before some point, none after). Two concurrent writers are not
 * supported.
 */
public interface HalfSpaceIndex {

    /** The key dimension d. */
    int dimension();

    /** The number of keys added so far. */
    int size();

    /**
     * Adds {@code count} keys taken from {@code keys[0 .. count*d)}, with ids {@code size() .. size()+count-1}.
     *
     * @throws IllegalArgumentException if a key holds NaN or ±Inf, or the array is too short; nothing is added then
     */
    void add(float[] keys, int count);

    /**
     * The walk: visits the keys of the current snapshot, pruning by certified upper bounds against
     * {@code collector.minCompetitiveScore()}, and passes to the collector every key whose exact fp32 {@code <q,k>}
     * is at or above it. {@code q} is read from {@code q[qOff .. qOff+d)}; {@code work} may be null.
     */
    default void search(float[] q, int qOff, HitCollector collector, SearchWork work) {
        search(q, qOff, Integer.MAX_VALUE, collector, work);
    }

    /**
     * The walk restricted to keys with id {@code < limit} (a causal mask: query i of a prefill sees the keys before
     * it). Keys at or past the limit are never collected.
     */
    void search(float[] q, int qOff, int limit, HitCollector collector, SearchWork work);

    /**
     * {@link #search} of {@code count} queries, query i at {@code q[qOff + i·d]} into {@code collectors[i]}, each
     * getting exactly what it would alone; an index may share one walk between them (the query heads of one
     * grouped-query kv head). Their work is added to {@code work}.
     */
    default void searchGroup(float[] q, int qOff, int count, int limit, HitCollector[] collectors, SearchWork work) {
        checkGroup(count, collectors);
        for (int i = 0; i < count; i++) search(q, qOff + i * dimension(), limit, collectors[i], work);
    }

    /** A group of {@code count} queries needs at least one query and a collector for each. */
    static void checkGroup(int count, HitCollector[] collectors) {
        if (count < 1 || collectors.length < count) {
            throw new IllegalArgumentException("group of " + count + " queries with " + collectors.length
                    + " collectors");
        }
    }

    /** Reports the ids of keys with {@code <q,k> >= t}, ascending. */
    default int[] report(float[] q, float t, SearchWork work) {
        checkQuery(q, 0);
        ThresholdCollector c = new ThresholdCollector(t);
        search(q, 0, c, work);
        c.sortById();
        return Arrays.copyOf(c.ids(), c.size());
    }

    /**
     * Batch half-space report: query i is {@code queries[i*d ..]} with threshold {@code thresholds[i]} (or
     * {@code thresholds[0]} for all when it has length 1). Ids ascend within each query.
     */
    default RangeSearchResult rangeSearch(float[] queries, int m, float[] thresholds, SearchWork work) {
        int d = dimension();
        if (queries.length < (long) m * d) {
            throw new IllegalArgumentException("queries hold " + queries.length + " floats, need " + m + " x " + d);
        }
        if (thresholds.length != 1 && thresholds.length != m) {
            throw new IllegalArgumentException("thresholds length " + thresholds.length + " != queries " + m);
        }
        long[] lims = new long[m + 1];
        int[][] ids = new int[m][];
        float[][] scores = new float[m][];
        // four queries at a time through searchGroup, which an index may walk together (BlockIndex: one read of
        // each block's sketch for the four)
        ThresholdCollector[] cs = new ThresholdCollector[4];
        for (int g = 0; g < cs.length; g++) cs[g] = new ThresholdCollector(0f);
        for (int i = 0; i < m; i += cs.length) {
            int count = Math.min(cs.length, m - i);
            for (int g = 0; g < count; g++) {
                checkQuery(queries, (i + g) * d);
                cs[g].reset(thresholds[thresholds.length == 1 ? 0 : i + g]);
            }
            searchGroup(queries, i * d, count, Integer.MAX_VALUE, cs, work);
            for (int g = 0; g < count; g++) {
                ThresholdCollector c = cs[g];
                c.sortById();
                ids[i + g] = Arrays.copyOf(c.ids(), c.size());
                scores[i + g] = Arrays.copyOf(c.scores(), c.size());
                lims[i + g + 1] = lims[i + g] + c.size();
            }
        }
        long[] allIds = new long[Math.toIntExact(lims[m])];
        float[] allScores = new float[allIds.length];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < ids[i].length; j++) {
                allIds[(int) lims[i] + j] = ids[i][j];
            }
            System.arraycopy(scores[i], 0, allScores, (int) lims[i], scores[i].length);
        }
        return new RangeSearchResult(lims, allIds, allScores);
    }

    /** The R keys with the largest {@code <q,k>}, best first, ties to the smaller id. */
    default int[] top(float[] q, int r, SearchWork work) {
        checkQuery(q, 0);
        TopCollector c = new TopCollector(r);
        search(q, 0, c, work);
        return c.sortedIds();
    }

    /** {@code max_k <q,k>}, or {@code -Infinity} for an empty index. */
    default float maxInnerProduct(float[] q, SearchWork work) {
        checkQuery(q, 0);
        TopCollector c = new TopCollector(1);
        search(q, 0, c, work);
        return c.best();
    }

    /** Checks that a query of this index's dimension fits and is finite. */
    default void checkQuery(float[] q, int qOff) {
        int d = dimension();
        if (q.length - qOff < d) {
            throw new IllegalArgumentException("query dimension " + (q.length - qOff) + " != index dimension " + d);
        }
        double sq = 0;
        for (int i = 0; i < d; i++) {
            if (!Float.isFinite(q[qOff + i])) {
                throw new IllegalArgumentException("query holds a non-finite value (" + q[qOff + i] + ")");
            }
            sq += (double) q[qOff + i] * q[qOff + i];
        }
        checkNorm(sq, "query");
    }

    /**
     * The largest Euclidean norm of a key or query, 2^62 (about 4.6e18): then every {@code |<q,k>| <= 2^124} and the fp32
     * scores and bounds the index computes (a few such terms) stay below the float range, 2^128. Larger vectors are
     * refused: their scores could overflow to Infinity and the reported set would be wrong.
     */
    double MAX_NORM = 0x1p62;

    /** Refuses a vector whose squared norm {@code sq} exceeds {@link #MAX_NORM}^2. */
    static void checkNorm(double sq, String what) {
        if (sq > MAX_NORM * MAX_NORM) {
            throw new IllegalArgumentException(String.format(java.util.Locale.ROOT, "%s has norm %.3g, above the "
                    + "%.3g (2^62) the index supports: its fp32 dot products could overflow", what, Math.sqrt(sq),
                    MAX_NORM));
        }
    }

    /** Checks keys before an add: enough floats, all finite; throws before anything is added. */
    static void checkKeys(float[] keys, int count, int d) {
        if (count < 0) throw new IllegalArgumentException("key count must be >= 0, got " + count);
        if (keys.length < (long) count * d) {
            throw new IllegalArgumentException("keys hold " + keys.length + " floats, need " + count + " x " + d);
        }
        double sq = 0;
        for (int i = 0; i < count * d; i++) {
            if (!Float.isFinite(keys[i])) {
                throw new IllegalArgumentException("key " + (i / d) + " holds a non-finite value (" + keys[i]
                        + ") at dimension " + (i % d) + "; nothing was added");
            }
            sq += (double) keys[i] * keys[i];
            if (i % d == d - 1) {
                checkNorm(sq, "key " + (i / d));
                sq = 0;
            }
        }
    }
}
