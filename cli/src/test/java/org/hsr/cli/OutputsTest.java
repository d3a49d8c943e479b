package org.hsr.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.hsr.io.Npy;
import org.hsr.io.NpyArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CLI's outputs under failures (issue 14, items 3-5 and 9): a failed run leaves the previous outputs as they
 * were, special files are written in place, an output that is an input or another output is refused, outputs follow
 * the umask, and the small refusals (a dense --select, dtypes, shape overflow, names near NAME_MAX, empty prefixes).
 */
class OutputsTest {

    @TempDir
    Path tmp;

    private Path npy(String name, float[] data, int... shape) throws IOException {
        return TestArrays.npy(tmp, name, data, shape);
    }

    private static float[] gaussian(SplittableRandom r, int len) {
        return TestArrays.gaussian(r, len);
    }

    /** Queries (2 x 8), keys (30 x 8) and values (30 x 4) for attend. */
    private Path[] qkv(long seed) throws IOException {
        SplittableRandom r = new SplittableRandom(seed);
        return new Path[] {npy("q.npy", gaussian(r, 2 * 8), 2, 8), npy("k.npy", gaussian(r, 30 * 8), 30, 8),
                npy("v.npy", gaussian(r, 30 * 4), 30, 4)};
    }

    /** Every file of the directory with its bytes. */
    private Map<String, byte[]> snapshot() throws IOException {
        Map<String, byte[]> m = new TreeMap<>();
        try (var files = Files.list(tmp)) {
            for (Path p : files.toList()) m.put(p.getFileName().toString(), Files.isRegularFile(p) ? Files.readAllBytes(p) : null);
        }
        return m;
    }

    private void assertUnchanged(Map<String, byte[]> before) throws IOException {
        Map<String, byte[]> after = snapshot();
        assertEquals(before.keySet(), after.keySet());
        for (var e : before.entrySet()) assertArrayEquals(e.getValue(), after.get(e.getKey()), e.getKey());
    }

    private static void assertError(int code, CliRun r, String mention) {
        assertEquals(code, r.code(), r.err());
        assertTrue(r.err().startsWith("hsr: error: "), r.err());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
        assertTrue(r.err().contains(mention), "'" + r.err().strip() + "' should mention " + mention);
    }

    private String[] search(Path k, Path q, String out, String... more) {
        List<String> a = new java.util.ArrayList<>(List.of("search", "--keys", k.toString(), "--queries", q.toString(),
                "--threshold", "0.5", "--out", out));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    /** Item 3: a directory where r.scores.npy goes: refused before anything is touched (it deleted lims and ids). */
    @Test
    void aFailedSearchKeepsThePreviousSet() throws Exception {
        SplittableRandom r = new SplittableRandom(3);
        Path k = npy("k.npy", gaussian(r, 200 * 8), 200, 8), q = npy("q.npy", gaussian(r, 4 * 8), 4, 8);
        String out = tmp.resolve("r").toString();
        assertEquals(0, CliRun.run(search(k, q, out)).code());
        Files.delete(tmp.resolve("r.scores.npy"));
        Files.createDirectory(tmp.resolve("r.scores.npy"));
        Map<String, byte[]> before = snapshot();
        assertError(2, CliRun.run(search(k, q, out)), "r.scores.npy");
        assertUnchanged(before);
    }

    /** Item 5: an output that is an input, or two outputs that are one file, are refused (exit 2). */
    @Test
    void outputsThatAreInputsOrEachOtherAreRefused() throws Exception {
        Path[] in = qkv(4);
        Path q = in[0], k = in[1], v = in[2];
        Files.createLink(tmp.resolve("k-link.npy"), k);
        Files.createSymbolicLink(tmp.resolve("v-sym.npy"), v);
        Map<String, byte[]> before = snapshot();
        String[] base = {"attend", "--q", q.toString(), "--k", k.toString(), "--v", v.toString()};
        for (String[] bad : new String[][] {
                {"--out", k.toString()},
                {"--out", tmp + "/./q.npy"},
                {"--out", tmp.resolve("k-link.npy").toString()},
                {"--out", tmp.resolve("v-sym.npy").toString()},
                {"--out", tmp.resolve("o.npy").toString(), "--stats", tmp.resolve("o.npy").toString()},
                {"--out", tmp.resolve("o.npy").toString(), "--stats", q.toString()}}) {
            String[] args = java.util.stream.Stream.concat(java.util.Arrays.stream(base), java.util.Arrays.stream(bad))
                    .toArray(String[]::new);
            assertError(2, CliRun.run(args), "same file");
            assertUnchanged(before);
        }
        assertError(2, CliRun.run(search(k, q, tmp.resolve("r").toString(), "--stats",
                tmp.resolve("r.ids.npy").toString())), "same file");
        assertUnchanged(before);
    }

    /** Item 4: a device or FIFO output is written in place, never renamed over. */
    @Test
    void specialFilesAreWrittenInPlace() throws Exception {
        Path[] in = qkv(5);
        Path q = in[0], k = in[1], v = in[2];
        Path devNull = nullDevice(tmp);
        Path fifo = tmp.resolve("out.fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        var reader = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return Files.readAllBytes(fifo);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        CliRun run = CliRun.run("attend", "--q", q.toString(), "--k", k.toString(), "--v", v.toString(), "--out",
                fifo.toString(), "--stats", devNull.toString());
        assertEquals(0, run.code(), run.err());
        byte[] got = drain(reader, fifo);
        Path copy = tmp.resolve("copy.npy");
        Files.write(copy, got);
        assertArrayEquals(new int[] {2, 4}, Npy.read(copy).shape());
        assertTrue(Files.exists(fifo) && !Files.isRegularFile(fifo) && !Files.isDirectory(fifo), "still a FIFO");
        assertTrue(Files.exists(devNull) && !Files.isRegularFile(devNull), devNull + " is still a device");
        // a link to a pipe (what /dev/stdout is under a shell pipeline) has no real path: written through the link
        Path pipeLink = tmp.resolve("stdout-link");
        Process cat = new ProcessBuilder("cat").start();
        Files.createSymbolicLink(pipeLink, Path.of("/proc/" + cat.pid() + "/fd/0"));
        run = CliRun.run("attend", "--q", q.toString(), "--k", k.toString(), "--v", v.toString(), "--out",
                tmp.resolve("o2.npy").toString(), "--stats", pipeLink.toString());
        assertEquals(0, run.code(), run.err());
        cat.getOutputStream().close();
        assertTrue(new String(cat.getInputStream().readAllBytes(), StandardCharsets.UTF_8).contains("\"rows\""));
        assertTrue(Files.isSymbolicLink(pipeLink), "the link is kept");
    }

    /** Item 9: outputs are created 0666 &amp; ~umask (they were 0600), and a name near NAME_MAX works. */
    @Test
    void outputsFollowTheUmaskAndLongNamesWork() throws Exception {
        Path[] in = qkv(6);
        Path q = in[0], k = in[1], v = in[2];
        Set<PosixFilePermission> expected = Files.getPosixFilePermissions(Files.createFile(tmp.resolve("plain")));
        Path out = tmp.resolve("o".repeat(250) + ".npy"); // 254 bytes: the old temporary's name was longer than 255
        Path stats = tmp.resolve("s.json");
        CliRun run = CliRun.run("attend", "--q", q.toString(), "--k", k.toString(), "--v", v.toString(), "--out",
                out.toString(), "--stats", stats.toString());
        assertEquals(0, run.code(), run.err());
        assertEquals(expected, Files.getPosixFilePermissions(out));
        assertEquals(expected, Files.getPosixFilePermissions(stats));
        assertError(2, CliRun.run("attend", "--q", q.toString(), "--k", k.toString(), "--v", v.toString(), "--out",
                tmp.resolve("o".repeat(256)).toString()), "255");
        try (var files = Files.list(tmp)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().startsWith(".")), "no hidden leftovers");
        }
    }

    /** Item 9: {@code --out ''} and {@code --out dir/} named hidden files ({@code .lims.npy}); now refused. */
    @Test
    void searchPrefixMustNameAFile() throws Exception {
        SplittableRandom r = new SplittableRandom(7);
        Path k = npy("k.npy", gaussian(r, 50 * 8), 50, 8), q = npy("q.npy", gaussian(r, 2 * 8), 2, 8);
        Files.createDirectory(tmp.resolve("dir"));
        Map<String, byte[]> before = snapshot();
        assertError(2, CliRun.run(search(k, q, tmp.resolve("dir") + "/")), "prefix");
        assertError(2, CliRun.run(search(k, q, "")), "prefix");
        assertUnchanged(before);
        try (var files = Files.list(tmp.resolve("dir"))) {
            assertEquals(0, files.count());
        }
        assertFalse(Files.exists(Path.of(".lims.npy")));
    }

    /** Item 9: {@code --select} is checked in dense mode too, and every unsupported dtype exits 2 like an integer one. */
    @Test
    void selectionAndDtypesAreUsageErrors() throws Exception {
        Path[] in = qkv(8);
        Path q = in[0], k = in[1], v = in[2];
        String o = tmp.resolve("o.npy").toString();
        assertError(2, CliRun.run("attend", "--q", q.toString(), "--k", k.toString(), "--v", v.toString(), "--out", o,
                "--mode", "dense", "--select", "epsilon:-1"), "epsilon");
        assertFalse(Files.exists(Path.of(o)));
        for (String descr : new String[] {"<f2", ">f4", "<u1"}) {
            Path p = tmp.resolve("odd.npy");
            Files.write(p, raw("{'descr': '" + descr + "', 'fortran_order': False, 'shape': (30, 8), }", new byte[30 * 8 * 4]));
            assertError(2, CliRun.run("attend", "--q", q.toString(), "--k", p.toString(), "--v", v.toString(), "--out", o),
                    descr);
        }
        Files.write(tmp.resolve("i8.npy"), raw("{'descr': '<i8', 'fortran_order': False, 'shape': (30, 8), }", new byte[30 * 8 * 8]));
        assertError(2, CliRun.run("attend", "--q", q.toString(), "--k", tmp.resolve("i8.npy").toString(), "--v",
                v.toString(), "--out", o), "integer");
    }

    /** Item 9: a shape whose size overflows a long was "internal error: long overflow"; a header cannot escape. */
    @Test
    void hostileHeadersGiveOneCleanLine() throws Exception {
        Path[] in = qkv(9);
        Path q = in[0], v = in[2];
        String o = tmp.resolve("o.npy").toString();
        Path huge = tmp.resolve("huge.npy");
        Files.write(huge, raw("{'descr': '<f4', 'fortran_order': False, 'shape': (2147483647, 2147483647, 2147483647), }",
                new byte[64]));
        CliRun run = CliRun.run("attend", "--q", q.toString(), "--k", huge.toString(), "--v", v.toString(), "--out", o);
        assertError(1, run, "2^63");
        assertFalse(run.err().contains("internal error"), run.err());
        Path evil = tmp.resolve("evil.npy");
        Files.write(evil, raw("{'descr': '<f4', \u001b[2J\u001b]0;owned\u0007" + "A".repeat(5000) + "}", new byte[64]));
        run = CliRun.run("attend", "--q", q.toString(), "--k", evil.toString(), "--v", v.toString(), "--out", o);
        assertError(1, run, "corrupt .npy header");
        assertFalse(run.err().strip().chars().anyMatch(c -> c < 0x20), "no control characters: " + run.err());
        assertTrue(run.err().length() < 400, "a short line: " + run.err().length());
        Path dup = tmp.resolve("dup.npy");
        Files.write(dup, raw("{'descr': '<f4', 'fortran_order': False, 'shape': (30, 8), 'shape': (30, 4), }",
                new byte[30 * 8 * 4]));
        assertError(1, CliRun.run("attend", "--q", q.toString(), "--k", dup.toString(), "--v", v.toString(), "--out", o),
                "duplicate key");
    }

    /**
     * A private null device {@code dir/null} (char 1:3) when mknod is allowed (as root), else /dev/null, which a
     * process that may not create device nodes cannot replace. Never the real /dev/null as root: the code before this
     * test turned it into a regular file.
     */
    private static Path nullDevice(Path dir) throws Exception {
        Path p = dir.resolve("null");
        Process mknod = new ProcessBuilder("mknod", p.toString(), "c", "1", "3").redirectErrorStream(true).start();
        mknod.getInputStream().readAllBytes();
        // never the machine's /dev/null: a test writes only to files of its own
        org.junit.jupiter.api.Assumptions.assumeTrue(mknod.waitFor() == 0, "mknod needs root");
        return p;
    }

    /** A .npy file (format 1.0) with the header dict given verbatim. */
    static byte[] raw(String dict, byte[] data) {
        int total = 10 + dict.length() + 1;
        int padded = (total + 63) / 64 * 64;
        byte[] h = (dict + " ".repeat(padded - total) + "\n").getBytes(StandardCharsets.ISO_8859_1);
        ByteBuffer b = ByteBuffer.allocate(10 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) h.length).put(h).put(data);
        return b.array();
    }
    /**
     * What the FIFO's reader got. A run that never opened the FIFO (it renamed a file over it: the old behaviour)
     * would leave the reader blocked for ever: after a minute the test opens the FIFO itself, so it fails, not hangs.
     */
    static byte[] drain(java.util.concurrent.CompletableFuture<byte[]> reader, Path fifo) throws Exception {
        try {
            return reader.get(60, java.util.concurrent.TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            Files.newOutputStream(fifo).close();
            throw new AssertionError("nothing was written to the FIFO " + fifo);
        }
    }
}
