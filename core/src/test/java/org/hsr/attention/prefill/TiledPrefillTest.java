package org.hsr.attention.prefill;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.hsr.TestData;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionInput;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.DenseReference;
import org.hsr.attention.Selection;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Tiled dense and tiled HSR prefill against the float64 reference: m = n and m < n (the last m positions), causal and
 * not, grouped-query heads, sizes that are not multiples of the tiles, empty ReLU rows; certified softmax within its
 * bound. The scalar surefire run makes the scalar tile kernels the path under test, the others the Vector API ones.
 */
class TiledPrefillTest {

    /** (n, m, d, dv): n and m off the 64-tile grid, below one tile, and exactly on it. */
    static final int[][] SHAPES = {{1, 1, 3, 2}, {5, 5, 7, 5}, {64, 64, 16, 16}, {65, 65, 33, 17}, {200, 200, 37, 19},
        {200, 37, 24, 24}, {130, 3, 128, 9}};

    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (int[] s : SHAPES) {
            for (int group : new int[] {1, 3}) {
                b.add(Arguments.of("softmax", 0, s, group, true));
                b.add(Arguments.of("relu", 1, s, group, true));
                b.add(Arguments.of("relu", 2, s, group, true));
            }
            b.add(Arguments.of("softmax", 0, s, 2, false));
            b.add(Arguments.of("relu", 3, s, 2, false));
        }
        return b.build();
    }

    static AttentionInput input(SplittableRandom r, int heads, int kvHeads, int m, int n, int d, int dv) {
        return new AttentionInput(TestData.gaussian(r, heads * m * d), TestData.gaussian(r, kvHeads * n * d),
                TestData.gaussian(r, kvHeads * n * dv), heads, kvHeads, m, n, d, dv);
    }

    static AttentionConfig config(String kind, int alpha, boolean causal) {
        return kind.equals("softmax") ? AttentionConfig.softmax(causal) : AttentionConfig.relu(alpha, 0.4f, causal);
    }

    @ParameterizedTest(name = "{0} alpha={1} shape={2} group={3} causal={4}")
    @MethodSource("cases")
    void denseAndHsrMatchFloat64(String kind, int alpha, int[] shape, int group, boolean causal) {
        int n = shape[0], m = shape[1], d = shape[2], dv = shape[3], kvHeads = 2;
        SplittableRandom r = new SplittableRandom(n * 131L + m * 7L + d + group * 3L + alpha + (causal ? 1 : 0));
        AttentionInput in = input(r, kvHeads * group, kvHeads, m, n, d, dv);
        AttentionConfig cfg = config(kind, alpha, causal);
        double[] ref = DenseReference.attend(in, cfg);
        AttentionStats ds = new AttentionStats(), hs = new AttentionStats();
        float[] dense = new TiledPrefill(1).dense(in, cfg, ds);
        float[] hsr = new TiledPrefill(1).hsr(in, cfg, null, hs);
        assertTrue(TestData.maxRowRelError(dense, ref, dv) <= 1e-5, "dense " + TestData.maxRowRelError(dense, ref, dv));
        assertTrue(TestData.maxRowRelError(hsr, ref, dv) <= 1e-5, "hsr " + TestData.maxRowRelError(hsr, ref, dv));
        long visible = 0;
        for (int i = 0; i < m; i++) visible += in.visible(i, causal);
        assertEquals((long) in.heads() * m, ds.rows);
        assertEquals(visible * in.heads(), ds.visibleKeys);
        assertEquals(ds.visibleKeys, ds.scoredKeys);
        assertEquals(ds.keptKeys, hs.keptKeys, "hsr keeps exactly the keys with a non-zero weight");
        assertEquals(ds.emptyRows, hs.emptyRows);
    }

    @Test
    void emptyReluRowsAreZeroAndCounted() {
        SplittableRandom r = new SplittableRandom(5);
        int n = 150, d = 16, dv = 8;
        AttentionInput in = input(r, 1, 1, n, n, d, dv);
        AttentionConfig cfg = AttentionConfig.relu(1, 1.6f, true); // few keys pass: early rows have none
        double[] ref = DenseReference.attend(in, cfg);
        long emptyRef = 0;
        for (int i = 0; i < n; i++) {
            boolean zero = true;
            for (int t = 0; t < dv; t++) zero &= ref[i * dv + t] == 0;
            if (zero) emptyRef++;
        }
        assertTrue(emptyRef > 0 && emptyRef < n, "a case with some empty rows: " + emptyRef);
        for (boolean sparse : new boolean[] {false, true}) {
            AttentionStats st = new AttentionStats();
            TiledPrefill p = new TiledPrefill(1);
            float[] out = sparse ? p.hsr(in, cfg, null, st) : p.dense(in, cfg, st);
            assertEquals(emptyRef, st.emptyRows, sparse ? "hsr" : "dense");
            assertTrue(TestData.maxRowRelError(out, ref, dv) <= 1e-5);
        }
    }

    /**
     * Keys whose positions alternate between stretches that point towards the queries and away (small noise in the
     * other channels): tiles are skipped.
     */
    static AttentionInput structured(SplittableRandom r, int n, int m, int d, int dv, double shift) {
        AttentionInput base = input(r, 1, 1, m, n, d, dv);
        float[] q = base.q(), k = base.k();
        for (int i = 0; i < m; i++) q[i * d] = 0.3f * q[i * d] + 6f; // queries share a direction
        for (int j = 0; j < n; j++) {
            boolean far = (j / 64) % 3 != 0; // two of every three tiles point away
            k[j * d] = (float) (0.2 * k[j * d] + (far ? -shift : shift));
            for (int u = 1; u < d; u++) k[j * d + u] *= 0.25f;
        }
        return base;
    }

    @Test
    void hsrReluSkipsTilesAndStaysExact() {
        SplittableRandom r = new SplittableRandom(11);
        int n = 700, m = 650, d = 32, dv = 24;
        AttentionInput in = structured(r, n, m, d, dv, 3);
        AttentionConfig cfg = AttentionConfig.relu(2, 1.0f, true);
        AttentionStats st = new AttentionStats();
        TiledPrefill p = new TiledPrefill(1);
        float[] out = p.hsr(in, cfg, null, st);
        double err = TestData.maxRowRelError(out, DenseReference.attend(in, cfg), dv);
        assertTrue(err <= 1e-5, "error " + err);
        TiledPrefill.Run run = p.lastRun();
        assertTrue(run.skippedTiles() > run.tilePairs() / 3, run.toString());
        assertTrue(st.scoredKeys < st.visibleKeys * 0.7, "scored " + st.scoredKeys + " of " + st.visibleKeys);
    }

    @Test
    void epsilonSoftmaxIsWithinItsCertifiedBound() {
        for (double eps : new double[] {1e-2, 1e-4}) {
            SplittableRandom r = new SplittableRandom(13);
            int n = 641, m = 641, d = 32, dv = 16;
            AttentionInput in = structured(r, n, m, d, dv, 6);
            AttentionConfig cfg = AttentionConfig.softmax(true);
            AttentionStats st = new AttentionStats();
            TiledPrefill p = new TiledPrefill(1);
            float[] out = p.hsr(in, cfg, new Selection.Epsilon(eps), st);
            double[] ref = DenseReference.attend(in, cfg);
            assertTrue(st.droppedMassBoundMax <= eps, "bound " + st.droppedMassBoundMax);
            double maxV = 0;
            for (float x : in.v()) maxV = Math.max(maxV, Math.abs(x));
            double worst = 0;
            for (int i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i] - ref[i]));
            assertTrue(worst <= 2 * st.droppedMassBoundMax * maxV + 1e-5, "error " + worst + " bound "
                    + st.droppedMassBoundMax);
            assertTrue(p.lastRun().skippedTiles() > 0, "tiles skipped: " + p.lastRun());
            assertTrue(st.keptKeys < st.visibleKeys / 2, "kept " + st.keptKeys + " of " + st.visibleKeys);
        }
    }

    /**
     * Peaked rows, as in the llm workload: a sink key and a few heavy keys carry almost all the mass, the bulk a small
     * part of E. Every key is scored (the bounds cannot skip), the bulk is dropped and its summed mass certified: GQA,
     * m < n, sizes off the tile grid.
     */
    @Test
    void epsilonDropsTheBulkOfPeakedRowsWithinItsBound() {
        SplittableRandom r = new SplittableRandom(23);
        int heads = 4, kvHeads = 2, n = 777, m = 301, d = 40, dv = 24;
        AttentionInput in = input(r, heads, kvHeads, m, n, d, dv);
        float[] q = in.q(), k = in.k();
        for (int i = 0; i < heads * m; i++) q[i * d] = 0.3f * q[i * d] + 8f; // a shared query direction
        for (int j = 0; j < kvHeads * n; j++) {
            int pos = j % n;
            if (pos == 0 || r.nextDouble() < 0.04) k[j * d] += pos == 0 ? 11f : 9f; // sink and heavy keys
        }
        AttentionConfig cfg = AttentionConfig.softmax(true);
        double[] ref = DenseReference.attend(in, cfg);
        double maxV = 0;
        for (float x : in.v()) maxV = Math.max(maxV, Math.abs(x));
        for (double eps : new double[] {1e-2, 1e-3}) {
            AttentionStats st = new AttentionStats();
            float[] out = new TiledPrefill(2).hsr(in, cfg, new Selection.Epsilon(eps), st);
            assertTrue(st.droppedMassBoundMax <= eps, "bound " + st.droppedMassBoundMax);
            assertTrue(st.droppedMassBoundMax > 0, "something was dropped");
            double worst = 0;
            for (int i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i] - ref[i]));
            assertTrue(worst <= 2 * st.droppedMassBoundMax * maxV + 1e-5, "error " + worst + " bound "
                    + st.droppedMassBoundMax);
            assertEquals(st.visibleKeys, st.scoredKeys, "every key scored");
            assertTrue(st.keptKeys < st.visibleKeys / 4, "kept " + st.keptKeys + " of " + st.visibleKeys);
        }
    }

    @Test
    void epsilonOnGaussianGqaAndMLessThanN() {
        SplittableRandom r = new SplittableRandom(17);
        AttentionInput in = input(r, 4, 2, 77, 300, 20, 12);
        AttentionConfig cfg = AttentionConfig.softmax(true);
        AttentionStats st = new AttentionStats();
        float[] out = new TiledPrefill(2).hsr(in, cfg, new Selection.Epsilon(1e-3), st);
        double[] ref = DenseReference.attend(in, cfg);
        assertTrue(st.droppedMassBoundMax <= 1e-3, "bound " + st.droppedMassBoundMax);
        double worst = 0;
        for (int i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i] - ref[i]));
        assertTrue(worst <= 2e-3 * 5 + 1e-5, "error " + worst);
    }

    /**
     * More threads, same results: bit for bit for ReLU; for softmax within an ulp or two, because the Vector API's
     * {@code exp} is an intrinsic once C2 has compiled the kernel and a Java fallback before, and which one a tile gets
     * depends on when it runs, not on the thread count.
     */
    @Test
    void threadsGiveTheSameResults() {
        SplittableRandom r = new SplittableRandom(19);
        AttentionInput in = input(r, 6, 2, 300, 300, 24, 16);
        for (String kind : new String[] {"relu", "softmax"}) {
            AttentionConfig cfg = config(kind, 1, true);
            Selection sel = kind.equals("relu") ? null : new Selection.Epsilon(1e-3);
            AttentionStats s1 = new AttentionStats(), s3 = new AttentionStats();
            float[][] one = {new TiledPrefill(1).dense(in, cfg, null), new TiledPrefill(1).hsr(in, cfg, sel, s1)};
            float[][] three = {new TiledPrefill(3).dense(in, cfg, null), new TiledPrefill(3).hsr(in, cfg, sel, s3)};
            for (int w = 0; w < 2; w++) {
                if (kind.equals("relu")) {
                    assertArrayEquals(one[w], three[w], kind);
                } else {
                    for (int i = 0; i < one[w].length; i++) assertEquals(one[w][i], three[w][i], 1e-6, kind + " " + i);
                }
            }
            assertEquals(s1.rows, s3.rows);
            assertEquals((double) s1.keptKeys, s3.keptKeys, s1.keptKeys * 1e-3, "kept keys, " + kind);
        }
    }

    @Test
    void rejectsBadArguments() {
        var e = assertThrows(IllegalArgumentException.class, () -> new TiledPrefill(0));
        assertTrue(e.getMessage().contains("threads"), e.getMessage());
        AttentionInput in = input(new SplittableRandom(1), 1, 1, 4, 4, 4, 4);
        var top = assertThrows(IllegalArgumentException.class,
                () -> new TiledPrefill(1).hsr(in, AttentionConfig.softmax(true), new Selection.Top(2), null));
        assertTrue(top.getMessage().contains("Top"), top.getMessage());
    }
}
