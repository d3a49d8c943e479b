package org.hsr.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.hsr.TestData;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.Selection;
import org.hsr.store.ElementType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@link KvCache#attendPartial}: a sequence split by position over several caches (shards, one of them empty), each
 * shard's rows merged by their log weights, equals float64 attention over the whole sequence; and the merged log
 * weight equals the float64 log of the total weight, computed here from the stored keys.
 */
class KvCachePartialTest {

    static final int HEADS = 4, KV_HEADS = 2, D = 33, DV = 17;
    static final int[] SHARD = {2100, 0, 4500, 700}; // positions per shard, in sequence order

    enum Case { RELU_HSR, RELU_DENSE, SOFTMAX_HSR, SOFTMAX_DENSE, SOFTMAX_EPSILON }

    @ParameterizedTest
    @EnumSource(Case.class)
    void shardsMergeToTheWholeSequence(Case cs) {
        for (ElementType type : ElementType.values()) check(cs, type);
    }

    private static void check(Case cs, ElementType type) {
        KvShape shape = new KvShape(1, HEADS, KV_HEADS, D, DV, type);
        int n = Arrays.stream(SHARD).sum();
        boolean relu = cs == Case.RELU_HSR || cs == Case.RELU_DENSE;
        AttentionConfig cfg = relu ? AttentionConfig.relu(2, (float) Math.sqrt(0.4 * Math.log(n)), false)
                : AttentionConfig.softmax(false);
        KvCache.Method method = cs == Case.RELU_DENSE || cs == Case.SOFTMAX_DENSE ? KvCache.Method.DENSE
                : KvCache.Method.HSR;
        Selection sel = cs == Case.SOFTMAX_EPSILON ? Selection.parse("epsilon:1e-3") : null;
        SplittableRandom r = new SplittableRandom(11 + cs.ordinal());
        float[] k = KvCacheTest.keys(r, n * shape.keyWidth(), 0.3f), v = TestData.gaussian(r, n * shape.valueWidth());
        KvCacheTest.Mirror mirror = new KvCacheTest.Mirror(shape, n);
        mirror.append(0, k, v, n);
        KvCache[] shards = new KvCache[SHARD.length];
        int from = 0;
        for (int s = 0; s < SHARD.length; s++) {
            shards[s] = KvCache.builder(shape).attention(cfg).method(method).selection(sel).build();
            shards[s].append(0, k, from * shape.keyWidth(), v, from * shape.valueWidth(), SHARD[s]);
            from += SHARD[s];
        }
        double vMax = KvCacheTest.maxAbs(v), largestBound = 0;
        for (int trial = 0; trial < 6; trial++) {
            float[] q = TestData.gaussian(r, shape.queryWidth());
            for (int i = 0; i < q.length; i++) q[i] *= relu ? 2 : 6; // softmax: peaked, so that epsilon drops keys
            float[] merged = new float[shape.outputWidth()];
            double[] mergedLog = new double[HEADS], mergedBound = new double[HEADS];
            merge(shards, q, shape, merged, mergedLog, mergedBound);
            double[] ref = mirror.attend(0, q, 1, cfg);
            if (cs == Case.SOFTMAX_EPSILON) {
                for (int h = 0; h < HEADS; h++) {
                    assertTrue(mergedBound[h] <= 1e-3 * 1.01, "merged bound " + mergedBound[h]);
                    largestBound = Math.max(largestBound, mergedBound[h]);
                    double err = 0;
                    for (int t = 0; t < DV; t++) err = Math.max(err, Math.abs(merged[h * DV + t] - ref[h * DV + t]));
                    assertTrue(err <= 2 * mergedBound[h] * vMax + 1e-5, type + " head " + h + " error " + err
                            + " > 2·" + mergedBound[h] + "·max|V|");
                }
            } else {
                double err = TestData.maxRowRelError(merged, ref, DV);
                assertTrue(err <= 1e-5, cs + " " + type + " merged rel err " + err);
                for (int h = 0; h < HEADS; h++) {
                    double want = logTotalWeight(mirror, shape, q, h, cfg);
                    assertEquals(want, mergedLog[h], 1e-6 * Math.max(1, Math.abs(want)), cs + " " + type + " head " + h);
                    assertEquals(0, mergedBound[h]);
                }
            }
        }
        if (cs == Case.SOFTMAX_EPSILON) assertTrue(largestBound > 0, type + ": epsilon dropped nothing");
        // an empty shard's rows carry no weight
        float[] q = TestData.gaussian(r, shape.queryWidth()), out = new float[shape.outputWidth()];
        double[] lw = new double[HEADS], dr = new double[HEADS];
        shards[1].attendPartial(0, q, 0, out, 0, lw, dr, 0, null);
        for (double x : lw) assertEquals(Double.NEGATIVE_INFINITY, x);
        for (float x : out) assertEquals(0f, x);
        for (KvCache c : shards) c.close();
    }

    /** The merge a sharded cache performs: log-sum-exp of the shards' log weights, and the dropped mass bounds. */
    static void merge(KvCache[] shards, float[] q, KvShape shape, float[] out, double[] logW, double[] bound) {
        int heads = shape.heads(), dv = shape.valueDim();
        float[][] o = new float[shards.length][shape.outputWidth()];
        double[][] lw = new double[shards.length][heads], dr = new double[shards.length][heads];
        for (int s = 0; s < shards.length; s++) shards[s].attendPartial(0, q, 0, o[s], 0, lw[s], dr[s], 0, null);
        for (int h = 0; h < heads; h++) {
            double m = Double.NEGATIVE_INFINITY;
            for (double[] l : lw) m = Math.max(m, l[h]);
            double kept = 0, dropped = 0;
            double[] acc = new double[dv];
            for (int s = 0; s < shards.length; s++) {
                if (lw[s][h] == Double.NEGATIVE_INFINITY) continue;
                double w = Math.exp(lw[s][h] - m); // the shard's kept mass, relative to exp(m)
                kept += w;
                dropped += dr[s][h] / (1 - dr[s][h]) * w; // dropped <= β/(1−β)·kept, per shard
                for (int t = 0; t < dv; t++) acc[t] += w * o[s][h * dv + t];
            }
            for (int t = 0; t < dv; t++) out[h * dv + t] = kept > 0 ? (float) (acc[t] / kept) : 0f;
            logW[h] = kept > 0 ? m + Math.log(kept) : Double.NEGATIVE_INFINITY;
            bound[h] = kept > 0 ? dropped / (dropped + kept) : 0;
        }
    }

    /** float64 log Σ_j w_j over every stored key of query head h (softmax: w = exp(c·s); ReLU: (c·s − b)^α). */
    static double logTotalWeight(KvCacheTest.Mirror mirror, KvShape shape, float[] q, int h, AttentionConfig cfg) {
        int d = shape.headDim(), kvh = h / shape.group();
        double c = cfg.scaleFor(d), m = Double.NEGATIVE_INFINITY;
        double[] x = new double[mirror.n[0]];
        for (int j = 0; j < x.length; j++) {
            double s = 0;
            for (int t = 0; t < d; t++) s += (double) q[h * d + t] * mirror.k[kvh][j * d + t];
            x[j] = cfg.kind() == AttentionConfig.Kind.SOFTMAX ? c * s
                    : c * s > cfg.bias() ? cfg.alpha() * Math.log(c * s - cfg.bias()) : Double.NEGATIVE_INFINITY;
            m = Math.max(m, x[j]);
        }
        double sum = 0;
        for (double xj : x) sum += Math.exp(xj - m);
        return m + Math.log(sum);
    }

    @org.junit.jupiter.api.Test
    void badPartialArraysAreRefused() {
        KvShape shape = new KvShape(1, HEADS, KV_HEADS, D, DV, ElementType.BF16);
        try (KvCache c = KvCache.builder(shape).build()) {
            float[] k = new float[shape.keyWidth()], v = new float[shape.valueWidth()];
            c.append(0, k, 0, v, 0, 1);
            float[] q = new float[shape.queryWidth()], out = new float[shape.outputWidth()];
            var e = assertThrows(IllegalArgumentException.class,
                    () -> c.attendPartial(0, q, 0, out, 0, new double[HEADS], new double[HEADS], 1, null));
            assertTrue(e.getMessage().contains("logWeight"), e.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> c.attendPartial(0, q, 0, out, 0, new double[HEADS], null, 0, null));
        }
    }
}
