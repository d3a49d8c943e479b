package org.hsr.model;

import org.hsr.simd.Kernels;

/**
 * The reference attention of llama2.c: a softmax over the scores of every cached position, with the maximum
 * subtracted first. Every key counts as kept (its softmax weight is positive, even when it rounds to zero in fp32).
 */
public final class DenseSoftmaxAttention extends DenseAttentionBackend {

    /** A softmax backend with caches sized for {@code config}. */
    public DenseSoftmaxAttention(Llama2Config config) {
        super(config);
    }

    @Override
    protected int weigh(float[] att, int n) {
        // softmax: exp(s - max) / sum
        float max = Kernels.max(att, 0, n);
        float sum = Kernels.expAndSum(att, 0, n, max);
        Kernels.scale(att, 0, n, 1f / sum);
        return n;
    }
}
