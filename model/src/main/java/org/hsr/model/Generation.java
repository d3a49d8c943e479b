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
 */
public record Generation(List<Integer> tokens, int promptTokens, String text, double tokPerS, AttentionStats stats) {

    /** The generated tokens only. */
    public List<Integer> generatedTokens() {
        return tokens.subList(promptTokens, tokens.size());
    }
}
