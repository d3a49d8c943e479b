package org.hsr.cli;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionInput;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.BiasRule;
import org.hsr.attention.DenseReference;
import org.hsr.attention.Selection;
import org.hsr.kv.KvCache;
import org.hsr.kv.KvShape;
import org.hsr.model.DenseSoftmaxAttention;
import org.hsr.model.Generation;
import org.hsr.model.Generator;
import org.hsr.model.HsrAttentionBackend;
import org.hsr.model.KvCacheBackend;
import org.hsr.model.Llama2Config;
import org.hsr.model.Llama2Model;
import org.hsr.model.LlamaModel;
import org.hsr.model.Sampler;
import org.hsr.model.TextTokenizer;
import org.hsr.model.Tokenizer;
import org.hsr.model.gguf.GgufFile;
import org.hsr.model.gguf.GgufModel;
import org.hsr.model.gguf.GgufTokenizers;
import org.hsr.store.ElementType;
import org.hsr.vector.Vectors;
import picocli.CommandLine.Command;

/**
 * {@code hsr demo}: the main job, no arguments. (1) A story from the embedded TinyStories model with dense and with
 * HSR attention side by side; (2) one decoding step against a synthetic 131072-key context, dense against HSR, with
 * the measured speed-up and error.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, description = "Show what hsr-attention does, on built-in data.")
final class DemoCommand implements Callable<Integer> {

    @Override
    public Integer call() throws Exception {
        System.out.printf("hsr demo (kernels: %s)%n%n", Vectors.kernels());
        story();
        longContext();
        codeModel();
        System.out.println("More: ./hsr bench decode --json r.json --html r.html (dense, flat and hsr side by side),");
        System.out.println("      bench/faiss/compare.sh (the index against FAISS), README.md (measured results).");
        return 0;
    }

    private static void story() throws Exception {
        Llama2Model model = Llama2Model.loadEmbedded();
        Tokenizer tok = Tokenizer.loadEmbedded();
        Generator g = new Generator(model, tok);
        int steps = 200;
        g.generate("", 20, Sampler.greedy(), new DenseSoftmaxAttention(model.config())); // warm-up
        Generation dense = g.generate("", steps, Sampler.greedy(), new DenseSoftmaxAttention(model.config()));
        HsrAttentionBackend hsr = new HsrAttentionBackend(model.config(), AttentionConfig.softmax(true),
                new Selection.Epsilon(1e-4));
        Generation sparse = g.generate("", steps, Sampler.greedy(), hsr);
        int same = 0;
        while (same < Math.min(dense.tokens().size(), sparse.tokens().size())
                && dense.tokens().get(same).equals(sparse.tokens().get(same))) same++;
        System.out.println("1. stories260K (llama2.c TinyStories model, MIT), greedy, " + steps + " steps");
        System.out.println("   dense softmax:");
        System.out.println(indent(dense.text()));
        System.out.printf("   HSR softmax, epsilon:1e-4 (dropped probability mass certified <= 1e-4 per row):%n");
        System.out.println(indent(sparse.text()));
        System.out.printf("   agreement: %d of %d tokens identical; HSR kept %.1f%% of visible keys (max certified "
                        + "dropped mass %.1e); %.0f tok/s dense, %.0f tok/s HSR%n", same, dense.tokens().size(),
                100 * hsr.stats().keptFraction(), hsr.stats().droppedMassBoundMax, dense.tokPerS(), sparse.tokPerS());
        System.out.println("   (head_dim 8, context <= 512: this model is too small for sparsity to pay; part 2 shows where it does)");
        System.out.println();
    }

    /** Bytes of the prompt: a real Python file of this repository. */
    static final int CODE_PROMPT_BYTES = 4000, CODE_STEPS = 120;

    /**
     * (3) The shipped code model ({@code models/codelm-q8_0.gguf}, trained for this project): a Python file of this
     * repository as the prompt, its greedy completion with dense attention and with HSR ({@code epsilon:1e-3}, the
     * per-head plan), prompt and generated tokens/s side by side, and what each layer kept and how it ran.
     */
    private static void codeModel() throws Exception {
        Path home = Path.of(System.getProperty("hsr.home", "."));
        Path file = home.resolve("models").resolve("codelm-q8_0.gguf");
        Path prompt = home.resolve("bench").resolve("faiss").resolve("faiss_range.py");
        if (!Files.isRegularFile(file) || !Files.isRegularFile(prompt)) {
            System.out.println("3. (skipped: " + file + " or " + prompt + " is missing; a clone of the repository has both)");
            return;
        }
        byte[] bytes = Files.readAllBytes(prompt);
        String text = new String(bytes, 0, Math.min(bytes.length, CODE_PROMPT_BYTES), StandardCharsets.ISO_8859_1);
        // up to the last function header that starts within the first bytes, so that the model writes its body
        int def = text.lastIndexOf("\ndef ");
        text = def < 0 ? text.substring(0, text.lastIndexOf('\n') + 1) : text.substring(0, text.indexOf('\n', def + 1) + 1);
        try (LlamaModel model = GgufModel.load(file, 0, 1); GgufFile f = GgufFile.open(file)) {
            TextTokenizer tok = GgufTokenizers.load(f);
            Generator g = new Generator(model, tok);
            Llama2Config c = model.config();
            System.out.printf("3. the code model (models/codelm-q8_0.gguf: %d layers, %d query heads on %d kv head(s), "
                    + "context %d), greedy, KV in bf16%n", c.nLayers(), c.nHeads(), c.nKvHeads(), c.seqLen());
            System.out.printf("   prompt: the first %d lines of bench/faiss/faiss_range.py (%d bytes, up to a function "
                    + "header), then up to %d tokens generated%n", text.lines().count(), text.length(), CODE_STEPS);
            var dense = new KvCacheBackend(c, AttentionConfig.softmax(true), null, KvCache.Method.DENSE,
                    ElementType.BF16, null);
            var hsr = new KvCacheBackend(c, AttentionConfig.softmax(true), Selection.parse("epsilon:1e-3"),
                    KvCache.Method.HSR, ElementType.BF16, null);
            Generation a = g.generate(text, CODE_STEPS, Sampler.greedy(), dense);
            Generation b = g.generate(text, CODE_STEPS, Sampler.greedy(), hsr);
            String tail = tok.decode(a.generatedTokens());
            System.out.println("   dense completion:");
            System.out.println(indent(tail.stripTrailing()));
            int same = 0;
            while (same < Math.min(a.tokens().size(), b.tokens().size())
                    && a.tokens().get(same).equals(b.tokens().get(same))) same++;
            System.out.printf("   HSR completion: %s%n", same == a.tokens().size() && same == b.tokens().size()
                    ? "identical, token for token" : "first differs at token " + (same - a.promptTokens())
                    + " of the completion:\n" + indent(tok.decode(b.generatedTokens()).stripTrailing()));
            System.out.printf("   %-6s %8s %10s %12s%n", "", "prompt", "generated", "attention");
            for (var row : List.of(Map.entry("dense", a), Map.entry("hsr", b))) {
                Generation.Timing t = row.getValue().timing();
                System.out.printf("   %-6s %6.0f/s %8.0f/s %11.0f%%%n", row.getKey(), t.promptTokPerS(),
                        t.decodeTokPerS(), 100 * t.attentionShare());
            }
            var st = hsr.stats();
            System.out.printf("   HSR over the whole run: kept %.1f%% of visible keys, %d of %d rows computed dense by the "
                    + "per-head plan, %d walked rows fell back, max certified dropped mass %.1e%n",
                    100 * st.keptFraction(), st.denseChosenRows, st.rows, st.fallbackRows, st.droppedMassBoundMax);
            System.out.println("   (its heads are mostly broad, and below 4096 positions little is indexed: the plan runs them"
                    + " dense; hsr analyze shows each head)");
            System.out.println();
        }
    }

    private static void longContext() {
        int n = 131072, d = 128;
        SplittableRandom r = new SplittableRandom(42);
        float[] k = gaussian(r, n * d), v = gaussian(r, n * d), q = gaussian(r, 8 * d);
        float bias = (float) BiasRule.paper(1, n);
        AttentionConfig cfg = AttentionConfig.relu(1, bias, false);
        System.out.printf("2. one decoding step, synthetic context of n=%d keys, d=%d, Gaussian (the paper's setting),%n", n, d);
        System.out.printf("   ReLU attention with the paper's bias b = sqrt(0.4 ln n) = %.3f, an engine KV cache in bf16%n",
                bias);
        KvShape shape = KvShape.of(1, 1, 1, d, ElementType.BF16);
        try (KvCache cache = KvCache.builder(shape).attention(cfg).build()) {
            long t0 = System.nanoTime();
            cache.append(0, k, 0, v, 0, n);
            double buildMs = (System.nanoTime() - t0) / 1e6;
            float[] outD = new float[d], outS = new float[d];
            double[] msD = new double[8], msS = new double[8];
            AttentionStats st = new AttentionStats();
            double err = 0;
            // warm-up, untimed: the JIT compiles the sparse path only after a few hundred rows (with two passes of 8
            // rows the demo timed it at about half its steady speed)
            long warmUntil = System.nanoTime() + 1_500_000_000L;
            for (int i = 0; System.nanoTime() < warmUntil; i = (i + 1) % 8) {
                cache.attend(0, q, i * d, 1, outS, 0, KvCache.Method.HSR, null);
                if (i == 0) cache.attend(0, q, 0, 1, outD, 0, KvCache.Method.DENSE, null);
            }
            // the stored (bf16-rounded) keys and values: the float64 reference is computed on them
            float[] ks = new float[n * d], vs = new float[n * d];
            for (int j = 0; j < n; j++) {
                cache.readKey(0, 0, j, ks, j * d);
                cache.readValue(0, 0, j, vs, j * d);
            }
            for (int rep = 0; rep < 8; rep++) {
                for (int i = 0; i < 8; i++) {
                    long a = System.nanoTime();
                    cache.attend(0, q, i * d, 1, outD, 0, KvCache.Method.DENSE, null);
                    long b = System.nanoTime();
                    cache.attend(0, q, i * d, 1, outS, 0, KvCache.Method.HSR, rep == 7 ? st : null);
                    long e = System.nanoTime();
                    msD[rep] += (b - a) / 1e6 / 8;
                    msS[rep] += (e - b) / 1e6 / 8;
                    if (rep == 7 && i < 2) {
                        double[] ref = DenseReference.attend(AttentionInput.singleHead(
                                java.util.Arrays.copyOfRange(q, i * d, i * d + d), ks, vs, 1, n, d, d), cfg);
                        err = Math.max(err, DenseReference.maxRowRelError(outS, ref, d));
                    }
                }
            }
            double dm = CliIO.median(msD), sm = CliIO.median(msS);
            System.out.printf("   dense: %.2f ms per step; HSR: %.2f ms per step -> %.1fx faster (cache and index built "
                    + "once in %.0f ms, %.0f MB)%n", dm, sm, dm / sm, buildMs, cache.memoryBytes() / 1e6);
            System.out.println("   (dense and HSR read the same cache; their steps alternate, so each starts with caches "
                    + "the other emptied, as in a model)");
            System.out.printf("   HSR kept %.2f%% of keys (n^(4/5) bound: %.1f%%), scored %.2f%% exactly; max relative "
                    + "error vs float64 on the stored values: %.1e%n%n", 100 * st.keptFraction(),
                    100 * Math.pow(n, 0.8) / n, 100 * st.keysTouchedFraction(), err);
        }
    }

    private static String indent(String text) {
        return "     " + text.strip().replace("\n", "\n     ");
    }

    static float[] gaussian(SplittableRandom r, int len) {
        float[] x = new float[len];
        for (int i = 0; i < len; i++) x[i] = (float) r.nextGaussian();
        return x;
    }
}
