package org.hsr.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code hsr generate} and {@code hsr perplexity} end to end on the embedded stories260K model. */
class ModelCommandsTest {

    /** BOS + these 44 tokens: the README's check value, 0.324 nats/token. */
    private static final String NLL_TEXT = "Once upon a time, there was a little girl named Lily. She loved to play outside"
            + " in the park. One day, she saw a big, red ball.";

    @TempDir
    Path tmp;

    private record Run(int code, String out, String err) {}

    private static Run run(String... args) {
        CliRun r = CliRun.run(args);
        return new Run(r.code(), r.out(), r.err());
    }

    @Test
    void greedyGenerateWritesTheDocumentedStory() throws Exception {
        Path json = tmp.resolve("gen.json");
        Run r = run("generate", "--steps", "40", "--temperature", "0", "--json", json.toString());
        assertEquals(0, r.code(), r.err());
        String jsonText = Files.readString(json);
        JsonNode js = new ObjectMapper().readTree(jsonText);
        assertTrue(js.get("text").asText().startsWith("Once upon a time, there was a little girl named Lily."), jsonText);
        assertEquals(41, js.get("tokens").size()); // BOS + 40 generated
        assertEquals(1, js.get("tokens").get(0).asInt());
        assertEquals(403, js.get("tokens").get(1).asInt());
        assertTrue(js.get("tok_per_s").asDouble() > 0);
        // prefill and decode rates: their times add up to the whole run's (40 positions: BOS and 39 generated; the
        // 40th generated token is sampled, never run)
        double prefill = js.get("prompt_tok_per_s").asDouble(), decode = js.get("decode_tok_per_s").asDouble();
        assertTrue(prefill > 0 && decode > 0, jsonText);
        double total = 40 / js.get("tok_per_s").asDouble();
        assertEquals(total, 1 / prefill + 40 / decode, 1e-9 * total, jsonText);
        double share = js.get("attention_share").asDouble();
        assertTrue(share > 0 && share < 1, jsonText);
        assertTrue(r.err().contains("(prefill)") && r.err().contains("(decode)"), r.err());
        assertEquals(1.0, js.get("kept_frac_mean").asDouble());
        assertTrue(r.out().startsWith("Once upon a time, there was a little girl named Lily."), r.out());
    }

    @Test
    void sampledGenerationIsReproducibleWithASeed() throws Exception {
        Path a = tmp.resolve("a.json");
        Path b = tmp.resolve("b.json");
        assertEquals(0, run("generate", "--prompt", "Lily saw a cat", "--steps", "30", "--seed", "42", "--json",
                a.toString()).code());
        assertEquals(0, run("generate", "--prompt", "Lily saw a cat", "--steps", "30", "--seed", "42", "--json",
                b.toString()).code());
        ObjectMapper m = new ObjectMapper();
        JsonNode ja = m.readTree(a.toFile());
        assertEquals(ja.get("tokens"), m.readTree(b.toFile()).get("tokens"));
        assertTrue(ja.get("text").asText().startsWith("Lily saw a cat"), ja.get("text").asText());
        assertEquals(42, ja.get("seed").asLong());
    }

    @Test
    void reluAttentionGenerates() throws Exception {
        Path json = tmp.resolve("relu.json");
        Run r = run("generate", "--steps", "20", "--temperature", "0", "--kind", "relu", "--alpha", "1", "--bias", "0",
                "--json", json.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode js = new ObjectMapper().readTree(json.toFile());
        double kept = js.get("kept_frac_mean").asDouble();
        assertTrue(kept > 0 && kept < 1, "ReLU keeps part of the keys: " + kept);
        assertEquals("relu", js.get("kind").asText());
    }

    @Test
    void perplexityOfTheReadmeSentence() throws Exception {
        Path text = tmp.resolve("story.txt");
        Files.writeString(text, NLL_TEXT + "\n");
        Path json = tmp.resolve("ppl.json");
        Run r = run("perplexity", "--text", text.toString(), "--json", json.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode js = new ObjectMapper().readTree(json.toFile());
        assertEquals(44, js.get("tokens").asInt());
        assertEquals(0.3241, js.get("mean_nll").asDouble(), 1e-3);
        assertEquals(Math.exp(js.get("mean_nll").asDouble()), js.get("perplexity").asDouble(), 1e-9);
        assertTrue(r.out().contains(String.format("44 tokens, mean NLL %.6f nats/token",
                js.get("mean_nll").asDouble())), r.out());
        // the prefill rate is the 44 positions over the run's time; attention is part of that time
        double seconds = js.get("seconds").asDouble();
        assertTrue(seconds > 0, r.out());
        assertEquals(44 / seconds, js.get("prompt_tok_per_s").asDouble(), 1e-9 * (44 / seconds));
        double share = js.get("attention_share").asDouble();
        assertTrue(share > 0 && share < 1, r.out());
        assertTrue(r.out().contains("prompt tok/s (prefill)"), r.out());
    }

    @Test
    void missingOrWrongFilesExitWith1() throws Exception {
        Run r = run("generate", "--model", tmp.resolve("absent.bin").toString(), "--steps", "5");
        assertEquals(1, r.code());
        assertEquals("hsr: error: no such file: " + tmp.resolve("absent.bin"), r.err().strip());

        // the tokenizer passed as the model
        Path tok = tmp.resolve("tok512.bin");
        try (var in = org.hsr.model.Tokenizer.class.getResourceAsStream("tok512.bin")) {
            Files.write(tok, in.readAllBytes());
        }
        r = run("generate", "--model", tok.toString(), "--steps", "5");
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("hsr: error: model file " + tok + ": not a llama2.c model"), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());

        // the model passed as the tokenizer
        Path model = tmp.resolve("stories260K.bin");
        try (var in = org.hsr.model.Llama2Model.class.getResourceAsStream("stories260K.bin")) {
            Files.write(model, in.readAllBytes());
        }
        Path story = tmp.resolve("story.txt");
        Files.writeString(story, NLL_TEXT);
        r = run("perplexity", "--tokenizer", model.toString(), "--text", story.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("hsr: error: tokenizer file " + model + ": not a llama2.c tokenizer: token "),
                r.err());

        r = run("perplexity", "--text", tmp.resolve("absent.txt").toString());
        assertEquals(1, r.code());
        assertEquals("hsr: error: no such file: " + tmp.resolve("absent.txt"), r.err().strip());
    }

    @Test
    void badValuesExitWith2() throws Exception {
        Run r = run("generate", "--temperature", "-1");
        assertEquals(2, r.code());
        assertEquals("hsr: error: --temperature must be a finite number >= 0, got -1.0", r.err().strip());
        r = run("generate", "--temperature", "abc");
        assertEquals(2, r.code());
        r = run("generate", "--topp", "1.5");
        assertEquals(2, r.code());
        assertEquals("hsr: error: --topp must be in [0, 1], got 1.5", r.err().strip());
        r = run("generate", "--steps", "0");
        assertEquals(2, r.code());
        r = run("generate", "--attention", "sparse", "--steps", "3");
        assertEquals(2, r.code());
        assertEquals("hsr: error: --attention must be dense or hsr, got sparse", r.err().strip());
        r = run("generate", "--kind", "relu", "--alpha", "0", "--steps", "3");
        assertEquals(2, r.code());
        assertEquals("hsr: error: --alpha must be >= 1, got 0", r.err().strip());
    }

    @Test
    void overLongPromptOrTextExitsWith2() throws Exception {
        String longPrompt = "Once upon a time, there was a little girl named Lily. ".repeat(40);
        Run r = run("generate", "--prompt", longPrompt, "--steps", "5");
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("hsr: error: prompt too long: "), r.err());
        assertTrue(r.err().strip().endsWith("> model context 512"), r.err());
        assertFalse(r.err().contains("Exception"), r.err());

        // a prompt far over the context is refused from its length, before it is tokenised: 16 MB in well under
        // the time its tokenisation takes
        String huge = "Once upon a time, there was a little girl named Lily. ".repeat(300_000);
        long t0 = System.nanoTime();
        r = run("generate", "--prompt", huge, "--steps", "5");
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("hsr: error: prompt too long: at least "), r.err());
        assertTrue(seconds < 5, "refused after " + seconds + " s");

        Path text = tmp.resolve("long.txt");
        Files.writeString(text, longPrompt);
        r = run("perplexity", "--text", text.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("hsr: error: text too long: "), r.err());

        Files.writeString(text, "\n");
        r = run("perplexity", "--text", text.toString());
        assertEquals(2, r.code());
        assertEquals("hsr: error: text is empty: nothing to predict", r.err().strip());
    }
}
