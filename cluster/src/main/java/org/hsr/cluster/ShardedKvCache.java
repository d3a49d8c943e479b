package org.hsr.cluster;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.regex.Pattern;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.Selection;
import org.hsr.kv.KvShape;

/**
 * A {@link org.hsr.kv.KvCache} whose positions live in blocks spread over a Hazelcast cluster: the same append and
 * attend calls, with the keys and values of each block, and the half-space index over them, on the member that
 * owns the block. One named cache is one sequence; {@link #attendBatch} attends several in one round.
 *
 * <p>Layout: a layer's positions {@code [b·B, (b+1)·B)} form block b (B the block size), keyed
 * {@code cache/layer/b} in {@link ClusterSetup#BLOCKS}, all kv heads in one block. Attention of a layer is one round:
 * one {@code executeOnKeys} over the layer's blocks (of every cache of a batch), each block returning its partial
 * for every query head ({@link org.hsr.kv.KvCache#attendPartial}), merged here exactly ({@link PartialMerge}).
 *
 * <p>Appends are exactly once: rows go to their blocks by position ({@link BlockOps.Append} refuses a gap and makes a
 * repeat a no-op), then the committed length moves ({@link CacheMeta.Advance}, idempotent); a call retried after a
 * member is lost neither duplicates nor skips a position, and attention sees only committed positions.
 *
 * <p>Thread safety: like {@code KvCache}, one thread drives a cache (one writer); the cluster serves many caches and
 * clients at once. The instance may be a client or a member.
 */
public final class ShardedKvCache {

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,100}");

    private final HazelcastInstance hz;
    private final String name;
    private final KvShape shape;
    private final int blockSize;
    private final AttentionConfig cfg;
    private final String selection; // the policy as Selection.parse reads it
    private final IMap<String, KvBlock> blocks;
    private final IMap<String, CacheMeta> caches;
    private final AttentionStats stats = new AttentionStats();

    private ShardedKvCache(HazelcastInstance hz, String name, CacheMeta meta, AttentionConfig cfg, Selection sel) {
        this.hz = hz;
        this.name = name;
        this.shape = meta.shape;
        this.blockSize = meta.blockSize;
        this.cfg = cfg.causal() ? new AttentionConfig(cfg.kind(), cfg.alpha(), cfg.bias(), cfg.scale(), false) : cfg;
        this.selection = cfg.kind() == AttentionConfig.Kind.RELU ? "dense" : spec(sel);
        this.blocks = hz.getMap(ClusterSetup.BLOCKS);
        this.caches = hz.getMap(ClusterSetup.CACHES);
    }

    /**
     * Creates cache {@code name} of {@code shape} with blocks of {@code blockSize} positions, or opens it if it exists
     * with the same kv heads, dimensions and element type (else {@link IllegalArgumentException}).
     */
    public static ShardedKvCache create(HazelcastInstance hz, String name, KvShape shape, int blockSize,
                                        AttentionConfig cfg, Selection selection) {
        checkName(name);
        Objects.requireNonNull(shape, "shape");
        if (blockSize < 1) throw new IllegalArgumentException("block size must be >= 1, got " + blockSize);
        IMap<String, CacheMeta> caches = hz.getMap(ClusterSetup.CACHES);
        CacheMeta had = caches.putIfAbsent(name, new CacheMeta(shape, blockSize));
        if (had != null) {
            KvShape s = had.shape;
            if (s.layers() != shape.layers() || s.kvHeads() != shape.kvHeads() || s.headDim() != shape.headDim()
                    || s.valueDim() != shape.valueDim() || s.type() != shape.type()) {
                throw new IllegalArgumentException("cache '" + name + "' exists with " + describe(s) + ", not "
                        + describe(shape));
            }
            return new ShardedKvCache(hz, name, had, cfg, selection);
        }
        return new ShardedKvCache(hz, name, caches.get(name), cfg, selection);
    }

    /** Opens the existing cache {@code name}; {@link IllegalArgumentException} if there is none. */
    public static ShardedKvCache open(HazelcastInstance hz, String name, AttentionConfig cfg, Selection selection) {
        checkName(name);
        CacheMeta meta = hz.<String, CacheMeta>getMap(ClusterSetup.CACHES).get(name);
        if (meta == null) throw new IllegalArgumentException("unknown cache '" + name + "': nothing was put into it");
        return new ShardedKvCache(hz, name, meta, cfg, selection);
    }

    /** The stored shape of an existing cache, or null. */
    public static KvShape shapeOf(HazelcastInstance hz, String name) {
        checkName(name);
        CacheMeta meta = hz.<String, CacheMeta>getMap(ClusterSetup.CACHES).get(name);
        return meta == null ? null : meta.shape;
    }

    public String name() {
        return name;
    }

    public KvShape shape() {
        return shape;
    }

    public int blockSize() {
        return blockSize;
    }

    /** Statistics of every attend so far (rows are query heads × query rows). */
    public AttentionStats stats() {
        return stats;
    }

    /** Committed positions of {@code layer}. */
    public int length(int layer) {
        checkLayer(layer);
        return meta().lengths[layer];
    }

    private CacheMeta meta() {
        CacheMeta m = caches.get(name);
        if (m == null) throw new IllegalStateException("cache '" + name + "' vanished from the cluster");
        return m;
    }

    /**
     * Appends {@code positions} positions to {@code layer} ({@link org.hsr.kv.KvCache#append}'s layout: keys
     * {@code positions × kvHeads × headDim} from {@code k[kOff..]}, values likewise). Everything is checked first; on
     * a caller error nothing is appended.
     */
    public void append(int layer, float[] k, int kOff, float[] v, int vOff, int positions) {
        append(layer, k, kOff, v, vOff, positions, Integer.MAX_VALUE);
    }

    /**
     * {@link #append(int, float[], int, float[], int, int)} sent in pieces of at most {@code piece} positions (bounded
     * messages: each piece's blocks at once, then the next piece), committed once at the end: all or nothing. A
     * writer that dies half-way leaves the committed length as it was (its rows past it are never read, and are
     * replaced by the next append); the same append run again finds the rows it already stored and stores nothing
     * twice (exactly once).
     */
    public void append(int layer, float[] k, int kOff, float[] v, int vOff, int positions, int piece) {
        checkLayer(layer);
        if (piece < 1) throw new IllegalArgumentException("piece must be >= 1, got " + piece);
        if (positions < 0) throw new IllegalArgumentException("positions must be >= 0, got " + positions);
        int kw = shape.keyWidth(), vw = shape.valueWidth();
        checkRange("k", k, kOff, (long) positions * kw);
        checkRange("v", v, vOff, (long) positions * vw);
        // copied and rounded to the element type first: finite and in range, or nothing is appended
        float[] kr = java.util.Arrays.copyOfRange(k, kOff, kOff + positions * kw);
        float[] vr = java.util.Arrays.copyOfRange(v, vOff, vOff + positions * vw);
        shape.type().roundInPlace("k", kr, 0, kr.length);
        shape.type().roundInPlace("v", vr, 0, vr.length);
        if (positions == 0) return;
        CacheMeta meta = meta();
        int start = meta.lengths[layer];
        if ((long) start + positions > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("layer " + layer + " would exceed 2^31-1 positions");
        }
        // rows to their blocks, piece by piece, each piece's blocks at once; nothing is committed yet
        for (int from = 0; from < positions; ) {
            int to = (int) Math.min(positions, (long) from + piece);
            List<CompletableFuture<Integer>> done = new ArrayList<>();
            for (int p = from; p < to; ) {
                int pos = start + p, block = pos / blockSize, at = pos % blockSize;
                int n = Math.min(to - p, blockSize - at);
                float[] kb = java.util.Arrays.copyOfRange(kr, p * kw, (p + n) * kw);
                float[] vb = java.util.Arrays.copyOfRange(vr, p * vw, (p + n) * vw);
                done.add(blocks.submitToKey(BlockOps.key(name, layer, block), new BlockOps.Append(meta, at, kb, vb, n))
                        .toCompletableFuture());
                p += n;
            }
            join(done);
            from = to;
        }
        // then the committed length, once: attention sees the new positions from here on
        caches.executeOnKey(name, new CacheMeta.Advance(layer, start, start + positions));
    }

    /**
     * Forgets every position {@code >= length} in every layer ({@code KvCache.truncate}: speculative decoding,
     * prompt caching). The committed lengths move first, so attention never sees a half-trimmed layer; then the
     * blocks past the new end are trimmed or removed. Blocks a call that failed half-way left past the end are never
     * read (rounds visit committed positions only) and are replaced by later appends.
     */
    public void truncate(int length) {
        CacheMeta m = meta();
        caches.executeOnKey(name, new CacheMeta.Truncate(length));
        for (int layer = 0; layer < shape.layers(); layer++) {
            Set<String> keys = new LinkedHashSet<>();
            for (int b = length / blockSize; b * blockSize < m.lengths[layer]; b++) keys.add(BlockOps.key(name, layer, b));
            if (!keys.isEmpty()) blocks.executeOnKeys(keys, new BlockOps.Trim(length, blockSize));
        }
    }

    /**
     * Attends every query head of one position of {@code layer} over all its committed positions: queries
     * {@code heads × headDim} from {@code q[qOff..]}, outputs {@code heads × valueDim} to {@code out[outOff..]}.
     */
    public void attend(int layer, float[] q, int qOff, float[] out, int outOff) {
        attend(layer, q, qOff, 1, out, outOff, shape.heads(), stats);
    }

    /**
     * Attends {@code rows} query rows ({@code rows × heads × headDim}, each over every committed position, no causal
     * mask), with {@code heads} query heads (a multiple of the kv heads; the stored shape's by default), in one round.
     */
    public void attend(int layer, float[] q, int qOff, int rows, float[] out, int outOff, int heads,
                       AttentionStats into) {
        attendBatch(layer, List.of(this), q, qOff, rows, out, outOff, heads, into);
    }

    /**
     * One round for a batch of caches (sequences) with one shape and one attention setting: cache i's {@code rows}
     * query rows come from {@code q[qOff + i·rows·heads·headDim ..]} and its outputs go to
     * {@code out[outOff + i·rows·heads·valueDim ..]}.
     */
    public static void attendBatch(int layer, List<ShardedKvCache> batch, float[] q, int qOff, int rows,
                                   float[] out, int outOff, int heads, AttentionStats into) {
        if (batch.isEmpty()) return;
        ShardedKvCache first = batch.getFirst();
        KvShape shape = first.shape;
        if (heads < 1 || heads % shape.kvHeads() != 0) {
            throw new IllegalArgumentException("query heads " + heads + " is not a multiple of kv heads "
                    + shape.kvHeads());
        }
        if (rows < 1) throw new IllegalArgumentException("rows must be >= 1, got " + rows);
        int d = shape.headDim(), dv = shape.valueDim(), qw = heads * d, ow = heads * dv;
        checkRange("q", q, qOff, (long) batch.size() * rows * qw);
        checkFinite("q", q, qOff, batch.size() * rows * qw);
        checkRange("out", out, outOff, (long) batch.size() * rows * ow);
        Map<String, BlockOps.Query> queries = new HashMap<>();
        Set<String> keys = new LinkedHashSet<>();
        Map<String, CacheMeta> metas = first.caches.getAll(new LinkedHashSet<>(batch.stream().map(c -> c.name).toList()));
        for (int i = 0; i < batch.size(); i++) {
            ShardedKvCache c = batch.get(i);
            if (c.shape.kvHeads() != shape.kvHeads() || d != c.shape.headDim() || dv != c.shape.valueDim()
                    || !c.cfg.equals(first.cfg) || !c.selection.equals(first.selection)) {
                throw new IllegalArgumentException("cache '" + c.name + "' differs from '" + first.name
                        + "' in shape or attention settings: a batch shares both");
            }
            c.checkLayer(layer);
            int q0 = qOff + i * rows * qw;
            CacheMeta m = metas.get(c.name);
            if (m == null) throw new IllegalStateException("cache '" + c.name + "' vanished from the cluster");
            int n = m.lengths[layer];
            if (queries.put(c.name, new BlockOps.Query(heads, d, rows, n, m.blockSize,
                    java.util.Arrays.copyOfRange(q, q0, q0 + rows * qw))) != null) {
                throw new IllegalArgumentException("cache '" + c.name + "' appears twice in one batch");
            }
            for (int b = 0; b * m.blockSize < n; b++) keys.add(BlockOps.key(c.name, layer, b));
        }
        Map<String, BlockPartial> got = keys.isEmpty() ? Map.of() : first.blocks.executeOnKeys(keys,
                new BlockOps.Round(first.cfg, first.selection, dv, queries));
        AttentionStats round = new AttentionStats();
        for (int i = 0; i < batch.size(); i++) {
            ShardedKvCache c = batch.get(i);
            List<BlockPartial> parts = new ArrayList<>();
            for (int b = 0; b * queries.get(c.name).blockSize() < queries.get(c.name).visible(); b++) {
                BlockPartial p = got.get(BlockOps.key(c.name, layer, b));
                if (p == null) throw new IllegalStateException("block " + BlockOps.key(c.name, layer, b) + " gave no answer");
                parts.add(p);
            }
            AttentionStats st = new AttentionStats();
            PartialMerge.merge(parts, rows * heads, dv, out, outOff + i * rows * ow, st);
            c.stats.merge(st);
            round.merge(st);
        }
        if (into != null) into.merge(round);
    }

    /**
     * A round over the blocks {@link #attendBatch} would visit that computes nothing (each block returns its size):
     * what the framework alone costs per round, for benchmarks.
     */
    public static void touchBatch(int layer, List<ShardedKvCache> batch) {
        if (batch.isEmpty()) return;
        Set<String> keys = new LinkedHashSet<>();
        IMap<String, CacheMeta> caches = batch.getFirst().caches;
        Map<String, CacheMeta> metas = caches.getAll(new LinkedHashSet<>(batch.stream().map(c -> c.name).toList()));
        for (ShardedKvCache c : batch) { // as attendBatch: one read of the lengths, then one executeOnKeys
            CacheMeta m = metas.get(c.name);
            for (int b = 0; m != null && b * c.blockSize < m.lengths[layer]; b++) keys.add(BlockOps.key(c.name, layer, b));
        }
        if (!keys.isEmpty()) batch.getFirst().blocks.executeOnKeys(keys, new BlockOps.Touch());
    }

    /** Where the cache's blocks live: positions, blocks and bytes per member (owners, as they report themselves). */
    public Info info() {
        CacheMeta m = meta();
        Set<String> keys = new LinkedHashSet<>();
        for (int layer = 0; layer < shape.layers(); layer++) {
            for (int b = 0; b * blockSize < m.lengths[layer]; b++) keys.add(BlockOps.key(name, layer, b));
        }
        Map<String, String> got = keys.isEmpty() ? Map.of() : blocks.executeOnKeys(keys, new BlockOps.Locate());
        Map<String, long[]> perMember = new TreeMap<>(); // member -> positions, blocks, stored bytes, index bytes
        for (var member : hz.getCluster().getMembers()) perMember.put(member.getAddress().toString(), new long[6]);
        for (String p : got.values()) {
            BlockOps.Placement pl = BlockOps.Locate.parse(p);
            long[] a = perMember.computeIfAbsent(pl.member(), x -> new long[6]);
            a[0] += pl.positions();
            a[1]++;
            a[2] += pl.storedBytes();
            a[3] += pl.derivedBytes();
            a[4] += pl.builds();
            a[5] += pl.roundBuilds();
        }
        Map<String, Info.Member> members = new LinkedHashMap<>();
        perMember.forEach((k, a) -> members.put(k, new Info.Member(a[0], (int) a[1], a[2], a[3], (int) a[4], (int) a[5])));
        return new Info(name, shape, blockSize, m.lengths.clone(), ClusterSetup.BACKUPS, members);
    }

    /**
     * A cache's place in the cluster. {@code members}: per member address, the position rows (summed over layers),
     * blocks, off-heap bytes of stored K and V and heap bytes of derived indexes it holds as the owner (backups
     * are not counted; each is held once more on another member), the index builds of its current blocks, and of
     * those the builds for one round only (the member's index heap budget was spent, see {@code IndexBudget}).
     */
    public record Info(String name, KvShape shape, int blockSize, int[] lengths, int backups,
                       Map<String, Member> members) {
        public record Member(long positions, int blocks, long storedBytes, long indexBytes, int indexBuilds,
                             int roundIndexBuilds) {}
    }

    private static String spec(Selection s) {
        return switch (s) {
            case null -> "dense";
            case Selection.Dense x -> "dense";
            case Selection.Threshold t -> "threshold:" + t.t();
            case Selection.Top t -> "top:" + t.r();
            case Selection.Epsilon e -> "epsilon:" + e.e();
        };
    }

    private static String describe(KvShape s) {
        return s.layers() + " layers of " + s.kvHeads() + " kv heads x " + s.headDim() + "/" + s.valueDim() + " "
                + s.type().label();
    }

    static void checkName(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("cache name '" + name + "' must be 1-100 of [A-Za-z0-9._-]");
        }
    }

    private void checkLayer(int layer) {
        if (layer < 0 || layer >= shape.layers()) {
            throw new IllegalArgumentException("layer " + layer + " not in [0, " + shape.layers() + ")");
        }
    }

    private static void checkFinite(String what, float[] x, int off, int len) {
        for (int i = off; i < off + len; i++) {
            if (!Float.isFinite(x[i])) throw new IllegalArgumentException(what + "[" + i + "] is " + x[i] + ": must be finite");
        }
    }

    private static void checkRange(String what, float[] x, int off, long need) {
        if (x == null || off < 0 || off > x.length || x.length - off < need) {
            throw new IllegalArgumentException(what + (x == null ? " is null" : " holds " + x.length
                    + " floats, fewer than offset " + off + " + the " + need + " needed"));
        }
    }

    private static <T> void join(List<CompletableFuture<T>> done) {
        try {
            CompletableFuture.allOf(done.toArray(CompletableFuture[]::new)).join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            if (e.getCause() instanceof Error err) throw err;
            throw e;
        }
    }
}
