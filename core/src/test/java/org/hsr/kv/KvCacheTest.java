package org.hsr.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.hsr.TestData;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionInput;
import org.hsr.attention.DenseReference;
import org.hsr.attention.Selection;
import org.hsr.index.BlockIndex;
import org.hsr.store.ElementType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The engine cache against float64 attention on the <i>stored</i> (rounded) keys and values, which the test keeps in
 * its own arrays: every element type, grouped-query heads, odd head dims, bulk and single appends interleaved with
 * attends across folds, prefill blocks, truncation, and bad input.
 */
class KvCacheTest {

    static final int LAYERS = 2, HEADS = 4, KV_HEADS = 2, D = 33, DV = 17;

    /** What the cache should hold: per (layer, kv head) the rounded keys and values, in position order. */
    static final class Mirror {
        final KvShape shape;
        final float[][] k, v; // (layers × kvHeads) -> (n, d) / (n, dv)
        final int[] n;

        Mirror(KvShape shape, int capacity) {
            this.shape = shape;
            int slots = shape.layers() * shape.kvHeads();
            k = new float[slots][capacity * shape.headDim()];
            v = new float[slots][capacity * shape.valueDim()];
            n = new int[shape.layers()];
        }

        void append(int layer, float[] ks, float[] vs, int positions) {
            int kvh = shape.kvHeads(), d = shape.headDim(), dv = shape.valueDim();
            for (int p = 0; p < positions; p++) {
                for (int h = 0; h < kvh; h++) {
                    for (int t = 0; t < d; t++) k[layer * kvh + h][(n[layer] + p) * d + t] = shape.type().round(ks[(p * kvh + h) * d + t]);
                    for (int t = 0; t < dv; t++) v[layer * kvh + h][(n[layer] + p) * dv + t] = shape.type().round(vs[(p * kvh + h) * dv + t]);
                }
            }
            n[layer] += positions;
        }

        /** float64 attention of the last `positions` positions (queries positions × heads × d), causal. */
        double[] attend(int layer, float[] q, int positions, AttentionConfig cfg) {
            int kvh = shape.kvHeads(), group = shape.group(), d = shape.headDim(), dv = shape.valueDim();
            double[] out = new double[positions * shape.outputWidth()];
            for (int h = 0; h < kvh; h++) {
                int len = n[layer];
                for (int p = 0; p < positions; p++) {
                    int visible = len - positions + p + 1;
                    float[] qg = Arrays.copyOfRange(q, p * shape.queryWidth() + h * group * d,
                            p * shape.queryWidth() + (h + 1) * group * d);
                    var in = new AttentionInput(qg, Arrays.copyOf(k[layer * kvh + h], visible * d),
                            Arrays.copyOf(v[layer * kvh + h], visible * dv), group, 1, 1, visible, d, dv);
                    double[] r = DenseReference.attend(in, cfg);
                    System.arraycopy(r, 0, out, p * shape.outputWidth() + h * group * dv, group * dv);
                }
            }
            return out;
        }

        void truncate(int length) {
            Arrays.fill(n, length);
        }
    }

    static float[] keys(SplittableRandom r, int count, float offset) {
        float[] x = TestData.gaussian(r, count);
        for (int i = 0; i < count; i++) x[i] += offset;
        return x;
    }

    static double maxAbs(float[] x) {
        double m = 0;
        for (float f : x) m = Math.max(m, Math.abs(f));
        return m;
    }

    static double maxAbsDiff(float[] a, double[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }

    /** Appends in bulk past a fold, then one by one with an attend after every few, and checks every attend. */
    @ParameterizedTest
    @EnumSource(ElementType.class)
    void matchesFloat64OnStoredValues(ElementType type) {
        KvShape shape = new KvShape(LAYERS, HEADS, KV_HEADS, D, DV, type);
        float bias = (float) Math.sqrt(0.4 * Math.log(5000));
        AttentionConfig relu = AttentionConfig.relu(2, bias, false);
        AttentionConfig soft = AttentionConfig.softmax(false);
        try (KvCache hsrRelu = KvCache.builder(shape).attention(relu).build();
             KvCache denseRelu = KvCache.builder(shape).attention(relu).method(KvCache.Method.DENSE).build();
             KvCache eps = KvCache.builder(shape).attention(soft).selection(Selection.parse("epsilon:1e-3")).build();
             KvCache exact = KvCache.builder(shape).attention(soft).build()) {
            KvCache[] caches = {hsrRelu, denseRelu, eps, exact};
            Mirror mirror = new Mirror(shape, 6000);
            SplittableRandom r = new SplittableRandom(7 + type.ordinal());
            for (int layer = 0; layer < LAYERS; layer++) {
                int bulk = 4200 + 31 * layer; // past one fold (4096), not a multiple of the block
                float[] k = keys(r, bulk * shape.keyWidth(), 0.3f), v = TestData.gaussian(r, bulk * shape.valueWidth());
                for (KvCache c : caches) c.append(layer, k, 0, v, 0, bulk);
                mirror.append(layer, k, v, bulk);
            }
            double worstRelu = 0, worstDense = 0, worstExact = 0, worstEps = 0;
            int checks = 0;
            for (int step = 0; step < 400; step++) {
                int layer = step % LAYERS;
                // one position, in a buffer with an offset (as an engine's projection output would be)
                float[] k = keys(r, 5 + shape.keyWidth(), 0.3f), v = TestData.gaussian(r, 3 + shape.valueWidth());
                for (KvCache c : caches) c.append(layer, k, 5, v, 3, 1);
                mirror.append(layer, Arrays.copyOfRange(k, 5, k.length), Arrays.copyOfRange(v, 3, v.length), 1);
                if (step % 9 != 0) continue;
                float[] q = TestData.gaussian(r, shape.queryWidth());
                for (int i = 0; i < q.length; i++) q[i] *= 2;
                float[] out = new float[2 + shape.outputWidth()];
                hsrRelu.attend(layer, q, 0, out, 2);
                double[] ref = mirror.attend(layer, q, 1, relu);
                worstRelu = Math.max(worstRelu, TestData.maxRowRelError(Arrays.copyOfRange(out, 2, out.length), ref, DV));
                denseRelu.attend(layer, q, 0, out, 2);
                worstDense = Math.max(worstDense, TestData.maxRowRelError(Arrays.copyOfRange(out, 2, out.length), ref, DV));
                for (int i = 0; i < q.length; i++) q[i] *= 3;
                double[] refSoft = mirror.attend(layer, q, 1, soft);
                exact.attend(layer, q, 0, out, 2);
                worstExact = Math.max(worstExact, TestData.maxRowRelError(Arrays.copyOfRange(out, 2, out.length), refSoft, DV));
                for (int i = 0; i < q.length; i++) q[i] *= 3; // peaked, so that epsilon's walks keep a few % and pay
                refSoft = mirror.attend(layer, q, 1, soft);
                eps.attend(layer, q, 0, out, 2);
                double vMax = 0;
                for (int s = 0; s < mirror.v.length; s++) vMax = Math.max(vMax, maxAbs(mirror.v[s]));
                worstEps = Math.max(worstEps, maxAbsDiff(Arrays.copyOfRange(out, 2, out.length), refSoft) / (2 * 1e-3 * vMax));
                checks++;
            }
            assertTrue(checks > 40, "checks " + checks);
            assertTrue(worstRelu <= 1e-5, type + " hsr ReLU rel err " + worstRelu);
            assertTrue(worstDense <= 1e-4, type + " dense ReLU rel err " + worstDense);
            assertTrue(worstExact <= 1e-5, type + " exact softmax rel err " + worstExact);
            assertTrue(worstEps <= 1 + 1e-4, type + " epsilon error / certified bound " + worstEps);
            assertTrue(eps.stats().droppedMassBoundMax <= 1e-3, "bound " + eps.stats().droppedMassBoundMax);
            assertTrue(eps.stats().keptFraction() < 0.5, "epsilon kept " + eps.stats().keptFraction());
            assertTrue(hsrRelu.stats().keptKeys > 0 && hsrRelu.stats().keptFraction() < 0.3,
                    "relu kept " + hsrRelu.stats().keptFraction());
        }
    }

    /** A block of positions (prefill) attends causally, in both methods, with grouped heads. */
    @ParameterizedTest
    @EnumSource(ElementType.class)
    void prefillBlockIsCausal(ElementType type) {
        KvShape shape = new KvShape(1, HEADS, KV_HEADS, D, DV, type);
        AttentionConfig relu = AttentionConfig.relu(1, 0.1f, false), soft = AttentionConfig.softmax(false);
        SplittableRandom r = new SplittableRandom(3);
        int n = 4500, block = 37;
        float[] k = keys(r, n * shape.keyWidth(), -0.2f), v = TestData.gaussian(r, n * shape.valueWidth());
        float[] q = TestData.gaussian(r, block * shape.queryWidth());
        Mirror mirror = new Mirror(shape, n);
        mirror.append(0, k, v, n);
        for (KvCache.Method m : KvCache.Method.values()) {
            for (AttentionConfig cfg : new AttentionConfig[] {relu, soft}) {
                try (KvCache c = KvCache.builder(shape).attention(cfg).method(m).build()) {
                    c.append(0, k, 0, v, 0, n - 100);
                    c.append(0, k, (n - 100) * shape.keyWidth(), v, (n - 100) * shape.valueWidth(), 100);
                    float[] out = new float[block * shape.outputWidth()];
                    c.attend(0, q, 0, block, out, 0);
                    double err = TestData.maxRowRelError(out, mirror.attend(0, q, block, cfg), DV);
                    assertTrue(err <= (m == KvCache.Method.HSR ? 1e-5 : 1e-4), type + " " + m + " " + cfg.kind() + " " + err);
                }
            }
        }
    }

    /** Truncation inside the tail and inside folded blocks, then appends: the same as a cache that never held them. */
    @ParameterizedTest
    @EnumSource(ElementType.class)
    void truncateForgetsTheNewestPositions(ElementType type) {
        KvShape shape = new KvShape(LAYERS, HEADS, KV_HEADS, D, DV, type);
        AttentionConfig relu = AttentionConfig.relu(2, 0.5f, false);
        SplittableRandom r = new SplittableRandom(11);
        int n = 9000;
        float[][] k = new float[LAYERS][], v = new float[LAYERS][];
        try (KvCache c = KvCache.builder(shape).attention(relu).build()) {
            Mirror mirror = new Mirror(shape, n + 200);
            for (int layer = 0; layer < LAYERS; layer++) {
                k[layer] = keys(r, n * shape.keyWidth(), 0.1f);
                v[layer] = TestData.gaussian(r, n * shape.valueWidth());
                c.append(layer, k[layer], 0, v[layer], 0, n);
                mirror.append(layer, k[layer], v[layer], n);
            }
            for (int length : new int[] {8990, 8500, 4100, 4000, 63, 0}) {
                c.truncate(length);
                mirror.truncate(length);
                for (int layer = 0; layer < LAYERS; layer++) assertEquals(length, c.length(layer));
                // append fresh positions one at a time and compare every few
                for (int step = 0; step < 70; step++) {
                    for (int layer = 0; layer < LAYERS; layer++) {
                        float[] kk = keys(r, shape.keyWidth(), 0.1f), vv = TestData.gaussian(r, shape.valueWidth());
                        c.append(layer, kk, 0, vv, 0, 1);
                        mirror.append(layer, kk, vv, 1);
                    }
                }
                for (int layer = 0; layer < LAYERS; layer++) {
                    float[] q = TestData.gaussian(r, shape.queryWidth());
                    float[] out = new float[shape.outputWidth()];
                    c.attend(layer, q, 0, out, 0);
                    double err = TestData.maxRowRelError(out, mirror.attend(layer, q, 1, relu), DV);
                    assertTrue(err <= 1e-5, type + " truncate " + length + " layer " + layer + ": " + err);
                    // reads by position go through the index's storage
                    int pos = c.length(layer) - 1;
                    float[] key = new float[D];
                    c.readKey(layer, 1, pos, key, 0);
                    assertArrayEquals(Arrays.copyOfRange(mirror.k[layer * KV_HEADS + 1], pos * D, pos * D + D), key);
                }
                c.truncate(length); // back to the cut, for the next, shorter one
                mirror.truncate(length);
            }
        }
    }

    /** Off-heap appends equal on-heap ones, and kv heads on an executor give the same answers as inline. */
    @Test
    void memorySegmentsAndExecutorGiveTheSameAnswers() {
        KvShape shape = KvShape.of(1, 8, 2, 64, ElementType.BF16);
        SplittableRandom r = new SplittableRandom(5);
        int n = 5000;
        float[] k = keys(r, n * shape.keyWidth(), 0f), v = TestData.gaussian(r, n * shape.valueWidth());
        float[] q = TestData.gaussian(r, shape.queryWidth());
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (Arena arena = Arena.ofConfined();
             KvCache heap = KvCache.builder(shape).selection(Selection.parse("top:50")).build();
             KvCache offHeap = KvCache.builder(shape).selection(Selection.parse("top:50")).executor(pool).build()) {
            MemorySegment ks = arena.allocate((long) (k.length + 4) * Float.BYTES);
            MemorySegment vs = arena.allocate((long) v.length * Float.BYTES);
            MemorySegment.copy(k, 0, ks, ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * Float.BYTES, k.length);
            MemorySegment.copy(v, 0, vs, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, v.length);
            heap.append(0, k, 0, v, 0, n);
            offHeap.append(0, ks, 4, vs, 0, n);
            float[] a = new float[shape.outputWidth()], b = new float[shape.outputWidth()];
            heap.attend(0, q, 0, a, 0);
            offHeap.attend(0, q, 0, b, 0);
            assertArrayEquals(a, b);
            assertEquals(heap.stats().keptKeys, offHeap.stats().keptKeys);
            assertThrows(IllegalArgumentException.class, () -> offHeap.append(0, ks, k.length, vs, 0, 1));
        } finally {
            pool.shutdownNow();
        }
    }

    /** kv heads on two threads: the same outputs and statistics as one thread, over thousands of epsilon steps. */
    @Test
    void twoThreadsGiveTheSameOutputsAndStatistics() {
        SplittableRandom r = new SplittableRandom(123);
        KvShape shape = new KvShape(1, 8, 4, 16, 8, ElementType.BF16);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        var b = KvCache.builder(shape).selection(Selection.parse("epsilon:1e-3"));
        try (KvCache one = b.build(); KvCache two = b.executor(pool).build()) {
            float[] o1 = new float[shape.outputWidth()], o2 = new float[shape.outputWidth()];
            for (int step = 0; step < 6000; step++) {
                float[] k = TestData.gaussian(r, shape.keyWidth()), v = TestData.gaussian(r, shape.valueWidth());
                for (int i = 0; i < k.length; i++) k[i] *= 3;
                one.append(0, k, 0, v, 0, 1);
                two.append(0, k, 0, v, 0, 1);
                if (step % 50 == 49) {
                    float[] q = TestData.gaussian(r, shape.queryWidth());
                    for (int i = 0; i < q.length; i++) q[i] *= 8; // peaked rows: the certified sets are small
                    one.attend(0, q, 0, o1, 0);
                    two.attend(0, q, 0, o2, 0);
                    // equal up to the last bit of a dense row's exp: the Vector API exp intrinsic and its Java
                    // fallback differ there, and which one a thread runs depends on when the JIT compiled it
                    for (int i = 0; i < o1.length; i++) assertEquals(o1[i], o2[i], 1e-6f * (1 + Math.abs(o1[i])), "step " + step);
                }
            }
            assertEquals(one.stats().rows, two.stats().rows);
            assertEquals(one.stats().keptKeys, two.stats().keptKeys);
            assertEquals(one.stats().scoredKeys, two.stats().scoredKeys);
            assertEquals(one.stats().droppedMassBoundMax, two.stats().droppedMassBoundMax);
            assertEquals(one.stats().denseChosenRows, two.stats().denseChosenRows);
            // below the first folds every head runs dense (few keys indexed); past them the peaked rows walk
            assertTrue(one.stats().denseChosenRows < 0.8 * one.stats().rows, "dense " + one.stats().denseChosenRows);
            assertTrue(one.stats().keptFraction() < 0.9, "kept " + one.stats().keptFraction());
        } finally {
            pool.shutdownNow();
        }
    }

    /** SPEC §5: caller errors name the parameter and leave the cache as it was. */
    @Test
    void badInputIsRefusedAndNothingIsAppended() {
        KvShape shape = new KvShape(2, 4, 2, 8, 8, ElementType.FP16);
        try (KvCache c = KvCache.builder(shape).build()) {
            float[] k = new float[shape.keyWidth() * 3], v = new float[shape.valueWidth() * 3];
            c.append(0, k, 0, v, 0, 3);
            float[] big = k.clone();
            big[shape.keyWidth() + 9] = 70000f; // beyond fp16's 65504, in the second position's second head
            var e = assertThrows(IllegalArgumentException.class, () -> c.append(0, big, 0, v, 0, 3));
            assertTrue(e.getMessage().contains("fp16"), e.getMessage());
            float[] nan = k.clone();
            nan[2] = Float.NaN;
            assertThrows(IllegalArgumentException.class, () -> c.append(0, nan, 0, v, 0, 3));
            assertThrows(IllegalArgumentException.class, () -> c.append(0, k, 1, v, 0, 3)); // offset past the end
            assertThrows(IllegalArgumentException.class, () -> c.append(0, k, -1, v, 0, 1));
            assertThrows(IllegalArgumentException.class, () -> c.append(2, k, 0, v, 0, 1)); // no layer 2
            assertEquals(3, c.length(0));
            float[] q = new float[shape.queryWidth()], out = new float[shape.outputWidth()];
            assertThrows(IllegalArgumentException.class, () -> c.attend(1, q, 0, out, 0)); // layer 1 is empty
            assertThrows(IllegalArgumentException.class, () -> c.attend(0, q, 0, 4, out, 0)); // 4 > 3 positions
            assertThrows(IllegalArgumentException.class, () -> c.attend(0, q, 0, out, 1)); // out too short
            assertThrows(IllegalArgumentException.class, () -> c.truncate(4));
            assertThrows(IllegalArgumentException.class, () -> new KvShape(1, 6, 4, 8, 8, ElementType.BF16));
            assertThrows(IllegalArgumentException.class, () -> KvCache.builder(shape).method(KvCache.Method.DENSE)
                    .selection(Selection.parse("epsilon:1e-3")).build());
            assertEquals(3, c.length(0));
        }
    }

    /**
     * Memory, from the arrays the cache holds: the whole cache, index included, is at most 1.35x a dense cache of the
     * same element type at n = 131072, d = 128, after a bulk load and after 10^4 single-position appends.
     */
    @Test
    void wholeCacheIsWithinAThirdOfDenseBytes() {
        KvShape shape = KvShape.of(1, 1, 1, 128, ElementType.BF16);
        SplittableRandom r = new SplittableRandom(9);
        int n = 131072;
        try (KvCache c = KvCache.builder(shape).build()) {
            float[] k = TestData.gaussian(r, n * 128), v = TestData.gaussian(r, n * 128);
            c.append(0, k, 0, v, 0, n);
            double bulk = (double) c.memoryBytes() / (n * shape.denseBytesPerPosition());
            assertTrue(bulk <= 1.35, "bulk: cache / dense bytes = " + bulk);
            for (int i = 0; i < 10_000; i++) c.append(0, k, i * 128, v, i * 128, 1);
            double appended = (double) c.memoryBytes() / ((n + 10_000) * shape.denseBytesPerPosition());
            assertTrue(appended <= 1.35, "after appends: cache / dense bytes = " + appended);
            assertTrue(bulk > 1.0, "the index must cost something: " + bulk);
        }
    }
}
