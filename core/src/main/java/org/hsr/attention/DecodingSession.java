package org.hsr.attention;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.hsr.index.BlockIndex;

/**
 * A generation-decoding KV cache with a half-space index per layer and kv head (the paper's decoding pipeline). Each
 * step appends one position's keys and values per layer ({@link #append}), then attends every query head of the step
 * ({@link #attend}); grouped query heads share their kv head's index. Scratch buffers are reused across steps.
 *
 * <p>With {@code threads > 1} the kv heads of a step (each with its group of query heads) run on a private pool of
 * that many daemon threads; each kv head has its own scratch ({@link SparseAttention}) and statistics, merged after
 * the step, so results are identical to the single-threaded ones. {@link #close} stops the pool.
 *
 * <p>Not thread-safe: one session per sequence, driven by one thread.
 */
public final class DecodingSession implements AutoCloseable {
    private final int layers, heads, kvHeads, d, dv;
    private final AttentionConfig cfg;
    private final Selection selection;
    private final BlockIndex[] index; // (layers * kvHeads)
    private final float[][] keys; // (layers * kvHeads) -> (positions, d) in caller order
    private final float[][] values; // (layers * kvHeads) -> (positions, dv)
    private final float[] maxKeyNorm; // (layers * kvHeads)
    private final int[] length; // (layers) positions appended per layer
    private final SparseAttention[] sparse; // (kvHeads) scratch per kv head, so heads can run in parallel
    private final AttentionStats[] headStats; // (kvHeads) per step, merged into stats
    private final AttentionStats stats = new AttentionStats();
    private final ExecutorService pool; // null when single-threaded

    public DecodingSession(int layers, int heads, int kvHeads, int d, int dv, AttentionConfig cfg, Selection selection) {
        this(layers, heads, kvHeads, d, dv, cfg, selection, 1);
    }

    /** A session whose kv heads run on {@code threads} threads per step (1 = the calling thread only). */
    public DecodingSession(int layers, int heads, int kvHeads, int d, int dv, AttentionConfig cfg, Selection selection,
                           int threads) {
        if (layers < 1 || heads < 1 || kvHeads < 1 || d < 1 || dv < 1) {
            throw new IllegalArgumentException("layers, heads, kv heads, d, dv must be >= 1, got " + layers + ", "
                    + heads + ", " + kvHeads + ", " + d + ", " + dv);
        }
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException("query heads " + heads + " is not a multiple of kv heads " + kvHeads);
        }
        if (cfg.causal()) {
            // decoding is causal by construction: each step sees exactly the positions appended so far
            cfg = new AttentionConfig(cfg.kind(), cfg.alpha(), cfg.bias(), cfg.scale(), false);
        }
        this.layers = layers;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.d = d;
        this.dv = dv;
        this.cfg = cfg;
        this.selection = selection == null ? new Selection.Dense() : selection;
        int slots = layers * kvHeads;
        index = new BlockIndex[slots];
        keys = new float[slots][];
        values = new float[slots][];
        maxKeyNorm = new float[slots];
        length = new int[layers];
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        sparse = new SparseAttention[kvHeads];
        headStats = new AttentionStats[kvHeads];
        for (int h = 0; h < kvHeads; h++) sparse[h] = new SparseAttention();
        pool = threads == 1 || kvHeads == 1 ? null : Executors.newFixedThreadPool(Math.min(threads, kvHeads), r -> {
            Thread t = new Thread(r, "hsr-decode");
            t.setDaemon(true);
            return t;
        });
        reset();
    }

    /** Forgets every position (a new sequence). */
    public void reset() {
        for (int s = 0; s < index.length; s++) {
            index[s] = new BlockIndex(d);
            keys[s] = new float[64 * d];
            values[s] = new float[64 * dv];
            maxKeyNorm[s] = 0f;
        }
        Arrays.fill(length, 0);
    }

    /** Positions appended to {@code layer}. */
    public int length(int layer) {
        return length[layer];
    }

    /** Statistics of every {@link #attend} so far. */
    public AttentionStats stats() {
        return stats;
    }

    /**
     * Appends one position to {@code layer}: {@code k} holds {@code kvHeads × d} floats, {@code v} {@code kvHeads × dv}.
     * Validated first; on error nothing is appended.
     */
    public void append(int layer, float[] k, float[] v) {
        if (layer < 0 || layer >= layers) throw new IllegalArgumentException("layer " + layer + " not in [0, " + layers + ")");
        if (k.length != kvHeads * d) throw new IllegalArgumentException("k has " + k.length + " floats, expected " + kvHeads * d);
        if (v.length != kvHeads * dv) throw new IllegalArgumentException("v has " + v.length + " floats, expected " + kvHeads * dv);
        AttentionInput.checkFinite("k", k);
        AttentionInput.checkFinite("v", v);
        int pos = length[layer];
        for (int h = 0; h < kvHeads; h++) {
            int s = layer * kvHeads + h;
            if ((pos + 1) * d > keys[s].length) keys[s] = Arrays.copyOf(keys[s], keys[s].length * 2);
            if ((pos + 1) * dv > values[s].length) values[s] = Arrays.copyOf(values[s], values[s].length * 2);
            System.arraycopy(k, h * d, keys[s], pos * d, d);
            System.arraycopy(v, h * dv, values[s], pos * dv, dv);
            double norm = 0;
            for (int t = 0; t < d; t++) norm += (double) k[h * d + t] * k[h * d + t];
            maxKeyNorm[s] = Math.max(maxKeyNorm[s], (float) (Math.sqrt(norm) * (1 + 1e-6)));
            index[s].add(Arrays.copyOfRange(k, h * d, h * d + d), 1);
        }
        length[layer] = pos + 1;
    }

    /**
     * Attends every query head of the newest position of {@code layer}: {@code q} is {@code heads × d}, {@code out}
     * receives {@code heads × dv}.
     */
    public void attend(int layer, float[] q, float[] out) {
        if (layer < 0 || layer >= layers) throw new IllegalArgumentException("layer " + layer + " not in [0, " + layers + ")");
        if (q.length != heads * d) throw new IllegalArgumentException("q has " + q.length + " floats, expected " + heads * d);
        if (out.length != heads * dv) throw new IllegalArgumentException("out has " + out.length + " floats, expected " + heads * dv);
        AttentionInput.checkFinite("q", q);
        int n = length[layer];
        if (n == 0) throw new IllegalArgumentException("layer " + layer + " has no keys: append before attend");
        int group = heads / kvHeads;
        if (pool == null) {
            for (int kvh = 0; kvh < kvHeads; kvh++) attendGroup(layer, kvh, group, n, q, out, stats);
            return;
        }
        List<Future<?>> done = new ArrayList<>(kvHeads);
        for (int kvh = 0; kvh < kvHeads; kvh++) {
            int head = kvh;
            headStats[head] = new AttentionStats();
            done.add(pool.submit(() -> attendGroup(layer, head, group, n, q, out, headStats[head])));
        }
        for (int kvh = 0; kvh < kvHeads; kvh++) {
            try {
                done.get(kvh).get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while attending", e);
            } catch (ExecutionException e) {
                if (e.getCause() instanceof RuntimeException re) throw re;
                throw new IllegalStateException(e.getCause());
            }
            stats.merge(headStats[kvh]);
        }
    }

    /** The query heads of kv head {@code kvh}: they share its index, keys and values. */
    private void attendGroup(int layer, int kvh, int group, int n, float[] q, float[] out, AttentionStats st) {
        int s = layer * kvHeads + kvh;
        var ks = new SparseAttention.Keys(index[s], keys[s], 0, values[s], 0, n, d, dv, maxKeyNorm[s]);
        for (int h = kvh * group; h < (kvh + 1) * group; h++) {
            sparse[kvh].attendRow(ks, n, q, h * d, cfg, selection, out, h * dv, st);
        }
    }

    /** Stops the worker threads, if any. */
    @Override
    public void close() {
        if (pool != null) pool.shutdownNow();
    }
}
