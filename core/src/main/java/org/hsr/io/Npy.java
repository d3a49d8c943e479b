package org.hsr.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads and writes NumPy {@code .npy} files (format versions 1.0, 2.0 and 3.0), C order only (SPEC §6).
 *
 * <p>Accepted element types on read: {@code <f4}, {@code <f8} (narrowed to float32), and the integer types
 * {@code <i4}, {@code <i8} (as int64). Refused with {@link NpyFormatException}: Fortran order, big-endian data, object
 * or other dtypes, a bad magic string or header, and a file shorter than its header says. Writes produce {@code <f4}
 * for real arrays and {@code <i8} for integer arrays, through a temporary file renamed into place so a failure never
 * leaves a partial file.
 */
public final class Npy {

    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

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
            readFully(ch, pre, path, "the .npy preamble");
            pre.flip();
            byte[] magic = new byte[6];
            pre.get(magic);
            for (int i = 0; i < 6; i++) {
                if (magic[i] != MAGIC[i]) {
                    throw new NpyFormatException(path + ": not a .npy file (bad magic string)");
                }
            }
            int major = pre.get() & 0xff;
            int minor = pre.get() & 0xff;
            long headerLen;
            int preamble;
            if (major == 1) {
                headerLen = pre.getShort(8) & 0xffff;
                preamble = 10;
            } else if (major == 2 || major == 3) {
                headerLen = pre.getInt(8) & 0xffffffffL;
                preamble = 12;
            } else {
                throw new NpyFormatException(path + ": unsupported .npy format version " + major + "." + minor);
            }
            if (preamble + headerLen > fileSize) {
                throw new NpyFormatException(path + ": truncated .npy header (" + fileSize + " bytes, header needs "
                        + (preamble + headerLen) + ")");
            }
            ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
            ch.position(preamble);
            readFully(ch, hb, path, "the .npy header");
            String header = new String(hb.array(), major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
            Header h = parseHeader(header, path);
            long count = 1;
            for (int s : h.shape) {
                count = Math.multiplyExact(count, (long) s);
            }
            long need = count * h.itemSize;
            long available = fileSize - preamble - headerLen;
            if (available < need) {
                throw new NpyFormatException(path + ": truncated .npy data: shape " + NpyArray.shapeString(h.shape)
                        + " of " + h.descr + " needs " + need + " bytes, file has " + available);
            }
            if (count > Integer.MAX_VALUE - 16) {
                throw new NpyFormatException(path + ": array of " + count + " elements is too large");
            }
            ByteBuffer data = ByteBuffer.allocate((int) need).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, data, path, "the .npy data");
            data.flip();
            int n = (int) count;
            switch (h.descr) {
                case "<f4" -> {
                    float[] f = new float[n];
                    data.asFloatBuffer().get(f);
                    return NpyArray.ofFloats(f, h.shape);
                }
                case "<f8" -> {
                    float[] f = new float[n];
                    var db = data.asDoubleBuffer();
                    for (int i = 0; i < n; i++) {
                        f[i] = (float) db.get(i);
                    }
                    return NpyArray.ofFloats(f, h.shape);
                }
                case "<i4" -> {
                    long[] l = new long[n];
                    var ib = data.asIntBuffer();
                    for (int i = 0; i < n; i++) {
                        l[i] = ib.get(i);
                    }
                    return NpyArray.ofLongs(l, h.shape);
                }
                case "<i8" -> {
                    long[] l = new long[n];
                    data.asLongBuffer().get(l);
                    return NpyArray.ofLongs(l, h.shape);
                }
                default -> throw new AssertionError(h.descr);
            }
        }
    }

    private record Header(String descr, int itemSize, int[] shape) {}

    private static Header parseHeader(String header, Path path) throws NpyFormatException {
        Matcher d = DESCR.matcher(header);
        Matcher f = FORTRAN.matcher(header);
        Matcher s = SHAPE.matcher(header);
        if (!header.strip().startsWith("{") || !d.find() || !f.find() || !s.find()) {
            throw new NpyFormatException(path + ": corrupt .npy header: " + header.strip());
        }
        String descr = d.group(1);
        int itemSize = switch (descr) {
            case "<f4", "<i4" -> 4;
            case "<f8", "<i8" -> 8;
            default -> {
                String why = descr.startsWith(">") ? "big-endian data is not supported"
                        : descr.contains("O") ? "object arrays are not supported"
                        : "only <f4, <f8, <i4 and <i8 are supported";
                throw new NpyFormatException(path + ": dtype '" + descr + "': " + why);
            }
        };
        if (f.group(1).equals("True")) {
            throw new NpyFormatException(path + ": Fortran-order arrays are not supported (save with C order)");
        }
        List<Integer> dims = new ArrayList<>();
        for (String part : s.group(1).split(",")) {
            String p = part.strip();
            if (p.isEmpty()) continue;
            try {
                long v = Long.parseLong(p.endsWith("L") ? p.substring(0, p.length() - 1) : p);
                if (v < 0 || v > Integer.MAX_VALUE) throw new NumberFormatException();
                dims.add((int) v);
            } catch (NumberFormatException e) {
                throw new NpyFormatException(path + ": corrupt .npy shape (" + s.group(1) + ")");
            }
        }
        return new Header(descr, itemSize, dims.stream().mapToInt(Integer::intValue).toArray());
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
        long dataBytes = a.size() * (a.isReal() ? 4L : 8L);
        ByteBuffer buf = ByteBuffer.allocate(Math.toIntExact(padded + dataBytes)).order(ByteOrder.LITTLE_ENDIAN);
        buf.put(MAGIC).put((byte) (v2 ? 2 : 1)).put((byte) 0);
        if (v2) buf.putInt(header.length());
        else buf.putShort((short) header.length());
        buf.put(header.getBytes(StandardCharsets.ISO_8859_1));
        if (a.isReal()) {
            buf.asFloatBuffer().put(a.floats());
        } else {
            buf.asLongBuffer().put(a.longs());
        }
        writeAtomically(path, buf.array());
    }

    /**
     * Writes bytes to {@code path} through a temporary file in the same directory, renamed into place: readers never
     * see a partial file, and a failure leaves nothing behind.
     */
    public static void writeAtomically(Path path, byte[] bytes) throws IOException {
        Path abs = path.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new NoSuchFileException(String.valueOf(dir), null, "output directory does not exist");
        }
        Path tmp = Files.createTempFile(dir, "." + abs.getFileName() + ".", ".tmp");
        try {
            Files.write(tmp, bytes);
            try {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
