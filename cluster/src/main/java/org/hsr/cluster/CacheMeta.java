package org.hsr.cluster;

import com.hazelcast.map.EntryProcessor;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.DataSerializable;
import java.io.IOException;
import java.util.Map;
import org.hsr.kv.KvShape;
import org.hsr.store.ElementType;

/**
 * A sharded cache's description, the value of its {@link ClusterSetup#CACHES} entry: its shape, its block size and the
 * committed length of every layer. A layer's positions {@code [0, length)} are what attention sees; an append stores
 * its rows in the blocks first and then moves the length ({@link Advance}), so a reader never sees half an append.
 */
public final class CacheMeta implements DataSerializable {

    KvShape shape;
    int blockSize;
    int[] lengths; // (layers)

    /** For Hazelcast's deserialisation only. */
    public CacheMeta() {}

    CacheMeta(KvShape shape, int blockSize) {
        this.shape = shape;
        this.blockSize = blockSize;
        this.lengths = new int[shape.layers()];
    }

    @Override
    public void writeData(ObjectDataOutput out) throws IOException {
        out.writeIntArray(new int[] {shape.layers(), shape.heads(), shape.kvHeads(), shape.headDim(), shape.valueDim(),
                blockSize});
        out.writeString(shape.type().label());
        out.writeIntArray(lengths);
    }

    @Override
    public void readData(ObjectDataInput in) throws IOException {
        int[] s = in.readIntArray();
        shape = new KvShape(s[0], s[1], s[2], s[3], s[4], ElementType.parse(in.readString()));
        blockSize = s[5];
        lengths = in.readIntArray();
    }

    /**
     * Moves layer {@code layer}'s committed length from {@code from} to {@code to}; idempotent (a retried call that
     * finds {@code to} already is a no-op). Any other length means another writer: refused.
     */
    public static final class Advance implements EntryProcessor<String, CacheMeta, Integer>, DataSerializable {
        private int layer, from, to;

        /** For Hazelcast's deserialisation only. */
        public Advance() {}

        Advance(int layer, int from, int to) {
            this.layer = layer;
            this.from = from;
            this.to = to;
        }

        @Override
        public Integer process(Map.Entry<String, CacheMeta> entry) {
            CacheMeta m = entry.getValue();
            if (m == null) throw new IllegalArgumentException("unknown cache '" + entry.getKey() + "'");
            if (layer < 0 || layer >= m.lengths.length) {
                throw new IllegalArgumentException("layer " + layer + " not in [0, " + m.lengths.length + ")");
            }
            int now = m.lengths[layer];
            if (now == to) return to;
            if (now != from) {
                throw new IllegalStateException("cache '" + entry.getKey() + "' layer " + layer + " holds " + now
                        + " positions, the append expected " + from + ": another writer appended meanwhile");
            }
            m.lengths[layer] = to;
            entry.setValue(m);
            return to;
        }

        @Override
        public void writeData(ObjectDataOutput out) throws IOException {
            out.writeInt(layer);
            out.writeInt(from);
            out.writeInt(to);
        }

        @Override
        public void readData(ObjectDataInput in) throws IOException {
            layer = in.readInt();
            from = in.readInt();
            to = in.readInt();
        }
    }

    /**
     * Sets every layer's committed length to {@code to} ({@code KvCache.truncate}): refused when a layer holds fewer;
     * idempotent.
     */
    public static final class Truncate implements EntryProcessor<String, CacheMeta, Integer>, DataSerializable {
        private int to;

        /** For Hazelcast's deserialisation only. */
        public Truncate() {}

        Truncate(int to) {
            this.to = to;
        }

        @Override
        public Integer process(Map.Entry<String, CacheMeta> entry) {
            CacheMeta m = entry.getValue();
            if (m == null) throw new IllegalArgumentException("unknown cache '" + entry.getKey() + "'");
            for (int layer = 0; layer < m.lengths.length; layer++) {
                if (to < 0 || to > m.lengths[layer]) {
                    throw new IllegalArgumentException("truncate length " + to + " not in [0, " + m.lengths[layer]
                            + "] (layer " + layer + ")");
                }
            }
            java.util.Arrays.fill(m.lengths, to);
            entry.setValue(m);
            return to;
        }

        @Override
        public void writeData(ObjectDataOutput out) throws IOException {
            out.writeInt(to);
        }

        @Override
        public void readData(ObjectDataInput in) throws IOException {
            to = in.readInt();
        }
    }
}
