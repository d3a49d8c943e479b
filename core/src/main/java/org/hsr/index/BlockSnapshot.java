package org.hsr.index;

import org.hsr.store.Rows;

/**
 * Everything a query of a {@link BlockIndex} reads, immutable once published (arrays may have spare capacity past
 * the counts): the folded blocks (centres, radii, int8 sketch codes and their bounds, slot-ordered rows) and the
 * tail of rows not yet folded. The {@link BlockFolder} makes new snapshots, the {@link BlockSearcher} walks them.
 */
record BlockSnapshot(
        int size,           // keys added
        int blocks,         // blocks folded
        float[] mu,         // (d) centring offset, null before the first fold
        float muNorm,
        float[] center,     // (blocks, d) block centres of the centred keys
        float[] radius,     // (blocks) certified radius around the centre
        float[] scale,      // (blocks, dPad) per-dimension code scales
        int[][] codePages,  // pages of PAGE_BLOCKS blocks: (block in page, BLOCK/lanes groups, quads, lanes) codes
        float[] errBound,   // (blocks*BLOCK) per-slot ‖e‖ + rounding margin, multiplied by ‖q‖
        int[] slotId,       // (blocks*BLOCK) caller id of each slot, -1 for padding
        int[] idRange,      // (blocks, 2) smallest and largest id in each block (for causal limits)
        int[] idSlot,       // (size - tailCount) slot of each folded id
        int[] foldBlock,    // (folds) first block of each fold: folds cover consecutive ids and blocks
        int[] foldId,       // (folds) first id of each fold
        int folds,
        Rows rows,          // (blocks*BLOCK) slot-ordered stored key | value rows, pages of PAGE_SLOTS
        Rows tail,          // (tailCount) rows not yet folded, ids size-tailCount .., pages of TAIL_PAGE
        int tailCount) {

    /** An empty index's snapshot. */
    static BlockSnapshot empty(Rows rows, Rows tail) {
        return new BlockSnapshot(0, 0, null, 0f, new float[0], new float[0], new float[0], new int[0][], new float[0],
                new int[0], new int[0], new int[0], new int[0], new int[0], 0, rows, tail, 0);
    }

    int firstTailId() {
        return size - tailCount;
    }

    BlockSnapshot withTail(int newSize, Rows newTail, int newTailCount) {
        return new BlockSnapshot(newSize, blocks, mu, muNorm, center, radius, scale, codePages, errBound, slotId,
                idRange, idSlot, foldBlock, foldId, folds, rows, newTail, newTailCount);
    }

    /** The codes of block b: its page, and {@link #codeOffset} in it. */
    int[] codes(int b) {
        return codePages[b / BlockIndex.PAGE_BLOCKS];
    }

    /** Offset of block b's codes in its page, with {@code quads} int words per key. */
    static int codeOffset(int b, int quads) {
        return (b % BlockIndex.PAGE_BLOCKS) * BlockIndex.BLOCK * quads;
    }

    /** Real (non-padding) keys in block b: all but possibly the last block of a fold are full. */
    int blockKeys(int b) {
        int n = 0;
        for (int j = 0; j < BlockIndex.BLOCK; j++) if (slotId[b * BlockIndex.BLOCK + j] >= 0) n++;
        return n;
    }

    /** Every byte the snapshot's arrays hold (spare capacity included). */
    long bytes(int d) {
        long total = 4L * (center.length + radius.length + scale.length + errBound.length + slotId.length
                + idRange.length + idSlot.length + foldBlock.length + foldId.length)
                + (mu == null ? 0 : 4L * d) + rows.bytes() + tail.bytes();
        for (int[] page : codePages) if (page != null) total += 4L * page.length;
        return total;
    }
}
