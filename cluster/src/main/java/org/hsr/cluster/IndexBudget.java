package org.hsr.cluster;

import java.util.Map;
import java.util.WeakHashMap;

/**
 * The heap this JVM lets blocks keep their derived indexes in: {@code -Dhsr.cluster.indexBytes=N}, by default a quarter
 * of the maximum heap (half ran a 1 GB member out of heap while it built the rest per round). A block whose index would not fit builds one for the round and drops it (slower, same answer),
 * so a member serves more K and V (held off-heap) than its heap could index at once. Blocks are held weakly: one a
 * migration moved away stops counting once it is collected.
 */
final class IndexBudget {
    private IndexBudget() {}

    /** The budget, read at every use (a test changes it). */
    static long limit() {
        return Long.getLong("hsr.cluster.indexBytes", Runtime.getRuntime().maxMemory() / 4);
    }

    private static final Map<KvBlock, Long> HELD = new WeakHashMap<>();
    /** Records that {@code block} keeps an index of {@code bytes} (0: none), if that fits the budget. */
    static synchronized boolean hold(KvBlock block, long bytes) {
        Long before = HELD.get(block);
        long others = total() - (before == null ? 0 : before);
        if (bytes > 0 && others + bytes > limit()) {
            HELD.remove(block);
            return false;
        }
        if (bytes == 0) HELD.remove(block);
        else HELD.put(block, bytes);
        return true;
    }

    private static long total() {
        long held = 0;
        for (long b : HELD.values()) held += b;
        return held;
    }

    /** The estimated heap of a one-layer index over {@code positions} rows (the core's pages: about 1.35x the rows). */
    static long estimate(long positions, int kvHeads, int headDim, int valueDim, int elementBytes) {
        return (long) (1.4 * positions * kvHeads * (headDim + valueDim) * elementBytes) + 4096;
    }
}
