package org.hsr.index;

import org.hsr.simd.Kernels;

/**
 * Orders keys so that consecutive runs of {@code blockSize} keys are tight (small radius around their mean), which is
 * what lets a block's bound skip it. A recursive two-way split (a ball-tree build): two far-apart seeds (found in a
 * sample), two Lloyd steps of 2-means from them on the sample, then every member is projected on the difference of
 * the two means and the range is split where 2-means puts the boundary, rounded to whole blocks (quickselect). A split
 * at the median instead cut clusters in two wherever the median fell, and the halves made loose, never-skipped
 * blocks (clustered benchmark: 67% of blocks skipped with median splits, 79% with these). Costs about one dot product
 * and one row copy per key per level (the projection, and moving the node's rows so each child's are contiguous)
 * plus the sampled seed and Lloyd work, over about {@code log2(n / blockSize)} levels: 131072 × 128 in about 85 ms
 * warm (about 30 flat scans; most of the index build). The split is translation-invariant, so the index partitions
 * the keys as they are and gets them back in slot order.
 */
final class BlockPartitioner {

    /** Members examined for the farthest point of a split (all of them below this size). */
    static final int SAMPLE = 64;

    private BlockPartitioner() {}

    /**
     * Reorders the rows of {@code x} (n×d keys) in place so that each aligned run of {@code blockSize} rows is
     * one leaf, and returns the permutation: {@code perm[i]} is the original index of the row now at position i.
     *
     * <p>A node's rows are kept contiguous: after each split they are copied, in their new order, into the other of two
     * buffers, where the children find them (a node at even depth reads {@code x}, at odd depth the scratch buffer).
     * Projecting rows through a permutation instead gathered them from all over the array, and those cache misses
     * were most of the build's time.
     */
    static int[] partition(float[] x, int n, int d, int blockSize) {
        int[] perm = new int[n];
        for (int i = 0; i < n; i++) perm[i] = i;
        float[] proj = new float[n];
        float[] norms = new float[n];
        for (int i = 0; i < n; i++) norms[i] = Kernels.dot(x, i * d, x, i * d, d);
        float[] other = n > blockSize ? new float[n * d] : null;
        int[] pos = new int[n], tmpPerm = new int[n];
        boolean[] left = new boolean[n];
        float[] tmpNorms = new float[n];
        float[] dir = new float[d], c1 = new float[d], c2 = new float[d], m1 = new float[d], m2 = new float[d];
        int[] stack = new int[192];
        int top = 0;
        stack[top++] = 0;
        stack[top++] = n;
        stack[top++] = 0;
        while (top > 0) {
            int parity = stack[--top], hi = stack[--top], lo = stack[--top];
            float[] src = parity == 0 ? x : other, dst = parity == 0 ? other : x;
            int size = hi - lo;
            if (size <= blockSize) { // a leaf: its rows end in x
                if (parity == 1) System.arraycopy(src, lo * d, x, lo * d, size * d);
                continue;
            }
            for (int i = lo; i < hi; i++) pos[i] = i;
            // seeds: the member farthest from a middle member, and the member farthest from that one (a cheap stand-in
            // for a diameter), searched among at most SAMPLE evenly spaced members; ‖x − a‖² = ‖x‖² − 2<x,a> + ‖a‖²
            int stride = Math.max(1, size / SAMPLE);
            int s1 = farthest(src, d, norms, lo, hi, stride, lo + size / 2);
            int s2 = farthest(src, d, norms, lo, hi, stride, s1);
            double spread = norms[s1] - 2.0 * Kernels.dot(src, s1 * d, src, s2 * d, d) + norms[s2];
            int blocks = (size + blockSize - 1) / blockSize;
            int mid;
            if (!(spread > 1e-12 * (norms[s1] + norms[s2] + 1e-30))) { // all (nearly) equal: any split is as tight
                mid = lo + (blocks / 2) * blockSize;
            } else {
                // two Lloyd steps of 2-means on the sampled members, from the seeds: the split plane then tends to pass
                // between groups of keys instead of through one (clusters cut in two make loose blocks)
                System.arraycopy(src, s1 * d, c1, 0, d);
                System.arraycopy(src, s2 * d, c2, 0, d);
                int lloydStride = Math.max(1, size / LLOYD_SAMPLE);
                // two blocks split one and one whatever 2-means says: there the seeds' direction is enough
                for (int iter = 0; iter < (blocks > 2 ? LLOYD_STEPS : 0); iter++) {
                    planeOf(c1, c2, dir, d);
                    float theta = planeOffset(c1, c2, d);
                    java.util.Arrays.fill(m1, 0f);
                    java.util.Arrays.fill(m2, 0f);
                    int n1 = 0, n2 = 0;
                    for (int i = lo; i < hi; i += lloydStride) {
                        if (Kernels.dot(src, i * d, dir, 0, d) >= theta) {
                            Kernels.axpy(1f, src, i * d, m1, 0, d);
                            n1++;
                        } else {
                            Kernels.axpy(1f, src, i * d, m2, 0, d);
                            n2++;
                        }
                    }
                    if (n1 == 0 || n2 == 0) break;
                    for (int t = 0; t < d; t++) {
                        c1[t] = m1[t] / n1;
                        c2[t] = m2[t] / n2;
                    }
                }
                planeOf(c1, c2, dir, d);
                float theta = planeOffset(c1, c2, d);
                Kernels.dotMany(dir, 0, src, lo * d, size, d, proj, lo); // the node's rows are contiguous
                int below = 0;
                for (int i = lo; i < hi; i++) if (proj[i] < theta) below++;
                // split where 2-means puts it, rounded to whole blocks, kept within [1/8, 7/8] of the blocks so the
                // tree stays shallow
                int leftBlocks = Math.round((float) below / blockSize);
                leftBlocks = Math.max(Math.max(1, blocks / 8), Math.min(blocks - Math.max(1, blocks / 8), leftBlocks));
                mid = lo + leftBlocks * blockSize;
                select(proj, pos, lo, hi - 1, mid);
            }
            // the rows, ids and norms of each side, into the other buffer: one sequential pass over the node's rows with
            // two write cursors (gathering rows in the selected order read them from all over the node)
            for (int i = lo; i < hi; i++) left[pos[i]] = i < mid;
            for (int j = lo, l = lo, r = mid; j < hi; j++) {
                int to = left[j] ? l++ : r++;
                System.arraycopy(src, j * d, dst, to * d, d);
                tmpPerm[to] = perm[j];
                tmpNorms[to] = norms[j];
            }
            System.arraycopy(tmpPerm, lo, perm, lo, size);
            System.arraycopy(tmpNorms, lo, norms, lo, size);
            if (top + 6 > stack.length) stack = java.util.Arrays.copyOf(stack, stack.length * 2);
            stack[top++] = lo;
            stack[top++] = mid;
            stack[top++] = 1 - parity;
            stack[top++] = mid;
            stack[top++] = hi;
            stack[top++] = 1 - parity;
        }
        return perm;
    }

    /** Lloyd steps of the 2-means split. */
    static final int LLOYD_STEPS = 2;
    /** Members the Lloyd steps look at (evenly spaced; all of them below this size). */
    static final int LLOYD_SAMPLE = 128;

    /** The row of rows[lo, hi) at the given stride that is farthest from row a (rows by position in {@code rows}). */
    private static int farthest(float[] rows, int d, float[] norms, int lo, int hi, int stride, int a) {
        int far = a;
        double best = -1;
        for (int i = lo; i < hi; i += stride) {
            double dist = norms[i] - 2.0 * Kernels.dot(rows, i * d, rows, a * d, d) + norms[a];
            if (dist > best) {
                best = dist;
                far = i;
            }
        }
        return far;
    }

    /** dir = c1 − c2: x is nearer c1 than c2 exactly when <x, dir> >= (‖c1‖² − ‖c2‖²)/2. */
    private static void planeOf(float[] c1, float[] c2, float[] dir, int d) {
        for (int t = 0; t < d; t++) dir[t] = c1[t] - c2[t];
    }

    private static float planeOffset(float[] c1, float[] c2, int d) {
        return (Kernels.dot(c1, 0, c1, 0, d) - Kernels.dot(c2, 0, c2, 0, d)) / 2;
    }

    /** Quickselect: afterwards {@code proj[k]} is in sorted position, smaller to its left (perm moves along). */
    private static void select(float[] proj, int[] perm, int lo, int hi, int k) {
        while (hi > lo) {
            float pivot = median3(proj[lo], proj[(lo + hi) >>> 1], proj[hi]);
            int i = lo, j = hi;
            while (i <= j) {
                while (proj[i] < pivot) i++;
                while (proj[j] > pivot) j--;
                if (i <= j) {
                    float tp = proj[i];
                    proj[i] = proj[j];
                    proj[j] = tp;
                    int ti = perm[i];
                    perm[i] = perm[j];
                    perm[j] = ti;
                    i++;
                    j--;
                }
            }
            if (k <= j) hi = j;
            else if (k >= i) lo = i;
            else return;
        }
    }

    private static float median3(float a, float b, float c) {
        return Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
    }
}
