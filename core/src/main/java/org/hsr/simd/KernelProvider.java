package org.hsr.simd;

import java.lang.System.Logger.Level;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.Optional;

/**
 * Chooses the kernel implementation once (Lucene's {@code VectorizationProvider}): the Vector API implementation,
 * loaded by name so that core code never links against {@code jdk.incubator.vector}, or the scalar fallback. The
 * choice and any reason for falling back are logged once.
 *
 * <p>Switches: {@code -Dhsr.vector=false} forces scalar; {@code -Dhsr.vectorBits=128|256|512} forces a width.
 */
public final class KernelProvider {

    private static final System.Logger LOG = System.getLogger(KernelProvider.class.getName());
    static final String PANAMA_CLASS = "org.hsr.simd.panama.PanamaKernelSupport";
    private static final String INCUBATOR = "jdk.incubator.vector";

    private KernelProvider() {}

    /** The implementation chosen for this JVM (computed once, thread-safe). */
    public static KernelSupport get() {
        return Holder.INSTANCE;
    }

    /** The scalar implementation, always available. */
    public static KernelSupport scalar() {
        return Holder.SCALAR;
    }

    /**
     * The Vector API implementation if it can run here (module present and the JVM suitable), ignoring
     * {@code -Dhsr.vector=false}; empty otherwise. For tests and benchmarks that compare the two.
     */
    public static Optional<KernelSupport> panama() {
        return Optional.ofNullable(Holder.PANAMA);
    }

    /** Why the Vector API implementation is not in use, or empty when it is. */
    public static Optional<String> fallbackReason() {
        return Optional.ofNullable(Holder.REASON);
    }

    private static final class Holder {
        static final KernelSupport SCALAR = new ScalarKernelSupport();
        static final KernelSupport PANAMA;
        static final KernelSupport INSTANCE;
        static final String REASON;

        static {
            String why = unsuitableJvm();
            KernelSupport panama = null;
            if (why == null) {
                try {
                    var lookup = MethodHandles.lookup();
                    Class<?> cls = lookup.findClass(PANAMA_CLASS);
                    panama = (KernelSupport) lookup.findConstructor(cls, MethodType.methodType(void.class)).invoke();
                } catch (Throwable t) {
                    why = "the Vector API implementation failed to load: " + t;
                }
            }
            PANAMA = panama;
            if (!Boolean.parseBoolean(System.getProperty("hsr.vector", "true"))) {
                REASON = "disabled by -Dhsr.vector=false";
                INSTANCE = SCALAR;
                LOG.log(Level.INFO, "hsr kernels: scalar (" + REASON + ")");
            } else if (panama == null) {
                REASON = why;
                INSTANCE = SCALAR;
                LOG.log(Level.WARNING, "hsr kernels: scalar fallback, " + why);
            } else {
                REASON = null;
                INSTANCE = panama;
                LOG.log(Level.INFO, "hsr kernels: " + panama.name());
            }
        }
    }

    /** Returns why this JVM cannot run the Vector API kernels well, or null when it can. */
    private static String unsuitableJvm() {
        if (ModuleLayer.boot().findModule(INCUBATOR).isEmpty()) {
            return "module " + INCUBATOR + " is not loaded: start java with --add-modules " + INCUBATOR;
        }
        String vm = System.getProperty("java.vm.name", "");
        if (!vm.contains("HotSpot") && !vm.contains("OpenJDK")) {
            return "JVM '" + vm + "' is not HotSpot; the Vector API is only intrinsified by HotSpot C2";
        }
        try {
            List<String> args = ManagementFactory.getRuntimeMXBean().getInputArguments();
            for (String a : args) {
                if (a.startsWith("-XX:TieredStopAtLevel=") && !a.endsWith("=4")) {
                    return "C2 is disabled (" + a + "); Vector API code would run interpreted";
                }
                if (a.equals("-XX:+UseJVMCICompiler")) {
                    return "JVMCI compiler in use (" + a + "); Vector API intrinsics are C2-only";
                }
                if (a.equals("-Xint")) {
                    return "interpreter only (-Xint)";
                }
            }
        } catch (Throwable ignored) {
            // java.management absent: cannot inspect the flags, carry on
        }
        return null;
    }
}
