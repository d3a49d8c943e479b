package org.hsr.bench;

import org.hsr.simd.KernelProvider;
import org.hsr.simd.Kernels;
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * The check behind the scalar/Vector twins that use the library through the {@link Kernels} facade: the facade picks
 * its kernels from the JVM flags, so a twin forked with the wrong flags (for instance under {@code -f 0} or a
 * {@code -jvmArgs} override) would silently measure the other implementation. Setup calls this and refuses.
 */
final class Twins {
    private Twins() {}

    /** Throws unless a {@code …Vector} benchmark runs on the Vector API kernels and any other on the scalar ones. */
    static void requireKernels(BenchmarkParams params) {
        boolean vectorTwin = params.getBenchmark().endsWith("Vector");
        String impl = Kernels.impl().name();
        if (vectorTwin != impl.startsWith("panama")) {
            throw new IllegalStateException(params.getBenchmark() + " expects " + (vectorTwin ? "Vector API" : "scalar")
                    + " kernels but the facade chose '" + impl + "'"
                    + KernelProvider.fallbackReason().map(r -> " (" + r + ")").orElse("")
                    + "; JVM args: " + params.getJvmArgs());
        }
    }
}
