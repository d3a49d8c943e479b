package org.hsr.attention;

/**
 * Statistics of one or more attention calls (SPEC §7 {@code attend --stats}). Not thread-safe: use one per thread and
 * {@link #merge} them.
 */
public final class AttentionStats {
    /** Query rows computed. */
    public long rows;
    /** Σ over rows of keys that the row could see (causal mask applied). */
    public long visibleKeys;
    /** Σ over rows of keys with a non-zero weight in the output (the kept set). */
    public long keptKeys;
    /** Σ over rows of keys whose exact fp32 score was computed, each key counted once per row. */
    public long scoredKeys;
    /**
     * Σ over fallback rows of the keys a walk scored before the row was computed densely: work on top of
     * {@link #scoredKeys}, which counts those keys once (the dense pass scores every key).
     */
    public long fallbackWalkKeys;
    /** Rows whose weights were all zero (ReLU), output zero. */
    public long emptyRows;
    /** Sparse-softmax rows that were computed densely (no key passed, or the policy judged dense cheaper). */
    public long fallbackRows;
    /**
     * Rows computed densely, over the same storage, because their kv head's plan chose dense for the step without a
     * walk (its last walks did not pay: a broad head, or few keys indexed yet); not counted in {@link #fallbackRows}.
     */
    public long denseChosenRows;
    /** Bytes read: keys, index data and values (an estimate for dense: every visible key and value once). */
    public long bytesRead;
    /** Largest certified dropped probability mass of any row ({@code epsilon} policy), else 0. */
    public double droppedMassBoundMax;

    /** Back to zero everywhere. */
    public void reset() {
        rows = visibleKeys = keptKeys = scoredKeys = fallbackWalkKeys = emptyRows = fallbackRows = denseChosenRows = 0;
        bytesRead = 0;
        droppedMassBoundMax = 0;
    }

    public void merge(AttentionStats o) {
        rows += o.rows;
        visibleKeys += o.visibleKeys;
        keptKeys += o.keptKeys;
        scoredKeys += o.scoredKeys;
        fallbackWalkKeys += o.fallbackWalkKeys;
        emptyRows += o.emptyRows;
        fallbackRows += o.fallbackRows;
        denseChosenRows += o.denseChosenRows;
        bytesRead += o.bytesRead;
        droppedMassBoundMax = Math.max(droppedMassBoundMax, o.droppedMassBoundMax);
    }

    /** Mean kept keys per row. */
    public double keptMean() {
        return rows == 0 ? 0 : (double) keptKeys / rows;
    }

    /** Fraction of visible keys that were kept. */
    public double keptFraction() {
        return visibleKeys == 0 ? 0 : (double) keptKeys / visibleKeys;
    }

    /** Fraction of visible keys whose exact score was computed (at most 1). */
    public double keysTouchedFraction() {
        return visibleKeys == 0 ? 0 : (double) scoredKeys / visibleKeys;
    }
}
