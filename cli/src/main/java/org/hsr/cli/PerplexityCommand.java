package org.hsr.cli;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.hsr.model.AttentionBackend;
import org.hsr.model.Perplexity;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code hsr perplexity}: teacher-forced loss of a text under a llama2.c-format model (SPEC §7). */
@Command(name = "perplexity", mixinStandardHelpOptions = true,
        description = "Teacher-forced mean negative log-likelihood (nats/token) and perplexity of a text.")
final class PerplexityCommand implements Callable<Integer> {

    @Mixin ModelOptions options;
    @Option(names = "--text", required = true, paramLabel = "FILE",
            description = "UTF-8 text to score (BOS is prepended; one final line break is ignored)")
    Path text;
    @Option(names = "--json", paramLabel = "F", description = "results JSON file") Path json;

    @Override
    public Integer call() throws Exception {
        List<CliIO.Named> inputs = new java.util.ArrayList<>(options.inputs());
        inputs.add(CliIO.named("--text", text));
        CliIO.checkOutputs(inputs, List.of(CliIO.named("--json", json)));
        String s = readText(text);
        try (ModelOptions.Loaded loaded = options.load()) {
            return score(loaded, s);
        }
    }

    private int score(ModelOptions.Loaded loaded, String s) throws Exception {
        AttentionBackend backend = options.backend(loaded);
        Perplexity.Result r = Perplexity.teacherForced(loaded.model(), loaded.tokenizer(), s, backend);

        System.out.printf("hsr perplexity: %d tokens, mean NLL %.6f nats/token, perplexity %.4f%n", r.tokens(),
                r.meanNll(), r.perplexity());
        System.out.printf("hsr perplexity: %.2f s, %.1f prompt tok/s (prefill), attention %.0f%% of the time%n",
                r.seconds(), r.tokPerS(), 100 * r.attentionShare());
        if (json != null) {
            Map<String, Object> js = options.describe(loaded, r.stats());
            js.put("text_file", text.toString());
            js.put("tokens", r.tokens());
            js.put("mean_nll", r.meanNll());
            js.put("perplexity", r.perplexity());
            js.put("seconds", r.seconds());
            js.put("prompt_tok_per_s", r.tokPerS());
            js.put("attention_share", r.attentionShare());
            new CliIO.Outputs().json(json, js).write();
        }
        return 0;
    }

    /** The file as UTF-8, without one final line break. */
    static String readText(Path file) throws IOException {
        String s;
        try {
            s = Files.readString(file);
        } catch (CharacterCodingException e) {
            throw new IOException("text file " + file + ": not valid UTF-8");
        }
        if (s.endsWith("\r\n")) {
            return s.substring(0, s.length() - 2);
        }
        return s.endsWith("\n") ? s.substring(0, s.length() - 1) : s;
    }
}
