package org.hsr.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.Selection;
import org.hsr.kv.KvCache;
import org.hsr.kv.KvShape;
import org.hsr.store.ElementType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Three members in this JVM on 127.0.0.1 and a client: sharded attention equals the single-node {@link KvCache} and
 * the float64 reference (ReLU within 1e-5; softmax {@code epsilon} within its merged certified bound); appends are
 * exactly once; bad requests fail alone; a member's loss (last) changes no answer.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ShardedKvCacheTest {

    static final List<HazelcastInstance> MEMBERS = new ArrayList<>();
    static HazelcastInstance client;
    static final String CLUSTER = "hsr-test-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
    /** Positions per append: single steps, bulk appends and appends across block boundaries (blocks of 128). */
    static final int[] APPENDS = {1, 200, 57, 300, 1, 140};
    static final int BLOCK = 128;

    @BeforeAll
    static void startCluster() throws IOException {
        List<String> join = new ArrayList<>();
        int[] ports = ClusterSetup.freePorts(3);
        for (int p : ports) join.add("127.0.0.1:" + p);
        for (int p : ports) MEMBERS.add(ClusterSetup.startMember(CLUSTER, "127.0.0.1", p, join));
        client = ClusterSetup.connect(CLUSTER, join, 30_000);
        assertEquals(3, client.getCluster().getMembers().size());
    }

    @AfterAll
    static void stopCluster() {
        if (client != null) client.shutdown();
        for (HazelcastInstance m : MEMBERS) m.getLifecycleService().terminate();
    }


    /** A sharded cache, a single-node cache and the float64 reference, fed the same appends. */
    record Trio(ShardedKvCache sharded, KvCache local, Reference[] ref) {}

    static Trio fill(String name, KvShape shape, AttentionConfig cfg, Selection sel, long seed) {
        return fill(name, shape, cfg, sel, seed, BLOCK, APPENDS);
    }

    static Trio fill(String name, KvShape shape, AttentionConfig cfg, Selection sel, long seed, int block, int[] appends) {
        ShardedKvCache sharded = ShardedKvCache.create(client, name, shape, block, cfg, sel);
        KvCache local = KvCache.builder(shape).attention(cfg).selection(sel).build();
        Reference[] ref = new Reference[shape.layers()];
        SplittableRandom r = new SplittableRandom(seed);
        for (int layer = 0; layer < shape.layers(); layer++) {
            ref[layer] = new Reference(shape);
            for (int n : appends) {
                float[] k = Reference.gaussian(r, n * shape.keyWidth(), 1), v = Reference.gaussian(r, n * shape.valueWidth(), 1);
                sharded.append(layer, k, 0, v, 0, n);
                local.append(layer, k, 0, v, 0, n);
                ref[layer].append(k, v, n);
            }
        }
        return new Trio(sharded, local, ref);
    }

    static final KvShape SHAPE = new KvShape(2, 8, 2, 32, 24, ElementType.BF16);

    @Test
    @Order(1)
    void reluEqualsSingleNodeAndFloat64InOneRoundForABatch() {
        AttentionConfig cfg = AttentionConfig.relu(2, 1.0f, false);
        Trio a = fill("relu-a", SHAPE, cfg, null, 1), b = fill("relu-b", SHAPE, cfg, null, 2);
        int n = APPENDS.length == 0 ? 0 : java.util.Arrays.stream(APPENDS).sum();
        assertEquals(n, a.sharded().length(1));
        SplittableRandom r = new SplittableRandom(3);
        int qw = SHAPE.queryWidth(), ow = SHAPE.outputWidth(), dv = SHAPE.valueDim();
        for (int trial = 0; trial < 4; trial++) {
            for (int layer = 0; layer < SHAPE.layers(); layer++) {
                float[] q = Reference.gaussian(r, 2 * qw, 2); // one position's heads for each of the two caches
                float[] out = new float[2 * ow];
                AttentionStats st = new AttentionStats();
                ShardedKvCache.attendBatch(layer, List.of(a.sharded(), b.sharded()), q, 0, 1, out, 0, SHAPE.heads(), st);
                assertEquals(2L * SHAPE.heads(), st.rows);
                for (int s = 0; s < 2; s++) {
                    Trio t = s == 0 ? a : b;
                    float[] qs = java.util.Arrays.copyOfRange(q, s * qw, (s + 1) * qw);
                    float[] mine = java.util.Arrays.copyOfRange(out, s * ow, (s + 1) * ow), single = new float[ow];
                    t.local().attend(layer, qs, 0, single, 0);
                    double[] ref = t.ref()[layer].attend(qs, SHAPE.heads(), cfg);
                    double errRef = Reference.rowRelError(mine, ref, dv);
                    assertTrue(errRef <= 1e-5, "sharded vs float64: " + errRef);
                    double[] single64 = new double[ow];
                    for (int i = 0; i < ow; i++) single64[i] = single[i];
                    double errLocal = Reference.rowRelError(mine, single64, dv);
                    assertTrue(errLocal <= 1e-5, "sharded vs single node: " + errLocal);
                }
            }
        }
    }

    @Test
    @Order(2)
    void softmaxEpsilonIsWithinTheMergedCertifiedBound() {
        for (ElementType type : new ElementType[] {ElementType.FP32, ElementType.FP16}) {
            KvShape shape = new KvShape(1, 4, 2, 32, 32, type);
            AttentionConfig cfg = AttentionConfig.softmax(false);
            Selection eps = Selection.parse("epsilon:1e-3");
            // blocks of 2048: the epsilon walk needs keys enough to drop (on a few hundred it goes dense)
            Trio t = fill("eps-" + type.label(), shape, cfg, eps, 5, 2048, new int[] {1, 2000, 1500, 999, 1500});
            ShardedKvCache exact = ShardedKvCache.open(client, "eps-" + type.label(), cfg, null);
            double vMax = t.ref()[0].maxAbsValue(), largest = 0;
            SplittableRandom r = new SplittableRandom(6);
            for (int trial = 0; trial < 6; trial++) {
                float[] q = Reference.gaussian(r, shape.queryWidth(), 6); // peaked: epsilon drops keys
                float[] out = new float[shape.outputWidth()], dense = new float[shape.outputWidth()];
                AttentionStats st = new AttentionStats();
                t.sharded().attend(0, q, 0, 1, out, 0, shape.heads(), st);
                exact.attend(0, q, 0, dense, 0);
                double[] ref = t.ref()[0].attend(q, shape.heads(), cfg);
                double bound = st.droppedMassBoundMax;
                assertTrue(bound <= 1e-3, "merged bound " + bound + " > E");
                largest = Math.max(largest, bound);
                for (int i = 0; i < out.length; i++) {
                    assertTrue(Math.abs(out[i] - ref[i]) <= 2 * bound * vMax + 1e-5, type + ": |out - ref| = "
                            + Math.abs(out[i] - ref[i]) + " > 2·" + bound + "·max|V|");
                }
                assertTrue(Reference.rowRelError(dense, ref, shape.valueDim()) <= 1e-5, "exact softmax vs float64");
                assertTrue(st.keptKeys < st.visibleKeys, "epsilon kept every key: " + st.keptKeys);
            }
            assertTrue(largest > 0, "no row dropped anything: the bound was never exercised");
        }
    }

    @Test
    @Order(3)
    void emptyRowsAndAnEmptyCacheGiveZeros() {
        KvShape shape = new KvShape(1, 2, 1, 16, 16, ElementType.FP32);
        AttentionConfig far = AttentionConfig.relu(1, 1e6f, false); // no score reaches the bias
        Trio t = fill("empty-rows", shape, far, null, 7);
        float[] out = new float[shape.outputWidth()];
        java.util.Arrays.fill(out, 9f);
        AttentionStats st = new AttentionStats();
        t.sharded().attend(0, Reference.gaussian(new SplittableRandom(8), shape.queryWidth(), 1), 0, 1, out, 0, 2, st);
        assertArrayEquals(new float[out.length], out);
        assertEquals(2, st.emptyRows);
        ShardedKvCache none = ShardedKvCache.create(client, "nothing-yet", shape, BLOCK, far, null);
        java.util.Arrays.fill(out, 9f);
        none.attend(0, new float[shape.queryWidth()], 0, out, 0);
        assertArrayEquals(new float[out.length], out);
    }

    @Test
    @Order(4)
    void aRepeatedAppendLandsOnceAndAGapIsRefused() {
        KvShape shape = new KvShape(1, 2, 2, 8, 8, ElementType.FP32);
        AttentionConfig cfg = AttentionConfig.relu(1, 0f, false);
        ShardedKvCache c = ShardedKvCache.create(client, "once", shape, BLOCK, cfg, null);
        SplittableRandom r = new SplittableRandom(9);
        float[] k = Reference.gaussian(r, 10 * shape.keyWidth(), 1), v = Reference.gaussian(r, 10 * shape.valueWidth(), 1);
        c.append(0, k, 0, v, 0, 10);
        float[] q = Reference.gaussian(r, shape.queryWidth(), 1), before = new float[shape.outputWidth()];
        c.attend(0, q, 0, before, 0);
        // what a retry after a member loss sends again: the same rows at the same place, the same length move
        IMap<String, KvBlock> blocks = client.getMap(ClusterSetup.BLOCKS);
        IMap<String, CacheMeta> caches = client.getMap(ClusterSetup.CACHES);
        CacheMeta meta = caches.get("once");
        assertEquals(10, blocks.executeOnKey(BlockOps.key("once", 0, 0), new BlockOps.Append(meta, 0, k, v, 10)));
        assertEquals(10, caches.executeOnKey("once", new CacheMeta.Advance(0, 0, 10)));
        assertEquals(10, c.length(0));
        float[] after = new float[shape.outputWidth()];
        c.attend(0, q, 0, after, 0);
        assertArrayEquals(before, after);
        // rows past the block's end, and a length move from a stale start: refused
        var gap = assertThrows(IllegalStateException.class, () -> blocks.executeOnKey(BlockOps.key("once", 0, 0),
                new BlockOps.Append(meta, 12, k, v, 10)));
        assertTrue(gap.getMessage().contains("gap"), gap.getMessage());
        assertThrows(IllegalStateException.class, () -> caches.executeOnKey("once", new CacheMeta.Advance(0, 3, 13)));
        assertEquals(10, c.length(0));
        assertEquals(3, client.getCluster().getMembers().size());
    }

    /**
     * Issue 24 item 8: a put sent in pieces committed each piece, so a writer that died half-way left part of its
     * rows committed, and the same put run again appended all of them after those. Now the pieces are stored, then
     * committed once: a writer that fails half-way (here: a block of another shape where its 4th piece goes) commits
     * nothing, and the same put again lands every row once.
     */
    @Test
    @Order(4)
    void aPutThatFailsHalfWayCommitsNothingAndTheSamePutAgainLandsOnce() {
        KvShape shape = new KvShape(1, 1, 1, 8, 8, ElementType.FP32);
        AttentionConfig cfg = AttentionConfig.relu(1, 0f, false);
        ShardedKvCache c = ShardedKvCache.create(client, "half", shape, 16, cfg, null);
        SplittableRandom r = new SplittableRandom(10);
        int n = 100;
        float[] k = Reference.gaussian(r, n * shape.keyWidth(), 1), v = Reference.gaussian(r, n * shape.valueWidth(), 1);
        IMap<String, KvBlock> blocks = client.getMap(ClusterSetup.BLOCKS);
        String blocker = BlockOps.key("half", 0, 4); // positions 64..79: the 4th piece of 20
        blocks.put(blocker, new KvBlock(ElementType.FP32, 1, 4, 4, 16));
        assertThrows(RuntimeException.class, () -> c.append(0, k, 0, v, 0, n, 20));
        assertEquals(0, c.length(0), "nothing of a failed put is committed");
        assertTrue(blocks.containsKey(BlockOps.key("half", 0, 0)), "its first pieces were stored, uncommitted");
        blocks.remove(blocker);
        c.append(0, k, 0, v, 0, n, 20); // the same put again
        assertEquals(n, c.length(0));
        float[] q = Reference.gaussian(r, shape.queryWidth(), 1), want = new float[shape.outputWidth()],
                got = new float[shape.outputWidth()];
        try (KvCache local = KvCache.builder(shape).attention(cfg).build()) {
            local.append(0, k, 0, v, 0, n);
            local.attend(0, q, 0, want, 0);
        }
        c.attend(0, q, 0, got, 0);
        for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 1e-5 * Math.max(1, Math.abs(want[i])));
        assertEquals(n, c.info().members().values().stream().mapToLong(ShardedKvCache.Info.Member::positions).sum());
    }

    @Test
    @Order(5)
    void badRequestsFailAloneAndEveryMemberStays() {
        KvShape shape = new KvShape(1, 4, 2, 8, 8, ElementType.FP16);
        AttentionConfig cfg = AttentionConfig.relu(1, 0f, false);
        ShardedKvCache c = ShardedKvCache.create(client, "bad", shape, BLOCK, cfg, null);
        float[] k = new float[3 * shape.keyWidth()], v = new float[3 * shape.valueWidth()];
        c.append(0, k, 0, v, 0, 3);
        float[] nan = k.clone();
        nan[5] = Float.NaN;
        assertThrows(IllegalArgumentException.class, () -> c.append(0, nan, 0, v, 0, 3));
        float[] huge = k.clone();
        huge[1] = 70000f; // beyond fp16
        assertThrows(IllegalArgumentException.class, () -> c.append(0, huge, 0, v, 0, 3));
        assertThrows(IllegalArgumentException.class, () -> c.append(0, k, 0, v, 0, 4)); // too few floats
        assertThrows(IllegalArgumentException.class, () -> c.append(1, k, 0, v, 0, 3)); // no layer 1
        float[] q = new float[shape.queryWidth()], out = new float[shape.outputWidth()];
        assertThrows(IllegalArgumentException.class, () -> c.attend(0, new float[3], 0, out, 0));
        float[] qNan = q.clone();
        qNan[0] = Float.NaN;
        assertThrows(IllegalArgumentException.class, () -> c.attend(0, qNan, 0, out, 0));
        assertThrows(IllegalArgumentException.class, () -> c.attend(0, q, 0, 1, out, 0, 3, null)); // 3 % 2 != 0
        assertThrows(IllegalArgumentException.class, () -> ShardedKvCache.open(client, "no-such-cache", cfg, null));
        assertThrows(IllegalArgumentException.class, () -> ShardedKvCache.open(client, "bad/name", cfg, null));
        assertThrows(IllegalArgumentException.class, () -> ShardedKvCache.create(client, "bad",
                new KvShape(1, 4, 2, 8, 8, ElementType.BF16), BLOCK, cfg, null)); // another element type
        // requests a client would never send, straight to the members: they fail, the members stay
        IMap<String, KvBlock> blocks = client.getMap(ClusterSetup.BLOCKS);
        CacheMeta meta = client.<String, CacheMeta>getMap(ClusterSetup.CACHES).get("bad");
        assertThrows(IllegalArgumentException.class, () -> blocks.executeOnKey(BlockOps.key("bad", 0, 0),
                new BlockOps.Append(meta, 3, nan, v, 3)));
        assertThrows(IllegalArgumentException.class, () -> blocks.executeOnKey(BlockOps.key("bad", 0, 0),
                new BlockOps.Append(meta, 3, k, v, 2)));
        assertEquals(3, client.getCluster().getMembers().size());
        assertEquals(3, c.length(0));
        c.attend(0, q, 0, out, 0); // still answers
    }

    @Test
    @Order(6)
    void infoCountsEveryPositionOnTheMembersThatHoldIt() {
        ShardedKvCache c = ShardedKvCache.open(client, "relu-a", AttentionConfig.relu(2, 1.0f, false), null);
        ShardedKvCache.Info info = c.info();
        assertEquals(3, info.members().size());
        int n = java.util.Arrays.stream(APPENDS).sum();
        long total = info.members().values().stream().mapToLong(ShardedKvCache.Info.Member::positions).sum();
        assertEquals((long) SHAPE.layers() * n, total);
        assertTrue(info.members().values().stream().filter(m -> m.blocks() > 0).count() >= 2,
                "blocks spread over fewer than 2 members: " + info.members());
        assertEquals(1, info.backups());
        assertTrue(info.members().values().stream().mapToLong(ShardedKvCache.Info.Member::storedBytes).sum()
                >= (long) SHAPE.layers() * n * (SHAPE.keyWidth() + SHAPE.valueWidth()) * 2, "stored bytes below bf16 K and V");
    }

    @Test
    @Order(7)
    void truncateForgetsThePositionsPastTheNewEnd() {
        AttentionConfig cfg = AttentionConfig.relu(2, 0.5f, false);
        KvShape shape = new KvShape(2, 4, 2, 16, 16, ElementType.BF16);
        Trio t = fill("truncated", shape, cfg, null, 14);
        SplittableRandom r = new SplittableRandom(15);
        float[] q = Reference.gaussian(r, shape.queryWidth(), 2);
        for (int length : new int[] {450, 256}) { // inside a block, then on a block boundary
            t.sharded().truncate(length);
            for (Reference ref : t.ref()) ref.truncate(length);
            for (int layer = 0; layer < 2; layer++) {
                assertEquals(length, t.sharded().length(layer));
                float[] out = new float[shape.outputWidth()];
                t.sharded().attend(layer, q, 0, out, 0);
                assertTrue(Reference.rowRelError(out, t.ref()[layer].attend(q, shape.heads(), cfg), 16) <= 1e-5);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> t.sharded().truncate(300)); // past the end
        for (int layer = 0; layer < 2; layer++) { // appends after a truncate land where it ended
            float[] k = Reference.gaussian(r, 100 * shape.keyWidth(), 1), v = Reference.gaussian(r, 100 * shape.valueWidth(), 1);
            t.sharded().append(layer, k, 0, v, 0, 100);
            t.ref()[layer].append(k, v, 100);
            float[] out = new float[shape.outputWidth()];
            t.sharded().attend(layer, q, 0, out, 0);
            assertTrue(Reference.rowRelError(out, t.ref()[layer].attend(q, shape.heads(), cfg), 16) <= 1e-5);
        }
        assertEquals(2L * 356, t.sharded().info().members().values().stream()
                .mapToLong(ShardedKvCache.Info.Member::positions).sum());
    }

    @Test
    @Order(8)
    void withTheIndexHeapSpentBlocksIndexForOneRoundAndAnswerTheSame() {
        AttentionConfig cfg = AttentionConfig.relu(2, 1.0f, false);
        ShardedKvCache c = ShardedKvCache.open(client, "relu-b", cfg, null);
        float[] q = Reference.gaussian(new SplittableRandom(13), SHAPE.queryWidth(), 2);
        float[] kept = new float[SHAPE.outputWidth()], oneRound = new float[SHAPE.outputWidth()];
        c.attend(0, q, 0, kept, 0);
        int before = c.info().members().values().stream().mapToInt(ShardedKvCache.Info.Member::roundIndexBuilds).sum();
        // a budget of one byte: no block may keep an index, so each builds one per round (the members are in this JVM)
        ShardedKvCache d = ShardedKvCache.open(client, "relu-b", AttentionConfig.relu(2, 1.0f, false).withScale(0.2f), null);
        System.setProperty("hsr.cluster.indexBytes", "1");
        try {
            float[] other = new float[SHAPE.outputWidth()];
            d.attend(0, q, 0, other, 0); // other settings: every block needs a new index, none may keep it
            d.attend(0, q, 0, other, 0);
            int after = c.info().members().values().stream().mapToInt(ShardedKvCache.Info.Member::roundIndexBuilds).sum();
            int blocks = (java.util.Arrays.stream(APPENDS).sum() + BLOCK - 1) / BLOCK;
            assertEquals(before + 2 * blocks, after, "each block of layer 0 built an index for each of the two rounds");
        } finally {
            System.clearProperty("hsr.cluster.indexBytes");
        }
        c.attend(0, q, 0, oneRound, 0);
        assertArrayEquals(kept, oneRound);
    }

    @Test
    @Order(9)
    void losingAMemberChangesNoAnswerAndLosesNoPosition() {
        AttentionConfig cfg = AttentionConfig.relu(2, 1.0f, false);
        KvShape shape = new KvShape(1, 4, 2, 16, 16, ElementType.FP32);
        Trio t = fill("survivor", shape, cfg, null, 11);
        SplittableRandom r = new SplittableRandom(12);
        float[][] qs = new float[3][], before = new float[3][];
        for (int i = 0; i < 3; i++) {
            qs[i] = Reference.gaussian(r, shape.queryWidth(), 2);
            before[i] = new float[shape.outputWidth()];
            t.sharded().attend(0, qs[i], 0, before[i], 0);
        }
        int n = t.sharded().length(0);
        MEMBERS.remove(2).getLifecycleService().terminate(); // as a crash: no graceful hand-over
        assertEquals(n, t.sharded().length(0));
        for (int i = 0; i < 3; i++) {
            float[] after = new float[shape.outputWidth()];
            t.sharded().attend(0, qs[i], 0, after, 0);
            double[] b64 = new double[after.length];
            for (int j = 0; j < after.length; j++) b64[j] = before[i][j];
            assertTrue(Reference.rowRelError(after, b64, shape.valueDim()) <= 1e-6, "answer changed after the loss");
        }
        float[] k = Reference.gaussian(r, 300 * shape.keyWidth(), 1), v = Reference.gaussian(r, 300 * shape.valueWidth(), 1);
        t.sharded().append(0, k, 0, v, 0, 300);
        t.ref()[0].append(k, v, 300);
        assertEquals(n + 300, t.sharded().length(0));
        float[] out = new float[shape.outputWidth()];
        t.sharded().attend(0, qs[0], 0, out, 0);
        assertTrue(Reference.rowRelError(out, t.ref()[0].attend(qs[0], shape.heads(), cfg), shape.valueDim()) <= 1e-5);
        ShardedKvCache.Info info = t.sharded().info();
        assertEquals(2, info.members().size());
        assertEquals(n + 300, info.members().values().stream().mapToLong(ShardedKvCache.Info.Member::positions).sum());
    }
}
