package org.hsr.attention;

import java.util.Arrays;
import org.hsr.index.HitCollector;

/**
 * The walk's collector for the certified softmax policy {@code epsilon:E}. Its bar follows the best score seen:
 * {@code bar = best − (ln(N/E) + margin)/c}, so every key it lets the walk skip has probability at most E/N relative
 * to the row maximum; it keeps the keys above the bar, and sums {@code exp(c·(ub − best))} over the upper bounds ub
 * of everything skipped (that is the certified dropped mass, before normalisation).
 */
final class EpsilonCollector implements HitCollector {
    private float c;
    private double logRatio; // ln(N/E) + margin, in scaled-score units
    private float best;
    private double prunedSum; // Σ count·exp(c·(ub − best)), rescaled as best rises
    int size;
    int[] ids = new int[256];
    float[] scores = new float[256];

    void reset(float c, int n, double epsilon) {
        this.c = c;
        this.logRatio = Math.log(Math.max(n, 1) / epsilon) + 0.01;
        this.best = Float.NEGATIVE_INFINITY;
        this.prunedSum = 0;
        this.size = 0;
    }

    @Override
    public float minCompetitiveScore() {
        return best == Float.NEGATIVE_INFINITY ? Float.NEGATIVE_INFINITY : (float) (best - logRatio / c);
    }

    @Override
    public boolean wantsBestFirst() {
        return true;
    }

    @Override
    public boolean wantsPruned() {
        return true;
    }

    @Override
    public void pruned(float upperBound, int count) {
        prunedSum += count * Math.exp((double) c * ((double) upperBound - best));
    }

    @Override
    public void collect(int id, float score) {
        if (score > best) {
            if (best != Float.NEGATIVE_INFINITY) prunedSum *= Math.exp((double) c * ((double) best - score));
            best = score;
        }
        if (size == ids.length) {
            ids = Arrays.copyOf(ids, size * 2);
            scores = Arrays.copyOf(scores, size * 2);
        }
        ids[size] = id;
        scores[size++] = score;
    }

    float best() {
        return best;
    }

    /** Σ count·exp(c·(ub − best)) over everything skipped. */
    double prunedSum() {
        return prunedSum;
    }
}
