package org.hsr.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import org.hsr.model.Llama2Model;
import org.hsr.model.gguf.GgufFile;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One output policy for every command that writes (issue 24, items 1, 2, 5, 14, 15 and 17): {@code convert} writes
 * through the same output set as the others (devices and FIFOs in place, a full disk is exit 1, the umask's mode), an
 * output that is an input is refused by {@code convert} and {@code info} too, a FIFO without a reader times out, a
 * dangling symbolic link is kept, and temporaries a killed run left are cleaned by the next run. Every device and FIFO
 * is made in this test's own directory.
 */
class OutputPolicyTest {

    @TempDir
    Path tmp;

    private static void assertError(int code, CliRun r, String mention) {
        assertEquals(code, r.code(), r.err());
        assertTrue(r.err().startsWith("hsr: error: "), r.err());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
        assertTrue(r.err().contains(mention), "'" + r.err().strip() + "' should mention " + mention);
    }

    /** A character device made with mknod in the test's directory (root only; the test is skipped otherwise). */
    private Path device(String name, int major, int minor) throws Exception {
        Path p = tmp.resolve(name);
        Process mknod = new ProcessBuilder("mknod", p.toString(), "c", String.valueOf(major), String.valueOf(minor))
                .redirectErrorStream(true).start();
        mknod.getInputStream().readAllBytes();
        Assumptions.assumeTrue(mknod.waitFor() == 0, "mknod needs root");
        return p;
    }

    private Path fifo(String name) throws Exception {
        Path p = tmp.resolve(name);
        assertEquals(0, new ProcessBuilder("mkfifo", p.toString()).start().waitFor());
        return p;
    }

    private static boolean isDevice(Path p) {
        return Files.exists(p) && !Files.isRegularFile(p) && !Files.isDirectory(p) && !Files.isSymbolicLink(p);
    }

    private Path copyResource(String name) throws IOException {
        Path p = tmp.resolve(name);
        try (InputStream in = Llama2Model.class.getResourceAsStream(name)) {
            Files.copy(in, p);
        }
        return p;
    }

    /** Item 1: a null device stays a device, a full one is exit 1 naming it, a FIFO gets the whole file in place. */
    @Test
    void convertWritesDevicesAndFifosInPlace() throws Exception {
        Path nul = device("null", 1, 3);
        CliRun r = CliRun.run("convert", "--out", nul.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(isDevice(nul), "still a device");

        Path full = device("full", 1, 7);
        assertError(1, CliRun.run("convert", "--out", full.toString()), "No space left on device");
        assertTrue(isDevice(full), "still a device");

        Path fifo = fifo("m.fifo");
        CompletableFuture<byte[]> reader = CompletableFuture.supplyAsync(() -> {
            try {
                return Files.readAllBytes(fifo);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        r = CliRun.run("convert", "--out", fifo.toString());
        assertEquals(0, r.code(), r.err());
        byte[] got = OutputsTest.drain(reader, fifo);
        Path copy = tmp.resolve("copy.gguf");
        Files.write(copy, got);
        assertTrue(GgufFile.isGguf(copy));
        try (GgufFile f = GgufFile.open(copy)) {
            assertEquals("llama", f.getString("general.architecture", "?"));
        }
        assertTrue(isDevice(fifo), "still a FIFO");
        try (var files = Files.list(tmp)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().startsWith(".")), "no temporaries left");
        }
    }

    /** Item 1, a full disk: a 64 KiB tmpfs in a private mount namespace (root only), the GGUF file is larger. */
    @Test
    void convertOnAFullDiskIsExitOneAndLeavesNothing() throws Exception {
        Path mnt = Files.createDirectory(tmp.resolve("small"));
        Path out = mnt.resolve("m.gguf");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder("unshare", "-m", "sh", "-c",
                "mount -t tmpfs -o size=64k tmpfs \"$1\" || exit 99; \"$2\" -cp \"$3\" " + HsrMain.class.getName()
                        + " convert --out \"$4\"; rc=$?; ls -A \"$1\"; exit $rc",
                "sh", mnt.toString(), java, System.getProperty("java.class.path"), out.toString());
        Process p = pb.start();
        var err = CompletableFuture.supplyAsync(() -> {
            try {
                return new String(p.getErrorStream().readAllBytes());
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        String listing = new String(p.getInputStream().readAllBytes());
        int code = p.waitFor();
        Assumptions.assumeTrue(code != 99, "cannot mount a tmpfs here: " + err.get());
        assertEquals(1, code, err.get());
        assertTrue(err.get().contains("hsr: error: ") && err.get().contains("No space left on device"), err.get());
        assertEquals("", listing.strip(), "nothing left on the full disk");
    }

    /** Item 2: convert's --out naming its --model or --tokenizer (directly or by a link), info --json its model. */
    @Test
    void anOutputThatIsAnInputIsRefusedByEveryCommand() throws Exception {
        Path model = copyResource("stories260K.bin"), tok = copyResource("tok512.bin");
        byte[] modelBytes = Files.readAllBytes(model), tokBytes = Files.readAllBytes(tok);
        assertError(2, CliRun.run("convert", "--model", model.toString(), "--tokenizer", tok.toString(), "--out",
                model.toString()), "input --model");
        Path link = Files.createSymbolicLink(tmp.resolve("link.gguf"), tok);
        assertError(2, CliRun.run("convert", "--model", model.toString(), "--tokenizer", tok.toString(), "--out",
                link.toString()), "input --tokenizer");
        assertArrayEquals(modelBytes, Files.readAllBytes(model));
        assertArrayEquals(tokBytes, Files.readAllBytes(tok));

        Path gguf = tmp.resolve("m.gguf");
        assertEquals(0, CliRun.run("convert", "--out", gguf.toString()).code());
        byte[] ggufBytes = Files.readAllBytes(gguf);
        assertError(2, CliRun.run("info", "--model", gguf.toString(), "--json", gguf.toString()), "input --model");
        assertArrayEquals(ggufBytes, Files.readAllBytes(gguf));
        assertError(2, CliRun.run("info", "--model", model.toString(), "--json", model.toString()), "input --model");
        assertArrayEquals(modelBytes, Files.readAllBytes(model));
    }

    /** Item 14: convert's file has mode 0666 minus the umask (it was 0600), like every other output. */
    @Test
    void convertFollowsTheUmask() throws Exception {
        Set<PosixFilePermission> expected = Files.getPosixFilePermissions(Files.createFile(tmp.resolve("plain")));
        Path out = tmp.resolve("m.gguf");
        assertEquals(0, CliRun.run("convert", "--out", out.toString()).code());
        assertEquals(expected, Files.getPosixFilePermissions(out));
    }

    /** Item 15: an output that is a dangling link: the link stays and its target is written (convert and attend). */
    @Test
    void aDanglingLinkIsFollowedAndKept() throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("d"));
        Path link = Files.createSymbolicLink(tmp.resolve("out.gguf"), Path.of("d", "target.gguf"));
        assertEquals(0, CliRun.run("convert", "--out", link.toString()).code());
        assertTrue(Files.isSymbolicLink(link), "the link is kept");
        assertTrue(GgufFile.isGguf(dir.resolve("target.gguf")));

        SplittableRandom r = new SplittableRandom(24);
        Path q = TestArrays.npy(tmp, "q.npy", TestArrays.gaussian(r, 8), 1, 8);
        Path k = TestArrays.npy(tmp, "k.npy", TestArrays.gaussian(r, 80), 10, 8);
        Path v = TestArrays.npy(tmp, "v.npy", TestArrays.gaussian(r, 40), 10, 4);
        Path statsLink = Files.createSymbolicLink(tmp.resolve("s.json"), dir.resolve("chain.json"));
        Files.createSymbolicLink(dir.resolve("chain.json"), Path.of("stats.json")); // a chain of two links
        CliRun run = CliRun.run("attend", "--q", q.toString(), "--k", k.toString(), "--v", v.toString(), "--out",
                tmp.resolve("o.npy").toString(), "--stats", statsLink.toString());
        assertEquals(0, run.code(), run.err());
        assertTrue(Files.isSymbolicLink(statsLink) && Files.isSymbolicLink(dir.resolve("chain.json")), "links kept");
        assertTrue(Files.readString(dir.resolve("stats.json")).contains("\"rows\""));
    }

    /** Item 5: --out, --stats or --json naming a FIFO that no process reads: exit 1 with a clear line, no hang. */
    @Test
    void aFifoWithoutAReaderTimesOut() throws Exception {
        String old = System.getProperty("hsr.fifoTimeoutMs");
        System.setProperty("hsr.fifoTimeoutMs", "300");
        try {
            SplittableRandom r = new SplittableRandom(5);
            Path q = TestArrays.npy(tmp, "q.npy", TestArrays.gaussian(r, 8), 1, 8);
            Path k = TestArrays.npy(tmp, "k.npy", TestArrays.gaussian(r, 80), 10, 8);
            Path v = TestArrays.npy(tmp, "v.npy", TestArrays.gaussian(r, 40), 10, 4);
            Path fifo = fifo("nobody.fifo");
            Path out = tmp.resolve("o.npy");
            long t0 = System.nanoTime();
            assertError(1, CliRun.run("attend", "--q", q.toString(), "--k", k.toString(), "--v", v.toString(), "--out",
                    out.toString(), "--stats", fifo.toString()), "no reader");
            assertFalse(Files.exists(out), "the set was not written");
            assertError(1, CliRun.run("attend", "--q", q.toString(), "--k", k.toString(), "--v", v.toString(), "--out",
                    fifo.toString()), "no reader");
            assertError(1, CliRun.run("info", "--json", fifo.toString()), "no reader");
            assertTrue((System.nanoTime() - t0) / 1e9 < 30, "timed out promptly");
            assertTrue(isDevice(fifo), "still a FIFO");
        } finally {
            if (old == null) System.clearProperty("hsr.fifoTimeoutMs");
            else System.setProperty("hsr.fifoTimeoutMs", old);
        }
    }

    /**
     * Item 17: temporaries a SIGKILL left (a process that is gone, written more than a minute ago) are deleted by the
     * next run that writes to that directory; a recent one, or one of a live process, is left alone.
     */
    @Test
    void staleTemporariesOfADeadRunAreCleaned() throws Exception {
        Process dead = new ProcessBuilder("true").start();
        dead.waitFor();
        long pid = dead.pid();
        FileTime old = FileTime.fromMillis(System.currentTimeMillis() - 5 * 60_000);
        Path stale = Files.writeString(tmp.resolve(".hsr-" + pid + "-1f2e3d4c5b6a7980.tmp"), "half a file");
        Path staleBackup = Files.writeString(tmp.resolve(".hsr-" + pid + "-0a0b0c0d.old"), "old");
        Path legacy = Files.writeString(tmp.resolve(".hsr-00ff00ff00ff00ff.tmp"), "from an older version");
        Path recent = Files.writeString(tmp.resolve(".hsr-" + pid + "-abcdef.tmp"), "just written");
        Path live = Files.writeString(tmp.resolve(".hsr-1-abcdef.tmp"), "pid 1 is alive and older than the file");
        Path other = Files.writeString(tmp.resolve(".hsr-notes.tmp"), "not our pattern");
        for (Path p : new Path[] {stale, staleBackup, live, other}) Files.setLastModifiedTime(p, old);
        Files.setLastModifiedTime(legacy, FileTime.fromMillis(System.currentTimeMillis() - 2 * 3_600_000));
        Path out = tmp.resolve("m.gguf");
        assertEquals(0, CliRun.run("convert", "--out", out.toString()).code());
        assertFalse(Files.exists(stale), "a dead run's temporary is deleted");
        assertFalse(Files.exists(staleBackup), "a dead run's backup link is deleted");
        assertFalse(Files.exists(legacy), "an hour-old temporary of the old naming is deleted");
        assertTrue(Files.exists(recent), "written within the last minute: kept");
        assertTrue(Files.exists(live), "a live process's temporary is kept");
        assertTrue(Files.exists(other), "a name outside the pattern is kept");
    }
}
