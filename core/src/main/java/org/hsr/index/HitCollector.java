package org.hsr.index;

/**
 * Receives the keys an index walk finds (Lucene's {@code KnnCollector}, FAISS's result handlers): the traversal is
 * separate from what is collected. The walk prunes every key and block whose upper bound on {@code <q,k>} is below
 * {@link #minCompetitiveScore()}, and calls {@link #collect} for keys whose exact fp32 dot product is at or above it.
 * Collectors are used by one query at a time and are not thread-safe.
 */
public interface HitCollector {

    /**
     * Keys with {@code <q,k>} below this raw dot product are not wanted. A half-space collector returns its fixed
     * threshold t; a top-R collector returns its current R-th best (or {@code -Infinity} until it holds R keys).
     * {@code +Infinity} means the collector wants nothing more: the walk may stop.
     */
    float minCompetitiveScore();

    /**
     * A key whose {@code <q,k>} is {@code >= minCompetitiveScore()} at the time of the call; {@code score} is the dot
     * product accumulated in float64 and rounded to float (see {@code Kernels.dotDouble}).
     */
    void collect(int id, float score);

    /**
     * {@link #collect} with the key's dot product as accumulated in float64, before rounding to float: collectors that
     * need the precise score (the ReLU weights near the bias) keep it; by default it is rounded and collected.
     */
    default void collectExact(int id, double exactScore) {
        collect(id, (float) exactScore);
    }

    /** Whether the walk should visit the most promising blocks first (top-R benefits; half-space does not care). */
    default boolean wantsBestFirst() {
        return false;
    }

    /**
     * Whether the walk should report, through {@link #pruned}, the upper bounds of the keys it did not collect (the
     * certified softmax policy sums them; others do not need the cost).
     */
    default boolean wantsPruned() {
        return false;
    }

    /**
     * {@code count} keys that were not collected, each with {@code <q,k> <= upperBound} (a certified bound, or the
     * exact score of a key that was scored and fell below the bar). Called only when {@link #wantsPruned()}.
     */
    default void pruned(float upperBound, int count) {}

    /**
     * For collectors that only need {@code Σ exp(scale·ub)} over the skipped keys (the certified softmax): the scale,
     * or NaN (the default) to receive every bound through {@link #pruned}. When it is a number the walk reports sketch
     * pruning in bulk through {@link #prunedMass}.
     */
    default float prunedExpScale() {
        return Float.NaN;
    }

    /**
     * Bulk pruning report: {@code sumExp = Σ exp(prunedExpScale()·(ub − bar))} over skipped keys whose bounds ub lie
     * below {@code bar} (a raw dot product), each term at most 1.
     */
    default void prunedMass(double sumExp, float bar) {}
}
