package org.hsr.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.hsr.attention.AttentionStats;
import org.junit.jupiter.api.Test;

/** The fp32 forward pass against the independent float64 re-implementation in {@link Float64Reference}. */
class ForwardPassTest {

    private static final Llama2Model MODEL = ModelFixtures.MODEL;

    @Test
    void softmaxLogitsMatchFloat64ReferenceAtEveryPosition() {
        int[] tokens = ModelFixtures.TOKENIZER.encode(ModelFixtures.GREEDY);
        Float64Reference ref = new Float64Reference(ModelFixtures.resource(Llama2Model.EMBEDDED_RESOURCE));
        Transformer transformer = new Transformer(MODEL, new DenseSoftmaxAttention(MODEL.config()));
        double worst = 0;
        for (int pos = 0; pos < tokens.length; pos++) {
            float[] logits = transformer.forward(tokens[pos], pos);
            double[] expected = ref.forward(tokens[pos], pos);
            for (int i = 0; i < expected.length; i++) {
                worst = Math.max(worst, Math.abs(logits[i] - expected[i]));
            }
        }
        assertTrue(worst < 1e-4, "max |logit - float64 logit| over " + tokens.length + " positions = " + worst);
    }

    @Test
    void reluAttentionMatchesFloat64Reference() {
        int[] tokens = ModelFixtures.TOKENIZER.encode(ModelFixtures.GREEDY);
        Float64Reference ref = new Float64Reference(ModelFixtures.resource(Llama2Model.EMBEDDED_RESOURCE), true, 0, 1);
        DenseReluAttention relu = new DenseReluAttention(MODEL.config(), 1, 0f);
        Transformer transformer = new Transformer(MODEL, relu);
        double worst = 0;
        for (int pos = 0; pos < 24; pos++) {
            float[] logits = transformer.forward(tokens[pos], pos);
            double[] expected = ref.forward(tokens[pos], pos);
            for (int i = 0; i < expected.length; i++) {
                assertTrue(Float.isFinite(logits[i]), "logit " + i + " at position " + pos + " = " + logits[i]);
                worst = Math.max(worst, Math.abs(logits[i] - expected[i]));
            }
        }
        assertTrue(worst < 1e-4, "max |logit - float64 logit| = " + worst);
        AttentionStats stats = relu.stats();
        long rows = 24L * MODEL.config().nLayers() * MODEL.config().nHeads();
        assertEquals(rows, stats.rows);
        assertEquals(rows * 25 / 2, stats.visibleKeys); // Σ_{pos<24} (pos + 1) per (layer, head)
        assertTrue(stats.keptKeys > 0 && stats.keptKeys < stats.visibleKeys,
                "ReLU with bias 0 keeps some but not all keys: " + stats.keptKeys + " of " + stats.visibleKeys);
    }

    @Test
    void reluWithHugeBiasGivesEmptyRowsAndStillFiniteLogits() {
        DenseReluAttention relu = new DenseReluAttention(MODEL.config(), 2, 1e6f);
        Transformer transformer = new Transformer(MODEL, relu);
        float[] logits = transformer.forward(Tokenizer.BOS, 0);
        for (float z : logits) {
            assertTrue(Float.isFinite(z));
        }
        assertEquals(relu.stats().rows, relu.stats().emptyRows);
        assertEquals(0, relu.stats().keptKeys);
    }

    @Test
    void softmaxStatsCountEveryVisibleKey() {
        DenseSoftmaxAttention softmax = new DenseSoftmaxAttention(MODEL.config());
        Transformer transformer = new Transformer(MODEL, softmax);
        int[] tokens = ModelFixtures.TOKENIZER.encode("Once upon a time");
        for (int pos = 0; pos < tokens.length; pos++) {
            transformer.forward(tokens[pos], pos);
        }
        AttentionStats stats = softmax.stats();
        assertEquals(1.0, stats.keptFraction());
        assertEquals((long) tokens.length * 5 * 8, stats.rows);
        // position 0 restarts the sequence: the caches and the statistics are cleared
        transformer.forward(Tokenizer.BOS, 0);
        assertEquals(5 * 8, softmax.stats().rows);
    }
}
