package org.hsr.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.hsr.io.Npy;
import org.hsr.io.NpyArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code ./hsr} launcher on real clones (issue 14, item 1, and non-ASCII paths of item 9): three launchers at
 * once on a fresh clone, a first build interrupted the way Ctrl-C interrupts it, a truncated jar, and a file name
 * outside ASCII under {@code LC_ALL=C}.
 *
 * <p>Each test clones the repository this test runs from ({@code git clone --local} of the committed HEAD, so it tests
 * the committed launcher and sources, not uncommitted edits) into a temporary directory and builds it with Maven, about
 * a minute per build; the class runs in the Vector API execution only (cli/pom.xml), as nothing here depends on it.
 */
class LauncherTest {

    @TempDir
    Path tmp;

    private static Path repoRoot() {
        return Path.of("").toAbsolutePath().getParent(); // surefire runs in the module directory, cli/
    }

    private Path freshClone(String name) throws Exception {
        Path dir = tmp.resolve(name);
        Process p = new ProcessBuilder("git", "clone", "-q", "--local", repoRoot().toString(), dir.toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        return dir;
    }

    /** {@code ./hsr args} in {@code clone}, its own process group (setsid), with a private TMPDIR. */
    private ProcessBuilder hsr(Path clone, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("setsid", clone.resolve("hsr").toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(clone.toFile());
        pb.environment().put("TMPDIR", Files.createDirectories(tmp.resolve("tmpdir")).toString());
        return pb;
    }

    private record Run(int code, String out, String err) {}

    private static Run finish(Process p) throws Exception {
        var err = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Run(p.waitFor(), out, err.get());
    }

    private void assertNoTemporaries() throws IOException {
        try (var files = Files.list(tmp.resolve("tmpdir"))) {
            assertEquals(List.of(), files.toList(), "the launcher left files in TMPDIR");
        }
    }

    /**
     * Three {@code ./hsr} at once on a fresh clone raced in Maven ("zip END header not found", 2 of 3 times): now one
     * builds while the others wait for it, and all three run. Then a truncated jar newer than the sources (what an
     * interrupted shade left) is rebuilt instead of failing with "Invalid or corrupt jarfile", and a non-ASCII file
     * name works under {@code LC_ALL=C}.
     */
    @Test
    void concurrentFirstRunsTruncatedJarAndNonAsciiPaths() throws Exception {
        Path clone = freshClone("a");
        List<Process> ps = new ArrayList<>();
        for (int i = 0; i < 3; i++) ps.add(hsr(clone, "--version").start());
        int builds = 0;
        for (Process p : ps) {
            Run r = finish(p);
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().contains("hsr-attention"), r.out());
            if (r.err().contains("hsr: building")) builds++;
        }
        assertEquals(1, builds, "one launcher builds, the others wait for its jar");
        assertNoTemporaries();

        Path jar = clone.resolve("cli/target/hsr.jar");
        try (RandomAccessFile f = new RandomAccessFile(jar.toFile(), "rw")) {
            f.setLength(f.length() / 2);
        }
        Run r = finish(hsr(clone, "--version").start());
        assertEquals(0, r.code(), "a half jar is rebuilt: " + r.err());
        assertTrue(r.err().contains("hsr: building"), r.err());

        Path dir = Files.createDirectory(tmp.resolve("données"));
        Npy.write(dir.resolve("q.npy"), NpyArray.ofFloats(new float[] {1, 2}, 1, 2));
        Npy.write(dir.resolve("k.npy"), NpyArray.ofFloats(new float[] {1, 0, 0, 1}, 2, 2));
        Npy.write(dir.resolve("v.npy"), NpyArray.ofFloats(new float[] {1, 2, 3, 4}, 2, 2));
        ProcessBuilder pb = hsr(clone, "attend", "--q", dir.resolve("q.npy").toString(), "--k",
                dir.resolve("k.npy").toString(), "--v", dir.resolve("v.npy").toString(), "--out",
                dir.resolve("sortie-é.npy").toString());
        pb.environment().put("LC_ALL", "C");
        r = finish(pb.start());
        assertEquals(0, r.code(), r.err());
        assertEquals(2, Npy.read(dir.resolve("sortie-é.npy")).size());
        assertNoTemporaries();
    }

    /**
     * Ctrl-C during the first build, just as the jar file appears (SIGINT to the launcher's process group): the old
     * launcher left a half-written hsr.jar that every later run trusted. Now the next {@code ./hsr} builds and runs.
     */
    @Test
    void aFirstBuildInterruptedAsTheJarAppearsIsRebuilt() throws Exception {
        Path clone = freshClone("b");
        Process p = hsr(clone, "--version").redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        Path target = clone.resolve("cli/target");
        boolean sent = false;
        while (p.isAlive()) {
            if (Files.exists(target.resolve("hsr.jar")) || Files.exists(target.resolve("hsr-build.jar"))) {
                // setsid made the launcher a process-group leader: signal the group, as a terminal's Ctrl-C does
                new ProcessBuilder("kill", "-INT", "--", "-" + p.pid()).start().waitFor();
                sent = true;
                break;
            }
            Thread.sleep(1);
        }
        p.waitFor();
        assertTrue(sent, "the build finished before a jar file was seen");
        Run r = finish(hsr(clone, "--version").start());
        assertEquals(0, r.code(), "after an interrupted build: " + r.err());
        assertTrue(r.out().contains("hsr-attention"), r.out());
        assertNoTemporaries();
    }
}
