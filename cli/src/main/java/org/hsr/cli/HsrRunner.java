package org.hsr.cli;

import org.hsr.attention.AttentionConfig;
import org.hsr.attention.HsrAttention;
import org.hsr.attention.Selection;

/**
 * Builds the runner for {@code attend --mode hsr}. Softmax without {@code --select} keeps every key (exact); ReLU is
 * always exact through the index.
 */
final class HsrRunner {
    private HsrRunner() {}

    static AttendCommand.AttentionRunner create(AttentionConfig cfg, String select) {
        Selection selection = Selection.parse(select);
        HsrAttention hsr = new HsrAttention();
        return (in, st) -> hsr.attend(in, cfg, selection, st);
    }
}
