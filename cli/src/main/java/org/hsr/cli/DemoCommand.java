package org.hsr.cli;

import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import org.hsr.attention.HsrAttention;
import org.hsr.attention.BiasRule;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.DenseAttention;
import org.hsr.attention.DenseReference;
import org.hsr.attention.AttentionInput;
import org.hsr.attention.Selection;
import org.hsr.attention.SparseAttention;
import org.hsr.index.BlockIndex;
import org.hsr.model.DenseSoftmaxAttention;
import org.hsr.model.Generation;
import org.hsr.model.Generator;
import org.hsr.model.HsrAttentionBackend;
import org.hsr.model.Llama2Model;
import org.hsr.model.Sampler;
import org.hsr.model.Tokenizer;
import org.hsr.simd.Kernels;
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
        System.out.printf("hsr demo (kernels: %s)%n%n", Kernels.impl().name());
        story();
        longContext();
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

    private static void longContext() {
        int n = 131072, d = 128;
        SplittableRandom r = new SplittableRandom(42);
        float[] k = gaussian(r, n * d), v = gaussian(r, n * d), q = gaussian(r, 8 * d);
        float bias = (float) BiasRule.paper(1, n);
        AttentionConfig cfg = AttentionConfig.relu(1, bias, false);
        System.out.printf("2. one decoding step, synthetic context of n=%d keys, d=%d, Gaussian (the paper's setting),%n", n, d);
        System.out.printf("   ReLU attention with the paper's bias b = sqrt(0.4 ln n) = %.3f%n", bias);
        long t0 = System.nanoTime();
        BlockIndex index = new BlockIndex(d);
        index.add(k, n);
        double buildMs = (System.nanoTime() - t0) / 1e6;
        var keys = new SparseAttention.Keys(index, k, 0, v, 0, n, d, d, HsrAttention.maxNorm(k, 0, n, d));
        DenseAttention dense = new DenseAttention();
        SparseAttention sparse = new SparseAttention();
        float c = cfg.scaleFor(d);
        float[] outD = new float[d], outS = new float[d];
        double[] msD = new double[8], msS = new double[8];
        AttentionStats st = new AttentionStats();
        double err = 0;
        // warm-up, untimed: the JIT compiles the sparse path only after a few hundred rows (with two passes of 8 rows
        // the demo timed it at about half its steady speed)
        long warmUntil = System.nanoTime() + 1_500_000_000L;
        for (int i = 0; System.nanoTime() < warmUntil; i = (i + 1) % 8) {
            sparse.attendRow(keys, n, q, i * d, cfg, null, outS, 0, null);
            if (i == 0) dense.attendRow(q, 0, k, 0, v, 0, n, d, d, cfg, c, outD, 0, null);
        }
        for (int rep = 0; rep < 8; rep++) {
            for (int i = 0; i < 8; i++) {
                long a = System.nanoTime();
                dense.attendRow(q, i * d, k, 0, v, 0, n, d, d, cfg, c, outD, 0, null);
                long b = System.nanoTime();
                sparse.attendRow(keys, n, q, i * d, cfg, null, outS, 0, rep == 7 ? st : null);
                long e = System.nanoTime();
                msD[rep] += (b - a) / 1e6 / 8;
                msS[rep] += (e - b) / 1e6 / 8;
                if (rep == 7 && i < 2) {
                    double[] ref = DenseReference.attend(AttentionInput.singleHead(
                            java.util.Arrays.copyOfRange(q, i * d, i * d + d), k, v, 1, n, d, d), cfg);
                    double diff = 0, norm = 0;
                    for (int t = 0; t < d; t++) {
                        diff = Math.max(diff, Math.abs(outS[t] - ref[t]));
                        norm = Math.max(norm, Math.abs(ref[t]));
                    }
                    err = Math.max(err, diff / norm);
                }
            }
        }
        double dm = CliIO.median(msD), sm = CliIO.median(msS);
        System.out.printf("   dense: %.2f ms per step; HSR: %.2f ms per step -> %.1fx faster (index built once in %.0f ms)%n",
                dm, sm, dm / sm, buildMs);
        System.out.println("   (dense and HSR steps alternate, so each starts with caches the other emptied, as in a model;");
        System.out.println("    `hsr bench decode` runs each method's steps back to back, and there the index stays in cache)");
        System.out.printf("   HSR kept %.2f%% of keys (n^(4/5) bound: %.1f%%), scored %.2f%% exactly; max relative error vs "
                + "float64 dense: %.1e%n%n", 100 * st.keptFraction(), 100 * Math.pow(n, 0.8) / n,
                100 * st.keysTouchedFraction(), err);
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
