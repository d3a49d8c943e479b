package org.hsr.cli;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.hsr.io.Npy;
import org.hsr.io.NpyArray;
import org.hsr.io.OutputSet;

/** Shared input checks and all-or-nothing output writing for the commands. */
final class CliIO {
    private CliIO() {}

    /** Reads a real {@code .npy} array of rank {@code 2} or {@code 3} (allowed ranks given), non-empty. */
    static NpyArray readReal(Path path, String flag, int... ranks) throws IOException {
        NpyArray a = Npy.read(path);
        if (!a.isReal()) {
            throw new UsageException(flag + " " + path + ": integer array, expected float32 or float64");
        }
        if (Arrays.stream(ranks).noneMatch(r -> r == a.rank())) {
            throw new UsageException(flag + " " + path + ": shape " + a.shapeString() + " has rank " + a.rank()
                    + ", expected rank " + Arrays.toString(ranks).replaceAll("[\\[\\]]", "").replace(", ", " or "));
        }
        if (a.size() == 0) {
            throw new UsageException(flag + " " + path + ": empty array of shape " + a.shapeString());
        }
        for (int i = 0; i < a.floats().length; i++) {
            if (!Float.isFinite(a.floats()[i])) {
                throw new UsageException(flag + " " + path + ": non-finite value " + a.floats()[i] + " at flat index " + i);
            }
        }
        return a;
    }

    /** A file named on the command line: the flag and the path (null when the option was not given). */
    record Named(String flag, Path path) {}

    static Named named(String flag, Path path) {
        return new Named(flag, path);
    }

    /**
     * Checks, before any work is done, that every output can be written: its directory exists and is writable, it is
     * not a directory, its name fits NAME_MAX, and it is neither an input nor another output (compared as the files
     * they are: real paths, and {@link Files#isSameFile} where both exist). Options not given are skipped.
     */
    static void checkOutputs(List<Named> inputs, List<Named> outputs) throws IOException {
        List<Named> seen = new ArrayList<>();
        for (Named o : outputs) {
            if (o.path() == null) continue;
            checkWritable(o.path(), o.flag());
            Path resolved;
            try {
                resolved = OutputSet.resolve(o.path());
            } catch (IllegalArgumentException e) {
                throw new UsageException(o.flag() + " " + o.path() + ": " + e.getMessage());
            }
            for (Named s : seen) {
                if (same(resolved, s.path()) && !OutputSet.isSpecial(resolved)) {
                    throw new UsageException(o.flag() + " " + o.path() + " is the same file as " + s.flag() + " "
                            + s.path());
                }
            }
            for (Named in : inputs) {
                if (in.path() != null && Files.exists(in.path()) && same(resolved, in.path().toRealPath())) {
                    throw new UsageException(o.flag() + " " + o.path() + " is the same file as the input " + in.flag()
                            + " " + in.path() + ": refusing to overwrite an input");
                }
            }
            seen.add(new Named(o.flag(), resolved));
        }
    }

    private static boolean same(Path a, Path b) throws IOException {
        return a.equals(b) || (Files.exists(a) && Files.exists(b) && Files.isSameFile(a, b));
    }

    /** Checks that the output's directory exists and is writable and that the output could be created there. */
    static void checkWritable(Path out, String flag) {
        if (out == null) return;
        Path abs = out.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir == null || abs.getFileName() == null) {
            throw new UsageException(flag + " " + out + ": names no file");
        }
        if (!Files.isDirectory(dir)) {
            throw new UsageException(flag + " " + out + ": directory " + dir + " does not exist");
        }
        if (!Files.isWritable(dir) && !OutputSet.isSpecial(abs)) {
            throw new UsageException(flag + " " + out + ": directory " + dir + " is not writable");
        }
        if (Files.isDirectory(out)) {
            throw new UsageException(flag + " " + out + ": is a directory");
        }
        int nameBytes = abs.getFileName().toString().getBytes(StandardCharsets.UTF_8).length;
        if (nameBytes > NAME_MAX) {
            throw new UsageException(flag + " " + out + ": file name of " + nameBytes + " bytes is longer than the "
                    + NAME_MAX + " a directory entry holds");
        }
    }

    /** The longest file name (bytes) of Linux file systems (NAME_MAX). */
    static final int NAME_MAX = 255;

    /** The output set being written, aborted by the shutdown hook on SIGTERM or SIGINT (see {@link HsrMain}). */
    private static volatile OutputSet active;

    /** Called by the shutdown hook: deletes the temporaries of an unfinished set (waits for one that is renaming). */
    static void abortActiveOutputs() {
        OutputSet s = active;
        if (s != null) s.abort();
    }

    /**
     * Output files written together (SPEC §5): all or nothing. Each is streamed to a temporary in its target's
     * directory; only when every one is complete are they renamed over the targets, and a failure or a signal before
     * that leaves the previous files as they were and no temporary (see {@link OutputSet}).
     */
    static final class Outputs {
        private final OutputSet set = new OutputSet();

        Outputs npy(Path path, NpyArray a) throws IOException {
            set.add(path, ch -> Npy.write(ch, a));
            return this;
        }

        /** A file whose bytes {@code content} streams (a GGUF model). */
        Outputs file(Path path, OutputSet.Content content) throws IOException {
            set.add(path, content);
            return this;
        }

        Outputs json(Path path, Object value) throws IOException {
            return text(path, Json.toString(value));
        }

        Outputs text(Path path, String text) throws IOException {
            if (path != null) {
                byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
                set.add(path, ch -> {
                    ByteBuffer b = ByteBuffer.wrap(bytes);
                    while (b.hasRemaining()) ch.write(b);
                });
            }
            return this;
        }

        void write() throws IOException {
            active = set;
            try {
                set.commit();
            } finally {
                set.close();
                active = null;
            }
        }
    }

    /** Median of the given times in milliseconds. */
    static double median(double[] ms) {
        double[] s = ms.clone();
        Arrays.sort(s);
        int n = s.length;
        return n == 0 ? Double.NaN : n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    /** The storage type named by {@code --kv}; a usage error for anything else. */
    static org.hsr.store.ElementType elementType(String kv) {
        try {
            return org.hsr.store.ElementType.parse(kv);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--kv must be fp32, bf16 or fp16, got " + kv);
        }
    }

    static void requirePositive(int value, String flag) {
        if (value < 1) throw new UsageException(flag + " must be >= 1, got " + value);
    }
}
