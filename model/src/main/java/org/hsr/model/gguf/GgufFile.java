package org.hsr.model.gguf;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.hsr.model.ModelFormatException;
import org.hsr.model.tensor.GgmlType;
import org.hsr.model.tensor.WeightMatrix;

/**
 * A GGUF file (versions 2 and 3, little-endian; ggml {@code docs/gguf.md}): its metadata, its tensor infos and the
 * tensors' bytes, memory-mapped. Closing the file unmaps it; every segment and {@link WeightMatrix} handed out is
 * invalid afterwards.
 *
 * <p>Layout: magic {@code "GGUF"}, uint32 version, uint64 tensor count, uint64 metadata count; the metadata
 * key-value pairs (key a gguf string: uint64 length + UTF-8 bytes; uint32 value type; the value); the tensor infos
 * (name, uint32 n_dims, uint64 {@code ne[n_dims]} with {@code ne[0]} the row length, uint32 ggml type, uint64 offset
 * into the data section); padding to {@code general.alignment} (default 32); the data section.
 *
 * <p>The reader trusts nothing: every count, length and offset is checked against the bytes that remain before it
 * is used, so a truncated, corrupt or lying file fails with a one-line {@link ModelFormatException} naming the file,
 * never with an {@link OutOfMemoryError} or an out-of-bounds access. Metadata values are Java objects:
 * {@code Integer} (uint8, int8, uint16, int16, int32), {@code Long} (uint32, int64, uint64), {@code Float},
 * {@code Double}, {@code Boolean}, {@code String}, or a {@link GgufArray}.
 */
public final class GgufFile implements AutoCloseable {

    /** "GGUF" as a little-endian uint32. */
    public static final int MAGIC = 0x46554747;
    /** The alignment of the data section and of every tensor offset when {@code general.alignment} is absent. */
    public static final int DEFAULT_ALIGNMENT = 32;
    /** ggml's limit on tensor names. */
    static final int MAX_NAME_BYTES = 64;
    /** ggml's limit on tensor dimensions. */
    static final int MAX_DIMS = 4;
    /** Limits that no real file approaches, so that a lying count fails before any allocation. */
    static final long MAX_STRING_BYTES = 1 << 26, MAX_ARRAY_ELEMENTS = 1 << 26, MAX_COUNT = 1 << 24;
    static final int MAX_ARRAY_DEPTH = 4;

    /** The value types of metadata ({@code enum gguf_metadata_value_type}). */
    static final int UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
            STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12;
    /** The smallest encoding of a value of each type, to check counts against the remaining bytes. */
    private static final int[] MIN_BYTES = {1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8};

    /**
     * One tensor's info.
     *
     * @param name   its name
     * @param type   its element type
     * @param dims   {@code ne}: {@code dims[0]} is the row length (fastest varying)
     * @param offset byte offset in the data section
     * @param bytes  stored size in bytes
     */
    public record TensorInfo(String name, GgmlType type, long[] dims, long offset, long bytes) {
        /** Number of elements. */
        public long elements() {
            long n = 1;
            for (long d : dims) n *= d;
            return n;
        }

        /** The shape as ggml prints it, {@code [ne0, ne1, ...]}. */
        public String shape() {
            return Arrays.toString(dims);
        }
    }

    /**
     * A metadata array.
     *
     * @param elementType the value type of every element
     * @param values      {@code int[]}, {@code long[]}, {@code float[]}, {@code double[]}, {@code boolean[]},
     *                    {@code String[]}, or {@code GgufArray[]} for an array of arrays
     */
    public record GgufArray(int elementType, Object values) {
        /** Number of elements. */
        public int length() {
            return java.lang.reflect.Array.getLength(values);
        }
    }

    private final String source;
    private final int version;
    private final Map<String, Object> metadata;
    private final Map<String, TensorInfo> tensors;
    private final long dataOffset;
    private final int alignment;
    private final MemorySegment file;
    private final Arena arena;

    private GgufFile(String source, int version, Map<String, Object> metadata, Map<String, TensorInfo> tensors,
                     long dataOffset, int alignment, MemorySegment file, Arena arena) {
        this.source = source;
        this.version = version;
        this.metadata = Collections.unmodifiableMap(metadata);
        this.tensors = Collections.unmodifiableMap(tensors);
        this.dataOffset = dataOffset;
        this.alignment = alignment;
        this.file = file;
        this.arena = arena;
    }

    /** Whether the file starts with the GGUF magic (reads 4 bytes; false for shorter files). */
    public static boolean isGguf(Path path) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            var buf = java.nio.ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
            int read = 0;
            while (buf.hasRemaining() && read >= 0) {
                read = ch.read(buf);
            }
            return buf.position() == 4 && buf.getInt(0) == MAGIC;
        }
    }

    /** Opens and memory-maps a GGUF file; close it to unmap. */
    public static GgufFile open(Path path) throws IOException {
        if (Files.isDirectory(path)) {
            throw new ModelFormatException("GGUF file " + path + ": is a directory");
        }
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            return parse(path.toString(), seg, arena);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** Parses a whole GGUF file held in {@code file}; {@code arena} (may be null) is closed with the result. */
    public static GgufFile parse(String source, MemorySegment file, Arena arena) throws ModelFormatException {
        Cursor c = new Cursor("GGUF file " + source, file);
        if (file.byteSize() < 4) {
            throw c.error("truncated: " + file.byteSize() + " bytes, a GGUF file starts with the 4-byte magic \"GGUF\"");
        }
        int magic = file.get(Cursor.I32, 0);
        if (magic != MAGIC) {
            throw c.error("not a GGUF file: magic 0x" + Integer.toHexString(magic) + " != 0x46554747 (\"GGUF\")");
        }
        c.pos = 4;
        long version = c.u32("version");
        if (version == 1) {
            throw c.error("GGUF version 1 (32-bit lengths) is not supported, only versions 2 and 3");
        }
        if (version != 2 && version != 3) {
            long swapped = Integer.reverseBytes((int) version) & 0xFFFFFFFFL;
            throw c.error(swapped == 2 || swapped == 3
                    ? "big-endian GGUF file (version " + swapped + "); only little-endian files are supported"
                    : "unknown GGUF version " + version + ", expected 2 or 3");
        }
        long tensorCount = c.count("tensor count", 8 + 4 + 8 + 4 + 8); // the smallest tensor info
        long kvCount = c.count("metadata count", 8 + 4 + 1);

        // metadata key-value pairs
        Map<String, Object> metadata = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            String key = c.string("metadata key " + i);
            if (metadata.containsKey(key)) {
                throw c.error("duplicate metadata key \"" + key + "\"");
            }
            long type = c.u32("type of \"" + key + "\"");
            metadata.put(key, c.value((int) Math.min(type, Integer.MAX_VALUE), key, 0));
        }
        int alignment = DEFAULT_ALIGNMENT;
        Object a = metadata.get("general.alignment");
        if (a != null) {
            if (!(a instanceof Long l) || l <= 0 || l > 1 << 20 || Long.bitCount(l) != 1) {
                throw c.error("general.alignment = " + a + " is not a uint32 power of two (at most 2^20)");
            }
            alignment = (int) (long) l;
        }

        // tensor infos
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        for (long i = 0; i < tensorCount; i++) {
            TensorInfo t = c.tensorInfo(i, alignment);
            if (tensors.containsKey(t.name())) {
                throw c.error("duplicate tensor name \"" + t.name() + "\"");
            }
            tensors.put(t.name(), t);
        }

        // the data section starts at the next multiple of the alignment; every tensor must lie inside it, disjoint
        long dataOffset = (c.pos + alignment - 1) / alignment * alignment;
        long dataBytes = file.byteSize() - dataOffset;
        if (dataBytes < 0 && !tensors.isEmpty()) {
            throw c.error("truncated: the data section would start at byte " + dataOffset + ", file has "
                    + file.byteSize());
        }
        List<TensorInfo> byOffset = new ArrayList<>(tensors.values());
        byOffset.sort((x, y) -> Long.compare(x.offset(), y.offset()));
        long end = 0;
        String previous = null;
        for (int i = 0; i < byOffset.size(); i++) {
            TensorInfo t = byOffset.get(i);
            if (t.offset() > dataBytes - t.bytes()) {
                throw c.error("tensor \"" + t.name() + "\" (" + t.type() + " " + t.shape() + ", " + t.bytes()
                        + " bytes at data offset " + t.offset() + ") extends past the end of the file ("
                        + Math.max(0, dataBytes) + " bytes of data)");
            }
            if (t.offset() < end) {
                throw c.error("tensors \"" + previous + "\" and \"" + t.name() + "\" overlap (data offsets up to "
                        + end + " and " + t.offset() + ")");
            }
            // tensors are laid out back to back, each padded to the alignment (llama.cpp's writer and reader): more
            // than the padding before the next tensor or the end means the data is not of the type the header says
            // (a Q8_0 tensor relabelled Q4_0 reads 18 of every 34 bytes per block)
            long space = (i + 1 < byOffset.size() ? byOffset.get(i + 1).offset() : dataBytes) - t.offset();
            if (space - t.bytes() >= alignment) {
                throw c.error("tensor \"" + t.name() + "\" is " + t.type() + " " + t.shape() + ", " + t.bytes()
                        + " bytes, but " + space + " bytes at data offset " + t.offset() + " are its own (up to "
                        + (i + 1 < byOffset.size() ? "tensor \"" + byOffset.get(i + 1).name() + "\"" : "the end of the file")
                        + "): its data is not of its stated type");
            }
            end = t.offset() + t.bytes();
            previous = t.name();
        }
        return new GgufFile(source, (int) version, metadata, tensors, dataOffset, alignment, file, arena);
    }

    /** Where the file came from, for messages. */
    public String source() {
        return source;
    }

    /** The format version, 2 or 3. */
    public int version() {
        return version;
    }

    /** Every metadata key and value, in file order. */
    public Map<String, Object> metadata() {
        return metadata;
    }

    /** Every tensor info by name, in file order. */
    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    /** Byte offset of the data section in the file. */
    public long dataOffset() {
        return dataOffset;
    }

    /** The alignment of the data section and the tensor offsets. */
    public int alignment() {
        return alignment;
    }

    /** Bytes of the whole file. */
    public long fileBytes() {
        return file.byteSize();
    }

    /** The stored bytes of a tensor (a slice of the mapping). */
    public MemorySegment data(TensorInfo t) {
        return file.asSlice(dataOffset + t.offset(), t.bytes());
    }

    /** The tensor {@code name}, or null if absent. */
    public TensorInfo tensor(String name) {
        return tensors.get(name);
    }

    /** The metadata value of {@code key}, or null. */
    public Object get(String key) {
        return metadata.get(key);
    }

    /** A string value; {@code def} when absent. */
    public String getString(String key, String def) throws ModelFormatException {
        Object v = metadata.get(key);
        if (v == null) return def;
        if (v instanceof String s) return s;
        throw error("metadata " + key + " is " + describe(v) + ", expected a string");
    }

    /** An integer value of any integer type that fits an int; {@code def} when absent. */
    public int getInt(String key, int def) throws ModelFormatException {
        Object v = metadata.get(key);
        if (v == null) return def;
        if (v instanceof Integer i) return i;
        if (v instanceof Long l && l >= Integer.MIN_VALUE && l <= Integer.MAX_VALUE) return (int) (long) l;
        throw error("metadata " + key + " is " + describe(v) + ", expected an integer that fits 32 bits");
    }

    /** A floating-point value of any float type (integers accepted); {@code def} when absent. */
    public double getDouble(String key, double def) throws ModelFormatException {
        Object v = metadata.get(key);
        if (v == null) return def;
        if (v instanceof Float f) return f;
        if (v instanceof Double d) return d;
        if (v instanceof Integer i) return i;
        if (v instanceof Long l) return l;
        throw error("metadata " + key + " is " + describe(v) + ", expected a number");
    }

    /** A boolean value; {@code def} when absent. */
    public boolean getBoolean(String key, boolean def) throws ModelFormatException {
        Object v = metadata.get(key);
        if (v == null) return def;
        if (v instanceof Boolean b) return b;
        throw error("metadata " + key + " is " + describe(v) + ", expected a bool");
    }

    /** An array value whose values are of class {@code cls} ({@code String[].class}, ...), or null when absent. */
    public <T> T getArray(String key, Class<T> cls) throws ModelFormatException {
        Object v = metadata.get(key);
        if (v == null) return null;
        if (v instanceof GgufArray arr && cls.isInstance(arr.values())) return cls.cast(arr.values());
        throw error("metadata " + key + " is " + describe(v) + ", expected an array of "
                + cls.getComponentType().getSimpleName());
    }

    /** A one-line description of a metadata value ("uint32 7", "array of 512 string"). */
    public static String describe(Object v) {
        if (v instanceof GgufArray a) {
            return "array of " + a.length() + " " + a.values().getClass().getComponentType().getSimpleName();
        }
        if (v instanceof String s) {
            return "string \"" + (s.length() > 40 ? s.substring(0, 40) + "..." : s) + "\"";
        }
        return v.getClass().getSimpleName().toLowerCase() + " " + v;
    }

    /** A {@link ModelFormatException} naming this file. */
    public ModelFormatException error(String message) {
        return new ModelFormatException(oneLine("GGUF file " + source + ": " + message));
    }

    /** The message with control characters (from a corrupt key or name) escaped, so that it stays one line. */
    static String oneLine(String message) {
        StringBuilder b = new StringBuilder(message.length());
        for (char ch : message.toCharArray()) {
            if (ch < 0x20 || ch == 0x7F) {
                b.append(String.format("\\u%04x", (int) ch));
            } else {
                b.append(ch);
            }
        }
        return b.toString();
    }

    @Override
    public void close() {
        if (arena != null) {
            arena.close();
        }
    }

    /** Reads the header part of the file with every access checked against the bytes that remain. */
    private static final class Cursor {
        static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

        final String what;
        final MemorySegment seg;
        long pos;

        Cursor(String what, MemorySegment seg) {
            this.what = what;
            this.seg = seg;
        }

        ModelFormatException error(String message) {
            return new ModelFormatException(oneLine(what + ": " + message));
        }

        long remaining() {
            return seg.byteSize() - pos;
        }

        /** Checks that {@code n} more bytes exist for {@code field}. */
        void need(long n, String field) throws ModelFormatException {
            if (n > remaining()) {
                throw error("truncated: " + field + " needs " + n + " bytes at offset " + pos + ", file has "
                        + seg.byteSize());
            }
        }

        int u8(String field) throws ModelFormatException {
            need(1, field);
            return seg.get(ValueLayout.JAVA_BYTE, pos++) & 0xFF;
        }

        int i16(String field) throws ModelFormatException {
            need(2, field);
            short v = seg.get(I16, pos);
            pos += 2;
            return v;
        }

        int i32(String field) throws ModelFormatException {
            need(4, field);
            int v = seg.get(I32, pos);
            pos += 4;
            return v;
        }

        long u32(String field) throws ModelFormatException {
            return i32(field) & 0xFFFFFFFFL;
        }

        long i64(String field) throws ModelFormatException {
            need(8, field);
            long v = seg.get(I64, pos);
            pos += 8;
            return v;
        }

        /** A uint64 count of items of at least {@code minBytes} each, checked against the remaining bytes. */
        long count(String field, long minBytes) throws ModelFormatException {
            long n = i64(field);
            if (n < 0 || n > MAX_COUNT || n > remaining() / minBytes) {
                throw error(field + " " + Long.toUnsignedString(n) + " is impossible: " + remaining()
                        + " bytes remain at offset " + pos + " (each needs at least " + minBytes + ")");
            }
            return n;
        }

        String string(String field) throws ModelFormatException {
            long start = pos;
            long len = i64(field + " length");
            if (len < 0 || len > remaining()) {
                throw error(field + ": string length " + Long.toUnsignedString(len) + " at offset " + start
                        + " runs past the end of the file (" + remaining() + " bytes remain)");
            }
            if (len > MAX_STRING_BYTES) {
                throw error(field + ": string length " + len + " at offset " + start + " exceeds the reader's limit "
                        + MAX_STRING_BYTES);
            }
            byte[] bytes = seg.asSlice(pos, len).toArray(ValueLayout.JAVA_BYTE);
            pos += len;
            return new String(bytes, StandardCharsets.UTF_8);
        }

        /** One metadata value of {@code type}; {@code depth} counts enclosing arrays. */
        Object value(int type, String key, int depth) throws ModelFormatException {
            String f = "value of \"" + key + "\"";
            return switch (type) {
                case UINT8 -> u8(f);
                case INT8 -> (int) (byte) u8(f);
                case UINT16 -> i16(f) & 0xFFFF;
                case INT16 -> i16(f);
                case UINT32 -> u32(f);
                case INT32 -> i32(f);
                case FLOAT32 -> {
                    need(4, f);
                    float v = seg.get(F32, pos);
                    pos += 4;
                    yield v;
                }
                case BOOL -> {
                    int b = u8(f);
                    if (b > 1) throw error(f + ": bool byte " + b + " at offset " + (pos - 1) + " is neither 0 nor 1");
                    yield b == 1;
                }
                case STRING -> string(f);
                case ARRAY -> array(key, depth);
                case UINT64, INT64 -> i64(f);
                case FLOAT64 -> {
                    need(8, f);
                    double v = seg.get(F64, pos);
                    pos += 8;
                    yield v;
                }
                default -> throw error("metadata \"" + key + "\" has unknown value type " + type + " at offset "
                        + (pos - 4));
            };
        }

        GgufArray array(String key, int depth) throws ModelFormatException {
            if (depth >= MAX_ARRAY_DEPTH) {
                throw error("metadata \"" + key + "\": arrays nested deeper than " + MAX_ARRAY_DEPTH);
            }
            long elemType = u32("element type of \"" + key + "\"");
            if (elemType > FLOAT64) {
                throw error("metadata \"" + key + "\": array of unknown value type " + elemType + " at offset "
                        + (pos - 4));
            }
            int et = (int) elemType;
            long n = i64("length of \"" + key + "\"");
            if (n < 0 || n > remaining() / MIN_BYTES[et]) {
                throw error("metadata \"" + key + "\": array length " + Long.toUnsignedString(n)
                        + " runs past the end of the file (" + remaining() + " bytes remain at offset " + pos + ")");
            }
            if (n > MAX_ARRAY_ELEMENTS) {
                throw error("metadata \"" + key + "\": array length " + n + " exceeds the reader's limit "
                        + MAX_ARRAY_ELEMENTS);
            }
            int len = (int) n;
            Object values = switch (et) {
                case UINT8, INT8, UINT16, INT16, INT32 -> {
                    int[] v = new int[len];
                    for (int i = 0; i < len; i++) v[i] = (Integer) value(et, key, depth + 1);
                    yield v;
                }
                case UINT32, UINT64, INT64 -> {
                    long[] v = new long[len];
                    for (int i = 0; i < len; i++) v[i] = (Long) value(et, key, depth + 1);
                    yield v;
                }
                case FLOAT32 -> {
                    float[] v = new float[len];
                    for (int i = 0; i < len; i++) v[i] = (Float) value(et, key, depth + 1);
                    yield v;
                }
                case FLOAT64 -> {
                    double[] v = new double[len];
                    for (int i = 0; i < len; i++) v[i] = (Double) value(et, key, depth + 1);
                    yield v;
                }
                case BOOL -> {
                    boolean[] v = new boolean[len];
                    for (int i = 0; i < len; i++) v[i] = (Boolean) value(et, key, depth + 1);
                    yield v;
                }
                case STRING -> {
                    String[] v = new String[len];
                    for (int i = 0; i < len; i++) v[i] = string("element " + i + " of \"" + key + "\"");
                    yield v;
                }
                default -> { // ARRAY
                    GgufArray[] v = new GgufArray[len];
                    for (int i = 0; i < len; i++) v[i] = array(key, depth + 1);
                    yield v;
                }
            };
            return new GgufArray(et, values);
        }

        TensorInfo tensorInfo(long index, int alignment) throws ModelFormatException {
            String name = string("name of tensor " + index);
            if (name.isEmpty() || name.getBytes(StandardCharsets.UTF_8).length > MAX_NAME_BYTES) {
                throw error("tensor " + index + ": name \"" + name + "\" is empty or longer than " + MAX_NAME_BYTES
                        + " bytes");
            }
            long nDims = u32("n_dims of tensor \"" + name + "\"");
            if (nDims < 1 || nDims > MAX_DIMS) {
                throw error("tensor \"" + name + "\": n_dims " + nDims + " is outside 1.." + MAX_DIMS);
            }
            long[] dims = new long[(int) nDims];
            long elements = 1;
            for (int d = 0; d < nDims; d++) {
                dims[d] = i64("ne[" + d + "] of tensor \"" + name + "\"");
                if (dims[d] <= 0) {
                    throw error("tensor \"" + name + "\": ne[" + d + "] = " + Long.toUnsignedString(dims[d])
                            + " is not a positive size");
                }
                try {
                    elements = Math.multiplyExact(elements, dims[d]);
                } catch (ArithmeticException e) {
                    throw error("tensor \"" + name + "\": shape " + Arrays.toString(dims)
                            + " overflows a 64-bit element count");
                }
            }
            long typeId = u32("type of tensor \"" + name + "\"");
            GgmlType type = GgmlType.ofId(typeId);
            if (type == null) {
                throw error("tensor \"" + name + "\" has ggml type " + GgmlType.describeId(typeId)
                        + ", which this reader does not support (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)");
            }
            if (dims[0] % type.blockSize != 0) {
                throw error("tensor \"" + name + "\": row length ne[0] = " + dims[0] + " is not a multiple of the "
                        + type + " block size " + type.blockSize);
            }
            long bytes;
            try {
                bytes = type.bytes(elements);
            } catch (ArithmeticException e) {
                throw error("tensor \"" + name + "\": shape " + Arrays.toString(dims) + " of " + type
                        + " overflows a 64-bit byte count");
            }
            long offset = i64("offset of tensor \"" + name + "\"");
            if (offset < 0 || offset % alignment != 0) {
                throw error("tensor \"" + name + "\": data offset " + Long.toUnsignedString(offset)
                        + " is not a multiple of the alignment " + alignment);
            }
            return new TensorInfo(name, type, dims, offset, bytes);
        }
    }
}
