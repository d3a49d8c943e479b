package org.hsr.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.hsr.attention.AttentionConfig;
import org.hsr.attention.Selection;
import org.junit.jupiter.api.Test;

/** The model with attention through the half-space index against the dense backends. */
class HsrBackendTest {

    @Test
    void certifiedSoftmaxGivesTheDenseGreedyTokensOver256Steps() {
        Generator g = new Generator(ModelFixtures.MODEL, ModelFixtures.TOKENIZER);
        Llama2Config cfg = ModelFixtures.MODEL.config();
        Generation dense = g.generate("", 256, Sampler.greedy(), new DenseSoftmaxAttention(cfg));
        HsrAttentionBackend hsr = new HsrAttentionBackend(cfg, AttentionConfig.softmax(true), new Selection.Epsilon(1e-4));
        Generation sparse = g.generate("", 256, Sampler.greedy(), hsr);
        assertTrue(dense.generatedTokens().size() >= 200, "dense generated " + dense.generatedTokens().size());
        assertEquals(dense.tokens(), sparse.tokens());
        assertTrue(hsr.stats().droppedMassBoundMax <= 1e-4, "bound " + hsr.stats().droppedMassBoundMax);
    }

    @Test
    void reluThroughTheIndexGivesTheDenseReluLogitsAndTokens() {
        Llama2Config cfg = ModelFixtures.MODEL.config();
        float bias = 0.2f;
        Transformer dense = new Transformer(ModelFixtures.MODEL, new DenseReluAttention(cfg, 2, bias));
        Transformer hsr = new Transformer(ModelFixtures.MODEL,
                new HsrAttentionBackend(cfg, AttentionConfig.relu(2, bias, true), null));
        int token = 1, tokenHsr = 1;
        double worst = 0;
        for (int pos = 0; pos < 256; pos++) {
            float[] a = dense.forward(token, pos).clone(), b = hsr.forward(tokenHsr, pos);
            double max = 0;
            for (float x : a) max = Math.max(max, Math.abs(x));
            for (int i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / max);
            token = argmax(a);
            tokenHsr = argmax(b);
            assertEquals(token, tokenHsr, "token at position " + pos);
        }
        assertTrue(worst <= 1e-5, "worst relative logit difference " + worst);
        assertTrue(hsr.attention().stats().keptFraction() < 0.9, "ReLU kept " + hsr.attention().stats().keptFraction());
    }

    static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
