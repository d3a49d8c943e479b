package org.hsr.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.DirectoryStream;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Files replaced together, as a whole or not at all. {@link #commit} first writes every regular file to a temporary
 * beside its target (a short name, {@code .hsr-<pid>-<random>.tmp}, so a target name near NAME_MAX still works), then
 * writes the special files (a device, a FIFO) directly, since renaming over them would replace them (a FIFO waits at
 * most {@link #fifoTimeoutMillis()} for a reader), and only then
 * renames the temporaries over their targets. Each replaced file is first hard-linked to a backup, so that a rename
 * that fails half-way through the set is rolled back: the previous files come back as they were.
 *
 * <p>Guarantee: if {@code commit} throws, or {@link #abort} runs before it (from a shutdown hook on SIGTERM or
 * SIGINT), the regular targets are as they were and no temporary is left. {@code abort} waits for a commit that is
 * renaming (a few file-system calls) so that the set is never left mixed. A SIGKILL or a power loss during those
 * renames can still leave a mixed set and {@code .hsr-*} files; the next set written to that directory deletes them
 * once their process is gone ({@link #deleteStaleTemporaries}). New files are created with the process's umask
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
     * The file a write to {@code p} would replace: the real path of its directory plus its name. A symbolic link is
     * followed, also when it dangles (its target is created, the link stays): the result is the last name of the chain
     * of links, in the real path of its directory.
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
        for (int hops = 0; Files.isSymbolicLink(abs); hops++) { // dangling: follow it to the name it will create
            if (hops == MAX_LINKS) throw new FileSystemException(p.toString(), null, "too many levels of symbolic links");
            abs = abs.resolveSibling(Files.readSymbolicLink(abs)).normalize();
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

    /** Links followed before giving up (Linux's MAXSYMLINKS). */
    private static final int MAX_LINKS = 40;

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
            Set<Path> cleaned = new HashSet<>();
            for (Entry e : entries) {
                if (isSpecial(e.target)) {
                    temps.add(null);
                    continue;
                }
                if (cleaned.add(e.target.getParent())) deleteStaleTemporaries(e.target.getParent());
                Path tmp = createTemporary(e.target.getParent());
                temps.add(tmp);
                try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                    e.content.writeTo(ch);
                    ch.force(false);
                } catch (IOException ex) {
                    throw failed(e.target, ex);
                }
            }
            for (Entry e : entries) {
                if (isSpecial(e.target)) {
                    try (var ch = openSpecial(e.target)) {
                        e.content.writeTo(ch);
                    } catch (IOException ex) {
                        throw failed(e.target, ex);
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

    /** An error writing {@code target}, naming it (a bare "No space left on device" does not say which output). */
    private static IOException failed(Path target, IOException e) {
        if (e instanceof FileSystemException || e instanceof FifoException) return e; // these name their file already
        return new IOException("writing " + target + ": " + e.getMessage(), e);
    }

    /** A FIFO output that no process opened for reading within {@link #fifoTimeoutMillis()}. */
    public static final class FifoException extends IOException {
        FifoException(String message) {
            super(message);
        }
    }

    /**
     * How long a FIFO output waits for a reader: the system property {@code hsr.fifoTimeoutMs}, default 10 s. Opening
     * a FIFO for writing blocks until a reader opens it; without a limit, a run whose reader never comes hangs forever.
     */
    public static long fifoTimeoutMillis() {
        return Long.getLong("hsr.fifoTimeoutMs", 10_000);
    }

    /** Opens a device or FIFO for writing, in place. A FIFO waits for a reader at most {@link #fifoTimeoutMillis()}. */
    private static SeekableByteChannel openSpecial(Path target) throws IOException {
        if (!isFifo(target)) return Files.newByteChannel(target, StandardOpenOption.WRITE);
        CompletableFuture<SeekableByteChannel> opened = new CompletableFuture<>();
        Thread.ofPlatform().daemon().name("hsr-open-fifo").start(() -> {
            try {
                opened.complete(Files.newByteChannel(target, StandardOpenOption.WRITE));
            } catch (Throwable t) {
                opened.completeExceptionally(t);
            }
        });
        long timeout = fifoTimeoutMillis();
        try {
            return opened.get(timeout, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            // release the blocked open: opening the read end ourselves completes it (or returns at once if a reader came
            // just now, since the write end is then open), and both ends are closed
            try (var readEnd = Files.newByteChannel(target, StandardOpenOption.READ)) {
                opened.join().close();
            } catch (IOException | RuntimeException ignored) {
                // the error below is what matters
            }
            throw new FifoException(target + ": FIFO has no reader (waited " + timeout / 1000.0 + " s for one to open it;"
                    + " start the reader first)");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) throw io;
            throw new IOException(target + ": " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted while opening " + target);
        }
    }

    private static boolean isFifo(Path p) {
        try {
            return (((Integer) Files.getAttribute(p, "unix:mode")) & 0170000) == 0010000; // S_IFIFO
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return false;
        }
    }

    /**
     * Temporaries are named {@code .hsr-<pid>-<random>.tmp} (backups {@code .old}), so that those a SIGKILL left are
     * recognised: one whose process is gone (no such pid, or a process started after the file was last written) and
     * that was not written in the last {@link #STALE_MILLIS} is deleted by the next set written to that directory.
     * Names of older versions without a pid ({@code .hsr-<random>.tmp}, the GGUF writer's {@code .gguf-<n>.tmp}) are
     * deleted when not written for an hour.
     */
    static final Pattern TEMPORARY = Pattern.compile("\\.hsr-(?:(\\d+)-)?[0-9a-f]+\\.(?:tmp|old)|\\.gguf-\\d+\\.tmp");

    /** A temporary of a dead process is left alone this long after its last write (a clock skew margin). */
    static final long STALE_MILLIS = 60_000, LEGACY_STALE_MILLIS = 3_600_000;

    /** Deletes the stale temporaries of {@code dir} (best effort: a failure to list or delete is ignored). */
    static void deleteStaleTemporaries(Path dir) {
        long now = System.currentTimeMillis();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, ".{hsr,gguf}-*")) {
            for (Path f : files) {
                Matcher m = TEMPORARY.matcher(f.getFileName().toString());
                if (!m.matches()) continue;
                try {
                    long modified = Files.getLastModifiedTime(f, LinkOption.NOFOLLOW_LINKS).toMillis();
                    boolean stale = m.group(1) == null ? now - modified > LEGACY_STALE_MILLIS
                            : now - modified > STALE_MILLIS && ownerGone(Long.parseLong(m.group(1)), modified);
                    if (stale) Files.deleteIfExists(f);
                } catch (IOException | RuntimeException ignored) {
                    // another run deleted it, or it is not ours to delete: leave it
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // best effort
        }
    }

    /** True when no live process can own a temporary of {@code pid} last written at {@code modifiedMillis}. */
    private static boolean ownerGone(long pid, long modifiedMillis) {
        Optional<ProcessHandle> p = ProcessHandle.of(pid);
        if (p.isEmpty() || !p.get().isAlive()) return true;
        Optional<java.time.Instant> started = p.get().info().startInstant();
        return started.isPresent() && started.get().toEpochMilli() > modifiedMillis + 1000; // the pid was reused
    }

    private static final String PREFIX = ".hsr-" + ProcessHandle.current().pid() + "-";

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
            Path b = target.resolveSibling(PREFIX + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".old");
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
            Path tmp = dir.resolve(PREFIX + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
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
