package org.hsr.model.tensor.panama;

import java.lang.management.ManagementFactory;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API constants of the tensor kernels, kept out of the kernel class's initialiser (Lucene's note). The width
 * follows the core's switch {@code -Dhsr.vectorBits}.
 */
final class PanamaTensorConstants {

    /** The float species: the preferred one, or the width forced with {@code -Dhsr.vectorBits}. */
    static final VectorSpecies<Float> F;
    /** Int and short species with the float species' lane count (widening fp16/bf16 bits). */
    static final VectorSpecies<Integer> I;
    static final VectorSpecies<Short> S;
    /**
     * Bytes loaded at a time for the int8 and nibble types: as many lanes as {@link #F}, but at least 8 (the narrowest
     * shape is 64 bits); with 128-bit floats one load widens into two float vectors.
     */
    static final VectorSpecies<Byte> B;
    /** Float vectors per byte load: {@code B.length() / F.length()}. */
    static final int PARTS;
    /** Whether {@code fma} is one fast instruction here (HotSpot's {@code UseFMA}); else mul().add(). */
    static final boolean HAS_FAST_FMA;

    static {
        String forced = System.getProperty("hsr.vectorBits");
        int bits = forced == null ? VectorShape.preferredShape().vectorBitSize() : Integer.parseInt(forced);
        if (bits < 128) {
            throw new UnsupportedOperationException("vector bit size " + bits + " < 128; the scalar kernels are faster");
        }
        F = VectorSpecies.of(float.class, VectorShape.forBitSize(bits));
        I = VectorSpecies.of(int.class, F.vectorShape());
        S = VectorSpecies.of(short.class, VectorShape.forBitSize(16 * F.length()));
        B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, 8 * F.length())));
        PARTS = B.length() / F.length();
        HAS_FAST_FMA = fmaFlag();
        // touch the classes once so that a missing intrinsic fails here, not in the middle of a matmul
        FloatVector.zero(F);
        IntVector.zero(I);
        ShortVector.zero(S);
        ByteVector.zero(B);
    }

    private PanamaTensorConstants() {}

    private static boolean fmaFlag() {
        try {
            var bean = ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
            return Boolean.parseBoolean(bean.getVMOption("UseFMA").getValue());
        } catch (Throwable t) {
            return false;
        }
    }
}
