package org.hsr.index;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.hsr.store.ElementType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link BlockIndex#searchGroup}: queries that share one walk get exactly what each gets alone, which is exactly the
 * brute-force report; also for top-R (best-first) collectors, for collectors that want every pruned bound, with
 * causal limits, folds and a tail, and groups of 1 to 5 with different bars per query.
 */
class GroupSearchTest {

    static final int D = 37; // odd: the sketch's last quad is padded

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 5})
    void groupEqualsEachQueryAloneAndBruteForce(int group) {
        SplittableRandom r = new SplittableRandom(100 + group);
        int n = 10000 + 13 * group; // two folds and a tail
        float[] keys = new float[n * D];
        for (int i = 0; i < keys.length; i++) keys[i] = (float) r.nextGaussian() + (i % D == 0 ? 2f : 0f);
        // clustered half: a few tight clusters, so that some blocks are skipped and some are not
        for (int j = n / 2; j < n; j++) {
            int c = j % 7;
            for (int t = 0; t < D; t++) keys[j * D + t] = 0.2f * keys[j * D + t] + (t == c ? 6f : 0f);
        }
        BlockIndex index = new BlockIndex(D, 0, ElementType.FP32);
        index.add(keys, 0, null, 0, 5000);
        for (int j = 5000; j < n; j += 97) index.add(keys, j * D, null, 0, Math.min(97, n - j));
        assertTrue(index.foldedKeys() > 9000 && index.foldedKeys() < n, "folded " + index.foldedKeys());
        long skipped = 0, sketched = 0;
        for (int trial = 0; trial < 6; trial++) {
            float[] q = new float[group * D];
            for (int i = 0; i < q.length; i++) q[i] = (float) r.nextGaussian();
            for (int g = 0; g < group; g++) q[g * D + (trial + g) % 7] += 3f; // towards a cluster
            int limit = trial % 3 == 0 ? n : trial % 3 == 1 ? n - 50 : 4321; // a causal limit in the tail, in a fold
            float[] t = new float[group];
            for (int g = 0; g < group; g++) t[g] = (float) (7 + 2 * g + trial);
            // thresholds
            ThresholdCollector[] together = new ThresholdCollector[group];
            for (int g = 0; g < group; g++) together[g] = new ThresholdCollector(t[g]);
            SearchWork work = new SearchWork();
            index.searchGroup(q, 0, group, limit, together, work);
            assertEquals((long) group * Math.min(n, limit), work.keysSeen);
            skipped += work.blocksSkipped;
            sketched += work.sketchEntriesRead;
            for (int g = 0; g < group; g++) {
                ThresholdCollector alone = new ThresholdCollector(t[g]);
                index.search(q, g * D, limit, alone, null);
                assertArrayEquals(sortedIds(alone), sortedIds(together[g]), "group " + group + " query " + g);
                Oracle.assertExact(q, g * D, keys, limit, D, t[g], sortedIds(together[g]), "query " + g);
            }
            // top-R, best-first
            TopCollector[] tops = new TopCollector[group];
            for (int g = 0; g < group; g++) tops[g] = new TopCollector(5 + g);
            index.searchGroup(q, 0, group, limit, tops, null);
            for (int g = 0; g < group; g++) {
                TopCollector alone = new TopCollector(5 + g);
                index.search(q, g * D, limit, alone, null);
                assertArrayEquals(alone.sortedIds(), tops[g].sortedIds(), "top, query " + g);
                double[] s = Oracle.sortedScores(q, g * D, keys, limit, D);
                double rth = s[s.length - (5 + g)];
                for (int id : tops[g].sortedIds()) assertTrue(Oracle.dot(q, g * D, keys, id, D) >= rth - 1e-3);
            }
            // every key either collected or reported pruned, exactly once
            Counting[] counts = new Counting[group];
            for (int g = 0; g < group; g++) counts[g] = new Counting(t[g]);
            index.searchGroup(q, 0, group, limit, counts, null);
            for (int g = 0; g < group; g++) {
                assertEquals(Math.min(n, limit), counts[g].collected + counts[g].pruned, "query " + g);
                assertEquals(together[g].size(), counts[g].collected, "query " + g);
            }
        }
        assertTrue(skipped > 0 && sketched > 0, "skipped " + skipped + " blocks, sketched " + sketched + " keys");
        assertThrows(IllegalArgumentException.class,
                () -> index.searchGroup(new float[D], 0, 2, n, new HitCollector[1], null));
    }

    private static int[] sortedIds(ThresholdCollector c) {
        int[] ids = Arrays.copyOf(c.ids(), c.size());
        Arrays.sort(ids);
        return ids;
    }

    /** A threshold collector that also wants every pruned key's bound, and checks each bound is below the bar. */
    static final class Counting implements HitCollector {
        final float t;
        long collected, pruned;

        Counting(float t) {
            this.t = t;
        }

        @Override
        public float minCompetitiveScore() {
            return t;
        }

        @Override
        public void collect(int id, float score) {
            assertTrue(score >= t);
            collected++;
        }

        @Override
        public boolean wantsPruned() {
            return true;
        }

        @Override
        public void pruned(float upperBound, int count) {
            assertTrue(upperBound < t, "pruned bound " + upperBound + " >= bar " + t);
            pruned += count;
        }
    }
}
