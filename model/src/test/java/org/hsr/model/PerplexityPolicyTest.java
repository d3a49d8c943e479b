package org.hsr.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.Selection;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Teacher-forced loss on a held-out text (three short stories written for the test set, {@code eval-stories.txt},
 * 432 predicted tokens) under the sparse-softmax policies of SPEC §4 and ReLU^α through the index, against the dense
 * backends. {@code bench/perplexity-table.sh} prints the full table.
 */
class PerplexityPolicyTest {

    static final String EVAL_TEXT = evalText();

    static double denseNll;

    @BeforeAll
    static void dense() {
        Perplexity.Result r = score(new DenseSoftmaxAttention(ModelFixtures.MODEL.config()));
        assertTrue(r.tokens() >= 300 && r.tokens() <= ModelFixtures.MODEL.config().seqLen(),
                "eval text has " + r.tokens() + " predicted tokens");
        assertTrue(Double.isFinite(r.meanNll()) && r.meanNll() > 0, "dense NLL " + r.meanNll());
        denseNll = r.meanNll();
    }

    @Test
    void certifiedEpsilonMatchesDense() {
        HsrAttentionBackend hsr = new HsrAttentionBackend(ModelFixtures.MODEL.config(), AttentionConfig.softmax(true),
                new Selection.Epsilon(1e-4));
        Perplexity.Result r = score(hsr);
        assertEquals(denseNll, r.meanNll(), 1e-3, "epsilon:1e-4 NLL against dense");
        assertTrue(hsr.stats().droppedMassBoundMax <= 1e-4, "certified bound " + hsr.stats().droppedMassBoundMax);
    }

    @Test
    void topRApproachesDenseAsRGrows() {
        double d4 = Math.abs(topNll(4) - denseNll);
        double d64 = Math.abs(topNll(64) - denseNll);
        assertTrue(d64 <= d4, "|ΔNLL| top:64 " + d64 + " > top:4 " + d4);
        // R >= the context (512) keeps every visible key: dense softmax, up to summation order
        assertEquals(denseNll, topNll(ModelFixtures.MODEL.config().seqLen()), 1e-5, "top:512 NLL against dense");
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2})
    void reluThroughTheIndexMatchesDenseRelu(int alpha) {
        Llama2Config cfg = ModelFixtures.MODEL.config();
        double dense = score(new DenseReluAttention(cfg, alpha, 0f)).meanNll();
        double hsr = score(new HsrAttentionBackend(cfg, AttentionConfig.relu(alpha, 0f, true), null)).meanNll();
        assertTrue(Double.isFinite(dense), "dense ReLU NLL " + dense);
        assertEquals(dense, hsr, 1e-5, "ReLU^" + alpha + " NLL, hsr against dense");
    }

    private static double topNll(int r) {
        return score(new HsrAttentionBackend(ModelFixtures.MODEL.config(), AttentionConfig.softmax(true),
                new Selection.Top(r))).meanNll();
    }

    private static Perplexity.Result score(AttentionBackend backend) {
        return Perplexity.teacherForced(ModelFixtures.MODEL, ModelFixtures.TOKENIZER, EVAL_TEXT, backend);
    }

    /** The test resource as UTF-8, without one final line break (as {@code hsr perplexity --text} reads it). */
    private static String evalText() {
        try (InputStream in = PerplexityPolicyTest.class.getResourceAsStream("eval-stories.txt")) {
            if (in == null) {
                throw new IllegalStateException("missing test resource org/hsr/model/eval-stories.txt");
            }
            String s = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            return s.endsWith("\n") ? s.substring(0, s.length() - 1) : s;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
