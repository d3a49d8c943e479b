package org.hsr.index;

/**
 * A batch half-space result in CSR form (FAISS {@code RangeSearchResult}): query i owns
 * {@code ids[lims[i] .. lims[i+1])} and the aligned raw fp32 dot products in {@code scores}; ids ascend within a
 * query (SPEC §2).
 */
public record RangeSearchResult(long[] lims, long[] ids, float[] scores) {
    public RangeSearchResult {
        if (lims.length < 1 || lims[0] != 0 || lims[lims.length - 1] != ids.length || ids.length != scores.length) {
            throw new IllegalArgumentException("inconsistent CSR result: lims end " + lims[lims.length - 1]
                    + ", ids " + ids.length + ", scores " + scores.length);
        }
    }

    public int queries() {
        return lims.length - 1;
    }
}
