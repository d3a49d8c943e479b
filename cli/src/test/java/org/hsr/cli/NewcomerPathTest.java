package org.hsr.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README followed top to bottom by someone with only a clone (issue 24, "newcomer's path"): the files it names
 * ship, its perplexity and GGUF examples run as written, and the bench table explains its FAISS rows.
 */
class NewcomerPathTest {

    @TempDir
    Path tmp;

    private static Path root() {
        return Path.of("").toAbsolutePath().getParent(); // surefire runs in cli/
    }

    /** The README named ../shared/SPEC.md (not in a clone) and a story.txt that did not ship. */
    @Test
    void everyFileTheReadmeNamesShips() throws Exception {
        String readme = Files.readString(root().resolve("README.md"));
        assertFalse(readme.contains("../shared/"), "the README points outside the clone");
        Matcher m = Pattern.compile("(?<![\\w/.])docs/[\\w.-]+").matcher(readme);
        int named = 0;
        while (m.find()) {
            assertTrue(Files.isRegularFile(root().resolve(m.group())), m.group() + " is named by the README and ships");
            named++;
        }
        assertTrue(named >= 2, "docs/SPEC.md and docs/story.txt are named");
        Path shared = root().getParent().resolve("shared/SPEC.md");
        Assumptions.assumeTrue(Files.isRegularFile(shared), "no shared SPEC.md beside this checkout");
        assertEquals(Files.readString(shared), Files.readString(root().resolve("docs/SPEC.md")),
                "docs/SPEC.md is the shared SPEC.md as it is now");
    }

    /** The README's perplexity line and its GGUF block, on the only GGUF a newcomer can make (context 512). */
    @Test
    void theReadmesModelExamplesRunAsWritten() throws Exception {
        String story = root().resolve("docs/story.txt").toString();
        CliRun r = CliRun.run("perplexity", "--text", story, "--attention", "hsr", "--kind", "softmax", "--select",
                "top:32");
        assertEquals(0, r.code(), r.err());
        Path gguf = tmp.resolve("stories260K-q8_0.gguf");
        assertEquals(0, CliRun.run("convert", "--type", "q8_0", "--out", gguf.toString()).code());
        r = CliRun.run("generate", "--model", gguf.toString(), "--prompt", "Once upon a time", "--context", "512",
                "--kv", "bf16", "--attention", "hsr", "--select", "epsilon:1e-3", "--steps", "8");
        assertEquals(0, r.code(), r.err());
        r = CliRun.run("perplexity", "--model", gguf.toString(), "--text", story, "--attention", "hsr", "--select",
                "top:64");
        assertEquals(0, r.code(), r.err());
    }

    /** FAISS rows showed "max rel err NaN" with no word of why. */
    @Test
    void faissRowsShowADashAndSayWhy() {
        Map<String, Object> faiss = new LinkedHashMap<>(Map.of("n", 8192, "method", "faiss", "ms_median", 0.4,
                "keys_touched_frac", 1.0, "kept_frac", 0.03, "max_rel_err", Double.NaN));
        Map<String, Object> dense = new LinkedHashMap<>(faiss);
        dense.put("method", "dense");
        dense.put("max_rel_err", 4.7e-7);
        String table = Report.markdown(List.of(dense, faiss));
        assertFalse(table.contains("NaN"), table);
        assertTrue(table.contains("| faiss | 0.400 | 1.00x | 100.00% | 3.00% | - |"), table);
        assertTrue(table.contains("computes no attention output"), table);
    }
}
