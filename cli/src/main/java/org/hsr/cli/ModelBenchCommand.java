package org.hsr.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.Selection;
import org.hsr.model.AttentionBackend;
import org.hsr.model.CacheFill;
import org.hsr.model.DenseSoftmaxAttention;
import org.hsr.model.HsrAttentionBackend;
import org.hsr.store.ElementType;
import org.hsr.model.Llama2Config;
import org.hsr.model.LlamaModel;
import org.hsr.model.Transformer;
import org.hsr.model.gguf.GgufConvert;
import org.hsr.model.gguf.GgufFile;
import org.hsr.model.gguf.GgufModel;
import org.hsr.model.tensor.GgmlType;
import org.hsr.model.tensor.TensorKernels;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code hsr model-bench}: decoding speed of a whole model at long cached contexts, ms per token split into matmuls
 * and attention, dense softmax against HSR over the same KV storage. The cache is filled by {@link CacheFill}'s
 * shortcut (the model's own K/V projections of random tokens, RoPE'd at their positions), then real forward steps
 * are timed at each context.
 */
@Command(name = "model-bench", mixinStandardHelpOptions = true,
        description = {"Decode with a model at long cached contexts: ms/token split into matmuls and attention, "
                + "dense vs hsr over the same KV storage.",
                "The cache is filled in bulk with the model's own K/V projections of random tokens (see README)."})
final class ModelBenchCommand implements Callable<Integer> {

    @Option(names = "--model", paramLabel = "M", description = "GGUF model file") Path model;
    @Option(names = "--random", paramLabel = "SHAPE",
            description = "instead of --model: write a random-weight model of this shape to a temporary file")
    String random;
    @Option(names = "--type", defaultValue = "q8_0", description = "matrix type of --random (default: ${DEFAULT-VALUE})")
    String type;
    @Option(names = "--n", split = ",", defaultValue = "4096,16384,32768",
            description = "cached positions to decode at (default: ${DEFAULT-VALUE})")
    List<Integer> ns;
    @Option(names = "--steps", defaultValue = "3", description = "timed tokens per context, after one untimed (default: ${DEFAULT-VALUE})")
    int steps;
    @Option(names = "--kv", defaultValue = "bf16", description = "KV storage fp32, bf16 or fp16 (default: ${DEFAULT-VALUE})")
    String kv;
    @Option(names = "--select", split = ",", defaultValue = "top:256,epsilon:0.05",
            description = "hsr softmax selections, each run as its own method (default: ${DEFAULT-VALUE})")
    List<String> selects;
    @Option(names = "--no-dense", description = "skip the dense baseline") boolean noDense;
    @Option(names = "--pool", defaultValue = "512", description = "distinct random tokens of the bulk fill (default: ${DEFAULT-VALUE})")
    int pool;
    @Option(names = "--threads", description = "matmul threads (default: the available processors)") Integer threads;
    @Option(names = "--json", paramLabel = "F", description = "results JSON file") Path json;

    @Override
    public Integer call() throws Exception {
        CliIO.checkOutputs(List.of(CliIO.named("--model", model)), List.of(CliIO.named("--json", json)));
        CliIO.requirePositive(steps, "--steps");
        CliIO.requirePositive(pool, "--pool");
        ElementType storage = ModelOptions.kvStorage(kv);
        List<Integer> sorted = new ArrayList<>(new TreeSet<>(ns));
        for (int n : sorted) CliIO.requirePositive(n, "--n");
        for (String s : selects) {
            try {
                Selection.parse(s);
            } catch (IllegalArgumentException e) {
                throw new UsageException("--select: " + e.getMessage());
            }
        }
        if ((model == null) == (random == null)) {
            throw new UsageException("give exactly one of --model or --random");
        }
        int t = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        CliIO.requirePositive(t, "--threads");
        // every flag is checked before the random model is written (minutes for a real shape)
        GgufConvert.Shape shape = random == null ? null : ConvertCommand.shape(random);
        GgmlType matrixType = ConvertCommand.type(type);
        int context = checkContext(sorted.getLast(), shape != null ? shape.context() : modelContext(model));
        Path file = model;
        Path tmp = null;
        try {
            if (random != null) {
                tmp = Files.createTempFile(TEMP_PREFIX + ProcessHandle.current().pid() + "-", ".gguf");
                tmp.toFile().deleteOnExit(); // also on SIGINT/SIGTERM, which skip the finally below
                deleteStaleModels(tmp.getParent());
                long t0 = System.nanoTime();
                GgufConvert.writeRandom(shape, matrixType, 1, tmp);
                System.err.printf("hsr model-bench: wrote random %s %s (%d MB) in %.0f s%n", random, type,
                        Files.size(tmp) >> 20, (System.nanoTime() - t0) / 1e9);
                file = tmp;
            }
            try (LlamaModel m = GgufModel.load(file, context, t)) {
                return run(m, sorted, storage, t);
            }
        } finally {
            if (tmp != null) Files.deleteIfExists(tmp);
        }
    }

    /** The random model's temporary file: {@code hsr-bench-<pid>-<random>.gguf} in the temporary directory. */
    static final String TEMP_PREFIX = "hsr-bench-";
    private static final Pattern TEMP_NAME = Pattern.compile("hsr-bench-(\\d+)-\\d+\\.gguf");

    /** Deletes the random models (gigabytes) that a killed model-bench left in {@code dir}: those whose process is gone. */
    static void deleteStaleModels(Path dir) {
        try (var files = Files.newDirectoryStream(dir, TEMP_PREFIX + "*.gguf")) {
            for (Path f : files) {
                var m = TEMP_NAME.matcher(f.getFileName().toString());
                if (m.matches() && ProcessHandle.of(Long.parseLong(m.group(1))).filter(ProcessHandle::isAlive).isEmpty()) {
                    Files.deleteIfExists(f);
                }
            }
        } catch (java.io.IOException | RuntimeException ignored) {
            // best effort: another run may be deleting the same files
        }
    }

    /**
     * The positions the run needs: the largest {@code --n} cached, one untimed step and {@code --steps} timed ones.
     * Refused, naming the flags, when the model's context is smaller.
     */
    int checkContext(int maxN, int modelContext) {
        long need = (long) maxN + steps + 1;
        if (need > modelContext) {
            throw new UsageException("--n " + maxN + " needs " + need + " positions (n, one untimed step and --steps "
                    + steps + "), the model's context is " + modelContext + ": use --n " + Math.max(1, modelContext
                    - steps - 1) + " or less");
        }
        return (int) need;
    }

    /** The context length a GGUF model file declares ({@code <arch>.context_length}, 2048 when absent, as the load). */
    private static int modelContext(Path model) throws java.io.IOException {
        if (!Files.isRegularFile(model) || !GgufFile.isGguf(model)) return Integer.MAX_VALUE; // the load says why
        try (GgufFile f = GgufFile.open(model)) {
            return f.getInt(f.getString("general.architecture", "llama") + ".context_length", 2048);
        }
    }

    private int run(LlamaModel m, List<Integer> sorted, ElementType storage, int t) throws Exception {
        Llama2Config c = m.config();
        long t0 = System.nanoTime();
        CacheFill fill = new CacheFill(m, pool, 42);
        double poolMs = (System.nanoTime() - t0) / 1e6;
        System.err.printf("hsr model-bench: %s, %d layers, %d/%d heads, head size %d, kv %s, %d threads, kernels %s; "
                + "fill pool of %d tokens in %.0f ms%n", m.source(), c.nLayers(), c.nHeads(), c.nKvHeads(),
                c.headSize(), storage.label(), t, TensorKernels.impl().name(), pool, poolMs);
        List<String> methods = new ArrayList<>();
        if (!noDense) methods.add("dense");
        for (String s : selects) methods.add("hsr " + s);
        List<Map<String, Object>> results = new ArrayList<>();
        for (String method : methods) {
            AttentionBackend backend = (method.equals("dense") ? new DenseSoftmaxAttention(c)
                    : new HsrAttentionBackend(c, AttentionConfig.softmax(true), Selection.parse(method.substring(4))))
                    .storing(storage);
            Transformer tr = new Transformer(m, backend);
            int length = 0;
            double fillMs = 0;
            for (int n : sorted) {
                long f0 = System.nanoTime();
                fill.fill(backend, length, n);
                fillMs += (System.nanoTime() - f0) / 1e6;
                length = n;
                // one untimed step, then the timed ones
                tr.resumeAt(length);
                tr.forward(7, length++);
                long mm0 = tr.matmulNanos(), at0 = tr.attentionNanos();
                AttentionStats before = copy(backend.stats());
                long s0 = System.nanoTime();
                for (int s = 0; s < steps; s++) {
                    tr.forward(8 + s, length++);
                }
                double total = (System.nanoTime() - s0) / 1e6 / steps;
                double matmul = (tr.matmulNanos() - mm0) / 1e6 / steps;
                double attention = (tr.attentionNanos() - at0) / 1e6 / steps;
                AttentionStats after = backend.stats();
                double kept = after == null ? Double.NaN
                        : (double) (after.keptKeys - before.keptKeys) / (after.visibleKeys - before.visibleKeys);
                double touched = after == null ? Double.NaN
                        : (double) (after.scoredKeys - before.scoredKeys) / (after.visibleKeys - before.visibleKeys);
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("method", method);
                r.put("n", n);
                r.put("ms_per_token", total);
                r.put("matmul_ms", matmul);
                r.put("attention_ms", attention);
                r.put("other_ms", total - matmul - attention);
                r.put("kept_frac", kept);
                r.put("keys_touched_frac", touched);
                r.put("fallback_rows_frac", after == null ? Double.NaN
                        : (double) (after.fallbackRows - before.fallbackRows) / (after.rows - before.rows));
                r.put("dropped_mass_bound_max", after == null ? Double.NaN : after.droppedMassBoundMax);
                r.put("fill_ms_so_far", fillMs);
                results.add(r);
                System.out.printf("%-18s n=%6d  %8.1f ms/token = matmul %7.1f + attention %7.1f + other %5.1f   "
                        + "kept %.4f  scored %.4f  dense-fallback rows %.3f%n", method, n, total, matmul, attention,
                        total - matmul - attention, kept, touched, r.get("fallback_rows_frac"));
                System.out.flush();
            }
        }
        if (json != null) {
            Map<String, Object> js = new LinkedHashMap<>();
            js.put("model", m.source());
            js.put("layers", c.nLayers());
            js.put("heads", c.nHeads());
            js.put("kv_heads", c.nKvHeads());
            js.put("d", c.headSize());
            js.put("kv", storage.label());
            js.put("threads", t);
            js.put("steps", steps);
            js.put("fill", "CacheFill: K/V projections of " + pool + " random tokens per layer, RoPE at position");
            js.put("tensor_kernels", TensorKernels.impl().name());
            js.put("results", results);
            new CliIO.Outputs().json(json, js).write();
        }
        return 0;
    }

    private static AttentionStats copy(AttentionStats s) {
        if (s == null) return null;
        AttentionStats c = new AttentionStats();
        c.visibleKeys = s.visibleKeys;
        c.scoredKeys = s.scoredKeys;
        c.keptKeys = s.keptKeys;
        c.rows = s.rows;
        c.fallbackRows = s.fallbackRows;
        return c;
    }
}
