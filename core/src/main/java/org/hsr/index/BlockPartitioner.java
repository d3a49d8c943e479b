package org.hsr.index;

import org.hsr.simd.Kernels;

/**
 * Orders keys so that consecutive runs of {@code blockSize} keys are tight (small radius around their mean), which is
 * what lets a block's bound skip it. A recursive two-way split (a ball-tree build): take the direction from a member
 * to the member farthest from it, project the range onto it, and split at a multiple of the block size near the
 * median (quickselect). Costs about one dot product per key per level (the projection; the farthest member is
 * searched in a sample), {@code log2(n / blockSize)} levels.
 */
final class BlockPartitioner {

    /** Members examined for the farthest point of a split (all of them below this size). */
    static final int SAMPLE = 256;

    private BlockPartitioner() {}

    /**
     * Returns a permutation of {@code 0..n-1}: rows of {@code x} (n×d, centred keys) reordered so that each aligned
     * run of {@code blockSize} is one leaf.
     */
    static int[] partition(float[] x, int n, int d, int blockSize) {
        int[] perm = new int[n];
        for (int i = 0; i < n; i++) perm[i] = i;
        float[] proj = new float[n];
        float[] norms = new float[n];
        for (int i = 0; i < n; i++) norms[i] = Kernels.dot(x, i * d, x, i * d, d);
        float[] dir = new float[d];
        int[] stack = new int[128];
        int top = 0;
        stack[top++] = 0;
        stack[top++] = n;
        while (top > 0) {
            int hi = stack[--top], lo = stack[--top];
            int size = hi - lo;
            if (size <= blockSize) continue;
            // direction: from a member to the member farthest from it (a cheap stand-in for the principal axis),
            // searched among at most SAMPLE evenly spaced members; ‖x − a‖² = ‖x‖² − 2<x,a> + ‖a‖²
            int a = perm[lo + size / 2];
            int far = a;
            double best = -1;
            int stride = Math.max(1, size / SAMPLE);
            for (int i = lo; i < hi; i += stride) {
                double dist = norms[perm[i]] - 2.0 * Kernels.dot(x, perm[i] * d, x, a * d, d) + norms[a];
                if (dist > best) {
                    best = dist;
                    far = perm[i];
                }
            }
            if (best <= 1e-12 * (norms[a] + 1e-30)) { // all (nearly) equal: any split is as tight
                pushHalves(stack, top, lo, hi, blockSize);
                top += 4;
                continue;
            }
            for (int t = 0; t < d; t++) dir[t] = x[far * d + t] - x[a * d + t];
            for (int i = lo; i < hi; i++) proj[i] = Kernels.dot(x, perm[i] * d, dir, 0, d);
            int mid = splitPoint(lo, hi, blockSize);
            select(proj, perm, lo, hi - 1, mid);
            if (top + 4 > stack.length) stack = java.util.Arrays.copyOf(stack, stack.length * 2);
            stack[top++] = lo;
            stack[top++] = mid;
            stack[top++] = mid;
            stack[top++] = hi;
        }
        return perm;
    }

    private static void pushHalves(int[] stack, int top, int lo, int hi, int blockSize) {
        int mid = splitPoint(lo, hi, blockSize);
        stack[top] = lo;
        stack[top + 1] = mid;
        stack[top + 2] = mid;
        stack[top + 3] = hi;
    }

    /** A split near the middle that keeps the left part a whole number of blocks. */
    private static int splitPoint(int lo, int hi, int blockSize) {
        int blocks = (hi - lo + blockSize - 1) / blockSize;
        return lo + (blocks / 2) * blockSize;
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
