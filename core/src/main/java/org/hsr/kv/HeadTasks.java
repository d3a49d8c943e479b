package org.hsr.kv;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

/**
 * The kv heads of one call, run in parallel on an executor with the caller taking part (caller-runs): the calling
 * thread and up to {@code heads − 1} tasks of the executor claim heads from one counter until none is left, and the
 * caller then waits only for heads that a running task has claimed. So a call finishes even when every thread of the
 * executor is busy or blocked, for example when the caller itself runs on the same fixed pool as the cache (waiting
 * for queued tasks there, as a plain fork-join would, deadlocks once every pool thread is such a caller). A task that
 * starts after the heads are gone returns at once.
 */
final class HeadTasks {
    private final int heads;
    private final Executor executor;
    private final AtomicInteger next = new AtomicInteger();
    private final CountDownLatch finished;
    private volatile Throwable failure;

    HeadTasks(int heads, Executor executor) {
        this.heads = heads;
        this.executor = executor;
        this.finished = new CountDownLatch(heads);
    }

    /** Runs {@code work} once for every head in {@code [0, heads)}; rethrows the first failure after all are done. */
    void run(IntConsumer work) {
        Runnable claim = () -> claimAll(work);
        for (int t = 1; t < heads; t++) {
            try {
                executor.execute(claim);
            } catch (RejectedExecutionException e) {
                break; // a saturated or shut-down executor: the caller runs what is left
            }
        }
        claimAll(work);
        boolean interrupted = false;
        while (true) { // claimed heads are running on live threads: wait for them, whatever interrupts us
            try {
                finished.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
        Throwable f = failure;
        if (f instanceof RuntimeException re) throw re;
        if (f instanceof Error err) throw err;
        if (f != null) throw new IllegalStateException(f);
    }

    private void claimAll(IntConsumer work) {
        for (int h; (h = next.getAndIncrement()) < heads; ) {
            try {
                if (failure == null) work.accept(h);
            } catch (Throwable t) {
                synchronized (this) {
                    if (failure == null) failure = t;
                }
            } finally {
                finished.countDown();
            }
        }
    }
}
