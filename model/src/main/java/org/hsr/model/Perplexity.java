package org.hsr.model;

import java.util.Objects;
import org.hsr.attention.AttentionStats;

/**
 * Teacher-forced loss: the model reads a token sequence and, at every position, is scored on the probability it gave
 * the actual next token. The mean negative log-likelihood is in nats (natural log), from a log-softmax computed in
 * float64 over the fp32 logits; perplexity is {@code exp(meanNll)}.
 */
public final class Perplexity {

    private Perplexity() {}

    /**
     * @param tokens     number of predicted tokens (the input's length minus the first token)
     * @param meanNll    mean negative log-likelihood per predicted token, nats
     * @param perplexity {@code exp(meanNll)}
     * @param stats      the attention backend's statistics for the sequence, or null if it does not count
     * @param seconds    wall time of the forward passes and the loss
     * @param attentionShare the fraction of {@code seconds} spent in attention (append and attend), 0..1
     */
    public record Result(int tokens, double meanNll, double perplexity, AttentionStats stats, double seconds,
                         double attentionShare) {

        /** Positions run per second: the prompt (prefill) rate, one forward pass per predicted token. */
        public double tokPerS() {
            return seconds > 0 ? tokens / seconds : 0;
        }
    }

    /**
     * Scores {@code tokens[1..]} given their prefixes: position {@code p} reads {@code tokens[p]} and is scored on
     * {@code tokens[p+1]}.
     *
     * @param tokens usually BOS followed by a text's tokens (see {@link Tokenizer#encode(String)}); at least 2, and
     *               at most the model's context + 1 (the last token is only a target)
     * @throws IllegalArgumentException if there are fewer than 2 tokens or more than the context holds
     */
    public static Result teacherForced(Llama2Model model, int[] tokens, AttentionBackend backend) {
        return teacherForced(LlamaModel.of(model), tokens, backend);
    }

    /** Scores {@code tokens[1..]} under {@code model}; see {@link #teacherForced(Llama2Model, int[], AttentionBackend)}. */
    public static Result teacherForced(LlamaModel model, int[] tokens, AttentionBackend backend) {
        Objects.requireNonNull(tokens, "tokens");
        int seqLen = model.config().seqLen();
        if (tokens.length < 2) {
            throw new IllegalArgumentException("need at least 2 tokens (BOS and one to predict), got " + tokens.length);
        }
        if (tokens.length - 1 > seqLen) {
            throw new IllegalArgumentException("text too long: " + tokens.length + " tokens (with BOS) need "
                    + (tokens.length - 1) + " positions > model context " + seqLen);
        }
        Transformer transformer = new Transformer(model, backend);
        double nllSum = 0;
        long start = System.nanoTime();
        for (int pos = 0; pos + 1 < tokens.length; pos++) {
            float[] logits = transformer.forward(tokens[pos], pos);
            int target = tokens[pos + 1];
            if (target < 0 || target >= logits.length) {
                throw new IllegalArgumentException("token " + target + " at index " + (pos + 1)
                        + " is outside the vocabulary 0.." + (logits.length - 1));
            }
            nllSum += logSumExp(logits) - logits[target]; // -log softmax(logits)[target]
        }
        double meanNll = nllSum / (tokens.length - 1);
        double seconds = (System.nanoTime() - start) / 1e9;
        return new Result(tokens.length - 1, meanNll, Math.exp(meanNll), backend.stats(), seconds,
                seconds > 0 ? transformer.attentionNanos() / 1e9 / seconds : 0);
    }

    /**
     * Encodes {@code text} (BOS first, see {@link Tokenizer#encode(String)}) and scores it; see
     * {@link #teacherForced(Llama2Model, int[], AttentionBackend)}.
     *
     * @throws IllegalArgumentException if the text is empty, too long for the context, or the tokenizer does not
     *                                  match the model
     */
    public static Result teacherForced(Llama2Model model, Tokenizer tokenizer, String text, AttentionBackend backend) {
        return teacherForced(LlamaModel.of(model), tokenizer, text, backend);
    }

    /** Encodes {@code text} with {@code tokenizer} and scores it under {@code model}. */
    public static Result teacherForced(LlamaModel model, TextTokenizer tokenizer, String text, AttentionBackend backend) {
        Generator.checkVocab(model, tokenizer);
        int seqLen = model.config().seqLen();
        int atLeast = tokenizer.minTokens(text);
        if (atLeast - 1 > seqLen) {
            throw new IllegalArgumentException("text too long: at least " + atLeast + " tokens (with BOS) need "
                    + (atLeast - 1) + " positions > model context " + seqLen);
        }
        int[] tokens = tokenizer.encode(text);
        if (tokens.length < 2) {
            throw new IllegalArgumentException("text is empty: nothing to predict");
        }
        return teacherForced(model, tokens, backend);
    }

    /** {@code log Σ exp(x_i)} in float64, with the maximum subtracted first. */
    static double logSumExp(float[] x) {
        double max = Double.NEGATIVE_INFINITY;
        for (float xi : x) {
            max = Math.max(max, xi);
        }
        double sum = 0;
        for (float xi : x) {
            sum += Math.exp(xi - max);
        }
        return max + Math.log(sum);
    }
}
