package org.hsr.attention;

/**
 * A sparse-softmax key-selection policy (SPEC §4), parsed from {@code threshold:T}, {@code top:R} or
 * {@code epsilon:E}; {@link Dense} keeps every key.
 */
public sealed interface Selection {

    /** Keep keys with scaled score {@code s >= t}; rows where nothing passes are computed densely. */
    record Threshold(float t) implements Selection {
        public Threshold {
            if (!Float.isFinite(t)) throw new IllegalArgumentException("threshold must be finite, got " + t);
        }
    }

    /** Keep the R largest scores (ties: smaller id first); R >= visible keys is dense. */
    record Top(int r) implements Selection {
        public Top {
            if (r < 1) throw new IllegalArgumentException("top R must be >= 1, got " + r);
        }
    }

    /** Keep a set whose dropped probability mass is proved to be at most E, 0 &lt; E &lt; 1. */
    record Epsilon(double e) implements Selection {
        public Epsilon {
            if (!(e > 0 && e < 1)) throw new IllegalArgumentException("epsilon E must be in (0, 1), got " + e);
        }
    }

    /** Every key (dense softmax through the same code path). */
    record Dense() implements Selection {}

    /** Parses {@code threshold:T}, {@code top:R}, {@code epsilon:E} or {@code dense}. */
    static Selection parse(String spec) {
        if (spec == null || spec.equals("dense")) return new Dense();
        int colon = spec.indexOf(':');
        String name = colon < 0 ? spec : spec.substring(0, colon), value = colon < 0 ? "" : spec.substring(colon + 1);
        try {
            return switch (name) {
                case "threshold" -> new Threshold(Float.parseFloat(value));
                case "top" -> new Top(Integer.parseInt(value));
                case "epsilon" -> new Epsilon(Double.parseDouble(value));
                default -> throw new IllegalArgumentException("unknown selection '" + spec
                        + "': expected threshold:T, top:R or epsilon:E");
            };
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("selection '" + spec + "': '" + value + "' is not a number");
        }
    }
}
