package org.hsr.model;

import org.hsr.attention.AttentionStats;
import org.hsr.model.tensor.Quantizer;

/**
 * The element type a model's key/value cache is stored in (SPEC §9): keys and values are rounded to it once, as
 * they are appended (bf16 and fp16 round-to-nearest-even), and attention then reads the rounded values. Until the
 * model runs on the core's engine cache, the backends keep fp32 arrays: {@link #wrap} rounds what goes into them,
 * so the numbers are those of a bf16/fp16 cache while the memory is that of an fp32 one.
 */
public enum KvStorage {
    FP32, BF16, FP16;

    /** The type of a {@code --kv} value ({@code fp32}, {@code bf16}, {@code fp16}). */
    public static KvStorage parse(String s) {
        return switch (s) {
            case "fp32" -> FP32;
            case "bf16" -> BF16;
            case "fp16" -> FP16;
            default -> throw new IllegalArgumentException("kv type must be fp32, bf16 or fp16, got " + s);
        };
    }

    /** The flag spelling. */
    public String flag() {
        return name().toLowerCase();
    }

    /** {@code f} as stored. */
    public float round(float f) {
        return switch (this) {
            case FP32 -> f;
            case BF16 -> Quantizer.roundBf16(f);
            case FP16 -> Quantizer.roundFp16(f);
        };
    }

    /** {@code backend} with every appended key and value rounded to this type ({@code backend} itself for fp32). */
    public AttentionBackend wrap(AttentionBackend backend) {
        return this == FP32 ? backend : new Rounding(backend, this);
    }

    /** Rounds keys and values, then hands them to the backend. */
    private static final class Rounding implements AttentionBackend {
        private final AttentionBackend inner;
        private final KvStorage type;
        private float[] k = new float[0], v = new float[0];

        Rounding(AttentionBackend inner, KvStorage type) {
            this.inner = inner;
            this.type = type;
        }

        @Override
        public void reset() {
            inner.reset();
        }

        @Override
        public void append(int layer, float[] key, float[] value) {
            if (k.length != key.length) k = new float[key.length];
            if (v.length != value.length) v = new float[value.length];
            for (int i = 0; i < key.length; i++) k[i] = type.round(key[i]);
            for (int i = 0; i < value.length; i++) v[i] = type.round(value[i]);
            inner.append(layer, k, v);
        }

        @Override
        public void attend(int layer, float[] q, float[] out) {
            inner.attend(layer, q, out);
        }

        @Override
        public AttentionStats stats() {
            return inner.stats();
        }
    }
}
