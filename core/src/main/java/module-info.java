/**
 * hsr-attention's core: the KV cache ({@code org.hsr.kv}), its storage types ({@code org.hsr.store}), the half-space
 * index ({@code org.hsr.index}), the attention operators and selection policies ({@code org.hsr.attention}, with the
 * peers in {@code .baseline}), {@code .npy} files ({@code org.hsr.io}) and which kernels run ({@code org.hsr.vector}). The
 * SIMD kernels ({@code org.hsr.simd} and
 * the Vector API implementation, loaded by name when {@code jdk.incubator.vector} is present) are internal.
 */
module org.hsr.core {
    requires static jdk.incubator.vector; // the Vector API kernels; without it the scalar ones run
    requires static jdk.management; // HotSpot's UseFMA flag, read when choosing the FMA form
    requires java.management;

    exports org.hsr.kv;
    exports org.hsr.store;
    exports org.hsr.index;
    exports org.hsr.attention;
    exports org.hsr.attention.baseline;
    exports org.hsr.io;
    exports org.hsr.vector;
}
