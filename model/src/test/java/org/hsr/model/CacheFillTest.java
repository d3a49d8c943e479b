package org.hsr.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.hsr.model.gguf.GgufModel;
import org.junit.jupiter.api.Test;

/** The benchmark's bulk fill holds what the forward pass would put in layer 0, and resumes decoding after it. */
class CacheFillTest {

    /** Records what layer 0 receives, then passes everything on. */
    static final class Recording implements AttentionBackend {
        final AttentionBackend inner;
        final List<float[]> keys = new ArrayList<>(), values = new ArrayList<>();

        Recording(AttentionBackend inner) {
            this.inner = inner;
        }

        @Override
        public void reset() {
            inner.reset();
        }

        @Override
        public void append(int layer, float[] k, float[] v) {
            if (layer == 0) {
                keys.add(k.clone());
                values.add(v.clone());
            }
            inner.append(layer, k, v);
        }

        @Override
        public void attend(int layer, float[] q, float[] out) {
            inner.attend(layer, q, out);
        }
    }

    @Test
    void layerZeroKeysAndValuesAreTheForwardPasssOwn() {
        LlamaModel m = LlamaModel.of(ModelFixtures.MODEL);
        long seed = 11;
        int token = new SplittableRandom(seed).nextInt(m.config().vocabSize()); // the pool's one token
        CacheFill fill = new CacheFill(m, 1, seed);
        Recording filled = new Recording(new DenseSoftmaxAttention(m.config()));
        fill.fill(filled, 0, 3);
        Recording forward = new Recording(new DenseSoftmaxAttention(m.config()));
        Transformer t = new Transformer(m, forward);
        for (int pos = 0; pos < 3; pos++) {
            t.forward(token, pos);
        }
        for (int pos = 0; pos < 3; pos++) {
            for (int i = 0; i < m.config().kvDim(); i++) {
                assertEquals(forward.keys.get(pos)[i], filled.keys.get(pos)[i], 1e-5, "key, pos " + pos);
            }
            assertArrayEquals(forward.values.get(pos), filled.values.get(pos), 1e-5f);
        }
        // decoding resumes after the filled positions
        t = new Transformer(m, filled);
        t.resumeAt(3);
        float[] logits = t.forward(token, 3);
        assertTrue(Float.isFinite(logits[0]));
        assertEquals(4, filled.keys.size());
    }

    @Test
    void llama3RopeFactorsRunFromOneToTheFactor() {
        float[] f = GgufModel.llama3Factors(64, 500000, 32, 1, 4, 8192);
        assertEquals(32, f.length);
        assertEquals(1f, f[0]);       // wavelength 2*pi, far below 8192/4: unscaled
        assertEquals(32f, f[31]);     // wavelength far above 8192: scaled by the whole factor
        for (int j = 1; j < f.length; j++) {
            assertTrue(f[j] >= f[j - 1], "non-decreasing at " + j);
        }
        // the first pair in the blend band: wavelength between 2048 and 8192
        double freq = 0, wavelen = 0;
        int j = 0;
        for (; j < 32; j++) {
            freq = 1 / Math.pow(500000, 2.0 * j / 64);
            wavelen = 2 * Math.PI / freq;
            if (wavelen >= 2048) break;
        }
        double smooth = (8192 / wavelen - 1) / (4 - 1);
        assertEquals(1 / ((1 - smooth) / 32 + smooth), f[j], 1e-4 * f[j]);
    }
}
