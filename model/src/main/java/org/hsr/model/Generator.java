package org.hsr.model;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Text generation as llama2.c's {@code generate}: the prompt is encoded (with BOS where the model adds one), fed
 * through the model position by position, then tokens are sampled until {@code steps} new tokens were produced, the
 * model emits a token that ends the text (BOS for llama2.c's stories, EOS or end-of-turn for GGUF models), or the
 * context is full.
 *
 * <p>Unlike llama2.c's {@code -n}, {@code steps} counts generated tokens only, not the prompt's.
 */
public final class Generator {

    /** Receives each generated token as it is sampled, with the bytes it adds to the text. */
    @FunctionalInterface
    public interface TokenListener {
        void token(int token, byte[] bytes);
    }

    private final LlamaModel model;
    private final TextTokenizer tokenizer;

    /**
     * @throws IllegalArgumentException if the tokenizer's vocabulary size is not the model's
     */
    public Generator(Llama2Model model, Tokenizer tokenizer) {
        this(LlamaModel.of(Objects.requireNonNull(model, "model")), tokenizer);
    }

    /**
     * @throws IllegalArgumentException if the tokenizer's vocabulary size is not the model's
     */
    public Generator(LlamaModel model, TextTokenizer tokenizer) {
        this.model = Objects.requireNonNull(model, "model");
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        checkVocab(model, tokenizer);
    }

    static void checkVocab(LlamaModel model, TextTokenizer tokenizer) {
        if (tokenizer.vocabSize() != model.config().vocabSize()) {
            throw new IllegalArgumentException("tokenizer " + tokenizer.source() + " has " + tokenizer.vocabSize()
                    + " tokens, model " + model.source() + " has vocab_size " + model.config().vocabSize());
        }
    }

    /** {@link #generate(String, int, Sampler, AttentionBackend, TokenListener)} without a listener. */
    public Generation generate(String prompt, int steps, Sampler sampler, AttentionBackend backend) {
        return generate(prompt, steps, sampler, backend, (t, b) -> { });
    }

    /**
     * Generates up to {@code steps} tokens after {@code prompt}.
     *
     * @param prompt   the text to continue; empty starts from BOS alone
     * @param steps    maximum number of tokens to generate (&gt;= 0)
     * @param sampler  picks each next token
     * @param backend  the attention of the forward pass; reset at the start
     * @param listener told of every generated token that continues the text, as it comes
     * @throws IllegalArgumentException if the prompt does not fit in the model's context
     */
    public Generation generate(String prompt, int steps, Sampler sampler, AttentionBackend backend,
                               TokenListener listener) {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(sampler, "sampler");
        if (steps < 0) {
            throw new IllegalArgumentException("steps must be >= 0: " + steps);
        }
        int seqLen = model.config().seqLen();
        // encode the prompt; it must fit in the context (the last prompt token still needs a position)
        int atLeast = tokenizer.minTokens(prompt);
        if (atLeast > seqLen) {
            throw new IllegalArgumentException("prompt too long: at least " + atLeast
                    + " tokens (with BOS) > model context " + seqLen);
        }
        int[] promptTokens = tokenizer.encode(prompt);
        if (promptTokens.length > seqLen) {
            throw new IllegalArgumentException("prompt too long: " + promptTokens.length
                    + " tokens (with BOS) > model context " + seqLen);
        }

        Transformer transformer = new Transformer(model, backend);
        List<Integer> tokens = new ArrayList<>();
        for (int t : promptTokens) {
            tokens.add(t);
        }
        int token = promptTokens[0]; // BOS
        int generated = 0;
        int pos = 0;
        long start = System.nanoTime();
        long promptEnd = -1; // when the prompt's last forward pass ended
        while (pos < seqLen) {
            boolean inPrompt = pos + 1 < promptTokens.length;
            if (!inPrompt && generated == steps) {
                break;
            }
            // forward the transformer to get logits for the next token
            float[] logits = transformer.forward(token, pos);
            if (pos + 1 == promptTokens.length) {
                promptEnd = System.nanoTime();
            }
            // advance: force the next prompt token, else sample
            int next;
            if (inPrompt) {
                next = promptTokens[pos + 1];
            } else {
                next = sampler.sample(logits);
                generated++;
                if (tokenizer.endsText(next)) {
                    pos++;
                    break; // BOS (stories) or EOS: the text is over
                }
                tokens.add(next);
                listener.token(next, tokenizer.tokenBytes(token, next));
            }
            token = next;
            pos++;
        }
        long end = System.nanoTime();
        double seconds = (end - start) / 1e9;
        double tokPerS = pos > 0 && seconds > 0 ? pos / seconds : 0;
        if (promptEnd < 0) promptEnd = end;
        Generation.Timing timing = new Generation.Timing(Math.min(pos, promptTokens.length), (promptEnd - start) / 1e9,
                generated, (end - promptEnd) / 1e9, seconds > 0 ? transformer.attentionNanos() / 1e9 / seconds : 0);
        return new Generation(List.copyOf(tokens), promptTokens.length, tokenizer.decode(tokens), tokPerS,
                backend.stats(), timing);
    }
}
