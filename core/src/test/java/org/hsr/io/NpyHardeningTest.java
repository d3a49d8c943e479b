package org.hsr.io;

import static org.hsr.io.NpyTest.le;
import static org.hsr.io.NpyTest.npy;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code .npy} reader against hostile files: NumPy's header rules, error messages that cannot carry terminal
 * escapes, shapes whose size overflows, files larger than 2 GiB, and a fuzz of byte flips and truncations.
 */
class NpyHardeningTest {

    @TempDir
    Path dir;

    private Path file(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    /** A .npy file with the header dict given verbatim (padded as NumPy pads it). */
    private static byte[] raw(String dict, byte[] data) {
        int total = 10 + dict.length() + 1;
        int padded = (total + 63) / 64 * 64;
        String header = dict + " ".repeat(padded - total) + "\n";
        byte[] h = header.getBytes(StandardCharsets.ISO_8859_1);
        ByteBuffer b = ByteBuffer.allocate(10 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) h.length).put(h).put(data);
        return b.array();
    }

    private NpyFormatException refused(String dict, byte[] data) throws IOException {
        Path p = file("h.npy", raw(dict, data));
        return assertThrows(NpyFormatException.class, () -> Npy.read(p), dict);
    }

    @Test
    void headersNumpyRejectsAreRefused() throws IOException {
        byte[] d8 = new byte[8];
        String[] bad = {
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'descr': '<f8', }", // duplicate key
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1, }", // a key NumPy does not know
            "{'descr': '<f4', 'fortran_order': False, }", // missing shape
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", // (2) is an int, not a tuple
            "{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", // a list
            "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", // not a bool
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } trailing",
            "{'descr': '<f4' 'fortran_order': False, 'shape': (2,), }",
            "['descr', '<f4']",
        };
        for (String h : bad) refused(h, d8);
        // accepted: NumPy's own layout, no trailing comma, double quotes, Python 2's long suffix
        for (String h : new String[] {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
                "{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"<f4\"}",
                "{'descr':'<f4','fortran_order':False,'shape':(2L,)}"}) {
            assertArrayEquals(new int[] {2}, Npy.read(file("ok.npy", raw(h, d8))).shape(), h);
        }
    }

    @Test
    void errorMessagesEscapeAndLimitTheHeader() throws IOException {
        String evil = "{'descr': '\u001b[31m" + "x".repeat(9000) + "', 'fortran_order': False, 'shape': (2,), }";
        NpyFormatException e = refused(evil, new byte[8]);
        assertTrue(e.unsupported(), "a dtype we do not read is unsupported, not corrupt");
        assertFalse(e.getMessage().chars().anyMatch(c -> c < 0x20 || c >= 0x7f), "no control characters: " + e.getMessage());
        assertTrue(e.getMessage().length() < 400, "short message: " + e.getMessage().length() + " characters");
        assertTrue(e.getMessage().contains("\\x1b"), e.getMessage());
        NpyFormatException g = refused("{'descr': '<f4', \u001b]0;pwned\u0007 }", new byte[8]);
        assertFalse(g.getMessage().chars().anyMatch(c -> c < 0x20 || c >= 0x7f), g.getMessage());
        assertFalse(g.unsupported());
    }

    @Test
    void shapeWhoseSizeOverflowsIsACleanRefusal() throws IOException {
        NpyFormatException e = refused("{'descr': '<f8', 'fortran_order': False, 'shape': (2147483647, 2147483647, "
                + "2147483647), }", new byte[8]);
        assertTrue(e.getMessage().contains("2^63"), e.getMessage());
    }

    @Test
    void readsInChunksAcrossBufferBoundaries() throws IOException {
        // more elements than one chunk holds, in both item sizes
        int n = Npy.CHUNK / 4 + 12345;
        double[] x = new double[n];
        for (int i = 0; i < n; i++) x[i] = i * 0.5 - 7;
        NpyArray f8 = Npy.read(file("f8.npy", npy(1, "<f8", false, "(" + n + ",)", le(x, 8, false))));
        NpyArray i4 = Npy.read(file("i4.npy", npy(1, "<i4", false, "(" + n + ",)", le(x, 4, true))));
        for (int i = 0; i < n; i += 997) {
            assertEquals((float) x[i], f8.floats()[i]);
            assertEquals((long) x[i], i4.longs()[i]);
        }
        assertEquals((float) x[n - 1], f8.floats()[n - 1]);
        float[] big = new float[n];
        for (int i = 0; i < n; i++) big[i] = (float) Math.sin(i);
        Npy.write(dir.resolve("w.npy"), NpyArray.ofFloats(big, n));
        assertArrayEquals(big, Npy.read(dir.resolve("w.npy")).floats());
    }

    /** A sparse file of more than 2 GiB (the data is mostly holes): read whole, the values past 2 GiB in place. */
    @Test
    void readsAFileLargerThan2GiB() throws IOException {
        int n = (1 << 29) + 64; // 2^31 + 256 bytes of <f4
        byte[] head = npy(1, "<f4", false, "(" + n + ",)", new byte[0]);
        Path p = dir.resolve("big.npy");
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.write(head);
            f.setLength(head.length + 4L * n);
            int[] at = {0, 1 << 28, (1 << 29) + 1, n - 1};
            for (int i : at) {
                f.seek(head.length + 4L * i);
                f.writeInt(Integer.reverseBytes(Float.floatToIntBits(i + 0.25f)));
            }
            NpyArray a = Npy.read(p);
            assertEquals(n, a.floats().length);
            for (int i : at) assertEquals(i + 0.25f, a.floats()[i], "element " + i);
            assertEquals(0f, a.floats()[n - 2]);
        } finally {
            Files.deleteIfExists(p);
        }
    }

    /**
     * Random byte flips and truncations of valid files, every version and dtype: each case is either a clean
     * NpyFormatException or a read whose shape matches its data, never another exception.
     */
    @Test
    void fuzzedFilesAreReadOrRefusedCleanly() throws IOException {
        SplittableRandom r = new SplittableRandom(14);
        byte[][] seeds = new byte[12][];
        String[] descrs = {"<f4", "<f8", "<i4", "<i8"};
        for (int major = 1; major <= 3; major++) {
            for (int t = 0; t < descrs.length; t++) {
                int size = descrs[t].endsWith("4") ? 4 : 8;
                seeds[(major - 1) * 4 + t] = npy(major, descrs[t], false, "(3, 5)",
                        le(new double[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, size, descrs[t].contains("i")));
            }
        }
        Path p = dir.resolve("fuzz.npy");
        int read = 0, refusedCount = 0;
        for (int c = 0; c < 4000; c++) {
            byte[] b = seeds[r.nextInt(seeds.length)].clone();
            int kind = r.nextInt(4);
            if (kind == 0) {
                b = Arrays.copyOf(b, r.nextInt(b.length));
            } else {
                int flips = 1 + r.nextInt(4);
                for (int f = 0; f < flips; f++) {
                    // mostly in the preamble and header, where the parser is
                    int at = r.nextInt(kind == 3 ? b.length : Math.min(b.length, 128));
                    b[at] = kind == 2 ? (byte) r.nextInt(256) : (byte) (b[at] ^ (1 << r.nextInt(8)));
                }
            }
            Files.write(p, b);
            try {
                NpyArray a = Npy.read(p);
                long size = 1;
                for (int s : a.shape()) size *= s;
                assertEquals(size, a.size(), "case " + c);
                read++;
            } catch (NpyFormatException e) {
                refusedCount++;
                assertFalse(e.getMessage().chars().anyMatch(ch -> ch < 0x20 || ch >= 0x7f), "case " + c + ": " + e.getMessage());
            } catch (Throwable t) {
                fail("case " + c + ": " + t + " for " + Arrays.toString(Arrays.copyOf(b, Math.min(b.length, 128))), t);
            }
        }
        assertTrue(read > 100 && refusedCount > 100, "both outcomes exercised: " + read + " read, " + refusedCount + " refused");
    }
}
