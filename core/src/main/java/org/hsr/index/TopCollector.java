package org.hsr.index;

/**
 * Keeps the R keys with the largest {@code <q,k>}; ties go to the smaller id (SPEC §4 {@code top:R}). A binary
 * min-heap ordered by (score ascending, id descending), so the root is the key that leaves first.
 */
public final class TopCollector implements HitCollector {
    private final int capacity;
    private final int[] ids;
    private final float[] scores;
    private int size;

    public TopCollector(int r) {
        if (r < 1) throw new IllegalArgumentException("top R must be >= 1, got " + r);
        capacity = r;
        ids = new int[r];
        scores = new float[r];
    }

    /** R: how many keys it keeps. */
    public int capacity() {
        return capacity;
    }

    public void reset() {
        size = 0;
    }

    @Override
    public float minCompetitiveScore() {
        return size < capacity ? Float.NEGATIVE_INFINITY : scores[0];
    }

    @Override
    public boolean wantsBestFirst() {
        return true;
    }

    /** Whether (s1, id1) leaves the heap before (s2, id2). */
    private static boolean worse(float s1, int id1, float s2, int id2) {
        return s1 < s2 || (s1 == s2 && id1 > id2);
    }

    @Override
    public void collect(int id, float score) {
        if (size < capacity) {
            int i = size++;
            ids[i] = id;
            scores[i] = score;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (!worse(scores[i], ids[i], scores[parent], ids[parent])) break;
                swap(i, parent);
                i = parent;
            }
        } else if (worse(scores[0], ids[0], score, id)) {
            ids[0] = id;
            scores[0] = score;
            int i = 0;
            while (true) {
                int l = 2 * i + 1, r = l + 1, m = i;
                if (l < size && worse(scores[l], ids[l], scores[m], ids[m])) m = l;
                if (r < size && worse(scores[r], ids[r], scores[m], ids[m])) m = r;
                if (m == i) break;
                swap(i, m);
                i = m;
            }
        }
    }

    private void swap(int a, int b) {
        int ti = ids[a];
        ids[a] = ids[b];
        ids[b] = ti;
        float ts = scores[a];
        scores[a] = scores[b];
        scores[b] = ts;
    }

    public int size() {
        return size;
    }

    /** The kept ids, best first (score descending, then id ascending). */
    public int[] sortedIds() {
        Integer[] order = new Integer[size];
        for (int i = 0; i < size; i++) order[i] = i;
        java.util.Arrays.sort(order, (a, b) -> worse(scores[a], ids[a], scores[b], ids[b]) ? 1
                : worse(scores[b], ids[b], scores[a], ids[a]) ? -1 : 0);
        int[] out = new int[size];
        for (int i = 0; i < size; i++) out[i] = ids[order[i]];
        return out;
    }

    /** The largest score kept, or {@code -Infinity} if empty. */
    public float best() {
        float b = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < size; i++) b = Math.max(b, scores[i]);
        return b;
    }

    /** Scores aligned with the heap order (unsorted); valid up to {@link #size()}. */
    public float[] scores() {
        return scores;
    }

    /** Ids aligned with {@link #scores()} (heap order); valid up to {@link #size()}. */
    public int[] ids() {
        return ids;
    }
}
