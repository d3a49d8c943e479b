package org.hsr.index;

import java.util.Arrays;

/**
 * Half-space collector: keeps every key with {@code <q,k> >= t} (inclusive, raw dot product, no score scale). Never
 * full. Reusable: {@link #reset} clears it for the next query without freeing its buffers.
 */
public final class ThresholdCollector implements HitCollector {
    private float threshold;
    private int[] ids = new int[64];
    private float[] scores = new float[64];
    private double[] exact = new double[64];
    private int size;

    public ThresholdCollector(float rawDotThreshold) {
        reset(rawDotThreshold);
    }

    /** Clears the hits and sets a new threshold. */
    public void reset(float rawDotThreshold) {
        if (Float.isNaN(rawDotThreshold)) throw new IllegalArgumentException("threshold is NaN");
        this.threshold = rawDotThreshold;
        this.size = 0;
    }

    @Override
    public float minCompetitiveScore() {
        return threshold;
    }

    @Override
    public void collect(int id, float score) {
        collectExact(id, score);
    }

    @Override
    public void collectExact(int id, double exactScore) {
        if (size == ids.length) {
            ids = Arrays.copyOf(ids, size * 2);
            scores = Arrays.copyOf(scores, size * 2);
            exact = Arrays.copyOf(exact, size * 2);
        }
        ids[size] = id;
        scores[size] = (float) exactScore;
        exact[size++] = exactScore;
    }

    /**
     * The hits' dot products as the walk computed them before rounding (float64-accumulated for keys the index scored
     * exactly), aligned with {@link #ids()}; valid up to {@link #size()}.
     */
    public double[] exactScores() {
        return exact;
    }

    public int size() {
        return size;
    }

    /** Hit ids, unordered (index order); valid up to {@link #size()}. */
    public int[] ids() {
        return ids;
    }

    /** Exact fp32 dot products of the hits, aligned with {@link #ids()}. */
    public float[] scores() {
        return scores;
    }

    /** Sorts the hits by ascending id (SPEC §2 order). */
    public void sortById() {
        // ids are distinct: sort (id, position) pairs packed in longs
        long[] packed = new long[size];
        for (int i = 0; i < size; i++) packed[i] = ((long) ids[i] << 32) | i;
        Arrays.sort(packed);
        float[] s = new float[size];
        double[] e = new double[size];
        for (int i = 0; i < size; i++) {
            int pos = (int) packed[i];
            s[i] = scores[pos];
            e[i] = exact[pos];
            ids[i] = (int) (packed[i] >>> 32);
        }
        System.arraycopy(s, 0, scores, 0, size);
        System.arraycopy(e, 0, exact, 0, size);
    }
}
