package org.hsr.model;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Text to token ids and back, for {@link Generator} and {@link Perplexity}: the llama2.c / SentencePiece tokenizer
 * ({@link Tokenizer}) and the byte-level BPE of GGUF {@code gpt2} vocabularies
 * ({@code org.hsr.model.gguf.Gpt2Tokenizer}). Implementations are immutable and thread-safe.
 */
public interface TextTokenizer {

    /** Where the tokenizer came from, for messages. */
    String source();

    /** Number of tokens. */
    int vocabSize();

    /**
     * Encodes {@code text} as the model expects a sequence to start (BOS first where the model adds one). Never
     * empty: an empty text encodes to the start token alone.
     */
    int[] encode(String text);

    /** A lower bound on {@code encode(text).length} that costs one pass over the text. */
    int minTokens(String text);

    /** The bytes {@code token} adds to the text when it follows {@code prev} (-1 at the start); empty for control tokens. */
    byte[] tokenBytes(int prev, int token);

    /** Whether generation stops when the model emits {@code token}. */
    boolean endsText(int token);

    /** Decodes tokens to text: the bytes of every token, as UTF-8 (malformed sequences become U+FFFD). */
    default String decode(int[] tokens) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int prev = -1;
        for (int t : tokens) {
            out.writeBytes(tokenBytes(prev, t));
            prev = t;
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    /** Decodes a list of tokens; see {@link #decode(int[])}. */
    default String decode(List<Integer> tokens) {
        return decode(tokens.stream().mapToInt(Integer::intValue).toArray());
    }
}
