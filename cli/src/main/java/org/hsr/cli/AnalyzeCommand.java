package org.hsr.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.Selection;
import org.hsr.io.NpyArray;
import org.hsr.kv.KvCache;
import org.hsr.kv.KvShape;
import org.hsr.model.AttentionBackend;
import org.hsr.model.Llama2Config;
import org.hsr.model.Transformer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code hsr analyze}: how sparse a model's attention is on a real text, head by head. The model runs over the text
 * (dense attention); at a few late decoding positions every (layer, kv head) reports the keys each query head needs
 * for 1−ε of its softmax mass (float64, from the stored keys), the group's union of those sets, what the index kept
 * when walked on every step ({@link KvCache.Method#WALK}), what the per-head plan ({@link KvCache.Method#HSR}) chose,
 * and the time of one step by each method. Output: a table, JSON, an HTML page of heat maps (layers × heads), and
 * optionally the post-RoPE q, k and v of chosen layers as {@code .npy} files for {@code hsr bench decode}.
 */
@Command(name = "analyze", mixinStandardHelpOptions = true,
        description = "Per-head sparsity of a model's attention on a text: keys needed for 1-eps of the softmax mass, "
                + "what the index keeps, what the per-head plan chooses, and step times (dense, walk, hsr).")
final class AnalyzeCommand implements Callable<Integer> {

    @Option(names = "--model", paramLabel = "M", description = "GGUF or llama2.c model (default: the embedded stories260K)")
    Path model;
    @Option(names = "--tokenizer", paramLabel = "T", description = "llama2.c tokenizer file (default: the model's)")
    Path tokenizer;
    @Option(names = "--text", required = true, paramLabel = "FILE",
            description = "UTF-8 text to run (BOS is prepended; one final line break is ignored; cut to the context)")
    Path text;
    @Option(names = "--context", defaultValue = "0", paramLabel = "N",
            description = "positions to run at most (default: the model's context, GGUF capped as in perplexity)")
    int context;
    @Option(names = "--select", defaultValue = "epsilon:1e-3", paramLabel = "epsilon:E",
            description = "the softmax mass to keep, 1-E, and the walk's selection (default: ${DEFAULT-VALUE})")
    String select;
    @Option(names = "--kv", paramLabel = "TYPE", description = "KV storage fp32, bf16 or fp16 (default: as perplexity)")
    String kv;
    @Option(names = "--threads", paramLabel = "T", description = "matmul threads (default: the available processors)")
    Integer threads;
    @Option(names = "--positions", split = ",", paramLabel = "P",
            description = "0-based decoding positions to analyse (default: the last --last positions)")
    int[] positions;
    @Option(names = "--last", defaultValue = "16", paramLabel = "R",
            description = "without --positions, analyse the last R positions (default: ${DEFAULT-VALUE})")
    int last;
    @Option(names = "--repeat", defaultValue = "5", paramLabel = "R",
            description = "timed calls of dense and walk per step, median taken (default: ${DEFAULT-VALUE})")
    int repeat;
    @Option(names = "--json", paramLabel = "F", description = "results JSON file") Path json;
    @Option(names = "--html", paramLabel = "F", description = "HTML page of heat maps (self-contained)") Path html;
    @Option(names = "--dump-dir", paramLabel = "DIR",
            description = "write L<l>.kv<g>.{q,k,v}.npy of --dump-layers there (q: group heads x rows x d; k, v: 1 x n x d)")
    Path dumpDir;
    @Option(names = "--dump-layers", split = ",", paramLabel = "L", description = "layers to dump (default: all)")
    int[] dumpLayers;

    /** Steps before the first analysed position on which the per-head plan already runs, so it has its history. */
    static final int PLAN_WARMUP = 256;

    @Override
    public Integer call() throws Exception {
        double eps = epsilon(select);
        CliIO.requirePositive(last, "--last");
        CliIO.requirePositive(repeat, "--repeat");
        if (dumpLayers != null && dumpDir == null) throw new UsageException("--dump-layers needs --dump-dir");
        if (dumpDir != null && !Files.isDirectory(dumpDir)) {
            throw new UsageException("--dump-dir " + dumpDir + ": not a directory");
        }
        ModelOptions mo = new ModelOptions();
        mo.model = model;
        mo.tokenizer = tokenizer;
        mo.context = context;
        mo.kv = kv;
        mo.threads = threads;
        List<CliIO.Named> inputs = new ArrayList<>(mo.inputs());
        inputs.add(CliIO.named("--text", text));
        CliIO.checkOutputs(inputs, List.of(CliIO.named("--json", json), CliIO.named("--html", html)));
        String s = PerplexityCommand.readText(text);
        try (ModelOptions.Loaded loaded = mo.load()) {
            Llama2Config c = loaded.model().config();
            int[] all = loaded.tokenizer().encode(s); // the GGUF tokenizer honours add_space_prefix
            int n = Math.min(all.length, c.seqLen());
            int[] tokens = Arrays.copyOf(all, n);
            int[] rows = rows(n);
            int[] layers = dumpLayers(c.nLayers());
            List<CliIO.Named> outs = new ArrayList<>(List.of(CliIO.named("--json", json), CliIO.named("--html", html)));
            for (int l : layers) {
                for (int g = 0; g < c.nKvHeads(); g++) {
                    for (String part : List.of("q", "k", "v")) outs.add(CliIO.named("--dump-dir", dumpFile(l, g, part)));
                }
            }
            CliIO.checkOutputs(inputs, outs);
            if (all.length > n) {
                System.out.printf("hsr analyze: the text has %d tokens; running the first %d (the context)%n",
                        all.length, n);
            }
            return analyze(loaded, tokens, rows, eps, layers);
        }
    }

    private int analyze(ModelOptions.Loaded loaded, int[] tokens, int[] rows, double eps, int[] layers)
            throws Exception {
        Llama2Config c = loaded.model().config();
        int n = tokens.length;
        Run run = new Run(c, loaded.kv(), select, rows, repeat);
        Transformer t = new Transformer(loaded.model(), run);
        long t0 = System.nanoTime();
        for (int p = 0; p < n; p++) {
            run.position = p;
            t.forward(tokens[p], p);
        }
        double forwardS = (System.nanoTime() - t0) / 1e9;
        System.out.printf(Locale.ROOT, "hsr analyze: %d tokens through %d layers in %.1f s; %d decoding rows at "
                + "positions %d..%d, epsilon %s%n", n, c.nLayers(), forwardS, rows.length, rows[0], rows[rows.length - 1],
                eps);

        List<HeadReport> heads = new ArrayList<>();
        CliIO.Outputs outputs = new CliIO.Outputs();
        int d = c.headSize(), group = c.nHeads() / c.nKvHeads();
        for (int l = 0; l < c.nLayers(); l++) {
            for (int g = 0; g < c.nKvHeads(); g++) {
                float[] keys = new float[n * d];
                for (int p = 0; p < n; p++) run.caches[g].readKey(l, 0, p, keys, p * d);
                heads.add(run.report(l, g, keys, eps));
                if (contains(layers, l)) {
                    float[] values = new float[n * d];
                    for (int p = 0; p < n; p++) run.caches[g].readValue(l, 0, p, values, p * d);
                    outputs.npy(dumpFile(l, g, "q"), NpyArray.ofFloats(run.groupQueries(l, g), group, rows.length, d));
                    outputs.npy(dumpFile(l, g, "k"), NpyArray.ofFloats(keys, 1, n, d));
                    outputs.npy(dumpFile(l, g, "v"), NpyArray.ofFloats(values, 1, n, d));
                }
            }
        }
        run.close();

        Map<String, Object> js = new LinkedHashMap<>();
        js.put("model", loaded.model().source());
        js.put("format", loaded.format());
        js.put("text_file", text.toString());
        js.put("tokens", n);
        js.put("layers", c.nLayers());
        js.put("heads", c.nHeads());
        js.put("kv_heads", c.nKvHeads());
        js.put("head_dim", d);
        js.put("kv", loaded.kv().label());
        js.put("select", select);
        js.put("epsilon", eps);
        js.put("positions", rows);
        js.put("forward_s", forwardS);
        js.put("machine", Report.machine());
        js.put("java", System.getProperty("java.version"));
        js.put("date", java.time.Instant.now().toString());
        List<Map<String, Object>> list = new ArrayList<>();
        for (HeadReport h : heads) list.add(h.json());
        js.put("results", list);

        System.out.print(table(heads, eps));
        if (json != null) outputs.json(json, js);
        if (html != null) outputs.text(html, AnalyzePage.html(js));
        outputs.write();
        if (dumpDir != null) {
            System.out.printf("hsr analyze: wrote q, k, v of layer(s) %s to %s (q rows at the positions above)%n",
                    Arrays.toString(layers), dumpDir);
        }
        return 0;
    }

    private Path dumpFile(int layer, int kvHead, String part) {
        return dumpDir.resolve("L" + layer + ".kv" + kvHead + "." + part + ".npy");
    }

    private static boolean contains(int[] a, int v) {
        for (int x : a) if (x == v) return true;
        return false;
    }

    /** The E of {@code epsilon:E}; a usage error for any other selection. */
    static double epsilon(String select) {
        Selection sel;
        try {
            sel = Selection.parse(select);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--select: " + e.getMessage());
        }
        if (!(sel instanceof Selection.Epsilon(double e))) {
            throw new UsageException("--select must be epsilon:E (the mass to keep is 1-E), got " + select);
        }
        return e;
    }

    /** The analysed positions: {@code --positions} (checked, sorted, distinct) or the last {@code --last}. */
    private int[] rows(int n) {
        if (positions == null) {
            int r = Math.min(last, n);
            int[] out = new int[r];
            for (int i = 0; i < r; i++) out[i] = n - r + i;
            return out;
        }
        TreeSet<Integer> set = new TreeSet<>();
        for (int p : positions) {
            if (p < 0 || p >= n) {
                throw new UsageException("--positions: position " + p + " not in [0, " + n + ") (the text runs " + n
                        + " tokens)");
            }
            set.add(p);
        }
        return set.stream().mapToInt(Integer::intValue).toArray();
    }

    private int[] dumpLayers(int nLayers) {
        if (dumpDir == null) return new int[0];
        if (dumpLayers == null) {
            int[] all = new int[nLayers];
            for (int i = 0; i < nLayers; i++) all[i] = i;
            return all;
        }
        TreeSet<Integer> set = new TreeSet<>();
        for (int l : dumpLayers) {
            if (l < 0 || l >= nLayers) {
                throw new UsageException("--dump-layers: layer " + l + " not in [0, " + nLayers + ")");
            }
            set.add(l);
        }
        return set.stream().mapToInt(Integer::intValue).toArray();
    }

    /** The per-head table printed on stdout. */
    static String table(List<HeadReport> heads, double eps) {
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "keys needed for 1-%s of the softmax mass, %% of the visible keys "
                + "(median over rows, p90 in brackets); walk: the index on every step; hsr: the per-head plan%n", eps));
        b.append(String.format(Locale.ROOT, "%5s %3s  %-30s %13s %9s %9s %8s %8s %8s %8s %8s%n", "layer", "kv",
                "needed per query head", "group union", "walk kept", "scored", "fallback", "hsr dense",
                "dense ms", "walk ms", "hsr ms"));
        for (HeadReport h : heads) {
            StringBuilder need = new StringBuilder();
            for (int i = 0; i < h.neededMedian.length; i++) {
                if (i > 0) need.append(' ');
                need.append(pct(h.neededMedian[i]));
            }
            b.append(String.format(Locale.ROOT, "%5d %3d  %-30s %6s (%4s) %9s %9s %8d %8s %8.3f %8.3f %8.3f%n",
                    h.layer, h.kvHead, need, pct(h.unionMedian), pct(h.unionP90), pct(h.walk.keptFraction()),
                    pct(h.walk.keysTouchedFraction()), h.walk.fallbackRows,
                    pct(h.hsr.rows == 0 ? 0 : (double) h.hsr.denseChosenRows / h.hsr.rows), h.denseMs, h.walkMs,
                    h.hsrMs));
        }
        return b.toString();
    }

    private static String pct(double f) {
        double p = 100 * f;
        return String.format(Locale.ROOT, p < 9.95 ? "%.1f%%" : "%.0f%%", p);
    }

    /**
     * What one (layer, kv head) showed at the analysed rows.
     *
     * @param neededMedian per query head of the group, the median over rows of the fraction of visible keys needed
     *                     for 1−ε of the row's softmax mass
     * @param neededP90    the same, 90th percentile over rows
     * @param neededKeys   per query head and row, the number of keys needed
     * @param unionMedian  the median over rows of the group union's size over the visible keys
     */
    record HeadReport(int layer, int kvHead, int firstHead, double[] neededMedian, double[] neededP90,
                      int[][] neededKeys, double unionMedian, double unionP90, AttentionStats walk, AttentionStats hsr,
                      double denseMs, double walkMs, double hsrMs) {

        Map<String, Object> json() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("layer", layer);
            m.put("kv_head", kvHead);
            int[] qh = new int[neededMedian.length];
            for (int i = 0; i < qh.length; i++) qh[i] = firstHead + i;
            m.put("query_heads", qh);
            m.put("needed_frac_median", neededMedian);
            m.put("needed_frac_p90", neededP90);
            m.put("needed_keys", neededKeys);
            m.put("union_frac_median", unionMedian);
            m.put("union_frac_p90", unionP90);
            m.put("walk_rows", walk.rows);
            m.put("walk_kept_frac", walk.keptFraction());
            m.put("walk_keys_touched_frac", walk.keysTouchedFraction());
            m.put("walk_fallback_rows", walk.fallbackRows);
            m.put("walk_dropped_mass_bound_max", walk.droppedMassBoundMax);
            m.put("hsr_rows", hsr.rows);
            m.put("hsr_dense_chosen_rows", hsr.denseChosenRows);
            m.put("hsr_dense_chosen_frac", hsr.rows == 0 ? 0.0 : (double) hsr.denseChosenRows / hsr.rows);
            m.put("hsr_kept_frac", hsr.keptFraction());
            m.put("hsr_keys_touched_frac", hsr.keysTouchedFraction());
            m.put("hsr_fallback_rows", hsr.fallbackRows);
            m.put("dense_ms", denseMs);
            m.put("walk_ms", walkMs);
            m.put("hsr_ms", hsrMs);
            return m;
        }
    }

    /**
     * The attention of the forward pass, one {@link KvCache} per kv head (so that statistics and times are per head):
     * dense for the model's output; at the analysed positions also walked and planned, timed, and the queries kept.
     */
    static final class Run implements AttentionBackend, AutoCloseable {
        final KvCache[] caches; // per kv head: (layers, group query heads, 1 kv head)
        final int[] rows;
        final int layers, group, d, repeat;
        int position;
        private final int warmFrom;
        private final float[] scratch; // group × d: outputs of the calls that only measure
        private final float[][][] queries; // [layer][row] heads × d
        private final AttentionStats[][] walk, hsr; // [layer][kv head]
        private final double[][][] denseMs, walkMs, hsrMs; // [layer][kv head][row]

        Run(Llama2Config c, org.hsr.store.ElementType type, String select, int[] rows, int repeat) {
            this.rows = rows;
            this.layers = c.nLayers();
            this.group = c.nHeads() / c.nKvHeads();
            this.d = c.headSize();
            this.repeat = repeat;
            this.warmFrom = Math.max(0, rows[0] - PLAN_WARMUP);
            KvShape shape = KvShape.of(layers, group, 1, d, type);
            caches = new KvCache[c.nKvHeads()];
            for (int g = 0; g < caches.length; g++) {
                caches[g] = KvCache.builder(shape).attention(AttentionConfig.softmax(false))
                        .selection(Selection.parse(select)).method(KvCache.Method.HSR).build();
            }
            scratch = new float[group * d];
            queries = new float[layers][rows.length][];
            walk = new AttentionStats[layers][caches.length];
            hsr = new AttentionStats[layers][caches.length];
            for (int l = 0; l < layers; l++) {
                for (int g = 0; g < caches.length; g++) {
                    walk[l][g] = new AttentionStats();
                    hsr[l][g] = new AttentionStats();
                }
            }
            denseMs = new double[layers][caches.length][rows.length];
            walkMs = new double[layers][caches.length][rows.length];
            hsrMs = new double[layers][caches.length][rows.length];
        }

        @Override
        public void reset() {
            for (KvCache k : caches) {
                if (k.length(0) > 0) throw new IllegalStateException("one sequence per analysis");
            }
        }

        @Override
        public void append(int layer, float[] k, float[] v) {
            for (int g = 0; g < caches.length; g++) caches[g].append(layer, k, g * d, v, g * d, 1);
        }

        @Override
        public void attend(int layer, float[] q, float[] o) {
            int row = Arrays.binarySearch(rows, position);
            for (int g = 0; g < caches.length; g++) {
                int off = g * group * d;
                KvCache cache = caches[g];
                if (row < 0) {
                    cache.attend(layer, q, off, 1, o, off, KvCache.Method.DENSE, null);
                    // the per-head plan decides from its history: let it run the steps before the analysed ones
                    if (position >= warmFrom) cache.attend(layer, q, off, 1, scratch, 0, KvCache.Method.HSR, null);
                    continue;
                }
                cache.attend(layer, q, off, 1, o, off, KvCache.Method.DENSE, null); // the model's output, and warm-up
                cache.attend(layer, q, off, 1, scratch, 0, KvCache.Method.WALK, walk[layer][g]);
                // one planned step, as an engine takes it (timing it twice would advance the plan twice), on caches
                // as warm as the dense and walk calls timed below
                long s0 = System.nanoTime();
                cache.attend(layer, q, off, 1, scratch, 0, KvCache.Method.HSR, hsr[layer][g]);
                hsrMs[layer][g][row] = (System.nanoTime() - s0) / 1e6;
                double[] tDense = new double[repeat], tWalk = new double[repeat];
                for (int r = 0; r < repeat; r++) {
                    long a = System.nanoTime();
                    cache.attend(layer, q, off, 1, scratch, 0, KvCache.Method.DENSE, null);
                    long b = System.nanoTime();
                    cache.attend(layer, q, off, 1, scratch, 0, KvCache.Method.WALK, null);
                    long e = System.nanoTime();
                    tDense[r] = (b - a) / 1e6;
                    tWalk[r] = (e - b) / 1e6;
                }
                denseMs[layer][g][row] = CliIO.median(tDense);
                walkMs[layer][g][row] = CliIO.median(tWalk);
            }
            if (row >= 0) queries[layer][row] = q.clone();
        }

        /** The queries of kv head g's query heads at layer l: group × rows × d. */
        float[] groupQueries(int l, int g) {
            float[] a = new float[group * rows.length * d];
            for (int h = 0; h < group; h++) {
                for (int r = 0; r < rows.length; r++) {
                    System.arraycopy(queries[l][r], (g * group + h) * d, a, (h * rows.length + r) * d, d);
                }
            }
            return a;
        }

        /** The report of (layer l, kv head g), its keys ({@code n × d}, as stored) given. */
        HeadReport report(int l, int g, float[] keys, double eps) {
            double c = 1.0 / Math.sqrt(d);
            int[][] needed = new int[group][rows.length];
            double[][] frac = new double[group][rows.length];
            double[] union = new double[rows.length];
            for (int r = 0; r < rows.length; r++) {
                int visible = rows[r] + 1;
                boolean[] inUnion = new boolean[visible];
                int unionSize = 0;
                for (int h = 0; h < group; h++) {
                    int[] set = neededKeys(queries[l][r], (g * group + h) * d, keys, d, visible, c, eps);
                    needed[h][r] = set.length;
                    frac[h][r] = (double) set.length / visible;
                    for (int j : set) {
                        if (!inUnion[j]) {
                            inUnion[j] = true;
                            unionSize++;
                        }
                    }
                }
                union[r] = (double) unionSize / visible;
            }
            double[] med = new double[group], p90 = new double[group];
            for (int h = 0; h < group; h++) {
                med[h] = CliIO.median(frac[h]);
                p90[h] = quantile(frac[h], 0.9);
            }
            return new HeadReport(l, g, g * group, med, p90, needed, CliIO.median(union), quantile(union, 0.9),
                    walk[l][g], hsr[l][g], CliIO.median(denseMs[l][g]), CliIO.median(walkMs[l][g]),
                    CliIO.median(hsrMs[l][g]));
        }

        @Override
        public void close() {
            for (KvCache k : caches) k.close();
        }
    }

    /**
     * The smallest set of keys holding at least 1−ε of the softmax mass of query {@code q[qOff..qOff+d)} over the
     * first {@code visible} keys (scale c), computed in float64: the keys by descending probability until the kept
     * mass reaches 1−ε. Ids in that order.
     */
    static int[] neededKeys(float[] q, int qOff, float[] keys, int d, int visible, double c, double eps) {
        double[] s = new double[visible];
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < visible; j++) {
            double dot = 0;
            for (int i = 0; i < d; i++) dot += (double) q[qOff + i] * keys[j * d + i];
            s[j] = c * dot;
            max = Math.max(max, s[j]);
        }
        double sum = 0;
        for (int j = 0; j < visible; j++) {
            s[j] = Math.exp(s[j] - max);
            sum += s[j];
        }
        Integer[] order = new Integer[visible];
        for (int j = 0; j < visible; j++) order[j] = j;
        final double[] p = s;
        Arrays.sort(order, (a, b) -> p[b] != p[a] ? Double.compare(p[b], p[a]) : Integer.compare(a, b));
        double target = (1 - eps) * sum, kept = 0;
        int m = 0;
        while (m < visible && kept < target) kept += p[order[m++]];
        int[] ids = new int[m];
        for (int i = 0; i < m; i++) ids[i] = order[i];
        return ids;
    }

    /** The q-quantile of {@code x} (linear between order statistics). */
    static double quantile(double[] x, double q) {
        double[] s = x.clone();
        Arrays.sort(s);
        if (s.length == 0) return Double.NaN;
        double at = q * (s.length - 1);
        int lo = (int) Math.floor(at), hi = Math.min(s.length - 1, lo + 1);
        return s[lo] + (at - lo) * (s[hi] - s[lo]);
    }
}
