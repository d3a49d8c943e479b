package org.hsr.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code .npy} round trips in every accepted dtype and version, and refusals of malformed files. */
class NpyTest {

    @TempDir
    Path dir;

    /** Builds a .npy file by hand (independent of {@link Npy#write}), as NumPy lays it out. */
    static byte[] npy(int major, String descr, boolean fortran, String shape, byte[] data) {
        String dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': "
                + shape + ", }";
        int pre = major == 1 ? 10 : 12;
        int total = pre + dict.length() + 1;
        int padded = (total + 63) / 64 * 64;
        String header = dict + " ".repeat(padded - total) + "\n";
        ByteBuffer b = ByteBuffer.allocate(padded + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', (byte) major, 0});
        if (major == 1) b.putShort((short) header.length());
        else b.putInt(header.length());
        b.put(header.getBytes(StandardCharsets.UTF_8)).put(data);
        return b.array();
    }

    static byte[] le(double[] x, int itemSize, boolean integer) {
        ByteBuffer b = ByteBuffer.allocate(x.length * itemSize).order(ByteOrder.LITTLE_ENDIAN);
        for (double v : x) {
            if (integer && itemSize == 4) b.putInt((int) v);
            else if (integer) b.putLong((long) v);
            else if (itemSize == 4) b.putFloat((float) v);
            else b.putDouble(v);
        }
        return b.array();
    }

    Path file(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    @Test
    void readsEveryAcceptedDtypeAndVersion() throws IOException {
        double[] vals = {1.5, -2.25, 3, 0, 7, -8};
        for (int major = 1; major <= 3; major++) {
            NpyArray f4 = Npy.read(file("f4.npy", npy(major, "<f4", false, "(2, 3)", le(vals, 4, false))));
            assertArrayEquals(new int[] {2, 3}, f4.shape());
            assertArrayEquals(new float[] {1.5f, -2.25f, 3, 0, 7, -8}, f4.floats());
            NpyArray f8 = Npy.read(file("f8.npy", npy(major, "<f8", false, "(3, 2)", le(vals, 8, false))));
            assertArrayEquals(new int[] {3, 2}, f8.shape());
            assertArrayEquals(f4.floats(), f8.floats());
            NpyArray i4 = Npy.read(file("i4.npy", npy(major, "<i4", false, "(6,)", le(vals, 4, true))));
            assertArrayEquals(new long[] {1, -2, 3, 0, 7, -8}, i4.longs());
            NpyArray i8 = Npy.read(file("i8.npy", npy(major, "<i8", false, "(6,)", le(vals, 8, true))));
            assertArrayEquals(i4.longs(), i8.longs());
        }
    }

    @Test
    void roundTripsFloatsAndLongs() throws IOException {
        float[] f = new float[3 * 5 * 7];
        for (int i = 0; i < f.length; i++) f[i] = (float) Math.sin(i) * 1e3f;
        NpyArray a = NpyArray.ofFloats(f, 3, 5, 7);
        Path p = dir.resolve("a.npy");
        Npy.write(p, a);
        assertEquals(a, Npy.read(p));
        NpyArray l = NpyArray.ofLongs(new long[] {0, Long.MAX_VALUE, -1, 42}, 4);
        Npy.write(p, l);
        assertEquals(l, Npy.read(p));
        NpyArray empty = NpyArray.ofFloats(new float[0], 0, 16);
        Npy.write(p, empty);
        assertEquals(empty, Npy.read(p));
        NpyArray scalarShape = NpyArray.ofLongs(new long[] {5});
        Npy.write(p, scalarShape);
        assertEquals(scalarShape, Npy.read(p));
        // the header NumPy needs: data aligned to 64 bytes, header ends with newline
        byte[] bytes = Files.readAllBytes(p);
        int hl = (bytes[8] & 0xff) | (bytes[9] & 0xff) << 8;
        assertEquals(0, (10 + hl) % 64);
        assertEquals('\n', bytes[10 + hl - 1]);
        assertEquals(1, bytes[6]);
        try (var files = Files.list(dir)) {
            assertTrue(files.noneMatch(x -> x.getFileName().toString().endsWith(".tmp")), "no temporary file left");
        }
    }

    @Test
    void refusesMalformedFiles() throws IOException {
        byte[] good = npy(1, "<f4", false, "(2, 3)", le(new double[6], 4, false));
        expectRefusal(file("t1.npy", Arrays.copyOf(good, good.length - 3)), "truncated");
        expectRefusal(file("t2.npy", Arrays.copyOf(good, 30)), "truncated");
        expectRefusal(file("t3.npy", Arrays.copyOf(good, 5)), "truncated");
        byte[] magic = good.clone();
        magic[1] = 'X';
        expectRefusal(file("m.npy", magic), "magic");
        expectRefusal(file("f.npy", npy(1, "<f4", true, "(2, 3)", le(new double[6], 4, false))), "Fortran");
        expectRefusal(file("be.npy", npy(1, ">f4", false, "(2, 3)", le(new double[6], 4, false))), "big-endian");
        expectRefusal(file("o.npy", npy(1, "|O", false, "(2,)", new byte[16])), "object");
        expectRefusal(file("c.npy", npy(1, "<c8", false, "(2,)", new byte[16])), "dtype");
        expectRefusal(file("v.npy", npy(4, "<f4", false, "(2,)", new byte[8])), "version");
        expectRefusal(file("h.npy", npy(1, "<f4", false, "(2, x)", new byte[8])), "shape");
        byte[] garbage = good.clone();
        for (int i = 10; i < 40; i++) garbage[i] = '?';
        expectRefusal(file("g.npy", garbage), "header");
        assertThrows(NoSuchFileException.class, () -> Npy.read(dir.resolve("missing.npy")));
    }

    private static void expectRefusal(Path p, String word) {
        var e = assertThrows(NpyFormatException.class, () -> Npy.read(p));
        assertTrue(e.getMessage().contains(word), "'" + e.getMessage() + "' should mention " + word);
        assertTrue(e.getMessage().contains(p.getFileName().toString()), "names the file: " + e.getMessage());
    }

    @Test
    void unwritableOutputLeavesNothing() throws IOException {
        Path missingDir = dir.resolve("no/such/dir/out.npy");
        assertThrows(IOException.class, () -> Npy.write(missingDir, NpyArray.ofFloats(new float[1], 1)));
        assertTrue(Files.notExists(missingDir));
    }
}
