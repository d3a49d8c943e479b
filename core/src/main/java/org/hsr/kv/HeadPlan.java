package org.hsr.kv;

import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.Selection;

/**
 * Whether the next step of one (layer, kv head) of an {@link KvCache.Method#HSR} cache walks the index or computes
 * the group densely over the same storage, decided from cheap evidence before any sketch is read:
 * <ul>
 *   <li>Few keys in blocks (less than half of the visible ones): the tail would be scanned key by key for every query
 *       head, which a grouped dense pass does once, so dense.</li>
 *   <li>Otherwise from what the last walk measured. A walk pays when no row of the group fell back to dense and it
 *       read at most {@link #WALK_BYTES_FRACTION} of the bytes a dense pass reads (codes, exactly scored keys and kept
 *       values against every visible key and value once). A walk that did not pay is followed by 1, 4, 16, … up
 *       to {@link #MAX_INTERVAL} dense steps before the next walk, so a broad head pays for a walk on at most one step
 *       in {@value #MAX_INTERVAL} (a failed walk costs 2–3 dense steps on real keys: about 2% over dense in the long
 *       run, 6 walks in the first 256 steps), and a head that turns peaked as the context grows is noticed within
 *       that many steps.</li>
 * </ul>
 * Dense is a valid answer for ReLU^α (exact either way) and {@code epsilon:E} (dropped mass 0); for softmax with every
 * key it is the answer. {@code threshold:T} and {@code top:R} select keys by definition, so they always walk.
 * Deterministic: the same appends and queries choose the same steps. Not thread-safe: one per (layer, kv head), used
 * by the thread that attends that head.
 */
final class HeadPlan {

    /** Most dense steps between two walks of a head whose walks do not pay. */
    static final int MAX_INTERVAL = 128;
    /** A walk pays when it reads at most this fraction of a dense pass's bytes (and no row fell back). */
    static final double WALK_BYTES_FRACTION = 0.8;

    private int interval; // dense steps after the last walk that did not pay (0: the last walk paid)
    private int denseLeft; // dense steps still to take before the next walk

    /** What a step of a head does: the cache's answer for the step. */
    enum Choice { WALK, DENSE }

    /**
     * The choice for a step with {@code visible} keys, {@code folded} of them in blocks (the rest in the exactly
     * scanned tail).
     */
    Choice choose(AttentionConfig cfg, Selection selection, int visible, int folded) {
        boolean relu = cfg.kind() == AttentionConfig.Kind.RELU;
        if (!relu && selection instanceof Selection.Dense) return Choice.DENSE;
        if (!relu && !(selection instanceof Selection.Epsilon)) return Choice.WALK; // threshold, top: the walk's set
        if (2L * folded < visible) return Choice.DENSE;
        if (denseLeft > 0) {
            denseLeft--;
            return Choice.DENSE;
        }
        return Choice.WALK;
    }

    /**
     * Learns from a walk's statistics ({@code walk} counts only that step's rows) against a dense pass over
     * {@code visible} keys of {@code rowBytes} bytes of key and value each.
     */
    void learn(AttentionStats walk, int visible, long rowBytes) {
        boolean pays = walk.fallbackRows == 0 && walk.bytesRead <= WALK_BYTES_FRACTION * visible * rowBytes;
        if (pays) {
            interval = 0;
        } else {
            interval = Math.min(MAX_INTERVAL, Math.max(1, 4 * interval));
            denseLeft = interval;
        }
    }
}
