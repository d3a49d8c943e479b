package org.hsr.attention;

/**
 * Queries, keys and values of one attention call (SPEC §1), row-major and validated once here.
 *
 * <p>{@code q} is {@code heads × m × d}, {@code k} is {@code kvHeads × n × d}, {@code v} is {@code kvHeads × n × dv};
 * query head {@code h} reads kv head {@code h / (heads / kvHeads)} (grouped-query attention). With causal masking the
 * m queries are the last m positions of the sequence: query {@code i} sees keys {@code j <= n - m + i}.
 */
public record AttentionInput(float[] q, float[] k, float[] v, int heads, int kvHeads, int m, int n, int d, int dv) {

    public AttentionInput {
        require(heads >= 1, "heads", heads, ">= 1");
        require(kvHeads >= 1, "kv heads", kvHeads, ">= 1");
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException("query heads " + heads + " is not a multiple of kv heads " + kvHeads);
        }
        require(m >= 1, "queries m", m, ">= 1");
        require(n >= 1, "keys n", n, ">= 1");
        require(d >= 1, "dimension d", d, ">= 1");
        require(dv >= 1, "value dimension dv", dv, ">= 1");
        checkLength("q", q, (long) heads * m * d);
        checkLength("k", k, (long) kvHeads * n * d);
        checkLength("v", v, (long) kvHeads * n * dv);
        checkFinite("q", q);
        checkFinite("k", k);
        checkFinite("v", v);
    }

    /** Single-head input: q is m×d, k is n×d, v is n×dv. */
    public static AttentionInput singleHead(float[] q, float[] k, float[] v, int m, int n, int d, int dv) {
        return new AttentionInput(q, k, v, 1, 1, m, n, d, dv);
    }

    /** Query heads per kv head. */
    public int groupSize() {
        return heads / kvHeads;
    }

    /** Offset of query {@code i} of head {@code h} in {@link #q()}. */
    public int qOffset(int h, int i) {
        return (h * m + i) * d;
    }

    /** Offset of the first key of the kv head read by query head {@code h}. */
    public int kOffset(int h) {
        return (h / groupSize()) * n * d;
    }

    /** Offset of the first value of the kv head read by query head {@code h}. */
    public int vOffset(int h) {
        return (h / groupSize()) * n * dv;
    }

    /** Number of keys query {@code i} may see. */
    public int visible(int i, boolean causal) {
        return causal ? n - m + i + 1 : n;
    }

    /** Total output length {@code heads × m × dv}. */
    public int outputLength() {
        return heads * m * dv;
    }

    private static void require(boolean ok, String what, int value, String rule) {
        if (!ok) throw new IllegalArgumentException(what + " must be " + rule + ", got " + value);
    }

    private static void checkLength(String name, float[] a, long expected) {
        if (a == null) throw new IllegalArgumentException(name + " is null");
        if (a.length != expected) {
            throw new IllegalArgumentException(name + " has " + a.length + " entries, expected " + expected);
        }
    }

    static void checkFinite(String name, float[] a) {
        for (int i = 0; i < a.length; i++) {
            if (!Float.isFinite(a[i])) {
                throw new IllegalArgumentException(name + " contains a non-finite value (" + a[i] + ") at index " + i);
            }
        }
    }
}
