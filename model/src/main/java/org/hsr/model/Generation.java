package org.hsr.model;

import java.util.List;
import org.hsr.attention.AttentionStats;

/**
 * The result of {@link Generator#generate}.
 *
 * @param tokens       the whole sequence: BOS, the prompt's tokens, then the generated ones (a final BOS, which ends
 *                     generation, is not included)
 * @param promptTokens how many of {@code tokens} came from the prompt (BOS included)
 * @param text         {@code tokens} decoded: the prompt followed by the continuation
 * @param tokPerS      positions run per second (prompt and generated tokens; forward pass plus sampling)
 * @param stats        the attention backend's statistics for the sequence, or null if it does not count
 * @param timing       where the time went: prompt (prefill) and generation (decode) rates, attention's share
 */
public record Generation(List<Integer> tokens, int promptTokens, String text, double tokPerS, AttentionStats stats,
                         Timing timing) {

    /**
     * The speed of a run, llama.cpp's split: the prompt's forward passes (prefill), then the generated tokens
     * (decode: each one's sampling and the forward pass that reads it).
     *
     * @param promptTokens    positions of the prompt run (BOS included)
     * @param promptSeconds   their wall time
     * @param generatedTokens tokens sampled (an end-of-text token included)
     * @param decodeSeconds   the wall time after the prompt
     * @param attentionShare  the fraction of the whole wall time spent in attention (append and attend), 0..1
     */
    public record Timing(int promptTokens, double promptSeconds, int generatedTokens, double decodeSeconds,
                         double attentionShare) {

        /** Prompt tokens per second (0 when nothing was timed). */
        public double promptTokPerS() {
            return promptSeconds > 0 ? promptTokens / promptSeconds : 0;
        }

        /** Generated tokens per second (0 when none was generated). */
        public double decodeTokPerS() {
            return decodeSeconds > 0 ? generatedTokens / decodeSeconds : 0;
        }
    }

    /** The generated tokens only. */
    public List<Integer> generatedTokens() {
        return tokens.subList(promptTokens, tokens.size());
    }
}
