package org.hsr.model;

import org.hsr.attention.AttentionConfig;
import org.hsr.kv.KvCache;
import org.hsr.store.ElementType;

/**
 * The reference attention of llama2.c: a softmax over the scores of every cached position, with the maximum
 * subtracted first, dense over the engine cache's storage. Every key counts as kept (its softmax weight is positive,
 * even when it rounds to zero in fp32).
 */
public final class DenseSoftmaxAttention extends KvCacheBackend {

    /** A softmax backend for {@code config}, keys and values stored as fp32. */
    public DenseSoftmaxAttention(Llama2Config config) {
        super(config, AttentionConfig.softmax(true), null, KvCache.Method.DENSE, ElementType.FP32, null);
    }
}
