package org.hsr.index;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** sortById against a plain sort of (id, score) pairs, for id ranges that need one to four radix passes. */
class ThresholdCollectorTest {

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3, 64, 255, 256, 1000, 65536, 1 << 20, Integer.MAX_VALUE})
    void sortByIdKeepsEachScoreWithItsId(int maxId) {
        SplittableRandom r = new SplittableRandom(maxId);
        for (int size : new int[] {0, 1, 2, 7, 300, 5000}) {
            int n = (int) Math.min(size, (long) maxId + 1);
            java.util.Map<Integer, Double> seen = new java.util.HashMap<>();
            ThresholdCollector c = new ThresholdCollector(0f);
            long[] want = new long[n];
            for (int i = 0; i < n; i++) {
                int id;
                do {
                    id = maxId == Integer.MAX_VALUE ? r.nextInt(Integer.MAX_VALUE) : r.nextInt(maxId + 1);
                } while (seen.containsKey(id));
                double score = r.nextGaussian();
                seen.put(id, score);
                c.collectExact(id, score);
                want[i] = id;
            }
            Arrays.sort(want);
            c.sortById();
            assertEquals(n, c.size());
            for (int i = 0; i < n; i++) {
                assertEquals(want[i], c.ids()[i], "position " + i);
                assertEquals(seen.get(c.ids()[i]), c.exactScores()[i], "exact score follows its id");
                assertEquals((float) (double) seen.get(c.ids()[i]), c.scores()[i], "score follows its id");
            }
        }
    }
}
