package org.hsr.attention.baseline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.hsr.TestData;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionInput;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.DenseReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Quest against float64 oracles: dense softmax when the budget covers every key, and otherwise a softmax over the
 * pages that the test itself ranks by float64 page bounds.
 */
class QuestAttentionTest {

    private static final int PAGE = QuestAttention.DEFAULT_PAGE_SIZE;
    private static final int ROWS = 4; // query rows per case

    /** Sizes with partial last pages (n = 1, 15, 17, 1000) and exact ones (16), at two key and two value widths. */
    static Stream<Arguments> sizes() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (int n : new int[] {1, 15, 16, 17, 1000}) {
            for (int d : new int[] {8, 64}) {
                for (int dv : new int[] {8, 24}) b.add(Arguments.of(n, d, dv));
            }
        }
        return b.build();
    }

    @ParameterizedTest(name = "n={0} d={1} dv={2}")
    @MethodSource("sizes")
    void budgetCoveringEveryKeyIsDenseSoftmax(int n, int d, int dv) {
        SplittableRandom r = new SplittableRandom(1000L * n + 10L * d + dv);
        float[] q = TestData.gaussian(r, ROWS * d), k = TestData.gaussian(r, n * d), v = TestData.gaussian(r, n * dv);
        AttentionConfig cfg = AttentionConfig.softmax(false);
        double[] ref = DenseReference.attend(AttentionInput.singleHead(q, k, v, ROWS, n, d, dv), cfg);
        QuestAttention quest = new QuestAttention(k, 0, n, d);
        for (int budget : new int[] {n, n + 7, Integer.MAX_VALUE}) {
            AttentionStats stats = new AttentionStats();
            float[] out = new float[ROWS * dv];
            for (int i = 0; i < ROWS; i++) {
                quest.attendRow(q, i * d, v, 0, dv, budget, cfg.scaleFor(d), out, i * dv, stats);
                assertArrayEquals(IntStream.range(0, n).toArray(), quest.lastKeptIds(), "budget " + budget);
            }
            double err = TestData.maxRowRelError(out, ref, dv);
            assertTrue(err <= 1e-5, "budget " + budget + ": max row relative error " + err);
            assertStats(stats, ROWS, (long) ROWS * n, (long) ROWS * n);
        }
    }

    @ParameterizedTest(name = "n={0} d={1} dv={2}")
    @MethodSource("sizes")
    void smallerBudgetIsSoftmaxOverTheTopBoundPages(int n, int d, int dv) {
        SplittableRandom r = new SplittableRandom(7000L * n + 10L * d + dv);
        float[] q = TestData.gaussian(r, ROWS * d), k = TestData.gaussian(r, n * d), v = TestData.gaussian(r, n * dv);
        float c = (float) (1 / Math.sqrt(d));
        QuestAttention quest = new QuestAttention(k, 0, n, d);
        int checked = 0;
        for (int budget : new int[] {1, 15, 16, 17, 33, n / 2, n - 1}) {
            if (budget < 1 || budget >= n) continue;
            AttentionStats stats = new AttentionStats();
            long kept = 0;
            for (int i = 0; i < ROWS; i++) {
                float[] out = new float[dv];
                quest.attendRow(q, i * d, v, 0, dv, budget, c, out, 0, stats);
                // the kept pages, chosen independently from float64 bounds (near-ties may go either way)
                int[] ids = quest.lastKeptIds();
                int[] pages = expectedPages(q, i * d, k, n, n, d, PAGE, budget, pagesOf(ids, PAGE));
                int[] expectedIds = idsOf(pages, PAGE, n);
                assertArrayEquals(expectedIds, ids, "budget " + budget + " row " + i);
                if ((budget + PAGE - 1) / PAGE < quest.pageCount(n)) {
                    assertTrue(ids.length < n, "budget " + budget + " kept every key");
                }
                // the output is the float64 softmax over exactly those keys
                double[] ref = SubsetSoftmax.attend(q, i * d, k, v, d, dv, c, expectedIds);
                double err = TestData.maxRowRelError(out, ref, dv);
                assertTrue(err <= 1e-5, "budget " + budget + " row " + i + ": max row relative error " + err);
                kept += ids.length;
                checked++;
            }
            assertStats(stats, ROWS, (long) ROWS * n, kept);
        }
        assertTrue(n < 2 || checked > 0, "no sparse case ran for n=" + n);
    }

    @ParameterizedTest(name = "d={0} shifted={1}")
    @MethodSource("boundCases")
    void pageBoundCoversEveryKeyOfItsPage(int d, boolean shifted) {
        SplittableRandom r = new SplittableRandom(31L * d + (shifted ? 1 : 0));
        int n = 1000, queries = 40;
        float[] k = TestData.gaussian(r, n * d);
        if (shifted) {
            // an LLM-like shape: a shared offset and one large outlier channel
            for (int j = 0; j < n; j++) {
                for (int t = 0; t < d; t++) k[j * d + t] += 2f;
                k[j * d] *= 25f;
            }
        }
        QuestAttention quest = new QuestAttention(k, 0, n, d);
        int pages = quest.pageCount(n);
        long pairs = 0;
        for (int s = 0; s < queries; s++) {
            float[] q = TestData.gaussian(r, d);
            float[] bounds = quest.pageBounds(q, 0);
            assertEquals(pages, bounds.length);
            for (int p = 0; p < pages; p++) {
                int from = p * PAGE, to = Math.min(from + PAGE, n);
                double formula = pageBound64(q, 0, k, from, to, d);
                double tol = 2e-7 * (d + 2) * pageScale64(q, 0, k, from, to, d);
                // the fp32 bound is the float64 formula up to rounding
                assertEquals(formula, bounds[p], tol, "query " + s + " page " + p);
                for (int j = from; j < to; j++) {
                    double dot = SubsetSoftmax.dot64(q, 0, k, j * d, d);
                    assertTrue(formula >= dot - 1e-6 * tol, "formula " + formula + " < <q,k> " + dot + " for key " + j);
                    assertTrue(bounds[p] >= dot - tol, "bound " + bounds[p] + " < <q,k> " + dot + " for key " + j);
                    pairs++;
                }
            }
        }
        assertEquals((long) queries * n, pairs);
    }

    static Stream<Arguments> boundCases() {
        return Stream.of(Arguments.of(8, false), Arguments.of(64, false), Arguments.of(8, true), Arguments.of(64, true));
    }

    @Test
    void singleKeyPageBoundIsTheKeysScore() {
        SplittableRandom r = new SplittableRandom(3);
        int d = 64;
        float[] k = TestData.gaussian(r, d), q = TestData.gaussian(r, d);
        float bound = new QuestAttention(k, 0, 1, d).pageBounds(q, 0)[0];
        double dot = SubsetSoftmax.dot64(q, 0, k, 0, d);
        assertEquals(dot, bound, 2e-7 * (d + 2) * pageScale64(q, 0, k, 0, 1, d));
    }

    @Test
    void pageSizeOneKeepsTheTopScores() {
        // with one key per page the bound is the score itself: Quest becomes exact top-R
        SplittableRandom r = new SplittableRandom(11);
        int n = 300, d = 16, dv = 8, budget = 20;
        float[] k = TestData.gaussian(r, n * d), v = TestData.gaussian(r, n * dv);
        QuestAttention quest = new QuestAttention(k, 0, n, d, 1);
        for (int s = 0; s < 10; s++) {
            float[] q = TestData.gaussian(r, d);
            quest.attendRow(q, 0, v, 0, dv, budget, 0.25f, new float[dv], 0, null);
            Integer[] byScore = IntStream.range(0, n).boxed().toArray(Integer[]::new);
            Arrays.sort(byScore, (a, b) -> Double.compare(SubsetSoftmax.dot64(q, 0, k, b * d, d),
                    SubsetSoftmax.dot64(q, 0, k, a * d, d)));
            int[] top = Arrays.stream(byScore, 0, budget).mapToInt(Integer::intValue).sorted().toArray();
            assertArrayEquals(top, quest.lastKeptIds(), "query " + s);
        }
    }

    @Test
    void causalPrefixUsesOnlyVisibleKeys() {
        SplittableRandom r = new SplittableRandom(17);
        int n = 1000, d = 8, dv = 24, budget = 40;
        float[] k = TestData.gaussian(r, n * d), v = TestData.gaussian(r, n * dv);
        float c = 0.35f;
        QuestAttention quest = new QuestAttention(k, 0, n, d);
        AttentionStats stats = new AttentionStats();
        long visibleSum = 0, keptSum = 0;
        for (int visible : new int[] {1, 17, 40, 41, 500, 999, 1000}) {
            float[] q = TestData.gaussian(r, d), out = new float[dv];
            quest.attendRow(q, 0, visible, v, 0, dv, budget, c, out, 0, stats);
            int[] ids = quest.lastKeptIds();
            int[] expectedIds = budget >= visible ? IntStream.range(0, visible).toArray()
                    : idsOf(expectedPages(q, 0, k, n, visible, d, PAGE, budget, pagesOf(ids, PAGE)), PAGE, visible);
            assertArrayEquals(expectedIds, ids, "visible " + visible);
            double err = TestData.maxRowRelError(out, SubsetSoftmax.attend(q, 0, k, v, d, dv, c, expectedIds), dv);
            assertTrue(err <= 1e-5, "visible " + visible + ": max row relative error " + err);
            visibleSum += visible;
            keptSum += ids.length;
        }
        assertStats(stats, 7, visibleSum, keptSum);
    }

    @Test
    void appendingGivesTheSameRowsAsOneBuild() {
        SplittableRandom r = new SplittableRandom(23);
        int n = 1000, d = 8, dv = 8;
        float[] k = TestData.gaussian(r, n * d), v = TestData.gaussian(r, n * dv);
        QuestAttention once = new QuestAttention(k, 0, n, d);
        QuestAttention grown = new QuestAttention(new float[0], 0, 0, d);
        int pos = 0;
        for (int chunk : new int[] {1, 0, 14, 1, 16, 17, 3, 5000}) {
            int count = Math.min(chunk, n - pos);
            grown.append(k, pos * d, count);
            pos += count;
        }
        assertEquals(n, grown.size());
        for (int budget : new int[] {1, 17, 100, n}) {
            float[] q = TestData.gaussian(r, d), a = new float[dv], b = new float[dv];
            once.attendRow(q, 0, v, 0, dv, budget, 0.3f, a, 0, null);
            grown.attendRow(q, 0, v, 0, dv, budget, 0.3f, b, 0, null);
            assertArrayEquals(once.lastKeptIds(), grown.lastKeptIds(), "budget " + budget);
            assertArrayEquals(a, b, "budget " + budget);
        }
    }

    @Test
    void offsetsAreHonoured() {
        SplittableRandom r = new SplittableRandom(29);
        int n = 50, d = 8, dv = 8, qOff = 3, kOff = 5, vOff = 7, outOff = 2;
        float[] q = TestData.gaussian(r, qOff + d), k = TestData.gaussian(r, kOff + n * d);
        float[] v = TestData.gaussian(r, vOff + n * dv), out = new float[outOff + dv + 1];
        QuestAttention quest = new QuestAttention(k, kOff, n, d);
        quest.attendRow(q, qOff, v, vOff, dv, 20, 0.5f, out, outOff, null);
        float[] k0 = Arrays.copyOfRange(k, kOff, k.length), v0 = Arrays.copyOfRange(v, vOff, v.length);
        double[] ref = SubsetSoftmax.attend(Arrays.copyOfRange(q, qOff, q.length), 0, k0, v0, d, dv, 0.5f,
                quest.lastKeptIds());
        int kept = quest.lastKeptIds().length;
        assertTrue(kept == 32 || kept == 16 + n % 16, "2 pages of 50 keys hold 32 or 18 keys, got " + kept);
        assertTrue(TestData.maxRowRelError(Arrays.copyOfRange(out, outOff, outOff + dv), ref, dv) <= 1e-5);
        assertEquals(0f, out[0]);
        assertEquals(0f, out[outOff + dv]);
    }

    @Test
    void hugeScoresNeedTheMaxSubtractedAndTiesKeepEarlierPages() {
        // scores c·<q,k> = 21000 + (j mod 7), exact in fp32 with c = 1: exp without the max subtracted overflows
        int n = 100, d = 8, dv = 8;
        float[] q = hugeScoreQuery(d), k = hugeScoreKeys(n, d), v = TestData.gaussian(new SplittableRandom(43), n * dv);
        QuestAttention quest = new QuestAttention(k, 0, n, d);
        float[] out = new float[dv];
        quest.attendRow(q, 0, v, 0, dv, n, 1f, out, 0, null);
        AttentionInput in = AttentionInput.singleHead(q, k, v, 1, n, d, dv);
        double[] dense = DenseReference.attend(in, AttentionConfig.softmax(false).withScale(1f));
        assertTrue(TestData.maxRowRelError(out, dense, dv) <= 1e-5, Arrays.toString(out));
        // every page holds a key with j mod 7 = 6, so all bounds tie at 21006: the earliest pages are kept
        quest.attendRow(q, 0, v, 0, dv, 40, 1f, out, 0, null);
        int[] ids = IntStream.range(0, 48).toArray();
        assertArrayEquals(ids, quest.lastKeptIds());
        assertTrue(TestData.maxRowRelError(out, SubsetSoftmax.attend(q, 0, k, v, d, dv, 1f, ids), dv) <= 1e-5);
    }

    /** q = (1, 100, 100, …). */
    static float[] hugeScoreQuery(int d) {
        float[] q = new float[d];
        Arrays.fill(q, 100f);
        q[0] = 1f;
        return q;
    }

    /** Key j = (j mod 7, 30, 30, …): with {@link #hugeScoreQuery} its score is 21000 + (j mod 7) at d = 8. */
    static float[] hugeScoreKeys(int n, int d) {
        float[] k = new float[n * d];
        for (int j = 0; j < n; j++) {
            Arrays.fill(k, j * d + 1, j * d + d, 30f);
            k[j * d] = j % 7;
        }
        return k;
    }

    @Test
    void selectSmallestKeepsTheSmallestValues() {
        SplittableRandom r = new SplittableRandom(37);
        for (int len : new int[] {1, 2, 3, 7, 64, 1001}) {
            for (String shape : new String[] {"random", "sorted", "reversed", "equal", "few"}) {
                long[] a = new long[len];
                for (int i = 0; i < len; i++) {
                    a[i] = switch (shape) {
                        case "random" -> r.nextLong();
                        case "sorted" -> i;
                        case "reversed" -> len - i;
                        case "equal" -> 42;
                        default -> r.nextInt(3);
                    };
                }
                long[] sorted = a.clone();
                Arrays.sort(sorted);
                for (int k : new int[] {1, 2, len / 2, len - 1, len}) {
                    if (k < 1 || k > len) continue;
                    long[] b = a.clone();
                    QuestAttention.selectSmallest(b, len, k);
                    long[] head = Arrays.copyOf(b, k);
                    Arrays.sort(head);
                    assertArrayEquals(Arrays.copyOf(sorted, k), head, shape + " len " + len + " k " + k);
                }
            }
        }
    }

    @Test
    void rankKeyOrdersByBoundDescendingThenPage() {
        float[] bounds = {-1e30f, -3f, -0.5f, 0f, 1e-40f, 0.5f, 3f, 1e30f};
        for (int i = 0; i + 1 < bounds.length; i++) {
            assertTrue(QuestAttention.rankKey(bounds[i + 1], 5) < QuestAttention.rankKey(bounds[i], 1),
                    bounds[i + 1] + " must rank before " + bounds[i]);
        }
        assertTrue(QuestAttention.rankKey(2f, 3) < QuestAttention.rankKey(2f, 4));
        assertEquals(123456, (int) QuestAttention.rankKey(-7f, 123456));
    }

    @Test
    void badArgumentsAreRefusedWithTheirValues() {
        int n = 40, d = 8, dv = 4;
        float[] q = new float[d], k = new float[n * d], v = new float[n * dv], out = new float[dv];
        QuestAttention quest = new QuestAttention(k, 0, n, d);
        assertMessage(() -> quest.attendRow(q, 0, v, 0, dv, 0, 1f, out, 0, null), "budget", "0");
        assertMessage(() -> quest.attendRow(q, 0, v, 0, dv, -3, 1f, out, 0, null), "budget", "-3");
        assertMessage(() -> quest.attendRow(new float[d - 1], 0, v, 0, dv, 8, 1f, out, 0, null), "7", "8");
        assertMessage(() -> quest.attendRow(q, 1, v, 0, dv, 8, 1f, out, 0, null), "9", "8");
        assertMessage(() -> quest.attendRow(q, 0, new float[n * dv - 1], 0, dv, 8, 1f, out, 0, null), "159", "160");
        assertMessage(() -> quest.attendRow(q, 0, v, 0, 0, 8, 1f, out, 0, null), "dv", "0");
        assertMessage(() -> quest.attendRow(q, 0, v, 0, dv, 8, 0f, out, 0, null), "scale", "0.0");
        assertMessage(() -> quest.attendRow(q, 0, v, 0, dv, 8, Float.NaN, out, 0, null), "scale", "NaN");
        assertMessage(() -> quest.attendRow(q, 0, v, 0, dv, 8, 1f, new float[dv], 1, null), "out", "5");
        assertMessage(() -> quest.attendRow(q, 0, 0, v, 0, dv, 8, 1f, out, 0, null), "visible", "0");
        assertMessage(() -> quest.attendRow(q, 0, n + 1, v, 0, dv, 8, 1f, out, 0, null), "visible", "41");
        float[] nanQ = new float[d];
        nanQ[2] = Float.NaN;
        assertMessage(() -> quest.attendRow(nanQ, 0, v, 0, dv, 8, 1f, out, 0, null), "non-finite", "NaN");
        // construction and appends
        assertMessage(() -> new QuestAttention(k, 0, n, 0), "dimension", "0");
        assertMessage(() -> new QuestAttention(k, 0, n, d, 0), "page size", "0");
        assertMessage(() -> new QuestAttention(k, 0, -1, d), "count", "-1");
        assertMessage(() -> new QuestAttention(k, 0, n + 1, d), "320", "328");
        assertMessage(() -> new QuestAttention(k, 8, n, d), "320", "328");
        float[] bad = new float[2 * d];
        bad[d + 3] = Float.POSITIVE_INFINITY;
        assertMessage(() -> quest.append(bad, 0, 2), "key 41", "Infinity");
        assertEquals(n, quest.size(), "a refused append must add nothing");
        assertThrows(IllegalStateException.class,
                () -> new QuestAttention(k, 0, 0, d).attendRow(q, 0, v, 0, dv, 8, 1f, out, 0, null));
    }

    // ---- float64 oracle of the page choice ----

    /** {@code Σ_i max(q_i·min_i, q_i·max_i)} over keys {@code [from, to)}, in float64. */
    static double pageBound64(float[] q, int qOff, float[] k, int from, int to, int d) {
        double bound = 0;
        for (int t = 0; t < d; t++) {
            double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
            for (int j = from; j < to; j++) {
                lo = Math.min(lo, k[j * d + t]);
                hi = Math.max(hi, k[j * d + t]);
            }
            bound += Math.max(q[qOff + t] * lo, q[qOff + t] * hi);
        }
        return bound;
    }

    /** {@code Σ_i |q_i|·max(|min_i|, |max_i|)}: the magnitude that fp32 rounding of the bound is relative to. */
    static double pageScale64(float[] q, int qOff, float[] k, int from, int to, int d) {
        double scale = 0;
        for (int t = 0; t < d; t++) {
            double m = 0;
            for (int j = from; j < to; j++) m = Math.max(m, Math.abs(k[j * d + t]));
            scale += Math.abs(q[qOff + t]) * m;
        }
        return scale;
    }

    /**
     * The pages a budget keeps for the first {@code visible} of n keys: the {@code ceil(budget / page)} largest float64
     * bounds (each page's bound over all its stored keys). Where the implementation chose differently, every page in
     * the difference must be a near-tie with the cut-off bound (within fp32 rounding); then its choice is returned.
     */
    static int[] expectedPages(float[] q, int qOff, float[] k, int n, int visible, int d, int page, int budget,
                               int[] chosen) {
        int pages = (visible + page - 1) / page;
        int keep = Math.min(pages, (budget + page - 1) / page);
        double[] bound = new double[pages], tol = new double[pages];
        for (int p = 0; p < pages; p++) {
            int from = p * page, to = Math.min(from + page, n);
            bound[p] = pageBound64(q, qOff, k, from, to, d);
            tol[p] = 2e-7 * (d + 2) * pageScale64(q, qOff, k, from, to, d);
        }
        Integer[] order = IntStream.range(0, pages).boxed().toArray(Integer[]::new);
        Arrays.sort(order, (a, b) -> Double.compare(bound[b], bound[a]));
        TreeSet<Integer> expected = new TreeSet<>(Arrays.asList(order).subList(0, keep));
        TreeSet<Integer> got = new TreeSet<>();
        for (int p : chosen) got.add(p);
        if (!expected.equals(got)) {
            double cut = bound[order[keep - 1]];
            assertEquals(keep, got.size(), "kept page count");
            for (int p = 0; p < pages; p++) {
                if (expected.contains(p) != got.contains(p)) {
                    assertTrue(Math.abs(bound[p] - cut) <= 2 * tol[p], "page " + p + " bound " + bound[p]
                            + " is no near-tie of the cut-off " + cut + " (expected " + expected + ", got " + got + ")");
                }
            }
            return chosen;
        }
        return expected.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Distinct pages of ascending ids. */
    static int[] pagesOf(int[] ids, int page) {
        return Arrays.stream(ids).map(j -> j / page).distinct().toArray();
    }

    /** Every id {@code < visible} of the given pages, ascending. */
    static int[] idsOf(int[] pages, int page, int visible) {
        return Arrays.stream(pages).sorted()
                .flatMap(p -> IntStream.range(p * page, Math.min(p * page + page, visible))).toArray();
    }

    static void assertStats(AttentionStats stats, long rows, long visible, long kept) {
        assertEquals(rows, stats.rows, "rows");
        assertEquals(visible, stats.visibleKeys, "visible keys");
        assertEquals(kept, stats.keptKeys, "kept keys");
        assertEquals(kept, stats.scoredKeys, "scored keys");
        assertEquals(0, stats.emptyRows + stats.fallbackRows);
    }

    static void assertMessage(org.junit.jupiter.api.function.Executable call, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "message '" + e.getMessage() + "' lacks '" + part + "'");
        }
    }
}
