package org.hsr.store;

/**
 * The type in which keys and values are <b>stored</b> (SPEC §9). Inputs are rounded to it once, round-to-nearest-even;
 * arithmetic on them is fp32 or wider, and the rounded values are the truth every exactness claim is judged against.
 * <ul>
 *   <li>{@link #FP32}: stored as given.</li>
 *   <li>{@link #BF16}: the upper 16 bits of the fp32 pattern after adding {@code 0x7FFF + ((bits >> 16) & 1)}.</li>
 *   <li>{@link #FP16}: IEEE binary16, as {@link Float#floatToFloat16} rounds; values beyond ±65504 do not fit.</li>
 * </ul>
 * The 16-bit types pack two elements per {@code int}: element {@code 2i} in the low half, {@code 2i+1} in the high
 * half, so a vector of ints decodes into the even and the odd elements by a shift or a mask (the form PERF-NOTES
 * measured fast; per-short loads and {@code convertShape} fall off the intrinsics).
 */
public enum ElementType {
    FP32(4), BF16(2), FP16(2);

    private final int bytes;

    ElementType(int bytes) {
        this.bytes = bytes;
    }

    /** Bytes per stored element. */
    public int bytes() {
        return bytes;
    }

    /** The CLI and JSON name: {@code fp32}, {@code bf16}, {@code fp16}. */
    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** Parses {@code fp32|bf16|fp16} (case-insensitive). */
    public static ElementType parse(String s) {
        for (ElementType t : values()) if (t.label().equalsIgnoreCase(s)) return t;
        throw new IllegalArgumentException("unknown storage type '" + s + "': expected fp32, bf16 or fp16");
    }

    /** The 16-bit pattern of {@code x} in this type (BF16 or FP16 only). */
    public int encode(float x) {
        return switch (this) {
            case BF16 -> {
                int bits = Float.floatToRawIntBits(x);
                yield ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16) & 0xFFFF;
            }
            case FP16 -> Float.floatToFloat16(x) & 0xFFFF;
            case FP32 -> throw new UnsupportedOperationException("fp32 is stored as float, not as a 16-bit pattern");
        };
    }

    /** The value of a 16-bit pattern of this type (BF16 or FP16 only). */
    public float decode(int half) {
        return switch (this) {
            case BF16 -> Float.intBitsToFloat(half << 16);
            case FP16 -> Float.float16ToFloat((short) half);
            case FP32 -> throw new UnsupportedOperationException("fp32 is stored as float, not as a 16-bit pattern");
        };
    }

    /** {@code x} rounded to this type and back: the value the cache holds for {@code x}. */
    public float round(float x) {
        return this == FP32 ? x : decode(encode(x));
    }

    /**
     * Rounds {@code len} values in place and checks that each is finite before and after (a finite fp32 beyond the
     * type's range would be stored as infinity). Throws naming {@code what}, the index and the value.
     */
    public void roundInPlace(String what, float[] x, int off, int len) {
        for (int i = 0; i < len; i++) {
            float v = x[off + i];
            float r = round(v);
            if (!Float.isFinite(r)) {
                throw new IllegalArgumentException(what + "[" + i + "] = " + v + (Float.isFinite(v)
                        ? " does not fit " + label() + " (largest finite " + largest() + ")" : " is not finite"));
            }
            x[off + i] = r;
        }
    }

    /** The largest finite value of this type. */
    public float largest() {
        return switch (this) {
            case FP32 -> Float.MAX_VALUE;
            case BF16 -> Float.intBitsToFloat(0x7F7F0000);
            case FP16 -> 65504f;
        };
    }
}
