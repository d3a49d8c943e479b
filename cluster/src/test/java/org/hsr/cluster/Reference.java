package org.hsr.cluster;

import java.util.SplittableRandom;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionInput;
import org.hsr.attention.DenseReference;
import org.hsr.kv.KvShape;

/**
 * The float64 truth for one layer of a cache: every appended position, rounded to the element type, and
 * {@link DenseReference} over them (each query row sees every position).
 */
final class Reference {
    final KvShape shape;
    private float[] k = new float[0], v = new float[0]; // (n, kvHeads, d), (n, kvHeads, dv), rounded
    int n;

    Reference(KvShape shape) {
        this.shape = shape;
    }

    void append(float[] kIn, float[] vIn, int positions) {
        int kw = shape.keyWidth(), vw = shape.valueWidth();
        k = java.util.Arrays.copyOf(k, (n + positions) * kw);
        v = java.util.Arrays.copyOf(v, (n + positions) * vw);
        for (int i = 0; i < positions * kw; i++) k[n * kw + i] = shape.type().round(kIn[i]);
        for (int i = 0; i < positions * vw; i++) v[n * vw + i] = shape.type().round(vIn[i]);
        n += positions;
    }

    /** Forgets every position {@code >= length}. */
    void truncate(int length) {
        n = length;
    }

    /** float64 attention of one position's query heads ({@code heads × d}) over every position: {@code heads × dv}. */
    double[] attend(float[] q, int heads, AttentionConfig cfg) {
        int kvh = shape.kvHeads(), d = shape.headDim(), dv = shape.valueDim();
        float[] kh = new float[kvh * n * d], vh = new float[kvh * n * dv]; // heads first, as AttentionInput reads them
        for (int p = 0; p < n; p++) {
            for (int h = 0; h < kvh; h++) {
                System.arraycopy(k, (p * kvh + h) * d, kh, (h * n + p) * d, d);
                System.arraycopy(v, (p * kvh + h) * dv, vh, (h * n + p) * dv, dv);
            }
        }
        return DenseReference.attend(new AttentionInput(q, kh, vh, heads, kvh, 1, n, d, dv), cfg);
    }

    double maxAbsValue() {
        double m = 0;
        for (int i = 0; i < n * shape.valueWidth(); i++) m = Math.max(m, Math.abs(v[i]));
        return m;
    }

    static float[] gaussian(SplittableRandom r, int len, double scale) {
        float[] x = new float[len];
        for (int i = 0; i < len; i++) x[i] = (float) (scale * r.nextGaussian());
        return x;
    }

    /** Largest per-row relative error in max-norm against the reference (rows of {@code dv}). */
    static double rowRelError(float[] out, double[] ref, int dv) {
        return DenseReference.maxRowRelError(out, ref, dv);
    }
}
