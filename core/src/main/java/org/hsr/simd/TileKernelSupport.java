package org.hsr.simd;

/**
 * The tile kernels of prefill (the SPI behind {@link TileKernels}): a small register-blocked matrix product and the
 * element-wise passes over one score tile. Matrices are row-major with an explicit leading dimension ({@code ld}:
 * the distance between two rows), so a tile can live inside a larger array. Implementations are stateless and
 * thread-safe. Arguments are checked by the facade; here they are only asserted.
 */
public interface TileKernelSupport {

    /** A short name for logs and reports, e.g. {@code panama-256-fma} or {@code scalar}. */
    String name();

    /**
     * {@code C += A·B}: C is {@code rows × cols}, A is {@code rows × inner}, B is {@code inner × cols}. {@code rows}
     * must be a multiple of {@link TileKernels#ROW_BLOCK} (callers pad their tiles with zero rows).
     */
    void gemm(float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float[] c, int cOff, int ldc,
              int rows, int cols, int inner);

    /**
     * {@code C = A·B}, or {@code C += A·B} when {@code accumulate}, with B ({@code inner × cols}) packed in column
     * panels of {@link TileKernels#PANEL} columns: entry (t, j) at {@code bOff + ((j / PANEL)·inner + t)·PANEL + j %
     * PANEL} ({@link TileKernels#panelIndex}), so that the kernel streams B with a constant stride and a column block's
     * strip of B is contiguous. {@code rows} is a multiple of {@link TileKernels#ROW_BLOCK} and {@code cols} of
     * {@link TileKernels#COL_BLOCK}.
     */
    void gemmPacked(float[] a, int aOff, int lda, float[] b, int bOff, float[] c, int cOff, int ldc,
                    int rows, int cols, int inner, boolean accumulate);

    /**
     * ReLU^α in place on a tile of scaled scores: {@code s ← max(s − bias, 0)^α}; each row's sum is added to
     * {@code rowSums[r]}. {@code -Infinity} (a masked entry) becomes 0. Returns the number of non-zero weights.
     */
    long reluPow(float[] s, int off, int ld, int rows, int cols, float bias, int alpha, double[] rowSums);

    /**
     * One online-softmax step on a tile of scaled scores (FlashAttention): per row, the new running maximum
     * {@code m' = max(rowMax[r], max_j s_rj)}, {@code s ← exp(s − m')}, {@code rowSums[r] ← rowSums[r]·f + Σ_j s_rj} and
     * {@code rescale[r] = f = exp(rowMax[r] − m')} (the factor the row's output accumulator must be multiplied by),
     * then {@code rowMax[r] = m'}. A row all {@code -Infinity} (masked) becomes zeros with {@code f = 1}.
     */
    void expOnline(float[] s, int off, int ld, int rows, int cols, float[] rowMax, double[] rowSums, float[] rescale);

    /** Multiplies row r of the tile by {@code factors[r]}. */
    void scaleRows(float[] x, int off, int ld, int rows, int cols, float[] factors);

    /**
     * Bit j of {@code masks[r]} is set when {@code s[r][j] > thresholds[r]}, for {@code cols <= 64}. Returns the OR of
     * all masks (0: nothing in the tile passes).
     */
    long maskAbove(float[] s, int off, int ld, int rows, int cols, float[] thresholds, long[] masks);

    /**
     * Splits a tile of weights at per-row thresholds, {@code cols <= 64}: bit j of {@code masks[r]} is set when
     * {@code p[r][j] > thresholds[r]} (kept), {@code keptSums[r]} gets the sum of the kept weights and
     * {@code droppedSums[r]} the sum of the others, which are set to 0 in place (so that a dense product over the tile
     * sums the kept keys only). Returns the OR of all masks.
     */
    long dropBelow(float[] p, int off, int ld, int rows, int cols, float[] thresholds, long[] masks, double[] keptSums,
                   double[] droppedSums);

    /**
     * Sparse {@code O += W·V} over the set bits of each row's mask, {@code cols <= 64}: for row r and every set bit j,
     * {@code w = (s[r][j] − bias)^α} when {@code alpha > 0} (ReLU, from raw scores), else {@code w = s[r][j]} (weights
     * already computed); {@code out[r][:] += w·v[j][:]} (dv entries) and {@code rowSums[r] += w}.
     */
    void sparseWeightedSum(float[] s, int off, int ld, int rows, long[] masks, float bias, int alpha,
                           float[] v, int vOff, int dv, float[] out, int outOff, int ldo, double[] rowSums);
}
