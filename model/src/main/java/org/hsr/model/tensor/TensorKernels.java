package org.hsr.model.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.Optional;
import java.util.logging.Logger;
import org.hsr.vector.Vectors;

/**
 * The facade of the weight-row dot products: checks arguments, then delegates to the implementation chosen once per
 * JVM. The Vector API one ({@code org.hsr.model.tensor.panama.PanamaTensorKernelSupport}) is loaded by name, so that
 * nothing else in this module links against {@code jdk.incubator.vector}; it is used exactly when the core's kernels
 * use the Vector API (same switches: {@code -Dhsr.vector=false} forces scalar, {@code -Dhsr.vectorBits} a width).
 */
public final class TensorKernels {

    private static final String PANAMA_CLASS = "org.hsr.model.tensor.panama.PanamaTensorKernelSupport";

    private TensorKernels() {}

    /** The implementation in use. */
    public static TensorKernelSupport impl() {
        return Holder.INSTANCE;
    }

    /** The scalar implementation, always available. */
    public static TensorKernelSupport scalar() {
        return Holder.SCALAR;
    }

    /** The Vector API implementation if it can run here (ignoring {@code -Dhsr.vector=false}); for twin tests. */
    public static Optional<TensorKernelSupport> panama() {
        return Optional.ofNullable(Holder.PANAMA);
    }

    /**
     * {@code Σ row[i]·x[xOff+i]} over the {@code n} elements of type {@code type} stored at byte {@code off} of
     * {@code w}.
     *
     * @throws IllegalArgumentException if {@code n} is not a positive multiple of the block size, or the row or the
     *                                  {@code x} range is out of bounds
     */
    public static float dot(GgmlType type, MemorySegment w, long off, float[] x, int xOff, int n) {
        check(type, w, off, x, xOff, n);
        return dot(impl(), type, w, off, x, xOff, n);
    }

    /** The same dot product computed by {@code impl}, unchecked (for the twin tests and for {@link WeightMatrix}). */
    static float dot(TensorKernelSupport impl, GgmlType type, MemorySegment w, long off, float[] x, int xOff, int n) {
        return switch (type) {
            case F32 -> impl.dotF32(w, off, x, xOff, n);
            case F16 -> impl.dotF16(w, off, x, xOff, n);
            case BF16 -> impl.dotBF16(w, off, x, xOff, n);
            case Q8_0 -> impl.dotQ8_0(w, off, x, xOff, n);
            case Q4_0 -> impl.dotQ4_0(w, off, x, xOff, n);
            case Q4_K -> impl.dotQ4_K(w, off, x, xOff, n);
            case Q6_K -> impl.dotQ6_K(w, off, x, xOff, n);
        };
    }

    /** The argument checks of {@link #dot}. */
    static void check(GgmlType type, MemorySegment w, long off, float[] x, int xOff, int n) {
        if (n <= 0 || n % type.blockSize != 0) {
            throw new IllegalArgumentException(type + " row length " + n + " is not a positive multiple of the block "
                    + "size " + type.blockSize);
        }
        long bytes = type.bytes(n);
        if (off < 0 || off > w.byteSize() - bytes) {
            throw new IllegalArgumentException("row of " + bytes + " bytes at offset " + off
                    + " is outside the segment of " + w.byteSize() + " bytes");
        }
        if (xOff < 0 || xOff > x.length - n) {
            throw new IllegalArgumentException("x range " + xOff + ".." + ((long) xOff + n) + " is outside x of length "
                    + x.length);
        }
    }

    private static final class Holder {
        static final TensorKernelSupport SCALAR = new ScalarTensorKernelSupport();
        static final TensorKernelSupport PANAMA;
        static final TensorKernelSupport INSTANCE;

        static {
            Logger log = Logger.getLogger(TensorKernels.class.getName());
            TensorKernelSupport panama = null;
            String why = Vectors.vectorApi() ? null
                    : Vectors.fallbackReason().orElse("the core's Vector API kernels are unavailable");
            if (why == null) {
                try {
                    var lookup = MethodHandles.lookup();
                    Class<?> cls = lookup.findClass(PANAMA_CLASS);
                    panama = (TensorKernelSupport) lookup.findConstructor(cls, MethodType.methodType(void.class)).invoke();
                } catch (Throwable t) {
                    why = "the Vector API tensor kernels failed to load: " + t;
                    log.warning("hsr tensor kernels: scalar fallback, " + why);
                }
            }
            PANAMA = panama;
            // follow the core's choice, so that -Dhsr.vector=false turns every kernel scalar
            boolean coreUsesPanama = Vectors.fallbackReason().isEmpty();
            INSTANCE = panama != null && coreUsesPanama ? panama : SCALAR;
            log.info("hsr tensor kernels: " + INSTANCE.name() + (why == null ? "" : " (" + why + ")"));
        }
    }
}
