package org.hsr.model.tensor;

/**
 * The element types of ggml tensors that this project reads, with their GGUF type ids and block layouts. A block
 * quantised type stores {@link #blockSize} consecutive elements of a row in {@link #blockBytes} bytes; a row's length
 * must be a multiple of the block size.
 *
 * <ul>
 *   <li>{@code F32}, {@code F16} (IEEE binary16), {@code BF16} (the upper half of an fp32): one element per block.</li>
 *   <li>{@code Q8_0}: 32 elements as an fp16 scale {@code d} and 32 int8 {@code q}; element {@code j} is {@code d·q[j]}.</li>
 *   <li>{@code Q4_0}: 32 elements as an fp16 scale {@code d} and 16 bytes; the low nibbles are elements 0–15, the high
 *       nibbles 16–31, element value {@code d·(nibble − 8)}.</li>
 *   <li>{@code Q4_K}: 256 elements: fp16 {@code d}, fp16 {@code dmin}, 12 bytes of packed 6-bit scales and mins for 8
 *       sub-blocks of 32, 128 bytes of nibbles; element value {@code d·sc·nibble − dmin·m}.</li>
 *   <li>{@code Q6_K}: 256 elements: 128 bytes of low nibbles, 64 bytes of high 2-bit pairs, 16 int8 sub-block
 *       scales (of 16 elements), fp16 {@code d}; element value {@code d·sc·(q − 32)}.</li>
 * </ul>
 */
public enum GgmlType {
    F32(0, 1, 4),
    F16(1, 1, 2),
    Q4_0(2, 32, 2 + 16),
    Q8_0(8, 32, 2 + 32),
    Q4_K(12, 256, 2 + 2 + 12 + 128),
    Q6_K(14, 256, 128 + 64 + 16 + 2),
    BF16(30, 1, 2);

    /** The type id in GGUF tensor infos ({@code enum ggml_type}). */
    public final int id;
    /** Elements per block. */
    public final int blockSize;
    /** Bytes per block. */
    public final int blockBytes;

    GgmlType(int id, int blockSize, int blockBytes) {
        this.id = id;
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
    }

    /** The type of a GGUF type id, or null if this project cannot read it. */
    public static GgmlType ofId(long id) {
        for (GgmlType t : values()) {
            if (t.id == id) {
                return t;
            }
        }
        return null;
    }

    /** The ggml name of a type id this project cannot read, for messages ("Q5_K"), or "type N". */
    public static String describeId(long id) {
        String[] names = {"F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K", "Q3_K",
                "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S",
                "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M", "BF16"};
        return id >= 0 && id < names.length ? names[(int) id] + " (type " + id + ")" : "type " + id;
    }

    /**
     * Bytes of {@code elements} elements (a whole number of blocks).
     *
     * @throws IllegalArgumentException if {@code elements} is negative or not a multiple of the block size
     * @throws ArithmeticException      if the byte count overflows a long
     */
    public long bytes(long elements) {
        if (elements < 0 || elements % blockSize != 0) {
            throw new IllegalArgumentException(this + " elements " + elements + " is not a multiple of the block size "
                    + blockSize);
        }
        return Math.multiplyExact(elements / blockSize, (long) blockBytes);
    }
}
