package org.hsr.cli;

import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionInput;
import org.hsr.attention.HsrAttention;
import org.hsr.attention.Selection;
import org.hsr.attention.prefill.TiledPrefill;

/**
 * Builds the runner for {@code attend --mode hsr}. Softmax without {@code --select} keeps every key (exact); ReLU is
 * always exact. With m > 1 rows, ReLU, exact softmax and {@code epsilon:E} run on the tiled HSR prefill (key-tile
 * bounds, small matrix products); {@code threshold:T}, {@code top:R} and single rows go through the index, a row at a
 * time.
 */
final class HsrRunner {
    private HsrRunner() {}

    static AttendCommand.AttentionRunner create(AttentionConfig cfg, String select, AttentionInput input,
                                                TiledPrefill tiled) {
        Selection selection = Selection.parse(select);
        if (input.m() > 1 && tileable(cfg, select)) return (in, st) -> tiled.hsr(in, cfg, selection, st);
        HsrAttention hsr = new HsrAttention();
        return (in, st) -> hsr.attend(in, cfg, selection, st);
    }

    /** Whether the tiled HSR prefill computes this policy: ReLU, exact softmax, {@code epsilon:E}. */
    static boolean tileable(AttentionConfig cfg, String select) {
        Selection selection = Selection.parse(select);
        return cfg.kind() == AttentionConfig.Kind.RELU || selection instanceof Selection.Dense
                || selection instanceof Selection.Epsilon;
    }
}
