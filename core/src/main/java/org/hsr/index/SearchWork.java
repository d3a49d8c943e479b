package org.hsr.index;

/**
 * The work one or more queries did (SPEC §2: "sublinear" is measured, not assumed). Not thread-safe; merge per-thread
 * instances.
 */
public final class SearchWork {
    /** Keys in the snapshot the queries saw, summed over queries. */
    public long keysSeen;
    /** Blocks considered, and blocks skipped whole by their bound. */
    public long blocksTotal, blocksSkipped;
    /** Compressed (int8) key entries decoded. */
    public long sketchEntriesRead;
    /** Keys whose exact fp32 dot product was computed. */
    public long keysScored;
    /** Bytes of index data read: block bounds, codes and per-key bounds, exact fp32 keys. */
    public long bytesRead;

    public void merge(SearchWork o) {
        keysSeen += o.keysSeen;
        blocksTotal += o.blocksTotal;
        blocksSkipped += o.blocksSkipped;
        sketchEntriesRead += o.sketchEntriesRead;
        keysScored += o.keysScored;
        bytesRead += o.bytesRead;
    }

    /** Fraction of keys whose exact dot product was computed. */
    public double keysScoredFraction() {
        return keysSeen == 0 ? 0 : (double) keysScored / keysSeen;
    }

    @Override
    public String toString() {
        return "SearchWork[keysSeen=" + keysSeen + ", blocks=" + blocksTotal + ", skipped=" + blocksSkipped
                + ", sketch=" + sketchEntriesRead + ", scored=" + keysScored + ", bytes=" + bytesRead + "]";
    }
}
