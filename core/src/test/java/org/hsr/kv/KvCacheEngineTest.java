package org.hsr.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.hsr.TestData;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.Selection;
import org.hsr.index.BlockIndex;
import org.hsr.store.ElementType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What an engine relies on beyond the answers: no deadlock when the engine and the cache share a pool, no step that
 * pays every head's fold, a closed cache that says so, misuse that is refused instead of silently wrong, and heads
 * that do not prune costing a dense pass (chosen per head) while the answers stay exact.
 */
class KvCacheEngineTest {

    /**
     * Callers running on the very fixed pool that the caches use for their kv heads (pool sizes 1, 2 and 4, as many
     * callers as threads, each decoding its own sequence): every call finishes, with the answers of an inline cache.
     * A fork-join that waits for queued tasks deadlocks here as soon as every pool thread is such a caller.
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 4})
    void callersOnTheCachesOwnPoolDoNotDeadlock(int threads) throws Exception {
        KvShape shape = new KvShape(2, 8, 4, 16, 16, ElementType.BF16);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
                List<Future<float[]>> runs = new ArrayList<>();
                for (int c = 0; c < threads; c++) {
                    long seed = 11 + c;
                    runs.add(pool.submit(() -> decode(shape, pool, seed)));
                }
                for (int c = 0; c < threads; c++) {
                    float[] inline = decode(shape, null, 11 + c), pooled = runs.get(c).get();
                    // equal up to the last bits: which kernel form a thread runs depends on when the JIT compiled it
                    for (int i = 0; i < inline.length; i++) {
                        assertEquals(inline[i], pooled[i], 1e-6f * (1 + Math.abs(inline[i])), "caller " + c + " [" + i + "]");
                    }
                }
            });
        } finally {
            pool.shutdownNow();
        }
    }

    /** 300 decoding steps of one sequence (append, attend) on a cache using {@code executor}; the last outputs. */
    private static float[] decode(KvShape shape, ExecutorService executor, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] out = new float[shape.outputWidth()];
        try (KvCache cache = KvCache.builder(shape).attention(AttentionConfig.relu(1, 0.5f, false)).executor(executor)
                .build()) {
            for (int step = 0; step < 300; step++) {
                for (int layer = 0; layer < shape.layers(); layer++) {
                    cache.append(layer, TestData.gaussian(r, shape.keyWidth()), 0,
                            TestData.gaussian(r, shape.valueWidth()), 0, 1);
                    cache.attend(layer, TestData.gaussian(r, shape.queryWidth()), 0, out, 0);
                }
            }
        }
        return out;
    }

    /**
     * Fold phases: decoding one position at a time past two folds of every head (after a bulk prefill, a head's first
     * fold waits until its tail holds FOLD/2 keys, then comes at its phase), no step folds more than one of the
     * 16 (layer, kv head) indexes, and every index folds (so the walk has blocks). Before, every head folded on the
     * same step (4096, 8192, ...): one token paid all of them.
     */
    @Test
    void decodingNeverFoldsTwoHeadsOnOneStep() {
        KvShape shape = new KvShape(4, 8, 4, 8, 4, ElementType.BF16);
        SplittableRandom r = new SplittableRandom(3);
        int slots = shape.layers() * shape.kvHeads(), steps = 2 * BlockIndex.FOLD + BlockIndex.FOLD / 2 + 300;
        try (KvCache cache = KvCache.builder(shape).build()) {
            // a bulk prefill first, as an engine does: it folds every head at once, and the phases must survive it
            int prompt = 5000;
            for (int layer = 0; layer < shape.layers(); layer++) {
                cache.append(layer, TestData.gaussian(r, prompt * shape.keyWidth()), 0,
                        TestData.gaussian(r, prompt * shape.valueWidth()), 0, prompt);
            }
            int[] folded = new int[slots];
            for (int s = 0; s < slots; s++) folded[s] = cache.foldedKeys(s / shape.kvHeads(), s % shape.kvHeads());
            int worst = 0, foldsSeen = 0;
            for (int step = 0; step < steps; step++) {
                int foldsThisStep = 0;
                for (int layer = 0; layer < shape.layers(); layer++) {
                    cache.append(layer, TestData.gaussian(r, shape.keyWidth()), 0,
                            TestData.gaussian(r, shape.valueWidth()), 0, 1);
                    for (int h = 0; h < shape.kvHeads(); h++) {
                        int now = cache.foldedKeys(layer, h), s = layer * shape.kvHeads() + h;
                        if (now != folded[s]) foldsThisStep++;
                        folded[s] = now;
                    }
                }
                worst = Math.max(worst, foldsThisStep);
                foldsSeen += foldsThisStep;
            }
            assertEquals(1, worst, "most heads folded on one step");
            assertTrue(foldsSeen >= 2 * slots, "folds seen " + foldsSeen + " for " + slots + " heads");
            for (int s = 0; s < slots; s++) {
                int tail = prompt + steps - folded[s];
                assertTrue(tail <= BlockIndex.FOLD + BlockIndex.FOLD / 2, "head " + s + " tail " + tail);
            }
        }
    }

    /** reset() starts a new sequence: empty, statistics cleared, and the next sequence's answers as a new cache's. */
    @Test
    void resetGivesANewCachesAnswers() {
        KvShape shape = KvShape.of(2, 4, 2, 16, ElementType.BF16);
        SplittableRandom r = new SplittableRandom(6);
        float[] k = TestData.gaussian(r, 5000 * shape.keyWidth()), v = TestData.gaussian(r, 5000 * shape.valueWidth());
        float[] q = TestData.gaussian(r, shape.queryWidth());
        float[] fresh = new float[shape.outputWidth()], reused = new float[shape.outputWidth()];
        var cfg = AttentionConfig.relu(1, 0.3f, false);
        try (KvCache a = KvCache.builder(shape).attention(cfg).build();
             KvCache b = KvCache.builder(shape).attention(cfg).build()) {
            for (int layer = 0; layer < 2; layer++) b.append(layer, v, 0, k, 0, 4800); // another sequence first
            b.attend(1, q, 0, reused, 0);
            b.reset();
            assertEquals(0, b.length(0));
            assertEquals(0, b.stats().rows);
            for (int layer = 0; layer < 2; layer++) {
                a.append(layer, k, 0, v, 0, 5000);
                b.append(layer, k, 0, v, 0, 5000);
            }
            a.attend(1, q, 0, fresh, 0);
            b.attend(1, q, 0, reused, 0);
            assertArrayEquals(fresh, reused);
            assertEquals(a.memoryBytes(), b.memoryBytes());
        }
    }

    /** SPEC §5 for the Java API: a closed cache says so on every call, and close is idempotent. */
    @Test
    void callsAfterCloseThrowIllegalState() {
        KvShape shape = KvShape.of(1, 2, 1, 8, ElementType.FP16);
        KvCache c = KvCache.builder(shape).build();
        float[] k = new float[8], v = new float[8], q = new float[16], out = new float[16];
        c.append(0, k, 0, v, 0, 1);
        c.close();
        c.close();
        List<Runnable> calls = List.of(() -> c.append(0, k, 0, v, 0, 1), () -> c.attend(0, q, 0, out, 0),
                () -> c.length(0), () -> c.truncate(0), () -> c.readKey(0, 0, 0, k, 0), () -> c.readValue(0, 0, 0, v, 0),
                () -> c.memoryBytes(), () -> c.stats(),
                () -> c.attendPartial(0, q, 0, out, 0, new double[2], new double[2], 0));
        for (Runnable call : calls) {
            var e = assertThrows(IllegalStateException.class, call::run);
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
        }
        assertEquals(shape, c.shape());
    }

    /** Misuse that used to fail deep inside (or give a different answer silently) is refused, naming the argument. */
    @Test
    void misuseIsRefusedNamingTheArgument() {
        KvShape shape = KvShape.of(1, 4, 2, 8, ElementType.BF16);
        try (KvCache c = KvCache.builder(shape).build(); Arena arena = Arena.ofConfined()) {
            SplittableRandom r = new SplittableRandom(1);
            c.append(0, TestData.gaussian(r, 3 * shape.keyWidth()), 0, TestData.gaussian(r, 3 * shape.valueWidth()), 0, 3);
            var e = assertThrows(IllegalArgumentException.class, () -> c.readKey(0, 1, 2, new float[7], 0));
            assertTrue(e.getMessage().startsWith("out"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> c.readValue(0, 1, 2, new float[8], 1));
            MemorySegment seg = arena.allocate(64);
            e = assertThrows(IllegalArgumentException.class, () -> c.append(0, seg, 0, seg, 0, Integer.MAX_VALUE));
            assertTrue(e.getMessage().contains("positions"), e.getMessage());
            // q and out in one array, overlapping: the outputs would overwrite queries still to be read
            float[] both = TestData.gaussian(r, shape.queryWidth() + 4);
            e = assertThrows(IllegalArgumentException.class, () -> c.attend(0, both, 0, both, 4));
            assertTrue(e.getMessage().contains("overlaps"), e.getMessage());
            float[] apart = new float[2 * shape.queryWidth()];
            System.arraycopy(both, 0, apart, 0, shape.queryWidth());
            c.attend(0, apart, 0, apart, shape.queryWidth()); // one array, disjoint ranges: fine
            assertEquals(3, c.length(0));
        }
        // a shape whose widths overflow an int
        var e = assertThrows(IllegalArgumentException.class,
                () -> KvShape.of(1, 1 << 16, 1 << 16, 1 << 16, ElementType.BF16));
        assertTrue(e.getMessage().contains("floats per position"), e.getMessage());
    }

    /**
     * Two threads on one cache at once (against the contract): the second gets an IllegalStateException naming the
     * misuse, instead of outputs that are silently wrong; the first call finishes with the right answer.
     */
    @Test
    void aSecondThreadInsideACallIsRefused() throws Exception {
        KvShape shape = KvShape.of(1, 4, 2, 8, ElementType.FP32);
        CountDownLatch inside = new CountDownLatch(1), release = new CountDownLatch(1);
        // an executor that holds the first call inside the cache until the second thread has tried
        java.util.concurrent.Executor holding = task -> {
            inside.countDown();
            try {
                release.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
            }
            task.run();
        };
        SplittableRandom r = new SplittableRandom(2);
        float[] k = TestData.gaussian(r, 5 * shape.keyWidth()), v = TestData.gaussian(r, 5 * shape.valueWidth());
        float[] q = TestData.gaussian(r, shape.queryWidth());
        float[] expected = new float[shape.outputWidth()], got = new float[shape.outputWidth()];
        try (KvCache ref = KvCache.builder(shape).build(); KvCache c = KvCache.builder(shape).executor(holding).build()) {
            ref.append(0, k, 0, v, 0, 5);
            ref.attend(0, q, 0, expected, 0);
            c.append(0, k, 0, v, 0, 5);
            Thread first = new Thread(() -> c.attend(0, q, 0, got, 0));
            first.start();
            assertTrue(inside.await(30, TimeUnit.SECONDS));
            var e = assertThrows(IllegalStateException.class, () -> c.attend(0, q, 0, new float[got.length], 0));
            assertTrue(e.getMessage().contains("one thread at a time"), e.getMessage());
            assertThrows(IllegalStateException.class, () -> c.append(0, k, 0, v, 0, 1));
            release.countDown();
            first.join(30_000);
            assertArrayEquals(expected, got);
            assertEquals(5, c.length(0));
        }
    }

    /**
     * Per-head choice: a kv head whose rows are flat (every key matters) is computed densely on most steps, visible in
     * the statistics, while a peaked head of the same cache walks its index every step; both stay within the
     * certified bound of float64 softmax on the stored values.
     */
    @Test
    void broadHeadsRunDenseAndPeakedHeadsWalk() {
        KvShape shape = new KvShape(2, 2, 1, 32, 16, ElementType.BF16);
        SplittableRandom r = new SplittableRandom(8);
        int n = 12000, steps = 200;
        try (KvCache cache = KvCache.builder(shape).attention(AttentionConfig.softmax(false))
                .selection(Selection.parse("epsilon:1e-3")).build()) {
            KvCacheTest.Mirror mirror = new KvCacheTest.Mirror(shape, n + steps);
            for (int layer = 0; layer < 2; layer++) {
                float[] k = TestData.gaussian(r, n * shape.keyWidth()), v = TestData.gaussian(r, n * shape.valueWidth());
                cache.append(layer, k, 0, v, 0, n);
                mirror.append(layer, k, v, n);
            }
            var broad = new org.hsr.attention.AttentionStats();
            var peaked = new org.hsr.attention.AttentionStats();
            double worst = 0;
            float[] out = new float[shape.outputWidth()];
            for (int step = 0; step < steps; step++) {
                for (int layer = 0; layer < 2; layer++) {
                    float[] k = TestData.gaussian(r, shape.keyWidth()), v = TestData.gaussian(r, shape.valueWidth());
                    cache.append(layer, k, 0, v, 0, 1);
                    mirror.append(layer, k, v, 1);
                    float[] q = TestData.gaussian(r, shape.queryWidth());
                    // layer 0: tiny queries, flat softmax rows; layer 1: large ones, a few keys hold the mass
                    float scale = layer == 0 ? 0.05f : 8f;
                    for (int i = 0; i < q.length; i++) q[i] *= scale;
                    cache.attend(layer, q, 0, 1, out, 0, layer == 0 ? broad : peaked);
                    double[] ref = mirror.attend(layer, q, 1, AttentionConfig.softmax(false));
                    double vMax = KvCacheTest.maxAbs(mirror.v[layer]);
                    worst = Math.max(worst, KvCacheTest.maxAbsDiff(out, ref) / (2 * 1e-3 * vMax));
                }
            }
            assertTrue(worst <= 1, "error / certified bound " + worst);
            assertTrue(broad.denseChosenRows >= 0.9 * broad.rows, "broad head: dense chosen on " + broad.denseChosenRows
                    + " of " + broad.rows + " rows");
            assertTrue(peaked.denseChosenRows <= peaked.rows / 5, "peaked head: dense chosen on "
                    + peaked.denseChosenRows + " of " + peaked.rows + " rows");
            assertTrue(peaked.keptFraction() < 0.25, "peaked kept " + peaked.keptFraction()); // dense rows keep all
        }
    }
}
