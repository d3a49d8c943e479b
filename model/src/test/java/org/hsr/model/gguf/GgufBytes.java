package org.hsr.model.gguf;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/** Hand-made GGUF bytes for the reader's tests: little-endian fields appended one by one, nothing checked. */
final class GgufBytes {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    /** A version-3 header: magic, version, tensor count, metadata count. */
    static GgufBytes header(long tensors, long kvs) {
        return new GgufBytes().u32(GgufFile.MAGIC).u32(3).u64(tensors).u64(kvs);
    }

    GgufBytes u8(int v) {
        out.write(v);
        return this;
    }

    GgufBytes u32(long v) {
        return put(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v));
    }

    GgufBytes u64(long v) {
        return put(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v));
    }

    GgufBytes f32(float v) {
        return put(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(v));
    }

    GgufBytes str(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        u64(b.length);
        out.writeBytes(b);
        return this;
    }

    /** A metadata pair with a uint32 value. */
    GgufBytes kvU32(String key, long v) {
        return str(key).u32(GgufFile.UINT32).u32(v);
    }

    /** A tensor info. */
    GgufBytes tensor(String name, int type, long offset, long... dims) {
        str(name).u32(dims.length);
        for (long d : dims) u64(d);
        return u32(type).u64(offset);
    }

    /** Zero bytes up to the next multiple of {@code alignment}. */
    GgufBytes align(int alignment) {
        while (out.size() % alignment != 0) out.write(0);
        return this;
    }

    GgufBytes zeros(int n) {
        out.writeBytes(new byte[n]);
        return this;
    }

    private GgufBytes put(ByteBuffer b) {
        out.writeBytes(b.array());
        return this;
    }

    byte[] bytes() {
        return out.toByteArray();
    }
}
