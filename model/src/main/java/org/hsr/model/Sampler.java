package org.hsr.model;

import java.util.Arrays;

/**
 * Picks the next token from logits as llama2.c's sampler does: greedy argmax at temperature 0; otherwise a softmax of
 * {@code logits / temperature}, then either plain multinomial sampling or, for {@code 0 < topp < 1}, nucleus (top-p)
 * sampling from the smallest set of most likely tokens whose probability exceeds {@code topp}. The random numbers come
 * from llama2.c's xorshift* generator, so a seed gives the same stream as {@code run -s seed}.
 *
 * <p>Not thread-safe: it keeps the random state and scratch buffers.
 */
public final class Sampler {

    private final float temperature;
    private final float topp;
    private long rngState;
    private float[] probs = new float[0];     // (vocabSize) probabilities
    private Integer[] order = new Integer[0]; // (vocabSize) candidate ids for top-p, most likely first

    /**
     * @param temperature 0 for greedy decoding, else the softmax temperature (finite, &gt; 0)
     * @param topp        nucleus threshold in [0, 1]; 0 or 1 sample from the whole distribution
     * @param seed        random seed; 0 is replaced by a fixed non-zero constant (xorshift needs a non-zero state)
     */
    public Sampler(float temperature, float topp, long seed) {
        if (!(temperature >= 0) || !Float.isFinite(temperature)) {
            throw new IllegalArgumentException("temperature must be finite and >= 0: " + temperature);
        }
        if (!(topp >= 0 && topp <= 1)) {
            throw new IllegalArgumentException("topp must be in [0, 1]: " + topp);
        }
        this.temperature = temperature;
        this.topp = topp;
        this.rngState = seed != 0 ? seed : 0x9E3779B97F4A7C15L;
    }

    /** Greedy decoding: always the most likely token (the lowest id on ties). */
    public static Sampler greedy() {
        return new Sampler(0f, 0f, 1);
    }

    /** The temperature (0 = greedy). */
    public float temperature() {
        return temperature;
    }

    /** The top-p threshold. */
    public float topp() {
        return topp;
    }

    /** Samples the next token from {@code logits} (not modified). */
    public int sample(float[] logits) {
        int n = logits.length;
        if (temperature == 0f || n == 1) {
            // greedy argmax sampling: take the token with the highest probability
            return argmax(logits);
        }
        if (probs.length != n) {
            probs = new float[n];
            order = new Integer[n];
        }
        // apply the temperature to the logits, then softmax to get the probabilities for next token
        for (int i = 0; i < n; i++) {
            probs[i] = logits[i] / temperature;
        }
        softmax(probs, n);
        // flip a (float) coin (this is our source of entropy for sampling)
        float coin = randomF32();
        if (topp <= 0 || topp >= 1) {
            // simply sample from the predicted probability distribution
            return sampleMult(probs, n, coin);
        }
        // top-p (nucleus) sampling, clamping the least likely tokens to zero
        return sampleTopp(probs, n, coin);
    }

    static int argmax(float[] p) {
        int best = 0;
        for (int i = 1; i < p.length; i++) {
            if (p[i] > p[best]) {
                best = i;
            }
        }
        return best;
    }

    private static void softmax(float[] x, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, x[i]);
        }
        float sum = 0f;
        for (int i = 0; i < n; i++) {
            x[i] = (float) Math.exp(x[i] - max);
            sum += x[i];
        }
        for (int i = 0; i < n; i++) {
            x[i] /= sum;
        }
    }

    /** Samples index i with probability p[i]; coin is in [0, 1). */
    private static int sampleMult(float[] p, int n, float coin) {
        float cdf = 0f;
        for (int i = 0; i < n; i++) {
            cdf += p[i];
            if (coin < cdf) {
                return i;
            }
        }
        return n - 1; // in case of rounding errors
    }

    /** Top-p sampling: among the most likely tokens whose cumulative probability first exceeds topp. */
    private int sampleTopp(float[] p, int n, float coin) {
        // values smaller than (1 - topp) / (n - 1) cannot be part of the result, so drop them before sorting
        float cutoff = (1f - topp) / (n - 1);
        int n0 = 0;
        for (int i = 0; i < n; i++) {
            if (p[i] >= cutoff) {
                order[n0++] = i;
            }
        }
        if (n0 == 0) {
            return argmax(p); // the most likely token always belongs to the nucleus (only reachable for tiny n)
        }
        Arrays.sort(order, 0, n0, (a, b) -> Float.compare(p[b], p[a])); // descending probability, stable
        // truncate the list where cumulative probability exceeds topp
        float cumulativeProb = 0f;
        int lastIdx = n0 - 1; // in case of rounding errors consider all elements
        for (int i = 0; i < n0; i++) {
            cumulativeProb += p[order[i]];
            if (cumulativeProb > topp) {
                lastIdx = i;
                break; // we've exceeded topp by including lastIdx
            }
        }
        // sample from the truncated list
        float r = coin * cumulativeProb;
        float cdf = 0f;
        for (int i = 0; i <= lastIdx; i++) {
            cdf += p[order[i]];
            if (r < cdf) {
                return order[i];
            }
        }
        return order[lastIdx]; // in case of rounding errors
    }

    /** llama2.c's xorshift* {@code random_u32}. */
    private int randomU32() {
        rngState ^= rngState >>> 12;
        rngState ^= rngState << 25;
        rngState ^= rngState >>> 27;
        return (int) ((rngState * 0x2545F4914F6CDD1DL) >>> 32);
    }

    /** llama2.c's {@code random_f32}: a float in [0, 1). */
    private float randomF32() {
        return (randomU32() >>> 8) / 16777216.0f;
    }
}
