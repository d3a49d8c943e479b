package org.hsr.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.hsr.io.Npy;
import org.hsr.io.NpyArray;

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

    /** Checks that the output's directory exists and is writable before any work is done. */
    static void checkWritable(Path out, String flag) {
        if (out == null) return;
        Path dir = out.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new UsageException(flag + " " + out + ": directory " + dir + " does not exist");
        }
        if (!Files.isWritable(dir)) {
            throw new UsageException(flag + " " + out + ": directory " + dir + " is not writable");
        }
        if (Files.isDirectory(out)) {
            throw new UsageException(flag + " " + out + ": is a directory");
        }
    }

    /** Output files written together: each atomically, and on any failure the ones already written are removed. */
    static final class Outputs {
        private final Map<Path, byte[]> files = new LinkedHashMap<>();

        Outputs npy(Path path, NpyArray a) throws IOException {
            Path tmp = Files.createTempFile("hsr-", ".npy");
            try {
                Npy.write(tmp, a);
                files.put(path, Files.readAllBytes(tmp));
            } finally {
                Files.deleteIfExists(tmp);
            }
            return this;
        }

        Outputs json(Path path, Object value) {
            if (path != null) files.put(path, Json.toString(value).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return this;
        }

        void write() throws IOException {
            List<Path> done = new ArrayList<>();
            try {
                for (var e : files.entrySet()) {
                    Npy.writeAtomically(e.getKey(), e.getValue());
                    done.add(e.getKey());
                }
            } catch (IOException | RuntimeException ex) {
                for (Path p : done) Files.deleteIfExists(p);
                throw ex;
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
            throw new UsageException("--kv: " + e.getMessage());
        }
    }

    static void requirePositive(int value, String flag) {
        if (value < 1) throw new UsageException(flag + " must be >= 1, got " + value);
    }
}
