package org.hsr.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.hazelcast.core.HazelcastInstance;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.Selection;
import org.hsr.kv.KvShape;
import org.hsr.store.ElementType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three members as separate processes ({@link ClusterMember}, what {@code hsr cluster serve} runs), a client here:
 * one member is killed with SIGKILL ({@link Process#destroyForcibly}) while a writer appends; afterwards every answer
 * is the same, no committed position is lost, and every append (during and after the kill) is there exactly once.
 */
class ClusterFaultTest {

    /** The JDK 25 flags of issue 17 for Hazelcast (the surefire argLine of this module carries them too). */
    static final List<String> HAZELCAST_FLAGS = List.of("--add-modules", "java.se",
            "--add-exports", "java.base/jdk.internal.ref=ALL-UNNAMED", "--add-opens", "java.base/java.lang=ALL-UNNAMED",
            "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED", "--add-opens", "java.management/sun.management=ALL-UNNAMED",
            "--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow");

    final List<Process> members = new ArrayList<>();
    HazelcastInstance client;

    @AfterEach
    void stop() {
        if (client != null) client.shutdown();
        for (Process p : members) p.destroyForcibly();
    }

    /** Starts one member process; returns once it printed its ready line. */
    static Process startMember(String cluster, int port, String join, Path log) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.addAll(HAZELCAST_FLAGS);
        cmd.addAll(List.of("-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
                ClusterMember.class.getName(), "--name", cluster, "--port", Integer.toString(port), "--join", join));
        return new ProcessBuilder(cmd).redirectError(log.toFile()).start();
    }

    static void awaitReady(Process p, Path log) throws Exception {
        CompletableFuture<String> line = CompletableFuture.supplyAsync(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String s; (s = r.readLine()) != null; ) if (s.contains("ready")) return s;
                return null;
            } catch (IOException e) {
                return null;
            }
        });
        String got = line.get(90, TimeUnit.SECONDS);
        assertTrue(got != null, "member exited before ready: " + Files.readString(log));
    }

    @Test
    void sigkillOfAMemberLosesNoPositionAndChangesNoAnswer(@TempDir Path dir) throws Exception {
        String cluster = "hsr-fault-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        int[] ports = ClusterSetup.freePorts(3);
        String join = "127.0.0.1:" + ports[0] + ",127.0.0.1:" + ports[1] + ",127.0.0.1:" + ports[2];
        for (int i = 0; i < 3; i++) members.add(startMember(cluster, ports[i], join, dir.resolve("member" + i + ".log")));
        for (int i = 0; i < 3; i++) awaitReady(members.get(i), dir.resolve("member" + i + ".log"));
        client = ClusterSetup.connect(cluster, ClusterSetup.parseJoin(join), 60_000);
        long t0 = System.nanoTime();
        while (client.getCluster().getMembers().size() < 3 && System.nanoTime() - t0 < 60e9) Thread.sleep(100);
        assertEquals(3, client.getCluster().getMembers().size());

        KvShape shape = new KvShape(2, 4, 2, 16, 16, ElementType.BF16);
        AttentionConfig relu = AttentionConfig.relu(2, 0.8f, false), softmax = AttentionConfig.softmax(false);
        // "still": filled before the kill, never appended to after it; "doc": a writer appends to it through the kill
        ShardedKvCache still = ShardedKvCache.create(client, "still", shape, 64, relu, null);
        ShardedKvCache stillSoftmax = ShardedKvCache.open(client, "still", softmax, Selection.parse("dense"));
        ShardedKvCache doc = ShardedKvCache.create(client, "doc", shape, 64, relu, null);
        ShardedKvCache docSoftmax = ShardedKvCache.open(client, "doc", softmax, Selection.parse("dense"));
        Reference[] stillRef = {new Reference(shape), new Reference(shape)}, docRef = {new Reference(shape), new Reference(shape)};
        SplittableRandom r = new SplittableRandom(21);
        appendSteps(still, stillRef, r, 40, 13, 0); // 520 positions per layer, blocks of 64
        appendSteps(doc, docRef, r, 10, 13, 0);
        int n = still.length(0), docBefore = doc.length(0);
        float[][] qs = new float[4][];
        float[][][] before = new float[4][2][];
        for (int i = 0; i < qs.length; i++) {
            qs[i] = Reference.gaussian(r, shape.queryWidth(), 2);
            before[i][0] = new float[shape.outputWidth()];
            before[i][1] = new float[shape.outputWidth()];
            still.attend(i % 2, qs[i], 0, before[i][0], 0);
            stillSoftmax.attend(i % 2, qs[i], 0, before[i][1], 0);
        }

        // the writer appends 60 steps of 7 positions (a pause between steps); member 1 is killed after its 10th
        int steps = 60, size = 7;
        CompletableFuture<Void> writer = CompletableFuture.runAsync(
                () -> appendSteps(doc, docRef, new SplittableRandom(22), steps, size, 20));
        t0 = System.nanoTime();
        while (doc.length(1) < docBefore + 10 * size && System.nanoTime() - t0 < 60e9) Thread.sleep(5);
        assertTrue(!writer.isDone(), "the writer finished before the kill");
        members.get(1).destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        writer.get(180, TimeUnit.SECONDS);
        t0 = System.nanoTime();
        while (client.getCluster().getMembers().size() > 2 && System.nanoTime() - t0 < 60e9) Thread.sleep(100);
        assertEquals(2, client.getCluster().getMembers().size());

        // the same queries give the same answers, over the same positions
        assertEquals(n, still.length(0));
        assertEquals(n, still.length(1));
        for (int i = 0; i < qs.length; i++) {
            float[] relu1 = new float[shape.outputWidth()], soft1 = new float[shape.outputWidth()];
            still.attend(i % 2, qs[i], 0, relu1, 0);
            stillSoftmax.attend(i % 2, qs[i], 0, soft1, 0);
            assertTrue(Reference.rowRelError(relu1, widen(before[i][0]), 16) <= 1e-6, "relu answer changed");
            assertTrue(Reference.rowRelError(soft1, widen(before[i][1]), 16) <= 1e-6, "softmax answer changed");
        }
        // every append of the writer is there exactly once: the length, and the float64 reference over all of them
        int after = docBefore + steps * size;
        assertEquals(after, doc.length(0));
        assertEquals(after, doc.length(1));
        for (int i = 0; i < qs.length; i++) {
            int layer = i % 2;
            float[] relu1 = new float[shape.outputWidth()], soft1 = new float[shape.outputWidth()];
            doc.attend(layer, qs[i], 0, relu1, 0);
            docSoftmax.attend(layer, qs[i], 0, soft1, 0);
            assertTrue(Reference.rowRelError(relu1, docRef[layer].attend(qs[i], shape.heads(), relu), 16) <= 1e-5, "relu");
            assertTrue(Reference.rowRelError(soft1, docRef[layer].attend(qs[i], shape.heads(), softmax), 16) <= 1e-5,
                    "softmax");
        }
        ShardedKvCache.Info info = doc.info();
        assertEquals(2, info.members().size());
        assertEquals(2L * after, info.members().values().stream().mapToLong(ShardedKvCache.Info.Member::positions).sum());
    }

    static double[] widen(float[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = x[i];
        return y;
    }

    /** {@code steps} appends of {@code size} positions to both layers, mirrored in the references. */
    static void appendSteps(ShardedKvCache c, Reference[] ref, SplittableRandom r, int steps, int size, long pauseMs) {
        KvShape s = c.shape();
        for (int i = 0; i < steps; i++) {
            if (pauseMs > 0) {
                try {
                    Thread.sleep(pauseMs);
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            }
            for (int layer = 0; layer < s.layers(); layer++) {
                float[] k = Reference.gaussian(r, size * s.keyWidth(), 1), v = Reference.gaussian(r, size * s.valueWidth(), 1);
                c.append(layer, k, 0, v, 0, size);
                ref[layer].append(k, v, size);
            }
        }
    }
}
