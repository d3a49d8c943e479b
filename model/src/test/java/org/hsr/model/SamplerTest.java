package org.hsr.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SamplerTest {

    @Test
    void greedyTakesTheArgmaxAndLeavesTheLogitsAlone() {
        float[] logits = {0.5f, 3f, -1f, 3f, 2.9f};
        assertEquals(1, Sampler.greedy().sample(logits)); // first of the tied maxima
        assertEquals(1, new Sampler(0f, 0.9f, 42).sample(logits));
        assertEquals(3f, logits[3]);
    }

    @Test
    void temperatureSamplingFollowsTheSoftmax() {
        float[] logits = {0f, (float) Math.log(2), (float) Math.log(5), (float) Math.log(2)}; // p = 0.1, .2, .5, .2
        Sampler sampler = new Sampler(1f, 0f, 12345);
        int[] counts = new int[4];
        int n = 40_000;
        for (int i = 0; i < n; i++) {
            counts[sampler.sample(logits)]++;
        }
        double[] p = {0.1, 0.2, 0.5, 0.2};
        for (int i = 0; i < 4; i++) {
            double sd = Math.sqrt(n * p[i] * (1 - p[i]));
            assertEquals(n * p[i], counts[i], 5 * sd, "token " + i);
        }
    }

    @Test
    void topPKeepsOnlyTheNucleus() {
        // p = 0.5, 0.3, 0.1, 0.1: top-p 0.7 keeps {0, 1} (cumulative 0.8 > 0.7)
        float[] logits = {(float) Math.log(5), (float) Math.log(3), 0f, 0f};
        Sampler sampler = new Sampler(1f, 0.7f, 99);
        int[] counts = new int[4];
        int n = 20_000;
        for (int i = 0; i < n; i++) {
            counts[sampler.sample(logits)]++;
        }
        assertEquals(0, counts[2] + counts[3]);
        assertEquals(n * 5 / 8.0, counts[0], 5 * Math.sqrt(n * (5 / 8.0) * (3 / 8.0)));
    }

    @Test
    void theSameSeedGivesTheSameStream() {
        float[] logits = new float[512];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) Math.sin(i);
        }
        Sampler a = new Sampler(0.8f, 0.9f, 7);
        Sampler b = new Sampler(0.8f, 0.9f, 7);
        Sampler c = new Sampler(0.8f, 0.9f, 8);
        boolean differs = false;
        for (int i = 0; i < 200; i++) {
            int x = a.sample(logits);
            assertEquals(x, b.sample(logits));
            differs |= x != c.sample(logits);
        }
        assertTrue(differs);
    }

    @Test
    void badParametersAreRefused() {
        assertEquals("temperature must be finite and >= 0: -1.0",
                assertThrows(IllegalArgumentException.class, () -> new Sampler(-1f, 0.9f, 1)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Sampler(Float.NaN, 0.9f, 1));
        assertThrows(IllegalArgumentException.class, () -> new Sampler(Float.POSITIVE_INFINITY, 0.9f, 1));
        assertEquals("topp must be in [0, 1]: 1.5",
                assertThrows(IllegalArgumentException.class, () -> new Sampler(1f, 1.5f, 1)).getMessage());
    }
}
