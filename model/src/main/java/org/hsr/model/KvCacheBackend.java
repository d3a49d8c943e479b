package org.hsr.model;

import java.util.concurrent.Executor;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.Selection;
import org.hsr.kv.KvCache;
import org.hsr.kv.KvShape;
import org.hsr.store.ElementType;

/**
 * The forward pass's attention over the core's engine cache ({@link KvCache}): one cache for every layer, in which
 * each (layer, kv head)'s index owns the only copy of its keys and values, stored as {@link #storage()}. Dense
 * ({@link DenseSoftmaxAttention}, {@link DenseReluAttention}) and sparse ({@link HsrAttentionBackend}) attention are
 * this backend with another {@link KvCache.Method}, so both read the same storage.
 *
 * <p>{@link #reset()} starts a new sequence (a new cache) and clears the statistics. Not thread-safe.
 */
public class KvCacheBackend implements AttentionBackend {
    private final Llama2Config config;
    private final AttentionConfig attention;
    private final Selection selection;
    private final KvCache.Method method;
    private final ElementType storage;
    private final Executor executor;
    private KvCache cache;

    /**
     * A backend for {@code config}'s shape: {@code attention} (causal is implied), the softmax {@code selection}
     * (null: every key; ignored for ReLU and for dense), keys and values stored as {@code storage}, the kv heads of a
     * step on {@code executor} (null: the calling thread).
     */
    public KvCacheBackend(Llama2Config config, AttentionConfig attention, Selection selection, KvCache.Method method,
                          ElementType storage, Executor executor) {
        this.config = config;
        this.attention = attention;
        this.selection = method == KvCache.Method.DENSE ? null : selection;
        this.method = method;
        this.storage = storage;
        this.executor = executor;
        reset();
    }

    /** The same attention over keys and values stored as {@code type} (SPEC §9; a new, empty cache). */
    public KvCacheBackend storing(ElementType type) {
        return new KvCacheBackend(config, attention, selection, method, type, executor);
    }

    /** The element type keys and values are stored in. */
    public ElementType storage() {
        return storage;
    }

    public KvCache.Method method() {
        return method;
    }

    /** The cache of the current sequence. */
    public KvCache cache() {
        return cache;
    }

    @Override
    public void reset() {
        KvShape shape = KvShape.of(config.nLayers(), config.nHeads(), config.nKvHeads(), config.headSize(), storage);
        cache = KvCache.builder(shape).attention(attention).selection(selection).method(method).executor(executor)
                .build();
    }

    @Override
    public void append(int layer, float[] k, float[] v) {
        if (layer >= 0 && layer < config.nLayers() && cache.length(layer) == config.seqLen()) {
            throw new IllegalArgumentException("KV cache of layer " + layer + " is full: " + config.seqLen()
                    + " positions (the model's context)");
        }
        if (k.length != config.kvDim() || v.length != config.kvDim()) {
            throw new IllegalArgumentException("key/value lengths " + k.length + "/" + v.length + " != kvDim "
                    + config.kvDim());
        }
        cache.append(layer, k, 0, v, 0, 1);
    }

    @Override
    public void attend(int layer, float[] q, float[] out) {
        if (q.length != config.nHeads() * config.headSize() || out.length != q.length) {
            throw new IllegalArgumentException("q/out lengths " + q.length + "/" + out.length + " != nHeads * headSize "
                    + config.nHeads() * config.headSize());
        }
        cache.attend(layer, q, 0, out, 0);
    }

    /** Statistics of the current sequence (the live object). */
    @Override
    public AttentionStats stats() {
        return cache.stats();
    }
}
