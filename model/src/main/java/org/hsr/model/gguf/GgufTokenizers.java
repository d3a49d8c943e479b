package org.hsr.model.gguf;

import org.hsr.model.ModelFormatException;
import org.hsr.model.TextTokenizer;
import org.hsr.model.Tokenizer;

/**
 * The tokenizer stored in a GGUF file ({@code tokenizer.ggml.*}): {@code llama} (SentencePiece BPE with scores,
 * byte fallback) or {@code gpt2} (byte-level BPE with merges, pre-tokenizer by {@code tokenizer.ggml.pre}).
 */
public final class GgufTokenizers {

    /** GGUF token types that produce no text: unknown, control, unused. */
    static final int UNKNOWN = 2, CONTROL = 3, UNUSED = 5;

    private GgufTokenizers() {}

    /** The file's tokenizer. */
    public static TextTokenizer load(GgufFile f) throws ModelFormatException {
        String model = f.getString("tokenizer.ggml.model", null);
        if (model == null) {
            throw f.error("no tokenizer.ggml.model: the file holds no tokenizer (pass --tokenizer)");
        }
        String[] tokens = f.getArray("tokenizer.ggml.tokens", String[].class);
        if (tokens == null) {
            throw f.error("tokenizer.ggml.tokens is missing");
        }
        int n = tokens.length;
        boolean[] control = new boolean[n];
        int[] types = f.getArray("tokenizer.ggml.token_type", int[].class);
        if (types != null) {
            if (types.length != n) {
                throw f.error("tokenizer.ggml.token_type has " + types.length + " entries for " + n + " tokens");
            }
            for (int i = 0; i < n; i++) {
                control[i] = types[i] == UNKNOWN || types[i] == CONTROL || types[i] == UNUSED;
            }
        }
        int bos = f.getInt("tokenizer.ggml.bos_token_id", model.equals("llama") ? 1 : -1);
        int eos = f.getInt("tokenizer.ggml.eos_token_id", model.equals("llama") ? 2 : -1);
        int eot = f.getInt("tokenizer.ggml.eot_token_id", -1);
        for (int id : new int[] {bos, eos, eot}) {
            if (id >= n) {
                throw f.error("special token id " + id + " is outside the vocabulary of " + n + " tokens");
            }
        }
        int[] stops = eot >= 0 && eot != eos ? new int[] {eos, eot} : new int[] {eos};
        String source = f.source();
        return switch (model) {
            case "llama" -> {
                float[] scores = f.getArray("tokenizer.ggml.scores", float[].class);
                if (scores == null) {
                    throw f.error("tokenizer.ggml.scores is missing (a llama tokenizer merges by score)");
                }
                yield Tokenizer.sentencePiece(source, tokens, scores, control, bos, eos,
                        f.getBoolean("tokenizer.ggml.add_bos_token", true),
                        f.getBoolean("tokenizer.ggml.add_space_prefix", true), stops);
            }
            case "gpt2" -> {
                String[] merges = f.getArray("tokenizer.ggml.merges", String[].class);
                if (merges == null) {
                    throw f.error("tokenizer.ggml.merges is missing (a gpt2 tokenizer needs its merges)");
                }
                yield Gpt2Tokenizer.create(source, tokens, merges, control,
                        f.getString("tokenizer.ggml.pre", "default"), bos,
                        f.getBoolean("tokenizer.ggml.add_bos_token", bos >= 0), stops);
            }
            default -> throw f.error("tokenizer.ggml.model \"" + model + "\" is not supported (llama, gpt2)");
        };
    }
}
