package org.hsr.model;

/**
 * The attention step of the {@link Transformer}, one decoding position at a time: the backend owns the key/value cache
 * of every layer, so a dense reference and a sparse (half-space reporting) implementation can be swapped without
 * touching the forward pass. Per layer and position the transformer calls {@link #append} once, then {@link #attend}
 * once.
 *
 * <p>Implementations hold caches and scratch buffers and are not thread-safe; use one per sequence being decoded.
 */
public interface AttentionBackend {
    /** Starts a new sequence (clears caches). */
    void reset();

    /** Appends this position's keys and values for `layer`: k and v are (nKvHeads * headSize). */
    void append(int layer, float[] k, float[] v);

    /** Attends all query heads of the newest appended position at `layer`: q is (nHeads * headSize), writes out (nHeads * headSize). */
    void attend(int layer, float[] q, float[] out);

    /** Kept-key statistics so far (may return null for backends that do not count). */
    default org.hsr.attention.AttentionStats stats() { return null; }
}
