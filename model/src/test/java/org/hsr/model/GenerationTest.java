package org.hsr.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** End-to-end checks against the values documented for stories260K (models/README.md). */
class GenerationTest {

    private static final Llama2Model MODEL = ModelFixtures.MODEL;
    private static final Tokenizer TOKENIZER = ModelFixtures.TOKENIZER;

    @Test
    void greedyFromBosReproducesTheDocumentedSample() {
        Generation g = new Generator(MODEL, TOKENIZER)
                .generate("", 60, Sampler.greedy(), new DenseSoftmaxAttention(MODEL.config()));
        assertTrue(g.text().startsWith("Once upon a time, there was a little girl named Lily. She loved to play outside"
                + " in the park."), g.text());
        assertEquals(1, g.promptTokens());
        assertEquals(61, g.tokens().size());
        assertEquals(Tokenizer.BOS, g.tokens().get(0));
        assertTrue(g.tokPerS() > 0);
        assertEquals(1.0, g.stats().keptFraction());
        // the documented sample, as far as the README quotes it, is exactly the greedy continuation
        int[] sample = TOKENIZER.encode(ModelFixtures.GREEDY);
        Generation longer = new Generator(MODEL, TOKENIZER)
                .generate("", sample.length - 1, Sampler.greedy(), new DenseSoftmaxAttention(MODEL.config()));
        assertEquals(ModelFixtures.GREEDY, longer.text());
        assertEquals(Arrays.stream(sample).boxed().toList(), longer.tokens());
    }

    @Test
    void greedyContinuesAPrompt() {
        Generation g = new Generator(MODEL, TOKENIZER)
                .generate("Once upon a time,", 10, Sampler.greedy(), new DenseSoftmaxAttention(MODEL.config()));
        assertEquals(List.of(1, 403, 407, 261, 378, 432), g.tokens().subList(0, 6));
        assertEquals(6, g.promptTokens());
        assertEquals(10, g.generatedTokens().size());
        assertTrue(g.text().startsWith("Once upon a time, there was a little girl"), g.text());
    }

    @Test
    void teacherForcedNllOfTheSampleIsTheDocumentedValue() {
        int[] tokens = TOKENIZER.encode(ModelFixtures.NLL_TEXT);
        assertEquals(45, tokens.length);
        Perplexity.Result r = Perplexity.teacherForced(MODEL, tokens, new DenseSoftmaxAttention(MODEL.config()));
        assertEquals(tokens.length - 1, r.tokens());
        assertEquals(0.324, r.meanNll(), 0.01, "README: 0.324 nats/token");
        assertEquals(Math.exp(r.meanNll()), r.perplexity(), 1e-12);
        // and the float64 re-implementation agrees to fp32 accuracy
        double ref = new Float64Reference(ModelFixtures.resource(Llama2Model.EMBEDDED_RESOURCE)).meanNll(tokens);
        assertEquals(ref, r.meanNll(), 1e-5);
        // the text entry point encodes the same way
        Perplexity.Result viaText = Perplexity.teacherForced(MODEL, TOKENIZER, ModelFixtures.NLL_TEXT,
                new DenseSoftmaxAttention(MODEL.config()));
        assertEquals(r.meanNll(), viaText.meanNll(), 0);
    }

    @Test
    void promptLongerThanTheContextIsRefused() {
        Generator generator = new Generator(MODEL, TOKENIZER);
        String longPrompt = "Once upon a time, there was a little girl named Lily. ".repeat(40);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> generator.generate(longPrompt,
                10, Sampler.greedy(), new DenseSoftmaxAttention(MODEL.config())));
        assertTrue(e.getMessage().startsWith("prompt too long: "), e.getMessage());
        assertTrue(e.getMessage().contains("> model context 512"), e.getMessage());
        // a megabyte prompt is refused before the quadratic merge step
        String huge = "x".repeat(1 << 20);
        IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class,
                () -> generator.generate(huge, 1, Sampler.greedy(), new DenseSoftmaxAttention(MODEL.config())));
        assertTrue(e2.getMessage().startsWith("prompt too long: at least "), e2.getMessage());
        IllegalArgumentException e3 = assertThrows(IllegalArgumentException.class, () -> Perplexity.teacherForced(
                MODEL, TOKENIZER, longPrompt, new DenseSoftmaxAttention(MODEL.config())));
        assertTrue(e3.getMessage().startsWith("text too long: "), e3.getMessage());
    }

    @Test
    void generationStopsWhenTheContextIsFull() {
        String prompt = "Once upon a time, there was a little girl named Lily. ".repeat(10);
        int promptTokens = TOKENIZER.encode(prompt).length;
        Generation g = new Generator(MODEL, TOKENIZER).generate(prompt, 10_000, new Sampler(1f, 0.9f, 7),
                new DenseSoftmaxAttention(MODEL.config()));
        // either the context filled up (seqLen forwards give seqLen + 1 tokens) or the model ended the story with BOS
        assertTrue(g.tokens().size() <= MODEL.config().seqLen() + 1, "tokens: " + g.tokens().size());
        assertTrue(g.tokens().size() > promptTokens);
        assertEquals(TOKENIZER.decode(g.tokens()), g.text());
    }

    @Test
    void forwardRefusesPositionsBeyondTheContextAndOutOfOrder() {
        Transformer t = new Transformer(MODEL, new DenseSoftmaxAttention(MODEL.config()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.forward(1, 512));
        assertEquals("sequence too long: position 512 >= model context 512", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> t.forward(1, -1));
        assertEquals("position -1 is negative", e.getMessage());
        t.forward(1, 0);
        e = assertThrows(IllegalArgumentException.class, () -> t.forward(1, 5));
        assertEquals("position 5 out of order: expected 1 (or 0 to start a new sequence)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> t.forward(512, 1));
        assertEquals("token 512 is outside the vocabulary 0..511", e.getMessage());
    }

    @Test
    void tokenizerMustMatchTheModel() throws Exception {
        // a tokenizer with more tokens than the model: the shipped one plus one extra record
        byte[] tok = ModelFixtures.resource(Tokenizer.EMBEDDED_RESOURCE);
        byte[] extra = java.util.Arrays.copyOf(tok, tok.length + 9);
        java.nio.ByteBuffer.wrap(extra, tok.length, 9).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .putFloat(-1000f).putInt(1).put((byte) 'z');
        Tokenizer bigger = Tokenizer.parse("bigger.bin", extra, -1);
        assertEquals(513, bigger.vocabSize());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Generator(MODEL, bigger));
        assertEquals("tokenizer bigger.bin has 513 tokens, model embedded stories260K.bin has vocab_size 512",
                e.getMessage());
    }
}
