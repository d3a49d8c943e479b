package org.hsr.index;

import java.util.SplittableRandom;

/** Key distributions for the index tests. */
enum Datasets {
    GAUSSIAN, CLUSTERED, DUPLICATED, WITH_ZEROS, WILD_NORMS, OFFSET;

    float[] keys(SplittableRandom r, int n, int d) {
        float[] k = new float[n * d];
        switch (this) {
            case GAUSSIAN -> fill(r, k, 1);
            case CLUSTERED -> {
                int clusters = Math.max(1, Math.min(256, n / 64));
                float[] centres = new float[clusters * d];
                fill(r, centres, 1);
                for (int i = 0; i < n; i++) {
                    int c = r.nextInt(clusters);
                    for (int t = 0; t < d; t++) k[i * d + t] = 3 * centres[c * d + t] + 0.3f * (float) r.nextGaussian();
                }
            }
            case DUPLICATED -> {
                int distinct = Math.max(1, n / 10);
                float[] base = new float[distinct * d];
                fill(r, base, 1);
                for (int i = 0; i < n; i++) System.arraycopy(base, r.nextInt(distinct) * d, k, i * d, d);
            }
            case WITH_ZEROS -> {
                fill(r, k, 1);
                for (int i = 0; i < n; i += 3) java.util.Arrays.fill(k, i * d, i * d + d, 0f);
            }
            case WILD_NORMS -> {
                for (int i = 0; i < n; i++) {
                    float s = (float) Math.pow(10, r.nextInt(-4, 5));
                    for (int t = 0; t < d; t++) k[i * d + t] = s * (float) r.nextGaussian();
                }
            }
            case OFFSET -> { // a shared offset plus a few outlier channels, as real keys have
                float[] mu = new float[d];
                fill(r, mu, 4);
                for (int i = 0; i < n; i++) {
                    for (int t = 0; t < d; t++) {
                        k[i * d + t] = mu[t] + (float) r.nextGaussian() * (t % 16 == 0 ? 8 : 1);
                    }
                }
            }
        }
        return k;
    }

    /** A query for this distribution: near a cluster centre for CLUSTERED, Gaussian otherwise. */
    float[] query(SplittableRandom r, float[] keys, int n, int d) {
        float[] q = new float[d];
        if (this == CLUSTERED && n > 0) {
            int j = r.nextInt(n);
            for (int t = 0; t < d; t++) q[t] = keys[j * d + t] + 0.3f * (float) r.nextGaussian();
        } else {
            fill(r, q, 1);
        }
        return q;
    }

    static void fill(SplittableRandom r, float[] x, float sigma) {
        for (int i = 0; i < x.length; i++) x[i] = sigma * (float) r.nextGaussian();
    }
}
