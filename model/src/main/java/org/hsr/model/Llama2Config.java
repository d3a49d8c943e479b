package org.hsr.model;

/**
 * The hyper-parameters of a Llama-2-style decoder, as stored in the 7-int32 header of a llama2.c version-0 model file
 * ({@code dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len}; a negative {@code vocab_size} there
 * means the classifier is stored separately, see {@link #sharedClassifier}).
 *
 * <p>The compact constructor rejects values that no real model has, so a foreign file fails on its header with a
 * clear message rather than later with a nonsensical size.
 *
 * @param dim              model width (the residual stream)
 * @param hiddenDim        width of the SwiGLU feed-forward layer
 * @param nLayers          number of transformer blocks
 * @param nHeads           number of query heads
 * @param nKvHeads         number of key/value heads ({@code nHeads % nKvHeads == 0}; fewer is grouped-query attention)
 * @param vocabSize        number of tokens
 * @param seqLen           maximum context length (positions {@code 0 .. seqLen-1})
 * @param sharedClassifier whether the classifier reuses the token embedding table (positive {@code vocab_size})
 */
public record Llama2Config(int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads, int vocabSize, int seqLen,
                           boolean sharedClassifier) {

    /** Largest accepted {@code dim} and {@code hidden_dim}: far above any llama2.c model, far below garbage. */
    static final int MAX_WIDTH = 1 << 17;
    /** Largest accepted {@code n_layers} and head count. */
    static final int MAX_LAYERS_OR_HEADS = 1 << 10;
    /** Largest accepted {@code vocab_size} and {@code seq_len}. */
    static final int MAX_VOCAB_OR_CONTEXT = 1 << 22;

    /** Validates the header values; throws {@link IllegalArgumentException} naming the first bad one. */
    public Llama2Config {
        require("dim", dim, MAX_WIDTH);
        require("hidden_dim", hiddenDim, MAX_WIDTH);
        require("n_layers", nLayers, MAX_LAYERS_OR_HEADS);
        require("n_heads", nHeads, MAX_LAYERS_OR_HEADS);
        require("n_kv_heads", nKvHeads, MAX_LAYERS_OR_HEADS);
        require("vocab_size", vocabSize, MAX_VOCAB_OR_CONTEXT);
        require("seq_len", seqLen, MAX_VOCAB_OR_CONTEXT);
        if (dim % nHeads != 0) {
            throw new IllegalArgumentException("dim " + dim + " is not a multiple of n_heads " + nHeads);
        }
        if (nHeads % nKvHeads != 0) {
            throw new IllegalArgumentException("n_heads " + nHeads + " is not a multiple of n_kv_heads " + nKvHeads);
        }
        if ((dim / nHeads) % 2 != 0) {
            throw new IllegalArgumentException("head size " + (dim / nHeads) + " is odd (RoPE rotates pairs)");
        }
    }

    private static void require(String name, int value, int max) {
        if (value <= 0 || value > max) {
            throw new IllegalArgumentException(name + " = " + value + " is outside 1.." + max);
        }
    }

    /** Width of one attention head: {@code dim / nHeads}. */
    public int headSize() {
        return dim / nHeads;
    }

    /** Width of the keys (and values) of one position over all kv heads: {@code nKvHeads * headSize}. */
    public int kvDim() {
        return nKvHeads * headSize();
    }

    /** Query heads per kv head: query head {@code h} uses kv head {@code h / kvMul}. */
    public int kvMul() {
        return nHeads / nKvHeads;
    }

    /** The header fields as llama2.c names them, for messages. */
    @Override
    public String toString() {
        return "dim=" + dim + ", hidden_dim=" + hiddenDim + ", n_layers=" + nLayers + ", n_heads=" + nHeads
                + ", n_kv_heads=" + nKvHeads + ", vocab_size=" + (sharedClassifier ? vocabSize : -vocabSize)
                + ", seq_len=" + seqLen;
    }
}
