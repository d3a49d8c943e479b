package org.hsr.vector;

import java.util.Optional;
import org.hsr.simd.KernelProvider;
import org.hsr.simd.Kernels;
import org.hsr.simd.TileKernels;

/**
 * The core's SIMD kernels as far as other modules need them: which kernels run (the Vector API ones or the scalar
 * twins, and why not the former) and the one vector operation a model's forward pass shares with attention. The
 * kernels themselves ({@code org.hsr.simd}) are internal and not exported, so this is the public entry point, as
 * Lucene's {@code VectorUtil} is for its vectorization provider.
 */
public final class Vectors {

    private Vectors() {}

    /** The name of the attention kernels in use, for example {@code panama-512-fma} or {@code scalar}. */
    public static String kernels() {
        return Kernels.impl().name();
    }

    /** The name of the tiled prefill kernels in use. */
    public static String tileKernels() {
        return TileKernels.impl().name();
    }

    /** Whether the Vector API kernels could be loaded (the module {@code jdk.incubator.vector} is present and usable). */
    public static boolean vectorApi() {
        return KernelProvider.panama().isPresent();
    }

    /** Why the scalar kernels run instead of the Vector API ones, if they do. */
    public static Optional<String> fallbackReason() {
        return KernelProvider.fallbackReason();
    }

    /** {@code Σ a[aOff+i]·b[bOff+i]} over {@code len} elements, in fp32 with the kernels' summation order. */
    public static float dot(float[] a, int aOff, float[] b, int bOff, int len) {
        return Kernels.dot(a, aOff, b, bOff, len);
    }

    /** {@code Σ x[off+i]} over {@code len} elements. */
    public static float sum(float[] x, int off, int len) {
        return Kernels.sum(x, off, len);
    }
}
