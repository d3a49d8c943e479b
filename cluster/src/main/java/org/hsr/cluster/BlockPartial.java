package org.hsr.cluster;

import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.DataSerializable;
import java.io.IOException;
import java.util.Arrays;
import org.hsr.attention.AttentionStats;

/**
 * One block's answer for a round: per attention row r (query rows × query heads), the block's normalised output
 * {@code out[r·dv ..]}, the log of its total kept weight {@code logWeight[r]} (−∞: no weight) and its certified dropped
 * mass {@code dropped[r]}, with the work counters of the block's rows ({@link org.hsr.kv.KvCache#attendPartial}'s contract).
 */
public final class BlockPartial implements DataSerializable {

    int rows, dv;
    float[] out; // (rows, dv)
    double[] logWeight, dropped; // (rows)
    long visibleKeys, keptKeys, scoredKeys, fallbackWalkKeys, fallbackRows, bytesRead;

    /** For Hazelcast's deserialisation only. */
    public BlockPartial() {}

    BlockPartial(int rows, int dv) {
        this.rows = rows;
        this.dv = dv;
        out = new float[rows * dv];
        logWeight = new double[rows];
        dropped = new double[rows];
    }

    /** No visible position: every row without weight. */
    BlockPartial empty() {
        Arrays.fill(logWeight, Double.NEGATIVE_INFINITY);
        return this;
    }

    /** Takes the work counters of the block's calls. */
    void count(AttentionStats st) {
        visibleKeys = st.visibleKeys;
        keptKeys = st.keptKeys;
        scoredKeys = st.scoredKeys;
        fallbackWalkKeys = st.fallbackWalkKeys;
        fallbackRows = st.fallbackRows;
        bytesRead = st.bytesRead;
    }

    @Override
    public void writeData(ObjectDataOutput o) throws IOException {
        o.writeInt(rows);
        o.writeInt(dv);
        o.writeFloatArray(out);
        o.writeDoubleArray(logWeight);
        o.writeDoubleArray(dropped);
        o.writeLongArray(new long[] {visibleKeys, keptKeys, scoredKeys, fallbackWalkKeys, fallbackRows, bytesRead});
    }

    @Override
    public void readData(ObjectDataInput in) throws IOException {
        rows = in.readInt();
        dv = in.readInt();
        out = in.readFloatArray();
        logWeight = in.readDoubleArray();
        dropped = in.readDoubleArray();
        long[] c = in.readLongArray();
        visibleKeys = c[0];
        keptKeys = c[1];
        scoredKeys = c[2];
        fallbackWalkKeys = c[3];
        fallbackRows = c[4];
        bytesRead = c[5];
    }
}
