package org.hsr.model;

import java.util.SplittableRandom;

/**
 * A shortcut that fills a backend's KV cache without running the whole model at every position, for long-context
 * benchmarks where tens of thousands of forward steps of a large model would take hours: the keys and values of a
 * pool of random tokens are computed once per layer with that layer's own weights ({@code k = Wk · rmsnorm(embedding)},
 * likewise v, biases included), and each filled position takes a random token of the pool, its key rotated by RoPE at
 * that position. What is skipped is the residual stream of the earlier layers (every layer sees the raw embedding)
 * and attention itself; the cache then holds the model's own projections, at the right positions, of text that
 * carries no meaning.
 *
 * <p>Not thread-safe.
 */
public final class CacheFill {

    private final LlamaModel model;
    private final float[][][] keys;   // (layer, pool, kvDim) before RoPE
    private final float[][][] values; // (layer, pool, kvDim)
    private final SplittableRandom random;

    /** Computes the pool's keys and values: {@code pool} random tokens drawn with {@code seed}. */
    public CacheFill(LlamaModel model, int pool, long seed) {
        if (pool < 1) {
            throw new IllegalArgumentException("pool must be >= 1, got " + pool);
        }
        this.model = model;
        this.random = new SplittableRandom(seed);
        Llama2Config c = model.config();
        keys = new float[c.nLayers()][pool][c.kvDim()];
        values = new float[c.nLayers()][pool][c.kvDim()];
        float[] x = new float[c.dim()], xb = new float[c.dim()];
        for (int i = 0; i < pool; i++) {
            model.embedding().dequantizeRow(random.nextInt(c.vocabSize()), x);
            for (int l = 0; l < c.nLayers(); l++) {
                LlamaModel.Layer w = model.layers()[l];
                Transformer.rmsnorm(xb, x, w.attnNorm(), c.dim(), model.hyper().rmsEps());
                model.matmul().apply(w.wk(), xb, keys[l][i]);
                model.matmul().apply(w.wv(), xb, values[l][i]);
                Transformer.addBias(keys[l][i], w.bk());
                Transformer.addBias(values[l][i], w.bv());
            }
        }
    }

    /**
     * Appends positions {@code from .. to-1} to every layer of {@code backend}, which must hold exactly {@code from}
     * positions.
     */
    public void fill(AttentionBackend backend, int from, int to) {
        Llama2Config c = model.config();
        float[] k = new float[c.kvDim()];
        for (int pos = from; pos < to; pos++) {
            int i = random.nextInt(keys[0].length);
            for (int l = 0; l < c.nLayers(); l++) {
                System.arraycopy(keys[l][i], 0, k, 0, k.length);
                Transformer.rope(model.hyper(), c.headSize(), k, pos);
                backend.append(l, k, values[l][i]);
            }
        }
    }
}
