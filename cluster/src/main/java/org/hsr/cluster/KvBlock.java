package org.hsr.cluster;

import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.DataSerializable;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.Selection;
import org.hsr.kv.KvCache;
import org.hsr.kv.KvShape;
import org.hsr.store.ElementType;

/**
 * One block of a sharded cache: up to {@code capacity} consecutive positions of one layer, all kv heads, the value of
 * one {@link ClusterSetup#BLOCKS} entry.
 *
 * <p>Two kinds of state:
 * <ul>
 *   <li><b>The stored rows</b> (serialised: what backups and migrations carry): keys {@code (count, kvHeads, headDim)}
 *       and values {@code (count, kvHeads, valueDim)} in the element type (2 bytes for bf16/fp16, 4 for fp32), off the
 *       Java heap in {@link MemorySegment}s of an automatic {@link Arena} (freed when the block is collected), so a
 *       member holds more K and V than its heap.</li>
 *   <li><b>The derived index</b> (transient): a one-layer {@link KvCache} over the same rows, built on the member that
 *       owns the block at its first attention after a start, a migration or a backup's promotion, and kept in step by
 *       appends. It is never serialised, so it is never missing: a block without one builds it.</li>
 * </ul>
 *
 * <p>Thread safety: every method is synchronized. Appends run on Hazelcast's partition thread, attention on the
 * offloaded executor, so both may reach one block at once.
 */
public final class KvBlock implements DataSerializable {

    private ElementType type;
    private int kvHeads, headDim, valueDim, capacity;
    private int count; // positions stored
    private MemorySegment keys = MemorySegment.NULL, values = MemorySegment.NULL; // rows in the element type
    private int rowsAllocated;

    /** The derived index: a cache over rows [0, count) for one (query heads, attention, selection). */
    private transient KvCache derived;
    private transient String derivedFor;
    private transient int builds, transientBuilds;

    /** For Hazelcast's deserialisation only. */
    public KvBlock() {}

    KvBlock(ElementType type, int kvHeads, int headDim, int valueDim, int capacity) {
        this.type = type;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.valueDim = valueDim;
        this.capacity = capacity;
    }

    synchronized int count() {
        return count;
    }

    synchronized boolean fits(ElementType t, int kvh, int d, int dv, int cap) {
        return t == type && kvh == kvHeads && d == headDim && dv == valueDim && cap == capacity;
    }

    /** Off-heap bytes of the stored rows (allocated, spare rows included). */
    synchronized long storedBytes() {
        return keys.byteSize() + values.byteSize();
    }

    /** Heap bytes of the derived index (0 when none is built). */
    synchronized long derivedBytes() {
        return derived == null ? 0 : derived.memoryBytes();
    }

    /** Times this copy of the block built an index for one round only (the heap budget was spent). */
    synchronized int transientBuilds() {
        return transientBuilds;
    }

    /** Times this copy of the block built its derived index (kept or not). */
    synchronized int builds() {
        return builds;
    }

    /**
     * Whether rows {@code [at, at+n)} are stored and equal (in the element type) to the given ones: a repeated append
     * (a retry after a member was lost) is then a no-op.
     */
    synchronized boolean holds(int at, float[] k, float[] v, int n) {
        if (at + n > count) return false;
        int kw = kvHeads * headDim, vw = kvHeads * valueDim;
        for (int i = 0; i < n * kw; i++) if (key((long) at * kw + i) != type.round(k[i])) return false;
        for (int i = 0; i < n * vw; i++) if (value((long) at * vw + i) != type.round(v[i])) return false;
        return true;
    }

    /**
     * Stores {@code n} positions at row {@code at} ({@code at <= count}; rows from {@code at} on are replaced, which
     * heals a writer that stopped half-way) and keeps the derived index in step.
     */
    synchronized void write(int at, float[] k, float[] v, int n) {
        if (at < 0 || at > count) {
            throw new IllegalStateException("block holds " + count + " positions: a write at " + at + " would leave a gap");
        }
        if (at + n > capacity) {
            throw new IllegalArgumentException("block of " + capacity + " positions cannot hold rows up to " + (at + n));
        }
        ensureRows(at + n);
        int kw = kvHeads * headDim, vw = kvHeads * valueDim;
        for (int i = 0; i < n * kw; i++) setElement(keys, (long) at * kw + i, k[i]);
        for (int i = 0; i < n * vw; i++) setElement(values, (long) at * vw + i, v[i]);
        if (derived != null) {
            if (derived.length(0) > at) derived.truncate(at);
            if (derived.length(0) == at) derived.append(0, k, 0, v, 0, n);
            if (derived.length(0) != at + n || !IndexBudget.hold(this, derived.memoryBytes())) {
                derived = null; // over the heap budget (or out of step): built again at the next attention
                derivedFor = null;
                IndexBudget.hold(this, 0);
            }
        }
        count = at + n;
    }

    /** Forgets every position {@code >= n} (the rows stay allocated); the derived index follows. */
    synchronized void truncate(int n) {
        if (n >= count) return;
        count = Math.max(0, n);
        if (derived != null) derived.truncate(count);
    }

    /**
     * The partial attention of {@code rows} query rows ({@code rows × heads × headDim} from {@code q[qOff..]}) over this
     * block's first {@code visible} positions, through its derived index (built if missing).
     */
    synchronized BlockPartial attend(int heads, AttentionConfig cfg, Selection selection, String selectionSpec,
                                     float[] q, int qOff, int rows, int visible) {
        BlockPartial p = new BlockPartial(rows * heads, valueDim);
        if (visible <= 0) return p.empty();
        KvCache cache = visible == count ? derived(heads, cfg, selection, selectionSpec)
                : build(heads, cfg, selection, visible); // an unfinished append past the committed length: not kept
        int qw = heads * headDim;
        AttentionStats st = new AttentionStats();
        for (int r = 0; r < rows; r++) {
            cache.attendPartial(0, q, qOff + r * qw, p.out, r * heads * valueDim, p.logWeight, p.dropped, r * heads, st);
        }
        p.count(st);
        return p;
    }

    /** The kept index for these settings, built if missing; one for this round only when the heap budget is spent. */
    private KvCache derived(int heads, AttentionConfig cfg, Selection selection, String spec) {
        String key = heads + "|" + cfg + "|" + spec;
        if (derived != null && key.equals(derivedFor)) return derived;
        derived = null;
        derivedFor = null;
        if (!IndexBudget.hold(this, IndexBudget.estimate(count, kvHeads, headDim, valueDim, type.bytes()))) {
            transientBuilds++;
            return build(heads, cfg, selection, count);
        }
        derived = build(heads, cfg, selection, count);
        derivedFor = key;
        IndexBudget.hold(this, derived.memoryBytes());
        return derived;
    }

    private KvCache build(int heads, AttentionConfig cfg, Selection selection, int n) {
        builds++;
        KvCache c = KvCache.builder(new KvShape(1, heads, kvHeads, headDim, valueDim, type)).attention(cfg)
                .selection(cfg.kind() == AttentionConfig.Kind.SOFTMAX ? selection : null).build();
        int kw = kvHeads * headDim, vw = kvHeads * valueDim;
        int chunk = Math.max(1, Math.min(n, (1 << 20) / Math.max(kw, vw))); // decode a few MB at a time
        float[] k = new float[chunk * kw], v = new float[chunk * vw];
        for (int at = 0; at < n; at += chunk) {
            int m = Math.min(chunk, n - at);
            for (int i = 0; i < m * kw; i++) k[i] = key((long) at * kw + i);
            for (int i = 0; i < m * vw; i++) v[i] = value((long) at * vw + i);
            c.append(0, k, 0, v, 0, m);
        }
        return c;
    }

    private float key(long i) {
        return element(keys, i);
    }

    private float value(long i) {
        return element(values, i);
    }

    private float element(MemorySegment s, long i) {
        return type == ElementType.FP32 ? s.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i)
                : type.decode(s.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i) & 0xFFFF);
    }

    private void setElement(MemorySegment s, long i, float x) {
        if (type == ElementType.FP32) {
            s.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, x);
        } else {
            s.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, (short) type.encode(x));
        }
    }

    /** Grows the row storage to hold {@code rows} positions: doubling, capped at the block's capacity. */
    private void ensureRows(int rows) {
        if (rows <= rowsAllocated) return;
        int target = Math.min(capacity, Math.max(rows, Math.max(16, 2 * rowsAllocated)));
        keys = grow(keys, (long) target * kvHeads * headDim * type.bytes());
        values = grow(values, (long) target * kvHeads * valueDim * type.bytes());
        rowsAllocated = target;
    }

    private static MemorySegment grow(MemorySegment old, long bytes) {
        MemorySegment s = Arena.ofAuto().allocate(bytes, 8);
        if (old.byteSize() > 0) MemorySegment.copy(old, 0, s, 0, old.byteSize());
        return s;
    }

    /** Bytes of the stored rows that serialisation carries: the {@code count} positions, not the spare ones. */
    private long usedKeyBytes() {
        return (long) count * kvHeads * headDim * type.bytes();
    }

    private long usedValueBytes() {
        return (long) count * kvHeads * valueDim * type.bytes();
    }

    @Override
    public synchronized void writeData(ObjectDataOutput out) throws IOException {
        out.writeString(type.label());
        out.writeInt(kvHeads);
        out.writeInt(headDim);
        out.writeInt(valueDim);
        out.writeInt(capacity);
        out.writeInt(count);
        writeSegment(out, keys, usedKeyBytes());
        writeSegment(out, values, usedValueBytes());
    }

    @Override
    public synchronized void readData(ObjectDataInput in) throws IOException {
        type = ElementType.parse(in.readString());
        kvHeads = in.readInt();
        headDim = in.readInt();
        valueDim = in.readInt();
        capacity = in.readInt();
        int n = in.readInt();
        ensureRows(n);
        readSegment(in, keys, (long) n * kvHeads * headDim * type.bytes());
        readSegment(in, values, (long) n * kvHeads * valueDim * type.bytes());
        count = n;
    }

    private static final int CHUNK = 1 << 20; // bytes per serialised piece: no heap copy of a whole block

    private static void writeSegment(ObjectDataOutput out, MemorySegment s, long bytes) throws IOException {
        for (long at = 0; at < bytes; at += CHUNK) {
            int len = (int) Math.min(CHUNK, bytes - at);
            out.writeByteArray(s.asSlice(at, len).toArray(ValueLayout.JAVA_BYTE));
        }
    }

    private static void readSegment(ObjectDataInput in, MemorySegment s, long bytes) throws IOException {
        for (long at = 0; at < bytes; ) {
            byte[] piece = in.readByteArray();
            MemorySegment.copy(piece, 0, s, ValueLayout.JAVA_BYTE, at, piece.length);
            at += piece.length;
        }
    }
}
