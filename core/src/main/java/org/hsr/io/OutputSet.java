package org.hsr.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Files replaced together, as a whole or not at all. {@link #commit} first writes every regular file to a temporary
 * beside its target (a short name, {@code .hsr-<random>.tmp}, so a target name near NAME_MAX still works), then
 * writes the special files (a device, a FIFO) directly, since renaming over them would replace them, and only then
 * renames the temporaries over their targets. Each replaced file is first hard-linked to a backup, so that a rename
 * that fails half-way through the set is rolled back: the previous files come back as they were.
 *
 * <p>Guarantee: if {@code commit} throws, or {@link #abort} runs before it (from a shutdown hook on SIGTERM or
 * SIGINT), the regular targets are as they were and no temporary is left. {@code abort} waits for a commit that is
 * renaming (a few file-system calls) so that the set is never left mixed. A SIGKILL or a power loss during those
 * renames can still leave a mixed set and {@code .hsr-*} files. New files are created with the process's umask
 * applied (mode 0666 &amp; ~umask), like any file an ordinary program creates.
 *
 * <p>Not for concurrent use, except that {@link #abort} may be called from any thread.
 */
public final class OutputSet implements AutoCloseable {

    /** Writes one file's bytes to a channel. */
    @FunctionalInterface
    public interface Content {
        void writeTo(WritableByteChannel ch) throws IOException;
    }

    private record Entry(Path target, Content content) {}

    private final List<Entry> entries = new ArrayList<>();
    private final List<Path> temporaries = new ArrayList<>(); // guarded by this
    private boolean committing, done, aborted; // guarded by this

    /**
     * Adds a file of the set. The target's directory must exist; a symbolic link is followed (the file it points to
     * is replaced, the link stays). Refuses a target that is a directory or that another entry already names.
     */
    public OutputSet add(Path target, Content content) throws IOException {
        Path resolved = resolve(target);
        for (Entry e : entries) {
            if (e.target.equals(resolved) && !isSpecial(resolved)) { // /dev/null twice is fine
                throw new IllegalArgumentException("output " + target + " is named twice (as " + e.target + ")");
            }
        }
        entries.add(new Entry(resolved, content));
        return this;
    }

    /**
     * The file a write to {@code p} would replace: the real path of its directory plus its name, or the real path of
     * the file when it is a symbolic link to an existing file.
     */
    public static Path resolve(Path p) throws IOException {
        Path abs = p.toAbsolutePath().normalize();
        if (Files.isSymbolicLink(abs) && Files.exists(abs)) {
            try {
                abs = abs.toRealPath();
            } catch (IOException e) {
                // a link to what has no path of its own, /dev/stdout on a pipe: a special file, written through the link
                if (isSpecial(abs)) return abs;
                throw e;
            }
        }
        Path name = abs.getFileName();
        Path dir = abs.getParent();
        if (name == null || dir == null) {
            throw new IllegalArgumentException("output " + p + " names no file");
        }
        if (!Files.isDirectory(dir)) {
            throw new NoSuchFileException(dir.toString(), null, "output directory does not exist");
        }
        Path resolved = dir.toRealPath().resolve(name);
        if (Files.isDirectory(resolved, LinkOption.NOFOLLOW_LINKS)) {
            throw new IllegalArgumentException("output " + p + " is a directory");
        }
        return resolved;
    }

    /** True when writing to {@code p} must not rename over it: it exists and is not a regular file (a device, FIFO). */
    public static boolean isSpecial(Path p) {
        return Files.exists(p) && !Files.isRegularFile(p) && !Files.isDirectory(p);
    }

    /** Writes and publishes the set (see the class comment for what a failure leaves). */
    public void commit() throws IOException {
        synchronized (this) {
            if (done || aborted) throw new IllegalStateException("output set already " + (done ? "committed" : "aborted"));
        }
        List<Path> temps = new ArrayList<>();
        try {
            for (Entry e : entries) {
                if (isSpecial(e.target)) {
                    temps.add(null);
                    continue;
                }
                Path tmp = createTemporary(e.target.getParent());
                temps.add(tmp);
                try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                    e.content.writeTo(ch);
                    ch.force(false);
                }
            }
            for (Entry e : entries) {
                if (isSpecial(e.target)) {
                    try (var ch = Files.newByteChannel(e.target, StandardOpenOption.WRITE)) {
                        e.content.writeTo(ch);
                    }
                }
            }
            synchronized (this) {
                if (aborted) throw new IOException("interrupted: outputs not written");
                committing = true;
            }
            try {
                publish(temps);
            } finally {
                synchronized (this) {
                    committing = false;
                    done = true;
                    notifyAll();
                }
            }
        } finally {
            deleteTemporaries();
        }
    }

    /** Renames every temporary over its target; on a failure, puts back the files already replaced. */
    private void publish(List<Path> temps) throws IOException {
        List<Path> backups = new ArrayList<>();
        int i = 0;
        try {
            for (; i < entries.size(); i++) {
                Path tmp = temps.get(i), target = entries.get(i).target;
                if (tmp == null) {
                    backups.add(null);
                    continue;
                }
                backups.add(backup(target));
                move(tmp, target);
            }
        } catch (IOException | RuntimeException ex) {
            for (int j = i - 1; j >= 0; j--) {
                if (temps.get(j) == null) continue;
                Path b = backups.get(j), target = entries.get(j).target;
                try {
                    if (b != null) move(b, target);
                    else Files.deleteIfExists(target);
                } catch (IOException | RuntimeException suppressed) {
                    ex.addSuppressed(suppressed);
                }
            }
            throw ex;
        } finally {
            for (Path b : backups) {
                if (b != null) Files.deleteIfExists(b);
            }
        }
    }

    /** A hard link to the existing target (null when there is none), registered as a temporary. */
    private Path backup(Path target) throws IOException {
        if (!Files.exists(target, LinkOption.NOFOLLOW_LINKS)) return null;
        for (int attempt = 0; ; attempt++) {
            Path b = target.resolveSibling(".hsr-" + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".old");
            try {
                register(b);
                Files.createLink(b, target);
                return b;
            } catch (FileAlreadyExistsException e) {
                if (attempt > 100) throw e;
            }
        }
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private Path createTemporary(Path dir) throws IOException {
        for (int attempt = 0; ; attempt++) {
            Path tmp = dir.resolve(".hsr-" + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
            try {
                synchronized (this) {
                    if (aborted) throw new IOException("interrupted: outputs not written");
                    temporaries.add(tmp);
                    // no file attributes: the mode is 0666 & ~umask, as for any ordinary new file
                    Files.newByteChannel(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE).close();
                }
                return tmp;
            } catch (FileAlreadyExistsException e) {
                if (attempt > 100) throw e;
            }
        }
    }

    private synchronized void register(Path p) {
        temporaries.add(p);
    }

    private synchronized void deleteTemporaries() {
        for (Path p : temporaries) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException ignored) {
                // best effort: nothing more can be done on this exit path
            }
        }
        temporaries.clear();
    }

    /**
     * Stops the set: waits for a commit that is renaming to finish, else deletes every temporary so that the targets
     * stay as they were. Safe from any thread (a shutdown hook).
     */
    public synchronized void abort() {
        while (committing) {
            try {
                wait();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        if (!done) aborted = true;
        deleteTemporaries();
    }

    /** Aborts a set that was not committed. */
    @Override
    public void close() {
        abort();
    }
}
