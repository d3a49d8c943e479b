package org.hsr.cluster;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.core.HazelcastInstanceAware;
import com.hazelcast.core.Offloadable;
import com.hazelcast.core.ReadOnly;
import com.hazelcast.map.EntryProcessor;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.DataSerializable;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.Selection;
import org.hsr.store.ElementType;

/**
 * The entry processors that run on the members owning the blocks. Each checks what it is sent again (a client is
 * not trusted to have checked), so a bad request fails that request with an exception and never harms a member.
 */
final class BlockOps {
    private BlockOps() {}

    /** The key of block {@code block} of {@code layer} of cache {@code cache}: {@code cache/layer/block}. */
    static String key(String cache, int layer, int block) {
        return cache + "/" + layer + "/" + block;
    }

    /** The cache name of a block key. */
    static String cacheOf(String key) {
        return key.substring(0, key.indexOf('/'));
    }

    /** The block number of a block key. */
    static int blockOf(String key) {
        return Integer.parseInt(key.substring(key.lastIndexOf('/') + 1));
    }

    /**
     * Stores {@code n} positions at row {@code at} of a block, exactly once: rows already there and equal are a
     * no-op (a retry after a member was lost, on the promoted backup), rows past the block's end would leave a gap
     * and are refused. Runs on the primary and, as its own backup processor, on the backup.
     */
    static final class Append implements EntryProcessor<String, KvBlock, Integer>, DataSerializable {
        private ElementType type;
        private int kvHeads, headDim, valueDim, capacity, at, n;
        private float[] k, v; // (n, kvHeads, headDim), (n, kvHeads, valueDim)

        /** For Hazelcast's deserialisation only. */
        public Append() {}

        Append(CacheMeta meta, int at, float[] k, float[] v, int n) {
            this.type = meta.shape.type();
            this.kvHeads = meta.shape.kvHeads();
            this.headDim = meta.shape.headDim();
            this.valueDim = meta.shape.valueDim();
            this.capacity = meta.blockSize;
            this.at = at;
            this.k = k;
            this.v = v;
            this.n = n;
        }

        @Override
        public Integer process(Map.Entry<String, KvBlock> entry) {
            if (n < 1 || k.length != n * kvHeads * headDim || v.length != n * kvHeads * valueDim) {
                throw new IllegalArgumentException("append of " + n + " positions with " + k.length + " key and "
                        + v.length + " value floats does not fit kv heads " + kvHeads + " x " + headDim + "/" + valueDim);
            }
            checkStorable("k", k);
            checkStorable("v", v);
            KvBlock b = entry.getValue();
            if (b == null) {
                if (at != 0) {
                    throw new IllegalStateException("block " + entry.getKey() + " does not exist: an append at row "
                            + at + " would leave a gap");
                }
                b = new KvBlock(type, kvHeads, headDim, valueDim, capacity);
            } else if (!b.fits(type, kvHeads, headDim, valueDim, capacity)) {
                throw new IllegalArgumentException("block " + entry.getKey() + " has another shape than the append");
            }
            if (b.holds(at, k, v, n)) return b.count(); // the same rows again: exactly once
            b.write(at, k, v, n);
            entry.setValue(b);
            return b.count();
        }

        private void checkStorable(String what, float[] x) {
            for (int i = 0; i < x.length; i++) {
                if (!Float.isFinite(type.round(x[i]))) {
                    throw new IllegalArgumentException(what + "[" + i + "] = " + x[i] + " is not finite in "
                            + type.label() + "; nothing was appended");
                }
            }
        }

        @Override
        public void writeData(ObjectDataOutput out) throws IOException {
            out.writeString(type.label());
            out.writeIntArray(new int[] {kvHeads, headDim, valueDim, capacity, at, n});
            out.writeFloatArray(k);
            out.writeFloatArray(v);
        }

        @Override
        public void readData(ObjectDataInput in) throws IOException {
            type = ElementType.parse(in.readString());
            int[] s = in.readIntArray();
            kvHeads = s[0];
            headDim = s[1];
            valueDim = s[2];
            capacity = s[3];
            at = s[4];
            n = s[5];
            k = in.readFloatArray();
            v = in.readFloatArray();
        }
    }

    /**
     * Keeps the first {@code length} positions of a layer: a block keeps its rows below {@code length} and a block
     * with none left is removed. Idempotent, and its own backup processor.
     */
    static final class Trim implements EntryProcessor<String, KvBlock, Integer>, DataSerializable {
        private int length, blockSize;

        /** For Hazelcast's deserialisation only. */
        public Trim() {}

        Trim(int length, int blockSize) {
            this.length = length;
            this.blockSize = blockSize;
        }

        @Override
        public Integer process(Map.Entry<String, KvBlock> entry) {
            KvBlock b = entry.getValue();
            if (b == null) return 0;
            int keep = Math.max(0, Math.min(blockSize, length - blockOf(entry.getKey()) * blockSize));
            if (keep == 0) {
                entry.setValue(null); // removes the block
                return 0;
            }
            b.truncate(keep);
            entry.setValue(b);
            return b.count();
        }

        @Override
        public void writeData(ObjectDataOutput out) throws IOException {
            out.writeInt(length);
            out.writeInt(blockSize);
        }

        @Override
        public void readData(ObjectDataInput in) throws IOException {
            length = in.readInt();
            blockSize = in.readInt();
        }
    }

    /** What one cache asks of a round: its query rows and the committed length they see. */
    record Query(int heads, int headDim, int rows, int visible, int blockSize, float[] q) {}

    /**
     * One round of attention: every block of the request's keys computes its partial for every query row of its
     * cache, on the member that owns it, off the partition thread; read-only, so nothing is written or backed up.
     */
    static final class Round implements EntryProcessor<String, KvBlock, BlockPartial>, ReadOnly, Offloadable,
            DataSerializable {
        private AttentionConfig cfg;
        private String selection;
        private int valueDim;
        private Map<String, Query> queries; // by cache name

        /** For Hazelcast's deserialisation only. */
        public Round() {}

        Round(AttentionConfig cfg, String selection, int valueDim, Map<String, Query> queries) {
            this.cfg = cfg;
            this.selection = selection;
            this.valueDim = valueDim;
            this.queries = queries;
        }

        @Override
        public BlockPartial process(Map.Entry<String, KvBlock> entry) {
            Query qy = queries.get(cacheOf(entry.getKey()));
            if (qy == null) throw new IllegalArgumentException("no query for block " + entry.getKey());
            int visible = Math.max(0, Math.min(qy.blockSize(), qy.visible() - blockOf(entry.getKey()) * qy.blockSize()));
            KvBlock b = entry.getValue();
            if (b == null || b.count() < visible) { // a committed position is missing: never answer without it
                throw new IllegalStateException("block " + entry.getKey() + " holds " + (b == null ? 0 : b.count())
                        + " positions, " + visible + " are committed: positions lost");
            }
            for (float x : qy.q()) {
                if (!Float.isFinite(x)) throw new IllegalArgumentException("query value " + x + " is not finite");
            }
            return b.attend(qy.heads(), cfg, Selection.parse(selection), selection, qy.q(), 0, qy.rows(), visible);
        }

        @Override
        public EntryProcessor<String, KvBlock, BlockPartial> getBackupProcessor() {
            return null;
        }

        @Override
        public String getExecutorName() {
            return Offloadable.OFFLOADABLE_EXECUTOR;
        }

        @Override
        public void writeData(ObjectDataOutput out) throws IOException {
            out.writeInt(cfg.kind().ordinal());
            out.writeInt(cfg.alpha());
            out.writeFloat(cfg.bias());
            out.writeFloat(cfg.scale());
            out.writeString(selection);
            out.writeInt(valueDim);
            out.writeInt(queries.size());
            for (var e : queries.entrySet()) {
                Query qy = e.getValue();
                out.writeString(e.getKey());
                out.writeIntArray(new int[] {qy.heads(), qy.headDim(), qy.rows(), qy.visible(), qy.blockSize()});
                out.writeFloatArray(qy.q());
            }
        }

        @Override
        public void readData(ObjectDataInput in) throws IOException {
            AttentionConfig.Kind kind = AttentionConfig.Kind.values()[in.readInt()];
            int alpha = in.readInt();
            float bias = in.readFloat(), scale = in.readFloat();
            cfg = new AttentionConfig(kind, alpha, bias, scale, false); // validated again here, on the member
            selection = in.readString();
            valueDim = in.readInt();
            int n = in.readInt();
            queries = new HashMap<>();
            for (int i = 0; i < n; i++) {
                String name = in.readString();
                int[] s = in.readIntArray();
                float[] q = in.readFloatArray();
                if (q.length != s[0] * s[1] * s[2]) {
                    throw new IllegalArgumentException("query of " + q.length + " floats is not " + s[2] + " rows x "
                            + s[0] + " heads x " + s[1]);
                }
                queries.put(name, new Query(s[0], s[1], s[2], s[3], s[4], q));
            }
        }
    }

    /** Touches a block and computes nothing: a round of these is the framework's share of a round. */
    static final class Touch implements EntryProcessor<String, KvBlock, Integer>, ReadOnly, Offloadable,
            DataSerializable {
        /** For Hazelcast's deserialisation too. */
        public Touch() {}

        @Override
        public Integer process(Map.Entry<String, KvBlock> entry) {
            KvBlock b = entry.getValue();
            return b == null ? 0 : b.count();
        }

        @Override
        public EntryProcessor<String, KvBlock, Integer> getBackupProcessor() {
            return null;
        }

        @Override
        public String getExecutorName() {
            return Offloadable.OFFLOADABLE_EXECUTOR;
        }

        @Override
        public void writeData(ObjectDataOutput out) {}

        @Override
        public void readData(ObjectDataInput in) {}
    }

    /** A block's place and size: the member that owns it, its positions and its bytes (for {@code info}). */
    record Placement(String member, int positions, long storedBytes, long derivedBytes, int builds, int roundBuilds) {}

    /** Reports where each block lives, from the member that owns it (read-only). */
    static final class Locate implements EntryProcessor<String, KvBlock, String>, ReadOnly, HazelcastInstanceAware,
            DataSerializable {
        private transient HazelcastInstance hz;

        /** For Hazelcast's deserialisation only. */
        public Locate() {}

        @Override
        public void setHazelcastInstance(HazelcastInstance hz) {
            this.hz = hz;
        }

        @Override
        public String process(Map.Entry<String, KvBlock> entry) {
            KvBlock b = entry.getValue();
            String member = hz.getCluster().getLocalMember().getAddress().toString();
            if (b == null) return member + " 0 0 0 0 0";
            return member + " " + b.count() + " " + b.storedBytes() + " " + b.derivedBytes() + " " + b.builds() + " "
                    + b.transientBuilds();
        }

        static Placement parse(String s) {
            String[] f = s.split(" ");
            return new Placement(f[0], Integer.parseInt(f[1]), Long.parseLong(f[2]), Long.parseLong(f[3]),
                    Integer.parseInt(f[4]), Integer.parseInt(f[5]));
        }

        @Override
        public EntryProcessor<String, KvBlock, String> getBackupProcessor() {
            return null;
        }

        @Override
        public void writeData(ObjectDataOutput out) {}

        @Override
        public void readData(ObjectDataInput in) {}
    }
}
