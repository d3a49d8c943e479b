package org.hsr.attention.prefill;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionInput;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.Selection;

/**
 * Prompt prefill (m > 1 query rows at once, usually causal) in tiles of {@value QueryTile#QT} queries by
 * {@value KeyTiles#KT} keys, compute-bound on the register-blocked tile kernels ({@link org.hsr.simd.TileKernels}).
 *
 * <ul>
 *   <li>{@link #dense}: every visible (query, key) pair, online softmax or ReLU^α: the dense baseline of prefill.</li>
 *   <li>{@link #hsr}: per-key-tile certified bounds, built over the prompt in position order (the build is part of
 *       the call and timed as {@link Run#buildMs}); a (query tile × key tile) pair is skipped when its bound, over
 *       every query of the tile, is below the tile's thresholds (ReLU: the bias; softmax: a mass that fits in E);
 *       values only for kept keys. Exact for ReLU; for softmax {@link Selection.Epsilon} (certified: the mass of
 *       the keys dropped after scoring is summed, not bounded, see {@link HsrEpsilonTile}) or
 *       {@link Selection.Dense} (exact, the dense path).</li>
 * </ul>
 *
 * <p>Work items are (query head, query tile) pairs, largest causal tiles first, pulled by {@code threads} workers: the
 * caller and {@code threads − 1} tasks on a pool shared by every instance (never a pool per call). Results do not
 * depend on the thread count. Instances are thread-safe; {@link #lastRun} describes the last call that finished.
 */
public final class TiledPrefill {

    /**
     * Timing and work of one call: the key-tile build (packing, bounds), the total, flops, tiles skipped, and the bytes
     * of the key tiles (packed keys, packed values, bounds) held during the call beside the caller's arrays.
     */
    public record Run(double buildMs, double totalMs, long flops, long tilePairs, long skippedTiles, int threads,
                      long keyTileBytes) {
        /** Flop rate of the whole call, GFLOP/s (2 flops per multiply-add of the scores and of the value sums). */
        public double gflops() {
            return totalMs <= 0 ? 0 : flops / (totalMs * 1e6);
        }
    }

    /** Key tiles per build work item. */
    private static final int BUILD_CHUNK = 32;

    private static final ExecutorService POOL = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "hsr-prefill");
        t.setDaemon(true);
        return t;
    });

    private final int threads;
    private volatile Run lastRun;

    /** {@code threads >= 1}: workers per call (the calling thread is one of them). */
    public TiledPrefill(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        this.threads = threads;
    }

    /** Dense attention of every row of {@code in}; returns {@code heads × m × dv}. */
    public float[] dense(AttentionInput in, AttentionConfig cfg, AttentionStats stats) {
        return run(in, cfg, false, 0, stats);
    }

    /**
     * HSR attention of every row: exact ReLU^α, or softmax under {@code selection} ({@link Selection.Epsilon}, or
     * null / {@link Selection.Dense} for exact softmax).
     */
    public float[] hsr(AttentionInput in, AttentionConfig cfg, Selection selection, AttentionStats stats) {
        if (cfg.kind() == AttentionConfig.Kind.RELU) return run(in, cfg, true, 0, stats);
        if (selection == null || selection instanceof Selection.Dense) return run(in, cfg, false, 0, stats);
        if (selection instanceof Selection.Epsilon e) return run(in, cfg, true, e.e(), stats);
        throw new IllegalArgumentException("tiled prefill supports softmax selection epsilon:E or dense, got " + selection);
    }

    /** The last call's timing, or null before the first. */
    public Run lastRun() {
        return lastRun;
    }

    private float[] run(AttentionInput in, AttentionConfig cfg, boolean sparse, double eps, AttentionStats stats) {
        long t0 = System.nanoTime();
        // one key-tile set per kv head, shared by the query heads of its group; packed (and bounded) in chunks of
        // tiles by the workers
        KeyTiles[] keys = new KeyTiles[in.kvHeads()];
        for (int g = 0; g < keys.length; g++) {
            // packed values for the dense products (dense, epsilon), bounds for the skips
            keys[g] = new KeyTiles(in.k(), g * in.n() * in.d(), in.n(), in.d(), sparse && eps == 0 ? null : in.v(),
                    g * in.n() * in.dv(), in.dv(), sparse);
        }
        int tilesPerKv = keys[0].tiles, chunksPerKv = (tilesPerKv + BUILD_CHUNK - 1) / BUILD_CHUNK;
        int tilesPerHead = (in.m() + QueryTile.QT - 1) / QueryTile.QT, items = in.heads() * tilesPerHead;
        int workers = Math.min(threads, Math.max(items, keys.length * chunksPerKv));
        List<QueryTile> tiles = new ArrayList<>();
        List<Scratch> scratches = new ArrayList<>();
        for (int w = 0; w < workers; w++) {
            tiles.add(new QueryTile(in.d(), in.dv()));
            scratches.add(new Scratch());
        }
        runItems(tiles, scratches, 0, keys.length * chunksPerKv, (qt, sc, i) -> {
            int from = (i % chunksPerKv) * BUILD_CHUNK;
            keys[i / chunksPerKv].build(from, Math.min(tilesPerKv, from + BUILD_CHUNK));
        });
        for (KeyTiles kt : keys) kt.seal();
        double buildMs = (System.nanoTime() - t0) / 1e6;
        float[] out = new float[in.outputLength()];
        float c = cfg.scaleFor(in.d());
        // item i: query tile (tilesPerHead − 1 − i / heads) of head (i % heads): the longest causal rows first. The
        // first item of each head is its pilot: it computes the tile bounds, and the head's other tiles compute them
        // only if the pilot skipped at least 1% of its tile pairs (on keys without structure, Gaussian or the llm
        // workload, no bound ever skips, and the bounds cost about 3/64 of the scoring)
        int heads = in.heads();
        boolean[] bounded = new boolean[heads];
        java.util.Arrays.fill(bounded, sparse);
        Item item = (qt, sc, i) -> {
            int h = i % heads, tile = tilesPerHead - 1 - i / heads;
            qt.load(in, cfg.causal(), c, h, tile * QueryTile.QT);
            int vOff = in.vOffset(h);
            KeyTiles kt = keys[h / in.groupSize()];
            if (!sparse) DenseTile.run(qt, kt, cfg);
            else if (eps > 0) HsrEpsilonTile.run(qt, kt, in.v(), vOff, eps, bounded[h], sc);
            else HsrReluTile.run(qt, kt, in.v(), vOff, cfg, bounded[h], sc);
            qt.finish(out, in.m());
        };
        int from = 0;
        if (sparse) {
            boolean[] skips = new boolean[heads];
            runItems(tiles, scratches, 0, heads, (qt, sc, i) -> {
                long s0 = sc.skippedTiles, p0 = sc.tilePairs;
                item.run(qt, sc, i);
                skips[i] = (sc.skippedTiles - s0) * 100 >= Math.max(1, sc.tilePairs - p0);
            });
            System.arraycopy(skips, 0, bounded, 0, heads); // published to the workers of the next phase by submit
            from = heads;
        }
        runItems(tiles, scratches, from, items, item);
        long pairs = 0, skipped = 0;
        for (int w = 0; w < workers; w++) {
            if (stats != null) stats.merge(tiles.get(w).stats);
            pairs += scratches.get(w).tilePairs;
            skipped += scratches.get(w).skippedTiles;
        }
        long bytes = 0;
        for (KeyTiles kt : keys) bytes += kt.memoryBytes();
        lastRun = new Run(buildMs, (System.nanoTime() - t0) / 1e6, denseFlops(in, cfg.causal()), pairs, skipped, workers,
                bytes);
        return out;
    }

    /** Flops of dense attention over the visible pairs: {@code 2·(d + dv)} per (query, visible key) pair. */
    public static long denseFlops(AttentionInput in, boolean causal) {
        long pairs = 0;
        for (int i = 0; i < in.m(); i++) pairs += in.visible(i, causal);
        return pairs * in.heads() * 2L * (in.d() + in.dv());
    }

    /** One work item on a worker's tile and scratch. */
    private interface Item {
        void run(QueryTile qt, Scratch sc, int i);
    }

    /** Items {@code from..to−1}, pulled by up to {@code tiles.size()} workers: the caller and tasks on the pool. */
    private static void runItems(List<QueryTile> tiles, List<Scratch> scratches, int from, int to, Item item) {
        AtomicInteger next = new AtomicInteger(from);
        int workers = Math.min(tiles.size(), to - from);
        List<Future<?>> running = new ArrayList<>();
        for (int w = 1; w < workers; w++) {
            QueryTile qt = tiles.get(w);
            Scratch sc = scratches.get(w);
            running.add(POOL.submit(() -> {
                for (int i; (i = next.getAndIncrement()) < to; ) item.run(qt, sc, i);
            }));
        }
        QueryTile qt = tiles.get(0);
        Scratch sc = scratches.get(0);
        for (int i; (i = next.getAndIncrement()) < to; ) item.run(qt, sc, i);
        for (Future<?> f : running) await(f);
    }

    private static void await(Future<?> f) {
        try {
            f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("prefill interrupted", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            if (e.getCause() instanceof Error err) throw err;
            throw new IllegalStateException(e.getCause());
        }
    }
}
