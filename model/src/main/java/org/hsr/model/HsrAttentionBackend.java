package org.hsr.model;

import org.hsr.attention.AttentionConfig;
import org.hsr.attention.Selection;
import org.hsr.kv.KvCache;
import org.hsr.store.ElementType;

/**
 * The forward pass's attention through the half-space index of the engine cache (one index per layer and kv head)
 * for ReLU^α (exact) or softmax with a key-selection policy ({@code threshold:T}, {@code top:R}, {@code epsilon:E}).
 */
public final class HsrAttentionBackend extends KvCacheBackend {

    /** Keys and values stored as fp32; {@link #storing} gives another type. */
    public HsrAttentionBackend(Llama2Config cfg, AttentionConfig attention, Selection selection) {
        super(cfg, attention, selection, KvCache.Method.HSR, ElementType.FP32, null);
    }
}
