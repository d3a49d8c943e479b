package org.hsr.simd;

import java.lang.System.Logger.Level;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.Objects;
import java.util.Optional;

/**
 * The facade of the prefill tile kernels ({@link TileKernelSupport}): checks arguments, then delegates to the
 * implementation chosen once. The choice follows {@link KernelProvider}'s verdict on this JVM (module present, C2,
 * HotSpot, {@code -Dhsr.vector=false}, {@code -Dhsr.vectorBits}), so the two kernel families are always both vector or
 * both scalar; the Vector API implementation is loaded by name, and core code never links against it.
 */
public final class TileKernels {

    /** Rows of the register block: {@link #gemm}'s {@code rows} must be a multiple of this. */
    public static final int ROW_BLOCK = 6;

    /** Columns of one panel of {@link #gemmPacked}'s B. */
    public static final int PANEL = 16;

    /** {@link #gemmPacked}'s {@code cols} must be a multiple of this: two panels, one register block at 512 bits. */
    public static final int COL_BLOCK = 32;

    /** Index of entry (t, j) of an {@code inner}-row matrix packed in column panels (see {@link #gemmPacked}). */
    public static int panelIndex(int inner, int t, int j) {
        return ((j / PANEL) * inner + t) * PANEL + j % PANEL;
    }

    private static final System.Logger LOG = System.getLogger(TileKernels.class.getName());
    static final String PANAMA_CLASS = "org.hsr.simd.panama.PanamaTileKernelSupport";

    private TileKernels() {}

    /** The implementation in use. */
    public static TileKernelSupport impl() {
        return Holder.INSTANCE;
    }

    /** The scalar implementation, always available (the reference of the tests). */
    public static TileKernelSupport scalar() {
        return Holder.SCALAR;
    }

    /** The Vector API implementation if it can run here, ignoring {@code -Dhsr.vector=false}; for tests. */
    public static Optional<TileKernelSupport> panama() {
        return Optional.ofNullable(Holder.PANAMA);
    }

    private static final class Holder {
        static final TileKernelSupport SCALAR = new ScalarTileKernelSupport();
        static final TileKernelSupport PANAMA;
        static final TileKernelSupport INSTANCE;

        static {
            TileKernelSupport panama = null;
            String why = KernelProvider.panama().isPresent() ? null : KernelProvider.fallbackReason().orElse("unknown");
            if (why == null) {
                try {
                    var lookup = MethodHandles.lookup();
                    Class<?> cls = lookup.findClass(PANAMA_CLASS);
                    panama = (TileKernelSupport) lookup.findConstructor(cls, MethodType.methodType(void.class)).invoke();
                } catch (Throwable t) {
                    why = "the Vector API tile kernels failed to load: " + t;
                }
            }
            PANAMA = panama;
            boolean vectorOn = KernelProvider.get() != KernelProvider.scalar();
            INSTANCE = vectorOn && panama != null ? panama : SCALAR;
            if (INSTANCE == SCALAR) {
                LOG.log(vectorOn ? Level.WARNING : Level.INFO, "hsr tile kernels: scalar ("
                        + (why != null ? why : KernelProvider.fallbackReason().orElse("vector kernels off")) + ")");
            } else {
                LOG.log(Level.INFO, "hsr tile kernels: " + panama.name());
            }
        }
    }

    /** {@code C += A·B} (see {@link TileKernelSupport#gemm}). */
    public static void gemm(float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float[] c, int cOff, int ldc,
                            int rows, int cols, int inner) {
        if (rows % ROW_BLOCK != 0) {
            throw new IllegalArgumentException("rows " + rows + " is not a multiple of the row block " + ROW_BLOCK);
        }
        checkMatrix("a", a, aOff, lda, rows, inner);
        checkMatrix("b", b, bOff, ldb, inner, cols);
        checkMatrix("c", c, cOff, ldc, rows, cols);
        Holder.INSTANCE.gemm(a, aOff, lda, b, bOff, ldb, c, cOff, ldc, rows, cols, inner);
    }

    /**
     * {@code C = A·B} ({@code accumulate}: {@code C += A·B}) with B packed in column panels (see
     * {@link TileKernelSupport#gemmPacked}); {@code rows} a multiple of {@link #ROW_BLOCK}, {@code cols} of
     * {@link #COL_BLOCK}.
     */
    public static void gemmPacked(float[] a, int aOff, int lda, float[] b, int bOff, float[] c, int cOff, int ldc,
                                  int rows, int cols, int inner, boolean accumulate) {
        if (rows % ROW_BLOCK != 0) {
            throw new IllegalArgumentException("rows " + rows + " is not a multiple of the row block " + ROW_BLOCK);
        }
        if (cols % COL_BLOCK != 0) {
            throw new IllegalArgumentException("cols " + cols + " is not a multiple of the column block " + COL_BLOCK);
        }
        checkMatrix("a", a, aOff, lda, rows, inner);
        checkMatrix("b", b, bOff, inner * cols, inner == 0 ? 0 : 1, inner * cols);
        checkMatrix("c", c, cOff, ldc, rows, cols);
        Holder.INSTANCE.gemmPacked(a, aOff, lda, b, bOff, c, cOff, ldc, rows, cols, inner, accumulate);
    }

    /** ReLU^α in place, row sums added; returns the non-zero count (see {@link TileKernelSupport#reluPow}). */
    public static long reluPow(float[] s, int off, int ld, int rows, int cols, float bias, int alpha, double[] rowSums) {
        checkMatrix("s", s, off, ld, rows, cols);
        if (alpha < 1) throw new IllegalArgumentException("alpha must be >= 1, got " + alpha);
        Objects.checkFromIndexSize(0, rows, rowSums.length);
        return Holder.INSTANCE.reluPow(s, off, ld, rows, cols, bias, alpha, rowSums);
    }

    /** One online-softmax step (see {@link TileKernelSupport#expOnline}). */
    public static void expOnline(float[] s, int off, int ld, int rows, int cols, float[] rowMax, double[] rowSums,
                                 float[] rescale) {
        checkMatrix("s", s, off, ld, rows, cols);
        Objects.checkFromIndexSize(0, rows, rowMax.length);
        Objects.checkFromIndexSize(0, rows, rowSums.length);
        Objects.checkFromIndexSize(0, rows, rescale.length);
        Holder.INSTANCE.expOnline(s, off, ld, rows, cols, rowMax, rowSums, rescale);
    }

    /** Row r times {@code factors[r]}. */
    public static void scaleRows(float[] x, int off, int ld, int rows, int cols, float[] factors) {
        checkMatrix("x", x, off, ld, rows, cols);
        Objects.checkFromIndexSize(0, rows, factors.length);
        Holder.INSTANCE.scaleRows(x, off, ld, rows, cols, factors);
    }

    /** Per-row bit masks of {@code s > threshold} (see {@link TileKernelSupport#maskAbove}). */
    public static long maskAbove(float[] s, int off, int ld, int rows, int cols, float[] thresholds, long[] masks) {
        checkMaskCols(cols);
        checkMatrix("s", s, off, ld, rows, cols);
        Objects.checkFromIndexSize(0, rows, thresholds.length);
        Objects.checkFromIndexSize(0, rows, masks.length);
        return Holder.INSTANCE.maskAbove(s, off, ld, rows, cols, thresholds, masks);
    }

    /** Kept and dropped weights at per-row thresholds (see {@link TileKernelSupport#dropBelow}). */
    public static long dropBelow(float[] p, int off, int ld, int rows, int cols, float[] thresholds, long[] masks,
                                 double[] keptSums, double[] droppedSums) {
        checkMaskCols(cols);
        checkMatrix("p", p, off, ld, rows, cols);
        Objects.checkFromIndexSize(0, rows, thresholds.length);
        Objects.checkFromIndexSize(0, rows, masks.length);
        Objects.checkFromIndexSize(0, rows, keptSums.length);
        Objects.checkFromIndexSize(0, rows, droppedSums.length);
        return Holder.INSTANCE.dropBelow(p, off, ld, rows, cols, thresholds, masks, keptSums, droppedSums);
    }

    /**
     * Sparse {@code O += W·V} over the set mask bits (see {@link TileKernelSupport#sparseWeightedSum}); {@code cols}
     * bounds the mask bits and the value rows read.
     */
    public static void sparseWeightedSum(float[] s, int off, int ld, int rows, int cols, long[] masks, float bias,
                                         int alpha, float[] v, int vOff, int dv, float[] out, int outOff, int ldo,
                                         double[] rowSums) {
        checkMaskCols(cols);
        checkMatrix("s", s, off, ld, rows, cols);
        checkMatrix("v", v, vOff, dv, cols, dv);
        checkMatrix("out", out, outOff, ldo, rows, dv);
        Objects.checkFromIndexSize(0, rows, masks.length);
        Objects.checkFromIndexSize(0, rows, rowSums.length);
        for (int r = 0; r < rows; r++) {
            if (cols < 64 && (masks[r] >>> cols) != 0) {
                throw new IllegalArgumentException("mask of row " + r + " has bits at or past cols " + cols);
            }
        }
        Holder.INSTANCE.sparseWeightedSum(s, off, ld, rows, masks, bias, alpha, v, vOff, dv, out, outOff, ldo, rowSums);
    }

    private static void checkMaskCols(int cols) {
        if (cols < 0 || cols > 64) throw new IllegalArgumentException("mask tile width " + cols + " not in [0, 64]");
    }

    /** A {@code rows × cols} matrix at {@code off} with leading dimension {@code ld} lies inside {@code x}. */
    private static void checkMatrix(String name, float[] x, int off, int ld, int rows, int cols) {
        if (rows < 0 || cols < 0) throw new IllegalArgumentException(name + ": negative shape " + rows + " x " + cols);
        if (rows > 0 && ld < cols) throw new IllegalArgumentException(name + ": leading dimension " + ld + " < cols " + cols);
        if (rows == 0 || cols == 0) return;
        Objects.checkFromIndexSize(off, (long) (rows - 1) * ld + cols > Integer.MAX_VALUE ? -1 : (rows - 1) * ld + cols,
                x.length);
    }
}
