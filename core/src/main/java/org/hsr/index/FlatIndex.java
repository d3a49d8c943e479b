package org.hsr.index;

import java.util.Arrays;
import org.hsr.simd.Kernels;

/**
 * The exact scan: computes {@code <q,k>} for every key with the SIMD block kernel. The baseline every index is
 * measured against, and the fast twin of the float64 oracle. Appends grow a copy-on-grow array published through a
 * volatile snapshot, so readers see a consistent prefix.
 */
public final class FlatIndex implements HalfSpaceIndex {
    private static final int CHUNK = 512;

    private record Snapshot(float[] keys, int size) {}

    private final int d;
    private volatile Snapshot snap;

    public FlatIndex(int d) {
        if (d < 1) throw new IllegalArgumentException("dimension must be >= 1, got " + d);
        this.d = d;
        this.snap = new Snapshot(new float[0], 0);
    }

    @Override
    public int dimension() {
        return d;
    }

    @Override
    public int size() {
        return snap.size;
    }

    @Override
    public synchronized void add(float[] keys, int count) {
        HalfSpaceIndex.checkKeys(keys, count, d);
        Snapshot s = snap;
        float[] store = s.keys;
        long need = (long) (s.size + count) * d;
        if (need > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("index full: " + (s.size + count) + " keys of dimension " + d);
        }
        if (need > store.length) {
            store = Arrays.copyOf(store, (int) Math.min(Integer.MAX_VALUE - 16, Math.max(need, store.length * 3L / 2)));
        }
        System.arraycopy(keys, 0, store, s.size * d, count * d);
        snap = new Snapshot(store, s.size + count);
    }

    @Override
    public void search(float[] q, int qOff, int limit, HitCollector collector, SearchWork work) {
        Snapshot s = snap;
        int size = Math.min(s.size, Math.max(0, limit));
        float[] scores = new float[CHUNK];
        for (int start = 0; start < size; start += CHUNK) {
            int count = Math.min(CHUNK, size - start);
            Kernels.dotMany(q, qOff, s.keys, start * d, count, d, scores, 0);
            for (int j = 0; j < count; j++) {
                if (scores[j] >= collector.minCompetitiveScore()) {
                    // a reported key gets its score accumulated in float64 (see Kernels.dotDouble)
                    collector.collectExact(start + j, Kernels.dotDouble(q, qOff, s.keys, (start + j) * d, d));
                }
                else if (collector.wantsPruned()) collector.pruned(scores[j], 1);
            }
        }
        if (work != null) {
            work.keysSeen += size;
            work.keysScored += size;
            work.bytesRead += (long) size * d * Float.BYTES;
        }
    }

    /** The keys added so far (a prefix of the returned array holds {@code size()*d} floats). For tests. */
    float[] keysView() {
        return snap.keys;
    }
}
