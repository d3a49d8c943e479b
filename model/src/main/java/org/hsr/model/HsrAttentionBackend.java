package org.hsr.model;

import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.DecodingSession;
import org.hsr.attention.Selection;

/**
 * The forward pass's attention through the half-space index: a {@link DecodingSession} (one index per layer and kv
 * head) for ReLU^α (exact) or softmax with a key-selection policy ({@code threshold:T}, {@code top:R},
 * {@code epsilon:E}).
 */
public final class HsrAttentionBackend implements AttentionBackend {
    private final Llama2Config cfg;
    private final AttentionConfig attention;
    private final Selection selection;
    private DecodingSession session;

    public HsrAttentionBackend(Llama2Config cfg, AttentionConfig attention, Selection selection) {
        this.cfg = cfg;
        this.attention = attention;
        this.selection = selection;
        reset();
    }

    @Override
    public void reset() {
        int headSize = cfg.dim() / cfg.nHeads();
        session = new DecodingSession(cfg.nLayers(), cfg.nHeads(), cfg.nKvHeads(), headSize, headSize, attention, selection);
    }

    @Override
    public void append(int layer, float[] k, float[] v) {
        session.append(layer, k, v);
    }

    @Override
    public void attend(int layer, float[] q, float[] out) {
        session.attend(layer, q, out);
    }

    @Override
    public AttentionStats stats() {
        return session.stats();
    }
}
