package org.hsr.model;

import org.hsr.attention.AttentionConfig;
import org.hsr.kv.KvCache;
import org.hsr.store.ElementType;

/**
 * Dense ReLU^α attention (SPEC §3): weights {@code w_t = max(s_t − bias, 0)^alpha} of the scores
 * {@code s_t = q·k_t / sqrt(headSize)}, normalised by their sum; a head whose weights are all zero outputs the zero
 * vector and counts as an empty row. The exact reference for sparse ReLU^α backends, dense over the engine cache.
 */
public final class DenseReluAttention extends KvCacheBackend {

    /**
     * A ReLU^α backend for {@code config}, keys and values stored as fp32.
     *
     * @param alpha integer exponent, at least 1
     * @param bias  the bias b subtracted from the scaled score (finite)
     */
    public DenseReluAttention(Llama2Config config, int alpha, float bias) {
        super(config, AttentionConfig.relu(alpha, bias, true), null, KvCache.Method.DENSE, ElementType.FP32, null);
    }
}
