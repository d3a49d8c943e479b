package org.hsr.attention.prefill;

/** The per-worker buffers of the HSR tiles beyond {@link QueryTile}'s, grown on demand; and its tile counters. */
final class Scratch {
    final double[] qNorm = new double[QueryTile.QT];
    /** Per row of the softmax tile: largest bound, rounding factor g, certified rest R, keys scored. */
    final double[] u0 = new double[QueryTile.QT], g = new double[QueryTile.QT], rest = new double[QueryTile.QT];
    final long[] seenScored = new long[QueryTile.QT];
    private float[] bounds = new float[0], box = new float[0], strip = new float[0], slotMax = new float[0];
    private double[] suffix = new double[0];
    private long[] order = new long[0];
    long skippedTiles, tilePairs;

    float[] bounds(int len) {
        if (bounds.length < len) bounds = new float[len];
        return bounds;
    }

    float[] box(int len) {
        if (box.length < len) box = new float[len];
        return box;
    }

    /** Stored score tiles of one query tile, one slot of {@code QT × KT} per scored key tile. */
    float[] strip(int slots) {
        int len = slots * QueryTile.QT * QueryTile.KT;
        if (strip.length < len) strip = new float[len];
        return strip;
    }

    float[] slotMax(int len) {
        if (slotMax.length < len) slotMax = new float[len];
        return slotMax;
    }

    double[] suffix(int len) {
        if (suffix.length < len) suffix = new double[len];
        return suffix;
    }

    long[] order(int len) {
        if (order.length < len) order = new long[len];
        return order;
    }
}
