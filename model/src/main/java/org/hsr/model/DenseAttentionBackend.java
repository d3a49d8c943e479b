package org.hsr.model;

import java.util.Arrays;
import org.hsr.attention.AttentionStats;
import org.hsr.simd.Kernels;

/**
 * The dense attention loop of llama2.c's {@code run.c} behind an {@link AttentionBackend}: a key/value cache of
 * {@code (layer, seqLen, kvDim)}, causal attention of the newest position over every cached one, scores
 * {@code q·k / sqrt(headSize)}, grouped-query heads (query head {@code h} reads kv head {@code h / kvMul}). Subclasses
 * only say how a row of scores becomes weights ({@link #weigh}).
 *
 * <p>{@link #reset()} clears the caches and the statistics, so {@link #stats()} covers the current sequence: one row
 * per query head, layer and position; every cached key is visible and scored, the kept keys are those with a
 * non-zero weight.
 *
 * <p>Not thread-safe: the caches and the score row are reused.
 */
public abstract class DenseAttentionBackend implements AttentionBackend {

    /** Number of layers, positions, query heads, kv heads and the width of one head. */
    protected final int nLayers, seqLen, nHeads, nKvHeads, headSize;
    /** {@code nKvHeads * headSize}: keys (and values) of one position. */
    protected final int kvDim;
    /** Query heads per kv head. */
    protected final int kvMul;

    private final float[] keyCache;   // (layer, seqLen, kvDim)
    private final float[] valueCache; // (layer, seqLen, kvDim)
    private final int[] length;       // (layer) positions appended so far
    private final float[] att;        // (seqLen) scores, then weights, of one head
    private AttentionStats stats = new AttentionStats();

    /** A backend with caches sized for {@code config} (layers × context × kvDim floats each for keys and values). */
    protected DenseAttentionBackend(Llama2Config config) {
        this.nLayers = config.nLayers();
        this.seqLen = config.seqLen();
        this.nHeads = config.nHeads();
        this.nKvHeads = config.nKvHeads();
        this.headSize = config.headSize();
        this.kvDim = config.kvDim();
        this.kvMul = config.kvMul();
        long cacheFloats = (long) nLayers * seqLen * kvDim;
        if (cacheFloats > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("KV cache of " + cacheFloats + " floats per tensor is too large for a "
                    + "Java array (layers " + nLayers + " x seq_len " + seqLen + " x kvDim " + kvDim + ")");
        }
        this.keyCache = new float[(int) cacheFloats];
        this.valueCache = new float[(int) cacheFloats];
        this.length = new int[nLayers];
        this.att = new float[seqLen];
    }

    /**
     * Turns the scores {@code att[0..n)} of one query head into normalised weights in place (summing to 1, or all
     * zero) and returns how many are non-zero.
     */
    protected abstract int weigh(float[] att, int n);

    @Override
    public void reset() {
        Arrays.fill(length, 0);
        stats = new AttentionStats();
    }

    @Override
    public void append(int layer, float[] k, float[] v) {
        checkLayer(layer);
        if (k.length != kvDim || v.length != kvDim) {
            throw new IllegalArgumentException("key/value lengths " + k.length + "/" + v.length + " != kvDim " + kvDim);
        }
        int pos = length[layer];
        if (pos == seqLen) {
            throw new IllegalArgumentException("KV cache of layer " + layer + " is full: " + seqLen + " positions");
        }
        for (int i = 0; i < kvDim; i++) {
            if (!Float.isFinite(k[i]) || !Float.isFinite(v[i])) {
                throw new IllegalArgumentException("non-finite key or value at layer " + layer + ", position " + pos
                        + ", index " + i + ": " + k[i] + "/" + v[i]);
            }
        }
        // cache this position's key and value: keyCache[layer][pos] = k, valueCache[layer][pos] = v
        int loff = (layer * seqLen + pos) * kvDim;
        System.arraycopy(k, 0, keyCache, loff, kvDim);
        System.arraycopy(v, 0, valueCache, loff, kvDim);
        length[layer] = pos + 1;
    }

    @Override
    public void attend(int layer, float[] q, float[] out) {
        checkLayer(layer);
        if (q.length != nHeads * headSize || out.length != nHeads * headSize) {
            throw new IllegalArgumentException("q/out lengths " + q.length + "/" + out.length + " != nHeads * headSize "
                    + nHeads * headSize);
        }
        int n = length[layer]; // the newest position is n - 1 and sees keys 0 .. n - 1 (causal)
        if (n == 0) {
            throw new IllegalArgumentException("attend at layer " + layer + " before any append");
        }
        int layerOff = layer * seqLen * kvDim;
        float scale = (float) (1.0 / Math.sqrt(headSize));
        // multihead attention: iterate over all query heads
        for (int h = 0; h < nHeads; h++) {
            int qOff = h * headSize;                 // q of this head: q[qOff .. qOff + headSize)
            int kvOff = layerOff + (h / kvMul) * headSize; // its kv head in position 0 of this layer's cache
            // attention scores: att[t] = q·k_t / sqrt(headSize) for every position t <= pos
            for (int t = 0; t < n; t++) {
                att[t] = Kernels.dot(q, qOff, keyCache, kvOff + t * kvDim, headSize) * scale;
            }
            // scores -> weights (softmax or ReLU^alpha), normalised
            int kept = weigh(att, n);
            // weighted sum of the values into out[qOff .. qOff + headSize)
            Arrays.fill(out, qOff, qOff + headSize, 0f);
            for (int t = 0; t < n; t++) {
                if (att[t] != 0f) {
                    Kernels.axpy(att[t], valueCache, kvOff + t * kvDim, out, qOff, headSize);
                }
            }
            stats.rows++;
            stats.visibleKeys += n;
            stats.scoredKeys += n;
            stats.keptKeys += kept;
            if (kept == 0) {
                stats.emptyRows++;
            }
        }
    }

    /** Statistics since the last {@link #reset()}; the live object, not a copy. */
    @Override
    public AttentionStats stats() {
        return stats;
    }

    private void checkLayer(int layer) {
        if (layer < 0 || layer >= nLayers) {
            throw new IllegalArgumentException("layer " + layer + " is outside 0.." + (nLayers - 1));
        }
    }
}
