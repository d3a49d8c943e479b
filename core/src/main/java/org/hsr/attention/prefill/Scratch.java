package org.hsr.attention.prefill;

/** The per-worker buffers of the HSR tiles beyond {@link QueryTile}'s, grown on demand; and its tile counters. */
final class Scratch {
    final double[] qNorm = new double[QueryTile.QT];
    /** Per row of the softmax tile: rounding factor g, dropped and kept sums; row sums nobody reads. */
    final double[] g = new double[QueryTile.QT], dropped = new double[QueryTile.QT], kept = new double[QueryTile.QT],
            unused = new double[QueryTile.QT];
    private float[] bounds = new float[0], box = new float[0];
    long skippedTiles, tilePairs;

    float[] bounds(int len) {
        if (bounds.length < len) bounds = new float[len];
        return bounds;
    }

    float[] box(int len) {
        if (box.length < len) box = new float[len];
        return box;
    }
}
