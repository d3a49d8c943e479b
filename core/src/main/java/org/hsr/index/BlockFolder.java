package org.hsr.index;

import static org.hsr.index.BlockIndex.BLOCK;
import static org.hsr.index.BlockIndex.PAGE_BLOCKS;
import static org.hsr.index.BlockIndex.TAIL_PAGE;

import java.util.Arrays;
import org.hsr.simd.Kernels;
import org.hsr.store.ElementType;
import org.hsr.store.Rows;

/**
 * The write side of a {@link BlockIndex}: folds a tail of rows into blocks (partition, centre, radius, int8 codes and
 * each key's certified sketch error), appending them to a snapshot without touching the blocks already folded.
 */
final class BlockFolder {
    private final int d, dv;
    private final ElementType type;
    private final int quads, dPad, lanes;
    private final double gamma, sketchRoundoff;

    BlockFolder(int d, int dv, ElementType type) {
        this.d = d;
        this.dv = dv;
        this.type = type;
        this.quads = (d + 3) / 4;
        this.dPad = 4 * quads;
        this.lanes = Kernels.int8Lanes();
        this.gamma = BlockIndex.gamma(d);
        this.sketchRoundoff = Kernels.int8Roundoff(quads);
    }

    /** Where a fold reads its source rows: the tail's own rows, or the caller's arrays of a bulk add. */
    interface FoldSource {
        /** The stored (rounded) key of source row i into {@code dst[off..off+d)}. */
        void key(int i, float[] dst, int off);

        /** The stored (rounded) value of source row i into {@code dst[0..dv)}. */
        void value(int i, float[] dst);
    }

    static final class TailRows implements FoldSource {
        private final Rows tail;

        TailRows(Rows tail) {
            this.tail = tail;
        }

        @Override
        public void key(int i, float[] dst, int off) {
            tail.readKey(i, dst, off);
        }

        @Override
        public void value(int i, float[] dst) {
            tail.readValue(i, dst, 0);
        }
    }

    final class CallerRows implements FoldSource {
        private final float[] k, v;
        private final int kOff, vOff;

        CallerRows(float[] k, int kOff, float[] v, int vOff) {
            this.k = k;
            this.kOff = kOff;
            this.v = v;
            this.vOff = vOff;
        }

        @Override
        public void key(int i, float[] dst, int off) {
            for (int t = 0; t < d; t++) dst[off + t] = type.round(k[kOff + i * d + t]);
        }

        @Override
        public void value(int i, float[] dst) {
            for (int t = 0; t < dv; t++) dst[t] = type.round(v[vOff + i * dv + t]);
        }
    }

    /**
     * Partitions the tail's oldest keys, a whole number of blocks of them, into blocks and appends those; the rest
     * (fewer than a block) stay in a new tail. The tail's {@code s.tailCount()} rows are read from {@code src}. Returns
     * the new snapshot.
     */
    BlockSnapshot fold(BlockSnapshot s, FoldSource src) {
        int n = s.tailCount() / BLOCK * BLOCK;
        int firstId = s.firstTailId();
        // the keys, partitioned as they are (the partition is translation-invariant), so that afterwards x holds them in
        // slot order
        float[] x = new float[n * d];
        for (int i = 0; i < n; i++) src.key(i, x, i * d);
        float[] mu = s.mu();
        if (mu == null) {
            double[] acc = new double[d];
            for (int i = 0; i < n; i++) for (int t = 0; t < d; t++) acc[t] += x[i * d + t];
            mu = new float[d];
            for (int t = 0; t < d; t++) mu[t] = (float) (acc[t] / n);
        }
        float muNorm = (float) (Math.sqrt(Kernels.dotDouble(mu, 0, mu, 0, d)) * (1 + 1e-6));
        int[] perm = BlockPartitioner.partition(x, n, d, BLOCK);
        int newBlocks = (n + BLOCK - 1) / BLOCK;
        int blocks = s.blocks() + newBlocks;
        int slots = blocks * BLOCK;
        float[] center = grow(s.center(), (long) blocks * d);
        float[] radius = grow(s.radius(), blocks);
        float[] scale = grow(s.scale(), (long) blocks * dPad);
        int pages = (blocks + PAGE_BLOCKS - 1) / PAGE_BLOCKS;
        int[][] codePages = s.codePages().length >= pages ? s.codePages() : Arrays.copyOf(s.codePages(), pages);
        for (int p = 0; p < pages; p++) if (codePages[p] == null) codePages[p] = new int[PAGE_BLOCKS * BLOCK * quads];
        Rows rows = s.rows().withCapacity(slots);
        float[] errBound = grow(s.errBound(), slots);
        int[] slotId = growInt(s.slotId(), slots);
        int[] idRange = growInt(s.idRange(), 2L * blocks);
        int[] idSlot = growInt(s.idSlot(), (long) firstId + n);
        int[] foldBlock = growInt(s.foldBlock(), s.folds() + 1), foldId = growInt(s.foldId(), s.folds() + 1);
        foldBlock[s.folds()] = s.blocks();
        foldId[s.folds()] = firstId;
        float[] cen = new float[d];
        float[] inv = new float[d];
        float[] value = new float[dv];
        int[] q8 = new int[dPad];
        double sumSlack = 1 + 2.0 * (d + 2) * BlockIndex.UNIT_ROUNDOFF; // float sums of d squares: relative error <= d·u
        float[] sums = new float[3];
        double[] kNorms = new double[BLOCK];
        for (int nb = 0; nb < newBlocks; nb++) {
            int b = s.blocks() + nb;
            int from = nb * BLOCK, cnt = Math.min(n, from + BLOCK) - from;
            // the partition left x in leaf order: the block's keys are the cnt rows from `base`; they go to the slot
            // rows with their values, and then become their centred form x = k − μ and residuals r = x − c in place
            int base = from * d;
            for (int slot = 0; slot < cnt; slot++) {
                int gslot = b * BLOCK + slot;
                int local = perm[from + slot];
                if (dv > 0) src.value(local, value);
                rows.write(gslot, x, base + slot * d, value, 0);
                kNorms[slot] = Math.sqrt(Kernels.dot(x, base + slot * d, x, base + slot * d, d));
                Kernels.axpy(-1f, mu, 0, x, base + slot * d, d);
            }
            // centre: mean of the block's centred keys
            Arrays.fill(cen, 0f);
            for (int slot = 0; slot < cnt; slot++) Kernels.axpy(1f, x, base + slot * d, cen, 0, d);
            Kernels.scale(cen, 0, d, 1f / cnt);
            System.arraycopy(cen, 0, center, b * d, d);
            double cNorm = Math.sqrt(Kernels.dot(cen, 0, cen, 0, d)) * sumSlack;
            // residuals, and the per-dimension scale: largest |r| / 127
            Arrays.fill(inv, 0f);
            for (int slot = 0; slot < cnt; slot++) Kernels.subtractAbsMax(cen, x, base + slot * d, inv, d);
            for (int t = 0; t < d; t++) {
                scale[b * dPad + t] = inv[t] / 127f;
                inv[t] = inv[t] > 0f ? 127f / inv[t] : 0f;
            }
            for (int t = d; t < dPad; t++) scale[b * dPad + t] = 0f;
            double sNorm = Math.sqrt(Kernels.dotDouble(scale, b * dPad, scale, b * dPad, dPad)) * (1 + 1e-6);
            double rMax = 0, kMax = 0;
            int minId = Integer.MAX_VALUE, maxId = -1;
            for (int slot = 0; slot < BLOCK; slot++) {
                int gslot = b * BLOCK + slot;
                int group = slot / lanes, lane = slot % lanes;
                int[] codes = codePages[b / PAGE_BLOCKS];
                int codeBase = BlockSnapshot.codeOffset(b, quads) + (group * quads) * lanes + lane;
                if (slot >= cnt) { // padding slot: never reported (its row stays as allocated: zeros)
                    slotId[gslot] = -1;
                    errBound[gslot] = 0f;
                    for (int p = 0; p < quads; p++) codes[codeBase + p * lanes] = 0;
                    continue;
                }
                int id = firstId + perm[from + slot];
                slotId[gslot] = id;
                idSlot[id] = gslot;
                minId = Math.min(minId, id);
                maxId = Math.max(maxId, id);
                // codes, and the residual e = r − s⊙code that the sketch leaves
                Kernels.quantizeInt8(x, base + slot * d, inv, scale, b * dPad, d, q8, sums);
                float e2 = sums[0], h2 = sums[1], r2 = sums[2];
                Kernels.packInt8Row(q8, quads, codes, codeBase, lanes);
                double kNorm = kNorms[slot];
                double rNorm = Math.sqrt(r2), hatNorm = Math.sqrt(h2);
                rMax = Math.max(rMax, rNorm);
                kMax = Math.max(kMax, kNorm);
                // The float arithmetic above (k − μ, − c, s·code, the sums of squares) is off from the exact residual
                // by at most a few units of roundoff of ‖k‖, ‖μ‖, ‖r‖, ‖ŝ‖; gamma covers that and the query-side
                // rounding of <q,c>, <q⊙s,code> and <q,μ>.
                // The sketch kernel's own rounding is at most roundoff·Σ|q_t·s_t| <= roundoff·‖q‖·‖s‖.
                errBound[gslot] = (float) ((Math.sqrt(e2) * sumSlack + sketchRoundoff * sNorm
                        + gamma * (cNorm + hatNorm + muNorm + rNorm + kNorm)) * (1 + 1e-6));
            }
            idRange[2 * b] = minId;
            idRange[2 * b + 1] = maxId;
            radius[b] = (float) ((rMax * sumSlack + gamma * (cNorm + rMax + muNorm + kMax)) * (1 + 1e-6));
        }
        // the rows left over (fewer than a block) start the new tail
        int rest = s.tailCount() - n;
        Rows tail = Rows.empty(type, d, dv, TAIL_PAGE).withCapacity(rest);
        for (int i = 0; i < rest; i++) {
            src.key(n + i, cen, 0);
            if (dv > 0) src.value(n + i, value);
            tail.write(i, cen, 0, value, 0);
        }
        return new BlockSnapshot(s.size(), blocks, mu, muNorm, center, radius, scale, codePages, errBound, slotId, idRange,
                idSlot, foldBlock, foldId, s.folds() + 1, rows, tail, rest);
    }

    /** Grows by an eighth: these per-block and per-slot arrays are small, and a larger step would be spare memory. */
    private static float[] grow(float[] a, long need) {
        if (need <= a.length) return a;
        if (need > Integer.MAX_VALUE - 16) throw new IllegalArgumentException("index too large: " + need + " floats");
        return Arrays.copyOf(a, (int) Math.min(Integer.MAX_VALUE - 16, Math.max(need, a.length + (a.length >> 3))));
    }

    private static int[] growInt(int[] a, long need) {
        if (need <= a.length) return a;
        if (need > Integer.MAX_VALUE - 16) throw new IllegalArgumentException("index too large: " + need + " ints");
        return Arrays.copyOf(a, (int) Math.min(Integer.MAX_VALUE - 16, Math.max(need, a.length + (a.length >> 3))));
    }
}
