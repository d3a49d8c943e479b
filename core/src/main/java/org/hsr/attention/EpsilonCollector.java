package org.hsr.attention;

import java.util.Arrays;
import org.hsr.index.HitCollector;

/**
 * The walk's collector for the certified softmax policy {@code epsilon:E}. Its bar follows the best score seen,
 * {@code bar = best − gap/c}; it keeps the keys above the bar, and sums {@code exp(c·(ub − best))} over the upper
 * bounds ub of everything the walk skipped (the certified dropped mass, before normalisation). With
 * {@code gap = ln(N/E)} every skipped key has probability at most E/N, so the kept set always certifies; a smaller gap
 * keeps fewer keys and usually certifies too, because most skipped keys' bounds lie far below the bar. Once more than
 * {@code cap} keys are collected the bar becomes +∞, which ends the walk: the row is then cheaper dense.
 */
final class EpsilonCollector implements HitCollector {
    private float c;
    private double gap; // bar = best − gap/c
    private int cap;
    boolean overflow;
    private float best;
    private double prunedSum; // Σ count·exp(c·(ub − best)), rescaled as best rises
    int size;
    int[] ids = new int[256];
    double[] exact = new double[256]; // the scores as the walk computed them (float64-accumulated where exact)

    void reset(float c, double gap, int cap) {
        this.c = c;
        this.gap = gap;
        this.cap = cap;
        this.overflow = false;
        this.best = Float.NEGATIVE_INFINITY;
        this.prunedSum = 0;
        this.size = 0;
    }

    @Override
    public float minCompetitiveScore() {
        if (overflow) return Float.POSITIVE_INFINITY;
        return best == Float.NEGATIVE_INFINITY ? Float.NEGATIVE_INFINITY : (float) (best - gap / c);
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
        if (overflow || count == 0) return;
        assert best != Float.NEGATIVE_INFINITY : "a key was pruned before any was collected";
        prunedSum += count * Math.exp((double) c * ((double) upperBound - best));
    }

    @Override
    public float prunedExpScale() {
        return c;
    }

    @Override
    public void prunedMass(double sumExp, float bar) {
        if (overflow || sumExp == 0) return; // nothing pruned (also the case while the bar is still -Infinity)
        // float rounding of the bulk sum, covered generously
        prunedSum += sumExp * (1 + 1e-4) * Math.exp((double) c * ((double) bar - best));
    }

    @Override
    public void collect(int id, float score) {
        collectExact(id, score);
    }

    @Override
    public void collectExact(int id, double exactScore) {
        float score = (float) exactScore;
        if (score > best) {
            if (best != Float.NEGATIVE_INFINITY) prunedSum *= Math.exp((double) c * ((double) best - score));
            best = score;
        }
        if (size == ids.length) {
            ids = Arrays.copyOf(ids, size * 2);
            exact = Arrays.copyOf(exact, size * 2);
        }
        ids[size] = id;
        exact[size] = exactScore;
        size++;
        if (size > cap) overflow = true;
    }

    /** Collected score i as the walk compared it (the float64 score rounded to float). */
    float score(int i) {
        return (float) exact[i];
    }

    float best() {
        return best;
    }

    /** Σ count·exp(c·(ub − best)) over everything skipped. */
    double prunedSum() {
        return prunedSum;
    }
}
