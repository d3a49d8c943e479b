package org.hsr.model;

/**
 * The weights of a {@link Llama2Config} model, in llama2.c's layout: each matrix row-major {@code [out][in]} (so
 * {@code y = W x}), each kind stored for all layers one after the other. The arrays are shared, not copied; do not
 * modify them.
 */
public final class Llama2Weights {

    /** (vocabSize, dim) token embedding table. */
    public final float[] tokenEmbeddingTable;
    /** (nLayers, dim) RMSNorm weights before attention. */
    public final float[] rmsAttWeight;
    /** (nLayers, dim, dim) query projection: {@code q = wq · xb}. */
    public final float[] wq;
    /** (nLayers, kvDim, dim) key projection. */
    public final float[] wk;
    /** (nLayers, kvDim, dim) value projection. */
    public final float[] wv;
    /** (nLayers, dim, dim) attention output projection. */
    public final float[] wo;
    /** (nLayers, dim) RMSNorm weights before the feed-forward layer. */
    public final float[] rmsFfnWeight;
    /** (nLayers, hiddenDim, dim) SwiGLU gate. */
    public final float[] w1;
    /** (nLayers, dim, hiddenDim) SwiGLU down projection. */
    public final float[] w2;
    /** (nLayers, hiddenDim, dim) SwiGLU up projection. */
    public final float[] w3;
    /** (dim) final RMSNorm weights. */
    public final float[] rmsFinalWeight;
    /** (vocabSize, dim) classifier; the same array as {@link #tokenEmbeddingTable} when the classifier is shared. */
    public final float[] wcls;

    Llama2Weights(float[] tokenEmbeddingTable, float[] rmsAttWeight, float[] wq, float[] wk, float[] wv, float[] wo,
                  float[] rmsFfnWeight, float[] w1, float[] w2, float[] w3, float[] rmsFinalWeight, float[] wcls) {
        this.tokenEmbeddingTable = tokenEmbeddingTable;
        this.rmsAttWeight = rmsAttWeight;
        this.wq = wq;
        this.wk = wk;
        this.wv = wv;
        this.wo = wo;
        this.rmsFfnWeight = rmsFfnWeight;
        this.w1 = w1;
        this.w2 = w2;
        this.w3 = w3;
        this.rmsFinalWeight = rmsFinalWeight;
        this.wcls = wcls;
    }
}
