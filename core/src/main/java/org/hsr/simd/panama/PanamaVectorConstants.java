package org.hsr.simd.panama;

import java.lang.management.ManagementFactory;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API constants, kept out of the provider's static initialiser (Lucene's note) so that the provider's sanity
 * checks run before any Vector API class initialises.
 */
final class PanamaVectorConstants {

    /** The float species: the preferred one, or the width forced with {@code -Dhsr.vectorBits}. */
    static final VectorSpecies<Float> FLOAT_SPECIES;
    /** The int species with the same lane count as {@link #FLOAT_SPECIES} (for the int8 sketch decode). */
    static final VectorSpecies<Integer> INT_SPECIES;
    /** The double species of the same bit size (half the lanes): float64 accumulation of float data. */
    static final VectorSpecies<Double> DOUBLE_SPECIES;
    /** Whether {@code fma} is a single fast instruction here (HotSpot's {@code UseFMA}); else mul().add(). */
    static final boolean HAS_FAST_FMA;

    static {
        String forced = System.getProperty("hsr.vectorBits");
        int preferred = VectorShape.preferredShape().vectorBitSize();
        int bits = forced == null ? preferred : Integer.parseInt(forced);
        if (bits < 128) {
            throw new UnsupportedOperationException("vector bit size " + bits + " < 128 (preferred "
                    + preferred + "); the scalar kernels are faster there");
        }
        FLOAT_SPECIES = FloatVector.SPECIES_MAX.length() * 32 == bits
                ? FloatVector.SPECIES_MAX
                : VectorSpecies.of(float.class, VectorShape.forBitSize(bits));
        INT_SPECIES = VectorSpecies.of(int.class, FLOAT_SPECIES.vectorShape());
        DOUBLE_SPECIES = VectorSpecies.of(double.class, FLOAT_SPECIES.vectorShape());
        HAS_FAST_FMA = fmaFlag();
    }

    private PanamaVectorConstants() {}

    private static boolean fmaFlag() {
        try {
            var bean = ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
            return Boolean.parseBoolean(bean.getVMOption("UseFMA").getValue());
        } catch (Throwable t) {
            return false;
        }
    }
}
