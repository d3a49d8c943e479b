package org.hsr.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A set of output files is replaced as a whole or not at all, and leaves no temporary behind. */
class OutputSetTest {

    @TempDir
    Path dir;

    private static OutputSet.Content text(String s) {
        return ch -> ch.write(ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8)));
    }

    private void assertOnly(String... names) throws IOException {
        try (var files = Files.list(dir)) {
            assertEquals(Set.of(names), Set.copyOf(files.map(p -> p.getFileName().toString()).toList()));
        }
    }

    @Test
    void replacesTheWholeSet() throws IOException {
        Files.writeString(dir.resolve("a"), "old a");
        try (OutputSet s = new OutputSet()) {
            s.add(dir.resolve("a"), text("new a")).add(dir.resolve("b"), text("new b")).commit();
        }
        assertEquals("new a", Files.readString(dir.resolve("a")));
        assertEquals("new b", Files.readString(dir.resolve("b")));
        assertOnly("a", "b");
    }

    /** A write that fails part-way (the third file's content throws) leaves every old file as it was. */
    @Test
    void aFailedWriteTouchesNothing() throws IOException {
        Files.writeString(dir.resolve("a"), "old a");
        Files.writeString(dir.resolve("b"), "old b");
        OutputSet s = new OutputSet().add(dir.resolve("a"), text("new a")).add(dir.resolve("b"), text("new b"))
                .add(dir.resolve("c"), ch -> {
                    throw new IOException("disk full");
                });
        assertThrows(IOException.class, s::commit);
        assertEquals("old a", Files.readString(dir.resolve("a")));
        assertEquals("old b", Files.readString(dir.resolve("b")));
        assertOnly("a", "b");
    }

    /**
     * A rename that fails half-way through the set (a directory appeared where the last file goes, after the checks)
     * is rolled back: the files already replaced get their old contents back, a new one is removed.
     */
    @Test
    void aRenameFailingHalfWayIsRolledBack() throws IOException {
        Files.writeString(dir.resolve("a"), "old a");
        OutputSet s = new OutputSet().add(dir.resolve("a"), text("new a")).add(dir.resolve("b"), text("new b"))
                .add(dir.resolve("c"), text("new c"));
        Files.createDirectory(dir.resolve("c"));
        Files.writeString(dir.resolve("c").resolve("inside"), "x"); // a non-empty directory cannot be renamed over
        assertThrows(IOException.class, s::commit);
        assertEquals("old a", Files.readString(dir.resolve("a")));
        assertTrue(Files.notExists(dir.resolve("b")));
        assertOnly("a", "c");
    }

    @Test
    void abortBeforeCommitLeavesNoTemporary() throws IOException {
        Files.writeString(dir.resolve("a"), "old a");
        OutputSet s = new OutputSet();
        s.add(dir.resolve("a"), ch -> {
            ch.write(ByteBuffer.wrap("half".getBytes(StandardCharsets.UTF_8)));
            s.abort(); // what the shutdown hook does on SIGTERM while the data is being written
        });
        assertThrows(IOException.class, s::commit);
        assertEquals("old a", Files.readString(dir.resolve("a")));
        assertOnly("a");
    }

    @Test
    void newFilesFollowTheUmaskAndSymlinksStay() throws IOException {
        Path plain = Files.createFile(dir.resolve("plain")); // created the ordinary way: 0666 & ~umask
        Set<PosixFilePermission> expected = Files.getPosixFilePermissions(plain);
        Path target = Files.writeString(dir.resolve("target"), "old");
        Path link = Files.createSymbolicLink(dir.resolve("link"), target);
        try (OutputSet s = new OutputSet()) {
            s.add(dir.resolve("out"), text("x")).add(link, text("via link")).commit();
        }
        assertEquals(expected, Files.getPosixFilePermissions(dir.resolve("out")));
        assertTrue(Files.isSymbolicLink(link), "the link is kept");
        assertEquals("via link", Files.readString(target));
    }

    @Test
    void refusesTheSameTargetTwiceAndDirectories() throws IOException {
        OutputSet s = new OutputSet().add(dir.resolve("a"), text("1"));
        assertThrows(IllegalArgumentException.class, () -> s.add(dir.resolve("sub/../a"), text("2")));
        assertThrows(IllegalArgumentException.class, () -> s.add(dir, text("2")));
    }

    @Test
    void writesSpecialFilesInPlace() throws Exception {
        Path devNull = nullDevice(dir);
        try (OutputSet s = new OutputSet()) {
            s.add(devNull, text("discarded")).add(dir.resolve("a"), text("a")).add(devNull, text("twice")).commit();
        }
        assertTrue(!Files.isRegularFile(devNull) && Files.exists(devNull), devNull + " is still a device");
        Path fifo = dir.resolve("fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        var reader = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return Files.readAllBytes(fifo);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        try (OutputSet s = new OutputSet()) {
            s.add(fifo, text("through the pipe")).commit();
        }
        assertArrayEquals("through the pipe".getBytes(StandardCharsets.UTF_8), drain(reader, fifo));
        assertTrue(Files.exists(fifo) && !Files.isRegularFile(fifo), "the FIFO is still a FIFO");
        assertOnly(devNull.startsWith(dir) ? new String[] {"a", "fifo", "null"} : new String[] {"a", "fifo"});
    }
    /**
     * A null device to write to: a private node {@code dir/null} (char 1:3) when mknod is allowed (as root), else
     * /dev/null itself, which a process that may not create device nodes cannot replace either. A test must never
     * risk the real /dev/null: an old build of this project, run as root, turned it into a regular file.
     */
    static Path nullDevice(Path dir) throws Exception {
        Path p = dir.resolve("null");
        Process mknod = new ProcessBuilder("mknod", p.toString(), "c", "1", "3").redirectErrorStream(true).start();
        mknod.getInputStream().readAllBytes();
        return mknod.waitFor() == 0 ? p : Path.of("/dev/null");
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
