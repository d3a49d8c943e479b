package org.hsr.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads and writes NumPy {@code .npy} files (format versions 1.0, 2.0 and 3.0), C order only (SPEC §6).
 *
 * <p>Accepted element types on read: {@code <f4}, {@code <f8} (narrowed to float32), and the integer types
 * {@code <i4}, {@code <i8} (as int64). The header is parsed as NumPy parses it: a Python dict literal with exactly
 * the keys {@code descr}, {@code fortran_order} and {@code shape} (each once), {@code shape} a tuple of non-negative
 * ints. Refused with {@link NpyFormatException}: a bad magic string or header, a file shorter than its header says
 * (both checked before anything of the data's size is allocated), and, as {@linkplain NpyFormatException#unsupported
 * unsupported}, Fortran order, big-endian data, object or other dtypes. Files of any size are read in chunks, up to
 * what a Java array holds (2^31 − 1 elements) and what the heap has room for. Writes produce {@code <f4} for real
 * arrays and {@code <i8} for integer arrays, streamed through a temporary file renamed into place
 * ({@link OutputSet}), so a failure never leaves a partial file.
 */
public final class Npy {

    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    /** NumPy's own limit on the header it reads without {@code max_header_size} (numpy.lib.format, 1.24+). */
    static final int MAX_HEADER = 10000;
    /** Bytes moved per read or write call: large files never need a buffer of their own size. */
    static final int CHUNK = 1 << 22;

    private Npy() {}

    /** Reads a whole {@code .npy} file. */
    public static NpyArray read(Path path) throws IOException {
        if (!Files.exists(path)) {
            throw new NoSuchFileException(path.toString(), null, "no such file");
        }
        if (Files.isDirectory(path)) {
            throw new NpyFormatException(path + ": is a directory, not a .npy file");
        }
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long fileSize = ch.size();
            ByteBuffer pre = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
            pre.limit((int) Math.min(12, fileSize));
            readFully(ch, pre, path, "the .npy preamble");
            if (fileSize < 10) {
                throw new NpyFormatException(path + ": truncated file while reading the .npy preamble (" + fileSize
                        + " bytes)");
            }
            for (int i = 0; i < 6; i++) {
                if (pre.get(i) != MAGIC[i]) {
                    throw new NpyFormatException(path + ": not a .npy file (bad magic string)");
                }
            }
            int major = pre.get(6) & 0xff;
            int minor = pre.get(7) & 0xff;
            long headerLen;
            int preamble;
            if (major == 1 && minor == 0) {
                headerLen = pre.getShort(8) & 0xffff;
                preamble = 10;
            } else if ((major == 2 || major == 3) && minor == 0) {
                if (fileSize < 12) {
                    throw new NpyFormatException(path + ": truncated file while reading the .npy preamble");
                }
                headerLen = pre.getInt(8) & 0xffffffffL;
                preamble = 12;
            } else {
                throw new NpyFormatException(path + ": unsupported .npy format version " + major + "." + minor);
            }
            if (preamble + headerLen > fileSize) {
                throw new NpyFormatException(path + ": truncated .npy header (" + fileSize + " bytes, header needs "
                        + (preamble + headerLen) + ")");
            }
            if (headerLen > MAX_HEADER) {
                throw new NpyFormatException(path + ": .npy header of " + headerLen + " bytes, longer than NumPy's "
                        + "limit of " + MAX_HEADER);
            }
            ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
            ch.position(preamble);
            readFully(ch, hb, path, "the .npy header");
            String header = new String(hb.array(), major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
            Header h = parseHeader(header, major, path);
            long count = 1;
            for (int s : h.shape) {
                count = multiply(count, s, h, path);
            }
            long need = multiply(count, h.itemSize, h, path);
            long available = fileSize - preamble - headerLen;
            if (available < need) {
                throw new NpyFormatException(path + ": truncated .npy data: shape " + NpyArray.shapeString(h.shape)
                        + " of " + h.descr + " needs " + need + " bytes, file has " + available);
            }
            if (count > Integer.MAX_VALUE - 16) {
                throw new NpyFormatException(path + ": array of shape " + NpyArray.shapeString(h.shape) + " has "
                        + count + " elements, more than a Java array holds (2^31 - 17)", true);
            }
            int n = (int) count;
            boolean real = h.descr.charAt(1) == 'f';
            Object data = allocate(real, n, path, h);
            ByteBuffer buf = ByteBuffer.allocateDirect((int) Math.min(CHUNK, Math.max(need, 8)))
                    .order(ByteOrder.LITTLE_ENDIAN);
            int done = 0;
            while (done < n) {
                int items = Math.min(n - done, buf.capacity() / h.itemSize);
                buf.clear().limit(items * h.itemSize);
                readFully(ch, buf, path, "the .npy data");
                buf.flip();
                switch (h.descr) {
                    case "<f4" -> buf.asFloatBuffer().get((float[]) data, done, items);
                    case "<f8" -> {
                        float[] f = (float[]) data;
                        for (int i = 0; i < items; i++) f[done + i] = (float) buf.getDouble(i * 8);
                    }
                    case "<i4" -> {
                        long[] l = (long[]) data;
                        for (int i = 0; i < items; i++) l[done + i] = buf.getInt(i * 4);
                    }
                    case "<i8" -> buf.asLongBuffer().get((long[]) data, done, items);
                    default -> throw new AssertionError(h.descr);
                }
                done += items;
            }
            return real ? NpyArray.ofFloats((float[]) data, h.shape) : NpyArray.ofLongs((long[]) data, h.shape);
        }
    }

    private static long multiply(long a, long b, Header h, Path path) throws NpyFormatException {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException e) {
            throw new NpyFormatException(path + ": shape " + NpyArray.shapeString(h.shape) + " of " + h.descr
                    + " has more than 2^63 bytes");
        }
    }

    /** The array the data goes into; a heap too small for it is an error naming both sizes, not an OutOfMemoryError. */
    private static Object allocate(boolean real, int n, Path path, Header h) throws IOException {
        try {
            return real ? new float[n] : new long[n];
        } catch (OutOfMemoryError e) {
            long bytes = (long) n * (real ? 4 : 8);
            throw new IOException(path + ": array of shape " + NpyArray.shapeString(h.shape) + " needs " + mib(bytes)
                    + " of memory, more than the Java heap has free (max heap " + mib(Runtime.getRuntime().maxMemory())
                    + "; raise it with HSR_JAVA_OPTS=-Xmx...)");
        }
    }

    private static String mib(long bytes) {
        return String.format(java.util.Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }

    private record Header(String descr, int itemSize, int[] shape) {}

    private static Header parseHeader(String header, int major, Path path) throws NpyFormatException {
        Map<String, Object> dict = new HeaderParser(header, major, path).parse();
        for (String key : List.of("descr", "fortran_order", "shape")) {
            if (!dict.containsKey(key)) {
                throw new NpyFormatException(path + ": corrupt .npy header: no '" + key + "' key in "
                        + quote(header));
            }
        }
        if (!(dict.get("descr") instanceof String descr)) {
            throw new NpyFormatException(path + ": .npy dtype " + quote(String.valueOf(dict.get("descr")))
                    + ": structured dtypes are not supported", true);
        }
        if (!(dict.get("fortran_order") instanceof Boolean fortran)) {
            throw new NpyFormatException(path + ": corrupt .npy header: 'fortran_order' is not True or False");
        }
        if (!(dict.get("shape") instanceof int[] shape)) {
            throw new NpyFormatException(path + ": corrupt .npy shape: not a tuple of ints in " + quote(header));
        }
        int itemSize = switch (descr) {
            case "<f4", "<i4" -> 4;
            case "<f8", "<i8" -> 8;
            default -> {
                String why = descr.startsWith(">") ? "big-endian data is not supported"
                        : descr.contains("O") ? "object arrays are not supported"
                        : "only <f4, <f8, <i4 and <i8 are supported";
                throw new NpyFormatException(path + ": dtype " + quote(descr) + ": " + why, true);
            }
        };
        if (fortran) {
            throw new NpyFormatException(path + ": Fortran-order arrays are not supported (save with C order)", true);
        }
        return new Header(descr, itemSize, shape);
    }

    /**
     * {@code s} quoted for an error message: at most 60 characters, anything outside printable ASCII escaped, so a
     * corrupt header cannot put terminal escapes or a megabyte line on the user's screen.
     */
    static String quote(String s) {
        StringBuilder b = new StringBuilder("'");
        int shown = Math.min(s.length(), 60);
        for (int i = 0; i < shown; i++) {
            char c = s.charAt(i);
            if (c >= 0x20 && c < 0x7f && c != '\\') b.append(c);
            else if (c == '\\') b.append("\\\\");
            else b.append(c < 0x100 ? String.format("\\x%02x", (int) c) : String.format("\\u%04x", (int) c));
        }
        b.append('\'');
        if (shown < s.length()) b.append("... (").append(s.length()).append(" characters)");
        return b.toString();
    }

    /**
     * The dict literal NumPy writes, parsed as {@code ast.literal_eval} would, restricted to what a {@code .npy}
     * header may hold: string keys, each once; values a string, {@code True}/{@code False}, or a tuple of ints.
     */
    private static final class HeaderParser {
        private final String s;
        private final int major;
        private final Path path;
        private int pos;

        HeaderParser(String s, int major, Path path) {
            this.s = s;
            this.major = major;
            this.path = path;
        }

        Map<String, Object> parse() throws NpyFormatException {
            Map<String, Object> dict = new HashMap<>();
            skipSpace();
            expect('{');
            skipSpace();
            while (peek() != '}') {
                String key = string();
                skipSpace();
                expect(':');
                skipSpace();
                Object value = value();
                if (!List.of("descr", "fortran_order", "shape").contains(key)) {
                    throw fail("unexpected key " + quote(key));
                }
                if (dict.put(key, value) != null) {
                    throw fail("duplicate key " + quote(key));
                }
                skipSpace();
                if (peek() == ',') {
                    pos++;
                    skipSpace();
                } else if (peek() != '}') {
                    throw fail("expected ',' or '}'");
                }
            }
            pos++;
            skipSpace();
            if (pos != s.length()) throw fail("text after the closing '}'");
            return dict;
        }

        private Object value() throws NpyFormatException {
            char c = peek();
            if (c == '\'' || c == '"') return string();
            if (c == '(') return tuple();
            if (s.startsWith("True", pos)) {
                pos += 4;
                return Boolean.TRUE;
            }
            if (s.startsWith("False", pos)) {
                pos += 5;
                return Boolean.FALSE;
            }
            if (c == '[') {
                int end = s.indexOf(']', pos);
                String list = s.substring(pos, end < 0 ? s.length() : end + 1);
                pos = end < 0 ? s.length() : end + 1;
                return list; // a structured dtype's field list (a string here only to be named in the refusal)
            }
            throw fail("unexpected value");
        }

        private int[] tuple() throws NpyFormatException {
            expect('(');
            List<Integer> dims = new ArrayList<>();
            boolean comma = false;
            skipSpace();
            while (peek() != ')') {
                dims.add(integer());
                skipSpace();
                comma = peek() == ',';
                if (comma) {
                    pos++;
                    skipSpace();
                } else if (peek() != ')') {
                    throw fail("expected ',' or ')' in the shape");
                }
            }
            pos++;
            if (dims.size() == 1 && !comma) throw fail("shape (n) is an int, not a tuple: write (n,)");
            return dims.stream().mapToInt(Integer::intValue).toArray();
        }

        private int integer() throws NpyFormatException {
            int start = pos;
            while (pos < s.length() && s.charAt(pos) >= '0' && s.charAt(pos) <= '9') pos++;
            String digits = s.substring(start, pos);
            if (digits.isEmpty()) throw fail("a shape entry is not a non-negative int");
            if (major < 3 && pos < s.length() && s.charAt(pos) == 'L') pos++; // Python 2's long suffix (NumPy strips it)
            if (digits.length() > 1 && digits.charAt(0) == '0') throw fail("shape entry " + digits + " has a leading zero");
            if (digits.length() > 10 || Long.parseLong(digits) > Integer.MAX_VALUE) {
                throw fail("shape entry " + (digits.length() > 20 ? digits.substring(0, 20) + "..." : digits)
                        + " exceeds 2^31 - 1");
            }
            return Integer.parseInt(digits);
        }

        private String string() throws NpyFormatException {
            char q = peek();
            if (q != '\'' && q != '"') throw fail("expected a quoted key");
            int end = s.indexOf(q, pos + 1);
            if (end < 0) throw fail("unterminated string");
            String v = s.substring(pos + 1, end);
            if (v.indexOf('\\') >= 0 || v.indexOf('\n') >= 0) throw fail("escape or line break in a string");
            pos = end + 1;
            return v;
        }

        private void skipSpace() {
            while (pos < s.length() && (s.charAt(pos) == ' ' || s.charAt(pos) == '\t' || s.charAt(pos) == '\n'
                    || s.charAt(pos) == '\r')) {
                pos++;
            }
        }

        private char peek() throws NpyFormatException {
            if (pos >= s.length()) throw fail("header ends early");
            return s.charAt(pos);
        }

        private void expect(char c) throws NpyFormatException {
            if (peek() != c) throw fail("expected '" + c + "'");
            pos++;
        }

        private NpyFormatException fail(String why) {
            int from = Math.max(0, pos - 20);
            return new NpyFormatException(path + ": corrupt .npy header: " + why + " at character " + pos + " (near "
                    + quote(s.substring(from, Math.min(s.length(), pos + 20))) + ")");
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, Path path, String what) throws IOException {
        while (buf.hasRemaining()) {
            if (ch.read(buf) < 0) {
                throw new NpyFormatException(path + ": truncated file while reading " + what);
            }
        }
    }

    /** Writes {@code a} as {@code <f4} (real) or {@code <i8} (integer), atomically (temporary file, then rename). */
    public static void write(Path path, NpyArray a) throws IOException {
        try (OutputSet set = new OutputSet()) {
            set.add(path, ch -> write(ch, a)).commit();
        }
    }

    /** Streams {@code a} as a {@code .npy} file ({@code <f4} or {@code <i8}, format 1.0 or 2.0) to {@code ch}. */
    public static void write(WritableByteChannel ch, NpyArray a) throws IOException {
        String descr = a.isReal() ? "<f4" : "<i8";
        String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + a.shapeString() + ", }";
        // Pad so that the data starts at a multiple of 64 bytes, ending the header with '\n' (NumPy's rule).
        int preamble = 10;
        int total = preamble + dict.length() + 1;
        int padded = (total + 63) / 64 * 64;
        boolean v2 = padded - preamble > 65535;
        if (v2) {
            preamble = 12;
            total = preamble + dict.length() + 1;
            padded = (total + 63) / 64 * 64;
        }
        String header = dict + " ".repeat(padded - total) + "\n";
        ByteBuffer head = ByteBuffer.allocate(padded).order(ByteOrder.LITTLE_ENDIAN);
        head.put(MAGIC).put((byte) (v2 ? 2 : 1)).put((byte) 0);
        if (v2) head.putInt(header.length());
        else head.putShort((short) header.length());
        head.put(header.getBytes(StandardCharsets.ISO_8859_1)).flip();
        writeFully(ch, head);
        int item = a.isReal() ? 4 : 8;
        int n = (int) a.size();
        ByteBuffer buf = ByteBuffer.allocateDirect((int) Math.min(CHUNK, Math.max(8, (long) n * item)))
                .order(ByteOrder.LITTLE_ENDIAN);
        for (int done = 0; done < n; ) {
            int items = Math.min(n - done, buf.capacity() / item);
            buf.clear();
            if (a.isReal()) buf.asFloatBuffer().put(a.floats(), done, items);
            else buf.asLongBuffer().put(a.longs(), done, items);
            buf.limit(items * item);
            writeFully(ch, buf);
            done += items;
        }
    }

    private static void writeFully(WritableByteChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) ch.write(buf);
    }
}
