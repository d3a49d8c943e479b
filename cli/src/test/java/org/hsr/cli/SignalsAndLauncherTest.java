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
