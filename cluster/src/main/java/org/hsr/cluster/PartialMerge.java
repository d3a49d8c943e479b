package org.hsr.cluster;

import java.util.List;
import org.hsr.attention.AttentionStats;

/**
 * The exact merge of blocks' partials (the caller's side of a round). For one attention row with block outputs
 * {@code o_s} and log kept weights {@code L_s}: with {@code M = max_s L_s} and {@code w_s = exp(L_s − M)},
 * {@code out = Σ_s w_s·o_s / Σ_s w_s}; blocks with {@code L_s = −∞} contribute nothing, and a row where every block
 * has {@code −∞} is an empty row (zero output).
 *
 * <p>The certified bound: block s dropped mass at most {@code β_s} of its whole weight, so its dropped weight is at
 * most {@code β_s/(1−β_s)·K_s} with {@code K_s = exp(L_s)} its kept weight; the merged row dropped at most
 * {@code D/(D + Σ_s K_s)} with {@code D = Σ_s β_s/(1−β_s)·K_s}, both sums taken relative to {@code exp(M)}. If every
 * {@code β_s <= E} then the merged bound is at most E too.
 */
final class PartialMerge {
    private PartialMerge() {}

    /**
     * Merges {@code parts} (each with {@code rows} rows of {@code dv}) into {@code out[outOff..]} ({@code rows × dv})
     * and counts the rows into {@code stats} (null: not counted).
     */
    static void merge(List<BlockPartial> parts, int rows, int dv, float[] out, int outOff, AttentionStats stats) {
        double[] acc = new double[dv];
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (BlockPartial p : parts) max = Math.max(max, p.logWeight[r]);
            java.util.Arrays.fill(acc, 0);
            double kept = 0, droppedWeight = 0; // relative to exp(max)
            if (max != Double.NEGATIVE_INFINITY) {
                for (BlockPartial p : parts) {
                    if (p.logWeight[r] == Double.NEGATIVE_INFINITY) continue;
                    double w = Math.exp(p.logWeight[r] - max);
                    kept += w;
                    double beta = p.dropped[r];
                    droppedWeight += beta <= 0 ? 0 : beta >= 1 ? Double.POSITIVE_INFINITY : beta / (1 - beta) * w;
                    for (int t = 0; t < dv; t++) acc[t] += w * p.out[r * dv + t];
                }
            }
            for (int t = 0; t < dv; t++) out[outOff + r * dv + t] = kept == 0 ? 0f : (float) (acc[t] / kept);
            if (stats == null) continue;
            stats.rows++;
            if (kept == 0) stats.emptyRows++;
            double bound = droppedWeight == 0 ? 0 : Double.isInfinite(droppedWeight) ? 1
                    : droppedWeight / (droppedWeight + kept);
            stats.droppedMassBoundMax = Math.max(stats.droppedMassBoundMax, bound);
        }
        if (stats == null) return;
        for (BlockPartial p : parts) {
            stats.visibleKeys += p.visibleKeys;
            stats.keptKeys += p.keptKeys;
            stats.scoredKeys += p.scoredKeys;
            stats.fallbackWalkKeys += p.fallbackWalkKeys;
            stats.fallbackRows += p.fallbackRows;
            stats.bytesRead += p.bytesRead;
        }
    }
}
