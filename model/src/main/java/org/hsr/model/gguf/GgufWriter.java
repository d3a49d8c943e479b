package org.hsr.model.gguf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.hsr.io.OutputSet;
import org.hsr.model.tensor.GgmlType;
import org.hsr.model.tensor.Quantizer;

/**
 * Writes a GGUF version-3 file (the layout of {@link GgufFile}): metadata in the order it was put, then tensors whose
 * rows are produced on demand and encoded as they are written, so a file of gigabytes streams through a small buffer.
 * {@link #write(Path)} writes through {@link OutputSet}, so a failed write leaves no partial file.
 */
public final class GgufWriter {

    /** Produces row {@code row} of a tensor ({@code dims[0]} floats) into {@code out}. */
    @FunctionalInterface
    public interface RowSource {
        void row(long row, float[] out);
    }

    private record Value(int type, Object value) {}

    private record Tensor(String name, GgmlType type, long[] dims, RowSource rows) {}

    private final Map<String, Value> metadata = new LinkedHashMap<>();
    private final List<Tensor> tensors = new ArrayList<>();
    private final int alignment = GgufFile.DEFAULT_ALIGNMENT;

    public GgufWriter putString(String key, String v) {
        return put(key, GgufFile.STRING, v);
    }

    public GgufWriter putUint32(String key, long v) {
        return put(key, GgufFile.UINT32, v);
    }

    public GgufWriter putInt32(String key, int v) {
        return put(key, GgufFile.INT32, v);
    }

    public GgufWriter putFloat32(String key, float v) {
        return put(key, GgufFile.FLOAT32, v);
    }

    public GgufWriter putBool(String key, boolean v) {
        return put(key, GgufFile.BOOL, v);
    }

    public GgufWriter putStrings(String key, String[] v) {
        return put(key, GgufFile.ARRAY, new GgufFile.GgufArray(GgufFile.STRING, v.clone()));
    }

    public GgufWriter putFloats(String key, float[] v) {
        return put(key, GgufFile.ARRAY, new GgufFile.GgufArray(GgufFile.FLOAT32, v.clone()));
    }

    public GgufWriter putInts(String key, int[] v) {
        return put(key, GgufFile.ARRAY, new GgufFile.GgufArray(GgufFile.INT32, v.clone()));
    }

    private GgufWriter put(String key, int type, Object v) {
        metadata.put(key, new Value(type, v));
        return this;
    }

    /**
     * Adds a tensor of shape {@code dims} ({@code dims[0]} the row length) whose rows {@code rows} produces, stored
     * as {@code type}.
     */
    public GgufWriter addTensor(String name, GgmlType type, long[] dims, RowSource rows) {
        if (dims[0] % type.blockSize != 0 || dims[0] > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("tensor " + name + ": row length " + dims[0] + " is not a multiple of "
                    + "the " + type + " block size " + type.blockSize);
        }
        tensors.add(new Tensor(name, type, dims.clone(), rows));
        return this;
    }

    /** Adds an fp32 tensor whose elements are {@code data[off..)} in row-major order. */
    public GgufWriter addTensor(String name, GgmlType type, long[] dims, float[] data, int off) {
        int cols = (int) dims[0];
        return addTensor(name, type, dims, (r, out) -> System.arraycopy(data, off + (int) (r * cols), out, 0, cols));
    }

    /**
     * Writes the file as every output of the project is written ({@link OutputSet}): to a temporary renamed over
     * {@code path} when whole (a device or FIFO is written in place), new files with mode 0666 minus the umask.
     */
    public void write(Path path) throws IOException {
        try (OutputSet set = new OutputSet()) {
            set.add(path, this::write).commit();
        }
    }

    /** Writes the file's bytes to {@code ch}, from its current position, sequentially. */
    public void write(WritableByteChannel ch) throws IOException {
        Out out = new Out(ch);
        // header
        out.i32(GgufFile.MAGIC);
        out.i32(3);
        out.i64(tensors.size());
        out.i64(metadata.size());
        // metadata
        for (var e : metadata.entrySet()) {
            out.string(e.getKey());
            out.i32(e.getValue().type());
            out.value(e.getValue().type(), e.getValue().value());
        }
        // tensor infos, each tensor's data aligned
        long offset = 0;
        for (Tensor t : tensors) {
            out.string(t.name());
            out.i32(t.dims().length);
            long elements = 1;
            for (long d : t.dims()) {
                out.i64(d);
                elements *= d;
            }
            out.i32(t.type().id);
            out.i64(offset);
            offset = align(offset + t.type().bytes(elements));
        }
        out.pad(align(out.position()) - out.position());
        // data
        for (Tensor t : tensors) {
            int cols = (int) t.dims()[0];
            long rows = 1;
            for (int d = 1; d < t.dims().length; d++) rows *= t.dims()[d];
            float[] row = new float[cols];
            long rowBytes = t.type().bytes(cols);
            long start = out.position();
            for (long r = 0; r < rows; r++) {
                t.rows().row(r, row);
                out.room(rowBytes);
                Quantizer.quantize(t.type(), row, 0, cols, out.buf);
            }
            long written = out.position() - start;
            out.pad(align(written) - written);
        }
        out.flush();
    }

    private long align(long n) {
        return (n + alignment - 1) / alignment * alignment;
    }

    /** A little-endian buffered writer that knows its file position. */
    private static final class Out {
        final WritableByteChannel ch;
        final ByteBuffer buf = ByteBuffer.allocate(1 << 22).order(ByteOrder.LITTLE_ENDIAN);
        long flushed;

        Out(WritableByteChannel ch) {
            this.ch = ch;
        }

        long position() {
            return flushed + buf.position();
        }

        /** Makes room for {@code n} bytes (a row larger than the buffer gets a buffer of its own size). */
        void room(long n) throws IOException {
            if (buf.remaining() < n) {
                flush();
            }
            if (buf.remaining() < n) {
                throw new IOException("row of " + n + " bytes exceeds the writer's buffer of " + buf.capacity());
            }
        }

        void flush() throws IOException {
            buf.flip();
            while (buf.hasRemaining()) {
                flushed += ch.write(buf);
            }
            buf.clear();
        }

        void i32(int v) throws IOException {
            room(4);
            buf.putInt(v);
        }

        void i64(long v) throws IOException {
            room(8);
            buf.putLong(v);
        }

        void pad(long n) throws IOException {
            room(n);
            for (long i = 0; i < n; i++) buf.put((byte) 0);
        }

        void string(String s) throws IOException {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            i64(b.length);
            room(b.length);
            buf.put(b);
        }

        void value(int type, Object v) throws IOException {
            switch (type) {
                case GgufFile.STRING -> string((String) v);
                case GgufFile.UINT32 -> i32((int) (long) (Long) v);
                case GgufFile.INT32 -> i32((Integer) v);
                case GgufFile.FLOAT32 -> i32(Float.floatToRawIntBits((Float) v));
                case GgufFile.BOOL -> {
                    room(1);
                    buf.put((byte) ((Boolean) v ? 1 : 0));
                }
                case GgufFile.ARRAY -> {
                    GgufFile.GgufArray a = (GgufFile.GgufArray) v;
                    i32(a.elementType());
                    i64(a.length());
                    for (int i = 0; i < a.length(); i++) {
                        value(a.elementType(), java.lang.reflect.Array.get(a.values(), i));
                    }
                }
                default -> throw new IllegalStateException("unwritten metadata type " + type);
            }
        }
    }
}
