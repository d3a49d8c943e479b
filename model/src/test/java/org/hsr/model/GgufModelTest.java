package org.hsr.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import org.hsr.model.gguf.GgufConvert;
import org.hsr.model.gguf.GgufFile;
import org.hsr.model.gguf.GgufModel;
import org.hsr.model.gguf.GgufTokenizers;
import org.hsr.model.gguf.GgufWriter;
import org.hsr.model.tensor.GgmlType;
import org.hsr.model.tensor.Matmul;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The shipped model written as GGUF and read back runs as the llama2.c path does. */
class GgufModelTest {

    @TempDir
    static Path dir;
    static Path f32, q8;

    @BeforeAll
    static void convert() throws Exception {
        f32 = dir.resolve("stories260K-f32.gguf");
        q8 = dir.resolve("stories260K-q8_0.gguf");
        GgufConvert.writeLlama2c(ModelFixtures.MODEL, ModelFixtures.TOKENIZER, GgmlType.F32, f32);
        GgufConvert.writeLlama2c(ModelFixtures.MODEL, ModelFixtures.TOKENIZER, GgmlType.Q8_0, q8);
    }

    private static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    @Test
    void f32GgufGivesTheLogitsAndThe256GreedyTokensOfTheLlama2cPath() throws Exception {
        try (LlamaModel gguf = GgufModel.load(f32, 0, 1)) {
            assertEquals(ModelFixtures.MODEL.config(), gguf.config());
            Transformer ref = new Transformer(ModelFixtures.MODEL, new DenseSoftmaxAttention(ModelFixtures.MODEL.config()));
            Transformer t = new Transformer(gguf, new DenseSoftmaxAttention(gguf.config()));
            int a = Tokenizer.BOS, b = Tokenizer.BOS;
            double worst = 0;
            int[] refTokens = new int[256], ggufTokens = new int[256];
            for (int pos = 0; pos < 256; pos++) {
                float[] la = ref.forward(a, pos).clone();
                float[] lb = t.forward(b, pos);
                double max = 0;
                for (float v : la) max = Math.max(max, Math.abs(v));
                for (int i = 0; i < la.length; i++) worst = Math.max(worst, Math.abs(la[i] - lb[i]) / max);
                a = refTokens[pos] = argmax(la);
                b = ggufTokens[pos] = argmax(lb);
            }
            assertTrue(worst <= 1e-6, "max relative logit difference " + worst);
            assertArrayEquals(refTokens, ggufTokens);
        }
    }

    @Test
    void q8GgufLossIsWithinOneHundredthOfANatOfF32() throws Exception {
        String text = ModelFixtures.GREEDY;
        double f32Loss, q8Loss;
        try (LlamaModel m = GgufModel.load(f32, 0, 1)) {
            f32Loss = Perplexity.teacherForced(m, ModelFixtures.TOKENIZER, text, new DenseSoftmaxAttention(m.config())).meanNll();
        }
        try (LlamaModel m = GgufModel.load(q8, 0, 2)) {
            assertEquals(GgmlType.Q8_0, m.layers()[0].wq().type());
            assertEquals(GgmlType.F16, m.layers()[0].w2().type(), "row length 172 is not whole Q8_0 blocks");
            q8Loss = Perplexity.teacherForced(m, ModelFixtures.TOKENIZER, text, new DenseSoftmaxAttention(m.config())).meanNll();
        }
        double llama2c = Perplexity.teacherForced(ModelFixtures.MODEL, ModelFixtures.TOKENIZER, text,
                new DenseSoftmaxAttention(ModelFixtures.MODEL.config())).meanNll();
        assertEquals(llama2c, f32Loss, 1e-6);
        assertTrue(Math.abs(q8Loss - f32Loss) < 0.01, "Q8_0 " + q8Loss + " vs F32 " + f32Loss);
        assertTrue(q8Loss != f32Loss, "the Q8_0 file must actually be quantised");
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"F16, 0.002", "BF16, 0.02", "Q4_0, 0.2"})
    void otherStoredTypesStayCloseToF32(GgmlType type, double nats) throws Exception {
        Path p = dir.resolve("s-" + type + ".gguf");
        GgufConvert.writeLlama2c(ModelFixtures.MODEL, ModelFixtures.TOKENIZER, type, p);
        int[] tokens = ModelFixtures.TOKENIZER.encode(ModelFixtures.GREEDY);
        double f32Loss = Perplexity.teacherForced(ModelFixtures.MODEL, tokens,
                new DenseSoftmaxAttention(ModelFixtures.MODEL.config())).meanNll();
        try (LlamaModel m = GgufModel.load(p, 0, 1)) {
            assertEquals(type, m.layers()[0].wq().type());
            double loss = Perplexity.teacherForced(m, tokens, new DenseSoftmaxAttention(m.config())).meanNll();
            assertTrue(Math.abs(loss - f32Loss) < nats, type + ": " + loss + " vs F32 " + f32Loss);
        }
    }

    @Test
    void theTokenizerFromTheFileEncodesAsTheLlama2cOne() throws Exception {
        TextTokenizer fromFile;
        try (GgufFile f = GgufFile.open(f32)) {
            fromFile = GgufTokenizers.load(f);
        }
        String[] texts = {ModelFixtures.GREEDY, "", " ", "  two  spaces ", "Tom's dog\nran!\t\"Yes\" 1234",
                "héllo wörld — ünïcode ✓ 日本語 🙂", "\u0000\u0001 control", "end with newline\n"};
        for (String s : texts) {
            assertArrayEquals(ModelFixtures.TOKENIZER.encode(s), fromFile.encode(s), s);
            assertEquals(s, fromFile.decode(fromFile.encode(s)), "round trip of \"" + s + "\"");
            assertEquals(ModelFixtures.TOKENIZER.decode(ModelFixtures.TOKENIZER.encode(s)), fromFile.decode(fromFile.encode(s)));
        }
        assertTrue(fromFile.endsText(Tokenizer.EOS));
    }

    @Test
    void greedyGenerationFromTheGgufFileIsTheDocumentedSample() throws Exception {
        try (LlamaModel m = GgufModel.load(f32, 0, 1); GgufFile f = GgufFile.open(f32)) {
            TextTokenizer tok = GgufTokenizers.load(f);
            StringBuilder streamed = new StringBuilder();
            java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
            Generation g = new Generator(m, tok).generate("", ModelFixtures.TOKENIZER.encode(ModelFixtures.GREEDY).length - 1,
                    Sampler.greedy(), new DenseSoftmaxAttention(m.config()), (t, b) -> bytes.writeBytes(b));
            streamed.append(bytes.toString(java.nio.charset.StandardCharsets.UTF_8));
            assertEquals(ModelFixtures.GREEDY, g.text());
            assertEquals(g.text(), streamed.toString());
        }
    }

    @Test
    void halfSplitRopeOnPermutedRowsEqualsAdjacentPairs() throws Exception {
        // qwen2's RoPE rotates (j, j + headSize/2); a llama file's q/k rows reordered into that layout, with zero
        // biases, must give the same logits (scores are dot products, invariant under the same permutation)
        Path qwen = dir.resolve("permuted-qwen2.gguf");
        try (GgufFile f = GgufFile.open(f32)) {
            GgufWriter w = new GgufWriter();
            for (var e : f.metadata().entrySet()) {
                String key = e.getKey().startsWith("llama.") ? "qwen2." + e.getKey().substring(6) : e.getKey();
                Object v = e.getKey().equals("general.architecture") ? "qwen2" : e.getValue();
                copy(w, key, v);
            }
            int headSize = ModelFixtures.MODEL.config().headSize();
            for (GgufFile.TensorInfo t : f.tensors().values()) {
                float[] data = f.data(t).toArray(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN));
                int cols = (int) t.dims()[0];
                boolean permute = t.name().endsWith("attn_q.weight") || t.name().endsWith("attn_k.weight");
                w.addTensor(t.name(), GgmlType.F32, t.dims(), (r, out) -> {
                    long src = r;
                    if (permute) { // half-split row j of a head is adjacent row 2j, row j + half is 2j + 1
                        int head = (int) (r / headSize), j = (int) (r % headSize), half = headSize / 2;
                        src = (long) head * headSize + (j < half ? 2 * j : 2 * (j - half) + 1);
                    }
                    System.arraycopy(data, (int) (src * cols), out, 0, cols);
                });
                if (permute || t.name().endsWith("attn_v.weight")) {
                    String bias = t.name().replace(".weight", ".bias");
                    w.addTensor(bias, GgmlType.F32, new long[] {t.dims()[1]}, new float[(int) t.dims()[1]], 0);
                }
            }
            w.write(qwen);
        }
        try (LlamaModel a = GgufModel.load(f32, 0, 1); LlamaModel b = GgufModel.load(qwen, 0, 1)) {
            assertTrue(b.hyper().ropeHalfSplit());
            Transformer ta = new Transformer(a, new DenseSoftmaxAttention(a.config()));
            Transformer tb = new Transformer(b, new DenseSoftmaxAttention(b.config()));
            int[] tokens = ModelFixtures.TOKENIZER.encode(ModelFixtures.GREEDY);
            for (int pos = 0; pos < tokens.length; pos++) {
                float[] la = ta.forward(tokens[pos], pos).clone();
                float[] lb = tb.forward(tokens[pos], pos);
                for (int i = 0; i < la.length; i++) assertEquals(la[i], lb[i], 1e-4, "pos " + pos + " logit " + i);
            }
        }
    }

    private static void copy(GgufWriter w, String key, Object v) {
        switch (v) {
            case String s -> w.putString(key, s);
            case Long l -> w.putUint32(key, l);
            case Integer i -> w.putInt32(key, i);
            case Float x -> w.putFloat32(key, x);
            case Boolean b -> w.putBool(key, b);
            case GgufFile.GgufArray a when a.values() instanceof String[] s -> w.putStrings(key, s);
            case GgufFile.GgufArray a when a.values() instanceof float[] s -> w.putFloats(key, s);
            case GgufFile.GgufArray a when a.values() instanceof int[] s -> w.putInts(key, s);
            default -> throw new IllegalStateException(key + ": " + v);
        }
    }

    @Test
    void contextIsTheModelsUnlessAskedAndNeverMore() throws Exception {
        try (LlamaModel m = GgufModel.load(f32, 100, 1)) {
            assertEquals(100, m.config().seqLen());
        }
        var e = assertThrows(IllegalArgumentException.class, () -> GgufModel.load(f32, 513, 1));
        assertTrue(e.getMessage().contains("513") && e.getMessage().contains("512"), e.getMessage());
    }

    @Test
    void kvStorageRoundsWhatTheCacheHolds() throws Exception {
        try (LlamaModel m = GgufModel.load(f32, 0, 1)) {
            int[] tokens = ModelFixtures.TOKENIZER.encode(ModelFixtures.NLL_TEXT);
            double fp32 = Perplexity.teacherForced(m, tokens, new DenseSoftmaxAttention(m.config())).meanNll();
            double bf16 = Perplexity.teacherForced(m, tokens, new DenseSoftmaxAttention(m.config()).storing(org.hsr.store.ElementType.BF16)).meanNll();
            double fp16 = Perplexity.teacherForced(m, tokens, new DenseSoftmaxAttention(m.config()).storing(org.hsr.store.ElementType.FP16)).meanNll();
            assertTrue(bf16 != fp32 && Math.abs(bf16 - fp32) < 0.01, bf16 + " vs " + fp32);
            assertTrue(fp16 != fp32 && Math.abs(fp16 - fp32) < 0.002, fp16 + " vs " + fp32);
        }
    }

    @Test
    void randomShapeWritesAndRuns() throws Exception {
        Path p = dir.resolve("tiny.gguf");
        GgufConvert.writeRandom(GgufConvert.SHAPES.get("tiny"), GgmlType.Q8_0, 1, p);
        try (LlamaModel m = GgufModel.load(p, 64, 2)) {
            assertEquals(128, m.config().dim());
            Transformer t = new Transformer(m, new DenseSoftmaxAttention(m.config()));
            for (int pos = 0; pos < 8; pos++) {
                float[] logits = t.forward(5 + pos, pos);
                for (float x : logits) assertTrue(Float.isFinite(x));
            }
        }
        try (Matmul ignored = new Matmul(1)) {
            assertEquals(1, ignored.threads());
        }
    }

    @Test
    void theContextIsTheFilesAndMayOnlyBeLowered() throws Exception {
        Path p = dir.resolve("ctx8192.gguf");
        GgufConvert.writeRandom(new GgufConvert.Shape("ctx", 32, 64, 1, 2, 1, 259, 8192, 10000, true, false),
                GgmlType.F32, 1, p);
        try (LlamaModel m = GgufModel.load(p, 0, 1)) {
            assertEquals(8192, m.config().seqLen(), "context_length of the file, not a cap");
        }
        try (LlamaModel m = GgufModel.load(p, 100, 1)) {
            assertEquals(100, m.config().seqLen());
        }
        var e = assertThrows(IllegalArgumentException.class, () -> GgufModel.load(p, 8193, 1));
        assertTrue(e.getMessage().contains("8192"), e.getMessage());
    }

    @Test
    void aRopeBaseThatIsNotFinitePositiveIsRefused() throws Exception {
        for (double theta : new double[] {Double.POSITIVE_INFINITY, 0, -10000, Double.NaN}) {
            Path p = dir.resolve("theta.gguf");
            GgufConvert.writeRandom(new GgufConvert.Shape("theta", 32, 64, 1, 2, 1, 259, 64, theta, true, false),
                    GgmlType.F32, 1, p);
            var e = assertThrows(ModelFormatException.class, () -> GgufModel.load(p, 0, 1), "theta " + theta);
            assertTrue(e.getMessage().contains("llama.rope.freq_base = " + (double) (float) theta), e.getMessage());
            assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
        }
    }
}
