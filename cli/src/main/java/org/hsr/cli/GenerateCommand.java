package org.hsr.cli;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import org.hsr.model.AttentionBackend;
import org.hsr.model.Generation;
import org.hsr.model.Generator;
import org.hsr.model.Sampler;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code hsr generate}: text from a llama2.c-format model, with dense or HSR attention (SPEC §7). */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate text with a llama2.c or GGUF model (default: the embedded stories260K), streaming "
                + "tokens as they come.")
final class GenerateCommand implements Callable<Integer> {

    @Mixin ModelOptions options;
    @Option(names = "--prompt", defaultValue = "", paramLabel = "S", description = "text to continue (default: none, start from BOS)")
    String prompt;
    @Option(names = "--steps", defaultValue = "256", paramLabel = "N",
            description = "maximum number of tokens to generate after the prompt (default: ${DEFAULT-VALUE}); "
                    + "generation also stops when the model emits BOS or the context is full")
    int steps;
    @Option(names = "--temperature", defaultValue = "1.0", paramLabel = "X",
            description = "sampling temperature, 0 = greedy (default: ${DEFAULT-VALUE})")
    float temperature;
    @Option(names = "--topp", defaultValue = "0.9", paramLabel = "P",
            description = "top-p (nucleus) threshold in [0, 1]; 0 or 1 sample from all tokens (default: ${DEFAULT-VALUE})")
    float topp;
    @Option(names = "--seed", description = "random seed (default: from the clock; written to the JSON)")
    Long seed;
    @Option(names = "--json", paramLabel = "F", description = "results JSON file") Path json;

    @Override
    public Integer call() throws Exception {
        CliIO.requirePositive(steps, "--steps");
        if (!(temperature >= 0) || !Float.isFinite(temperature)) {
            throw new UsageException("--temperature must be a finite number >= 0, got " + temperature);
        }
        if (!(topp >= 0 && topp <= 1)) {
            throw new UsageException("--topp must be in [0, 1], got " + topp);
        }
        CliIO.checkOutputs(options.inputs(), java.util.List.of(CliIO.named("--json", json)));
        long s = seed != null ? seed : System.currentTimeMillis();

        try (ModelOptions.Loaded loaded = options.load()) {
            return generate(loaded, s);
        }
    }

    private int generate(ModelOptions.Loaded loaded, long s) throws Exception {
        AttentionBackend backend = options.backend(loaded);
        Generator generator = new Generator(loaded.model(), loaded.tokenizer());
        // refuse an over-long prompt from its length alone, before tokenising it (one pass; the generator checks
        // the exact count again)
        int context = loaded.model().config().seqLen();
        int atLeast = loaded.tokenizer().minTokens(prompt);
        if (atLeast > context) {
            throw new UsageException("prompt too long: at least " + atLeast + " tokens (with BOS) > model context "
                    + context);
        }
        // stream: the prompt as the tokenizer reads it back, then each token's bytes as it is sampled
        int[] promptTokens = loaded.tokenizer().encode(prompt);
        System.out.print(loaded.tokenizer().decode(promptTokens));
        System.out.flush();
        Generation g = generator.generate(prompt, steps, new Sampler(temperature, topp, s), backend, (t, bytes) -> {
            System.out.write(bytes, 0, bytes.length);
            System.out.flush();
        });
        System.out.println();
        System.out.flush();
        Generation.Timing tm = g.timing();
        System.err.printf("hsr generate: %d tokens (%d from the prompt), %.1f tok/s%s%n", g.tokens().size(),
                g.promptTokens(), g.tokPerS(), g.stats() == null ? ""
                        : String.format(", %.2f%% of visible keys kept", 100 * g.stats().keptFraction()));
        System.err.printf("hsr generate: prompt %d tokens at %.1f tok/s (prefill), generated %d at %.1f tok/s "
                + "(decode), attention %.0f%% of the time%n", tm.promptTokens(), tm.promptTokPerS(),
                tm.generatedTokens(), tm.decodeTokPerS(), 100 * tm.attentionShare());
        if (json != null) {
            Map<String, Object> js = options.describe(loaded, g.stats());
            js.put("prompt", prompt);
            js.put("steps", steps);
            js.put("temperature", temperature);
            js.put("topp", topp);
            js.put("seed", s);
            js.put("tokens", g.tokens());
            js.put("prompt_tokens", g.promptTokens());
            js.put("generated_tokens", g.tokens().size() - g.promptTokens());
            js.put("text", g.text());
            js.put("tok_per_s", g.tokPerS());
            js.put("prompt_tok_per_s", tm.promptTokPerS());
            js.put("decode_tok_per_s", tm.decodeTokPerS());
            js.put("attention_share", tm.attentionShare());
            new CliIO.Outputs().json(json, js).write();
        }
        return 0;
    }
}
