package org.hsr.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
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
 * The CLI in a real child JVM (issue 14, items 2, 6 and 8): SIGTERM and SIGINT while {@code hsr search} writes its
 * result set, a heap too small for the run, and a {@code .npy} file larger than the heap. The child runs
 * {@link HsrMain} from this test's class path with its own {@code java.io.tmpdir}, so that a staging file it leaves
 * in "/tmp" is seen.
 */
class ChildProcessTest {

    @TempDir
    Path tmp;

    private Process start(String xmx, Path javaTmp, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                xmx, "-Djava.io.tmpdir=" + javaTmp, "-cp", System.getProperty("java.class.path"),
                HsrMain.class.getName()));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    }

    private static Map<String, byte[]> snapshot(Path dir) throws IOException {
        Map<String, byte[]> m = new TreeMap<>();
        try (var files = Files.list(dir)) {
            for (Path p : files.toList()) m.put(p.getFileName().toString(), Files.readAllBytes(p));
        }
        return m;
    }

    private static Set<String> names(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            return Set.copyOf(files.map(p -> p.getFileName().toString()).toList());
        }
    }

    private Path npy(String name, float[] data, int... shape) throws IOException {
        Path p = tmp.resolve(name);
        Npy.write(p, NpyArray.ofFloats(data, shape));
        return p;
    }

    @Test
    void sigtermWhileWritingLeavesTheWholeOldSet() throws Exception {
        interruptedSearch("TERM", 143);
    }

    @Test
    void sigintWhileWritingLeavesTheWholeOldSet() throws Exception {
        interruptedSearch("INT", 130);
    }

    /**
     * Writes a result set (about 150 MB: every key reported for every query), then runs a second search whose set
     * differs and sends it the signal as soon as anything new appears in the output directory or the child's
     * temporary directory. Afterwards the set must be the old one or the new one, whole, and no temporary is left.
     */
    private void interruptedSearch(String signal, int signalExit) throws Exception {
        SplittableRandom r = new SplittableRandom(14);
        int n = 20000, d = 4, m = 600;
        float[] keys = new float[n * d], queries = new float[m * d];
        for (int i = 0; i < keys.length; i++) keys[i] = (float) r.nextGaussian();
        for (int i = 0; i < queries.length; i++) queries[i] = (float) r.nextGaussian();
        Path k = npy("k.npy", keys, n, d), q = npy("q.npy", queries, m, d);
        Path outDir = Files.createDirectory(tmp.resolve("out")), javaTmp = Files.createDirectory(tmp.resolve("jtmp"));
        Path newDir = Files.createDirectory(tmp.resolve("expected-new"));
        String prefix = outDir.resolve("r").toString();
        String[] oldRun = {"search", "--index", "flat", "--keys", k.toString(), "--queries", q.toString(), "--threshold",
                "-1e30", "--out", prefix};
        String[] newRun = {"search", "--index", "flat", "--keys", k.toString(), "--queries", q.toString(), "--threshold",
                "-1", "--out", prefix};
        assertEquals(0, start("-Xmx1g", javaTmp, oldRun).waitFor());
        Map<String, byte[]> old = snapshot(outDir);
        assertEquals(Set.of("r.lims.npy", "r.ids.npy", "r.scores.npy"), old.keySet());
        newRun[newRun.length - 1] = newDir.resolve("r").toString();
        assertEquals(0, start("-Xmx1g", javaTmp, newRun).waitFor());
        Map<String, byte[]> fresh = snapshot(newDir);
        newRun[newRun.length - 1] = prefix;
        // a signal that arrives after the child finished (a loaded machine) proves nothing: try again, up to 5 times
        int landed = 0;
        for (int attempt = 0; attempt < 5 && landed == 0; attempt++) {
            Map<String, byte[]> previous = snapshot(outDir);
            Process p = start("-Xmx1g", javaTmp, newRun);
            Set<String> before = names(outDir);
            boolean sent = false;
            while (p.isAlive()) {
                if (!names(outDir).equals(before) || !names(javaTmp).isEmpty()) {
                    if (signal.equals("TERM")) p.destroy(); // SIGTERM
                    else new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).start().waitFor();
                    sent = true;
                    break;
                }
                Thread.sleep(1);
            }
            int code = p.waitFor();
            assertTrue(sent, "the child wrote nothing visible before it exited (code " + code + ")");
            if (code == signalExit) landed++;
            else assertEquals(0, code, "the child either finished or was stopped by the signal");
            assertEquals(Set.of(), names(javaTmp), "no staging file in the child's temporary directory");
            Map<String, byte[]> after = snapshot(outDir);
            assertEquals(old.keySet(), after.keySet(), "no temporary or partial file in the output directory");
            boolean allOld = true, allNew = true;
            for (String f : old.keySet()) {
                allOld &= java.util.Arrays.equals(previous.get(f), after.get(f));
                allNew &= java.util.Arrays.equals(fresh.get(f), after.get(f));
            }
            assertTrue(allOld || allNew, "the set is the whole previous one or the whole new one, not a mix");
            if (allNew) { // start the next attempt from the old set again
                assertEquals(0, start("-Xmx1g", javaTmp, oldRun).waitFor());
            }
        }
        assertEquals(1, landed, "the signal reached a child that was still writing");
    }

    /** Item 6: picocli hands only Exceptions to the handler; an OutOfMemoryError printed a 15-frame stack trace. */
    @Test
    void outOfMemoryIsOneLineWithTheHeapSize() throws Exception {
        int m = 50000, n = 10, dv = 300; // the output alone is 57 MiB
        Path q = npy("q.npy", new float[m], m, 1), k = npy("k.npy", new float[n], n, 1);
        Path v = npy("v.npy", new float[n * dv], n, dv);
        Path out = tmp.resolve("o.npy");
        Process p = start("-Xmx32m", Files.createDirectory(tmp.resolve("jtmp")), "attend", "--q", q.toString(), "--k",
                k.toString(), "--v", v.toString(), "--out", out.toString());
        String err = new String(p.getErrorStream().readAllBytes()).strip();
        assertEquals(1, p.waitFor(), err);
        assertEquals(1, err.lines().count(), "one line: " + err);
        assertTrue(err.startsWith("hsr: error: out of memory") && err.contains("32 MiB") && err.contains("HSR_JAVA_OPTS"),
                err);
        assertFalse(Files.exists(out));
    }

    /** Item 8: a valid .npy of more than 2 GiB failed with "capacity < 0" (exit 2); too big for the heap: exit 1. */
    @Test
    void aFileLargerThanTheHeapIsOneLineWithItsSize() throws Exception {
        int rows = (1 << 25) + 16, d = 16; // 2^31 + 1024 bytes of <f4, a sparse file
        Path big = tmp.resolve("big.npy");
        byte[] head = OutputsTest.raw("{'descr': '<f4', 'fortran_order': False, 'shape': (" + rows + ", " + d + "), }",
                new byte[0]);
        try (RandomAccessFile f = new RandomAccessFile(big.toFile(), "rw")) {
            f.write(head);
            f.setLength(head.length + 4L * rows * d);
        }
        Path k = npy("k.npy", new float[10 * d], 10, d), v = npy("v.npy", new float[10 * 2], 10, 2);
        Process p = start("-Xmx64m", Files.createDirectory(tmp.resolve("jtmp")), "attend", "--q", big.toString(), "--k",
                k.toString(), "--v", v.toString(), "--out", tmp.resolve("o.npy").toString());
        String err = new String(p.getErrorStream().readAllBytes()).strip();
        assertEquals(1, p.waitFor(), err);
        assertEquals(1, err.lines().count(), "one line: " + err);
        assertTrue(err.contains("2048.0 MiB") && err.contains("heap"), err);
        Files.delete(big);
    }
}
