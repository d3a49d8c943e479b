package org.hsr.model.tensor;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.RecursiveAction;

/**
 * Matrix-vector products {@code out = W x}, the rows split over a pool of {@code threads} threads. Small matrices run
 * on the calling thread: handing work to the pool costs microseconds, more than a few thousand multiply-adds.
 *
 * <p>Thread-safe; one instance may serve several forward passes. Close it to stop its threads.
 */
public final class Matmul implements AutoCloseable {

    /** Below this many stored bytes a matrix is multiplied on the calling thread. */
    private static final long PARALLEL_BYTES = 1 << 16;

    private final int threads;
    private final ForkJoinPool pool; // null with one thread

    /** A matmul over {@code threads} threads (1 = the calling thread only). */
    public Matmul(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        this.threads = threads;
        this.pool = threads == 1 ? null : new ForkJoinPool(threads, p -> {
            var t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(p);
            t.setName("hsr-matmul-" + t.getPoolIndex());
            t.setDaemon(true);
            return t;
        }, null, false);
    }

    /** Threads the rows are split over. */
    public int threads() {
        return threads;
    }

    /**
     * {@code out (rows) = W (rows, cols) · x (cols)}.
     *
     * @throws IllegalArgumentException if {@code x} is shorter than {@code cols} or {@code out} than {@code rows}
     */
    public void apply(WeightMatrix w, float[] x, float[] out) {
        if (x.length < w.cols() || out.length < w.rows()) {
            throw new IllegalArgumentException("tensor " + w.name() + " (" + w.rows() + " x " + w.cols() + "): x has "
                    + x.length + " floats, out " + out.length);
        }
        if (pool == null || (long) w.rows() * w.rowBytes() < PARALLEL_BYTES) {
            w.matvecRows(x, out, 0, w.rows());
            return;
        }
        pool.invoke(new Rows(w, x, out, 0, w.rows(), Math.max(1, w.rows() / (4 * threads))));
    }

    @Override
    public void close() {
        if (pool != null) {
            pool.shutdownNow();
        }
    }

    /** Rows {@code from..to}, split in halves down to {@code grain} rows (a few chunks per thread, for balance). */
    private static final class Rows extends RecursiveAction {
        private final WeightMatrix w;
        private final float[] x, out;
        private final int from, to, grain;

        Rows(WeightMatrix w, float[] x, float[] out, int from, int to, int grain) {
            this.w = w;
            this.x = x;
            this.out = out;
            this.from = from;
            this.to = to;
            this.grain = grain;
        }

        @Override
        protected void compute() {
            if (to - from <= grain) {
                w.matvecRows(x, out, from, to);
                return;
            }
            int mid = (from + to) >>> 1;
            ForkJoinTask.invokeAll(new Rows(w, x, out, from, mid, grain), new Rows(w, x, out, mid, to, grain));
        }
    }
}
