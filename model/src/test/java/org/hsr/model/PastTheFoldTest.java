package org.hsr.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.Selection;
import org.hsr.index.BlockIndex;
import org.hsr.kv.KvCache;
import org.hsr.model.gguf.GgufConvert;
import org.hsr.model.gguf.GgufModel;
import org.hsr.model.tensor.GgmlType;
import org.hsr.store.ElementType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The forward pass through the index proper: a GGUF model of a real head shape (head dim 32, grouped-query 4:1,
 * Q8_0 matrices, random weights, made by the test) run over more positions than one fold holds, so that every layer's
 * index has folded blocks, int8 sketches and centred keys when it is read. The index is walked on every step
 * ({@link KvCache.Method#WALK}), never replaced by a dense pass, and compared with dense attention over the same
 * storage: ReLU^α gives the same logits, certified softmax the same loss within what its bound allows.
 */
class PastTheFoldTest {

    static final int POSITIONS = BlockIndex.FOLD + 400;
    static LlamaModel model;
    static int[] tokens;

    @BeforeAll
    static void makeModel(@TempDir Path dir) throws Exception {
        var shape = new GgufConvert.Shape("fold-test", 128, 256, 2, 4, 1, 260, POSITIONS + 8, 10000, false, false);
        Path file = dir.resolve("fold-test.gguf");
        GgufConvert.writeRandom(shape, GgmlType.Q8_0, 17, file);
        assertTrue(Files.size(file) > 0);
        model = GgufModel.load(file, POSITIONS + 8, 1);
        SplittableRandom r = new SplittableRandom(4);
        tokens = new int[POSITIONS + 1];
        tokens[0] = 1;
        for (int i = 1; i < tokens.length; i++) tokens[i] = 3 + r.nextInt(256); // byte tokens
    }

    @Test
    void reluThroughTheIndexGivesTheDenseLogitsPastTheFold() {
        Llama2Config cfg = model.config();
        AttentionConfig relu = AttentionConfig.relu(2, 0.05f, true);
        var walk = new KvCacheBackend(cfg, relu, null, KvCache.Method.WALK, ElementType.BF16, null);
        var dense = new KvCacheBackend(cfg, relu, null, KvCache.Method.DENSE, ElementType.BF16, null);
        Transformer a = new Transformer(model, dense), b = new Transformer(model, walk);
        double worst = 0;
        for (int pos = 0; pos < POSITIONS; pos++) {
            float[] x = a.forward(tokens[pos], pos).clone(), y = b.forward(tokens[pos], pos);
            if (pos < BlockIndex.FOLD) continue;
            double max = 0;
            for (float v : x) max = Math.max(max, Math.abs(v));
            for (int i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]) / max);
        }
        for (int layer = 0; layer < cfg.nLayers(); layer++) {
            assertEquals(POSITIONS, walk.cache().length(layer));
        }
        // two fp32 computations of the same attention (float64-accumulated scores on the walk) through two layers
        assertTrue(worst <= 5e-5, "worst relative logit difference past the fold " + worst);
        var st = walk.stats();
        assertEquals(0, st.denseChosenRows, "WALK never chooses dense");
        assertTrue(st.scoredKeys < st.visibleKeys, "the walk scored every key: " + st.scoredKeys);
    }

    @Test
    void certifiedSoftmaxThroughTheIndexKeepsTheDenseLossPastTheFold() {
        Llama2Config cfg = model.config();
        AttentionConfig soft = AttentionConfig.softmax(true);
        var walk = new KvCacheBackend(cfg, soft, Selection.parse("epsilon:1e-3"), KvCache.Method.WALK,
                ElementType.BF16, null);
        var dense = new KvCacheBackend(cfg, soft, null, KvCache.Method.DENSE, ElementType.BF16, null);
        double nllDense = Perplexity.teacherForced(model, tokens, dense).meanNll();
        Perplexity.Result r = Perplexity.teacherForced(model, tokens, walk);
        assertEquals(nllDense, r.meanNll(), 1e-3, "mean NLL, dense vs certified softmax through the index");
        assertTrue(r.stats().droppedMassBoundMax <= 1e-3, "bound " + r.stats().droppedMassBoundMax);
        assertEquals(0, r.stats().denseChosenRows);
        assertTrue(r.stats().rows == (long) POSITIONS * cfg.nHeads() * cfg.nLayers(), "rows " + r.stats().rows);
    }
}
