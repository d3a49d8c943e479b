package org.hsr.kv;

import org.hsr.store.ElementType;

/**
 * The shape of a model's KV cache: {@code layers} layers, {@code heads} query heads over {@code kvHeads} kv heads
 * (grouped-query attention: query head h reads kv head {@code h / (heads / kvHeads)}), keys of {@code headDim} and
 * values of {@code valueDim} elements, stored as {@code type}.
 */
public record KvShape(int layers, int heads, int kvHeads, int headDim, int valueDim, ElementType type) {

    public KvShape {
        if (layers < 1) throw new IllegalArgumentException("layers must be >= 1, got " + layers);
        if (heads < 1) throw new IllegalArgumentException("query heads must be >= 1, got " + heads);
        if (kvHeads < 1) throw new IllegalArgumentException("kv heads must be >= 1, got " + kvHeads);
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException("query heads " + heads + " is not a multiple of kv heads " + kvHeads);
        }
        if (headDim < 1) throw new IllegalArgumentException("head dim must be >= 1, got " + headDim);
        if (valueDim < 1) throw new IllegalArgumentException("value dim must be >= 1, got " + valueDim);
        if (type == null) throw new IllegalArgumentException("element type is null");
        // one position's floats of a layer (queries, outputs) are array lengths: they must fit an int
        if ((long) heads * Math.max(headDim, valueDim) > MAX_WIDTH) {
            throw new IllegalArgumentException("query heads " + heads + " x head dim " + Math.max(headDim, valueDim)
                    + " is more than " + MAX_WIDTH + " floats per position");
        }
        if ((long) layers * kvHeads > MAX_WIDTH) {
            throw new IllegalArgumentException("layers " + layers + " x kv heads " + kvHeads + " is more than "
                    + MAX_WIDTH + " indexes");
        }
    }

    /** The most floats of one position's queries or outputs in one layer (and the most (layer, kv head) pairs). */
    public static final int MAX_WIDTH = 1 << 24;

    /** A shape whose values have the keys' dimension (every Llama-family model). */
    public static KvShape of(int layers, int heads, int kvHeads, int headDim, ElementType type) {
        return new KvShape(layers, heads, kvHeads, headDim, headDim, type);
    }

    /** Query heads per kv head. */
    public int group() {
        return heads / kvHeads;
    }

    /** Floats of one position's keys in one layer ({@code kvHeads × headDim}). */
    public int keyWidth() {
        return kvHeads * headDim;
    }

    /** Floats of one position's values in one layer ({@code kvHeads × valueDim}). */
    public int valueWidth() {
        return kvHeads * valueDim;
    }

    /** Floats of one position's queries ({@code heads × headDim}). */
    public int queryWidth() {
        return heads * headDim;
    }

    /** Floats of one position's attention output ({@code heads × valueDim}). */
    public int outputWidth() {
        return heads * valueDim;
    }

    /** Bytes a dense cache of this shape holds per position: K and V of every layer, in the element type. */
    public long denseBytesPerPosition() {
        return (long) layers * kvHeads * (headDim + valueDim) * type.bytes();
    }
}
