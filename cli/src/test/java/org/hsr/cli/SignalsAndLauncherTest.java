package org.hsr.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A signal during the JVM's start (issue 24, item 16) and a JVM option the JVM refuses (item 24, the launcher's
 * part): exit 130 with no stack trace, and one {@code hsr: error:} line.
 */
class SignalsAndLauncherTest {

    @TempDir
    Path tmp;

    private record Run(int code, String err) {}

    private static Run finish(Process p) throws Exception {
        p.getOutputStream().close();
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> {
            try {
                return new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        p.getInputStream().transferTo(java.io.OutputStream.nullOutputStream());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the child ended");
        return new Run(p.exitValue(), err.get());
    }

    private static List<String> java(String mainClass, String... args) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), mainClass));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /**
     * The CLI started while the shutdown is under way (what SIGINT 0.55-0.62 s after start did): registering its
     * shutdown hook threw "Shutdown in progress" and the stack trace was printed; now it is silent and the JVM exits
     * with the signal's status.
     */
    @Test
    void theCliStartedDuringShutdownIsSilent() throws Exception {
        Run r = finish(new ProcessBuilder(java(ShutdownRaceMain.class.getName(), "info")).start());
        assertEquals(130, r.code(), r.err());
        assertFalse(r.err().contains("Exception") || r.err().contains("Shutdown in progress"), r.err());
        assertFalse(r.err().contains("hsr: error"), "no error line for the signal's own consequences: " + r.err());
    }

    /** A real SIGINT at several moments of the start and the run: always 130, never a trace or an error line. */
    @Test
    void sigintAtAnyMomentIsExit130WithoutATrace() throws Exception {
        for (int delayMs : new int[] {150, 300, 450, 550, 600, 700, 900, 1300}) {
            Process p = new ProcessBuilder(java(HsrMain.class.getName(), "bench", "decode", "--quick", "--no-faiss",
                    "--json", tmp.resolve("b.json").toString())).start();
            Thread.sleep(delayMs);
            new ProcessBuilder("kill", "-INT", String.valueOf(p.pid())).start().waitFor();
            Run r = finish(p);
            String err = r.err().replaceAll("(?m)^\\[#* *\\].*$", "").replaceAll("\r", "").strip();
            assertEquals(130, r.code(), "delay " + delayMs + " ms: " + r.err());
            assertFalse(err.contains("Exception") || err.contains("hsr: error"), "delay " + delayMs + " ms: " + err);
        }
        assertFalse(Files.exists(tmp.resolve("b.json")), "no output of an interrupted run");
    }

    /**
     * model-bench --random writes its model to the temporary directory: a SIGINT left it there (the finally that
     * deletes it does not run on a signal), and a SIGKILL still does; now the signal deletes it, and the next
     * model-bench deletes one whose process is gone. The child gets a temporary directory of its own.
     */
    @Test
    void modelBenchLeavesNoRandomModelBehind() throws Exception {
        Path javaTmp = Files.createDirectory(tmp.resolve("javatmp"));
        Process dead = new ProcessBuilder("true").start();
        dead.waitFor();
        Path stale = Files.writeString(javaTmp.resolve("hsr-bench-" + dead.pid() + "-123.gguf"), "a killed run's");
        Path live = Files.writeString(javaTmp.resolve("hsr-bench-1-456.gguf"), "pid 1 is alive");
        List<String> cmd = java(HsrMain.class.getName(), "model-bench", "--random", "tiny", "--n", "64", "--steps",
                "1", "--no-dense", "--select", "top:8");
        cmd.add(1, "-Djava.io.tmpdir=" + javaTmp);
        Run r = finish(new ProcessBuilder(cmd).start());
        assertEquals(0, r.code(), r.err());
        assertFalse(Files.exists(stale), "the model of a dead run is deleted");
        assertTrue(Files.exists(live), "a live process's model is kept");
        Files.delete(live);

        // 1000 timed steps of the tiny model: seconds, long enough for the signal to land in the run
        cmd = java(HsrMain.class.getName(), "model-bench", "--random", "tiny", "--n", "16", "--steps", "1000");
        cmd.add(1, "-Djava.io.tmpdir=" + javaTmp);
        Process p = new ProcessBuilder(cmd).start();
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (System.nanoTime() < deadline && p.isAlive() && !hasModel(javaTmp)) Thread.sleep(20);
        Thread.sleep(300); // into the run
        if (!p.isAlive()) assertEquals(0, p.exitValue(), "a run that ended before the signal succeeded");
        Assumptions.assumeTrue(p.isAlive(), "the run ended before the signal");
        new ProcessBuilder("kill", "-INT", String.valueOf(p.pid())).start().waitFor();
        r = finish(p);
        assertEquals(130, r.code(), r.err());
        try (var files = Files.list(javaTmp)) {
            assertEquals(List.of(), files.filter(f -> f.getFileName().toString().contains("hsr-")).toList());
        }
    }

    private static boolean hasModel(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            return files.anyMatch(f -> f.getFileName().toString().matches("hsr-bench-.*\\.gguf"));
        }
    }

    /**
     * {@code HSR_JAVA_OPTS=-Xbogus}: the JVM's three lines became one launcher line, exit 2. The launcher runs from a
     * copy (its script and find-jdk.sh only), so that it could never build or touch this checkout.
     */
    @Test
    void aJvmOptionTheJvmRefusesIsOneLauncherLine() throws Exception {
        Path root = Path.of("").toAbsolutePath().getParent(); // surefire runs in cli/
        Path copy = Files.createDirectories(tmp.resolve("clone/bin"));
        Files.copy(root.resolve("hsr"), tmp.resolve("clone/hsr"));
        Files.copy(root.resolve("bin/find-jdk.sh"), copy.resolve("find-jdk.sh"));
        tmp.resolve("clone/hsr").toFile().setExecutable(true);
        for (String opts : new String[] {"-Xbogus", "-Xmx0"}) {
            ProcessBuilder pb = new ProcessBuilder(tmp.resolve("clone/hsr").toString(), "info");
            pb.environment().put("HSR_JAVA_OPTS", opts);
            Run r = finish(pb.start());
            assertEquals(2, r.code(), r.err());
            assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
            assertTrue(r.err().startsWith("hsr: error: HSR_JAVA_OPTS='" + opts + "'"), r.err());
            assertTrue(r.err().contains(opts.equals("-Xbogus") ? "Unrecognized option: -Xbogus" : "-Xmx0"), r.err());
        }
    }
}
