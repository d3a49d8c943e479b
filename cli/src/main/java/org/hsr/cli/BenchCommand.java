package org.hsr.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import org.hsr.attention.BiasRule;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionInput;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.DenseAttention;
import org.hsr.attention.DenseReference;
import org.hsr.attention.HsrAttention;
import org.hsr.attention.Selection;
import org.hsr.attention.SparseAttention;
import org.hsr.attention.baseline.QuestAttention;
import org.hsr.attention.prefill.TiledPrefill;
import org.hsr.attention.baseline.SinkWindowAttention;
import org.hsr.index.BlockIndex;
import org.hsr.index.FlatIndex;
import org.hsr.index.HalfSpaceIndex;
import org.hsr.kv.KvCache;
import org.hsr.kv.KvShape;
import org.hsr.store.ElementType;
import org.hsr.vector.Vectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code hsr bench decode|prefill}: every method times the same queries on the same data in this process, after
 * warm-up (SPEC §7). Methods: {@code dense} (SIMD dense attention), {@code flat} (exact scan + sparse value sum),
 * {@code hsr} (the block index). Errors are measured against the float64 dense reference.
 *
 * <p>Data: a synthetic workload ({@code --dist}) or the user's arrays (SPEC §8: {@code --keys K.npy --query-file
 * Q.npy [--values V.npy]}), of which each n of {@code --n} takes the first n keys. {@code --queries} stays the
 * <em>number</em> of queries timed, so the query file has its own flag.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Benchmark dense, flat and hsr attention and their peers side by side, in one process.",
                "decode: one query per step; prefill: causal m = n; sparsity: active keys per row vs n under the "
                        + "paper's bias (fitted exponent vs 4/5); error: dropped mass and output error of every "
                        + "softmax policy vs its kept fraction."})
final class BenchCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "decode, prefill, sparsity, error or engine") String workload;
    @Option(names = "--layers", defaultValue = "32", description = "engine: layers (default ${DEFAULT-VALUE}, Llama-3-8B)") int layers;
    @Option(names = "--heads", defaultValue = "32", description = "engine: query heads (default ${DEFAULT-VALUE})") int heads;
    @Option(names = "--kv-heads", defaultValue = "8", description = "engine: kv heads (default ${DEFAULT-VALUE})") int kvHeads;
    @Option(names = "--n", split = ",", description = "key counts (default decode 8192,32768,131072; prefill 2048,4096,8192)") List<Integer> ns;
    @Option(names = "--d", paramLabel = "D", description = "head dimension (default 128; with --keys it comes from the file)")
    Integer dOption;
    @Option(names = "--dist", paramLabel = "DIST", description = "gaussian (default) or llm (synthetic); not with --keys")
    String distOption;
    @Option(names = "--keys", paramLabel = "K.npy", description = "user keys, n x d .npy (float32/float64), instead "
            + "of --dist; each n of --n takes the first n keys (default: all of them)") Path keysFile;
    @Option(names = "--query-file", paramLabel = "Q.npy", description = "user queries, m x d .npy, required with --keys "
            + "(decode, sparsity, error: --queries of them, evenly spaced; prefill: the first n)") Path queryFile;
    @Option(names = "--values", paramLabel = "V.npy", description = "user values, n x dv .npy, with --keys (default: "
            + "N(0,1) with seed " + Workloads.USER_VALUES_SEED + ")") Path valuesFile;
    @Option(names = "--kind", defaultValue = "relu", description = "relu or softmax (default: ${DEFAULT-VALUE})") String kind;
    @Option(names = "--select", defaultValue = "epsilon:1e-3", description = "softmax selection (default: ${DEFAULT-VALUE})") String select;
    @Option(names = "--budget", description = "token budget of the quest and window peers (default n/32)") Integer budget;
    @Option(names = "--no-faiss", description = "skip the FAISS peer") boolean noFaiss;
    @Option(names = "--cold", description = "decode: evict the caches before every timed row (untimed), as in a model "
            + "where every other head and layer runs between two steps of this one; by default rows run back to back "
            + "and an index small enough for the last-level cache stays there") boolean cold;
    @Option(names = "--queries", defaultValue = "16", paramLabel = "N", converter = QueryCount.class,
            description = "number of decode queries timed per n (default: ${DEFAULT-VALUE}); a query FILE is --query-file")
    int queries;
    @Option(names = "--kv", defaultValue = "fp32", description = "storage type of the keys and values of dense and hsr "
            + "(fp32, bf16, fp16; default: ${DEFAULT-VALUE}); the peers read fp32") String kv;
    @Option(names = "--threads", defaultValue = "1", description = "threads of the prefill methods and of the NumPy "
            + "peer's OpenBLAS, and of bench engine (other workloads: 1 only)") int threads;
    @Option(names = "--repeat", defaultValue = "3", description = "prefill: timed runs per method after one warm-up "
            + "(default: ${DEFAULT-VALUE})") int repeat;
    @Option(names = "--no-numpy", description = "prefill: skip the NumPy/OpenBLAS peer") boolean noNumpy;
    @Option(names = "--quick", description = "small sizes, finishes within a minute") boolean quick;
    @Option(names = "--steps", defaultValue = "0", description = "engine: also time this many decoding steps (append "
            + "and attend, one token at a time) after the cached positions: ms per token p50, p99, max per method")
    int steps;
    @Option(names = "--json", description = "results JSON file") Path json;
    @Option(names = "--html", description = "HTML report file") Path html;

    /** Untimed warm-up per method and n in decode: at least WARMUP_MS, and WARMUP_ROWS rows per method in all. */
    static final long WARMUP_MS = 250, WARMUP_MAX_MS = 3000, WARMUP_ROWS = 20_000;
    /** Timed passes over the queries per method and n in decode (a shared machine makes single passes noisy). */
    static final int TIMED_PASSES = 5;

    ElementType kvType; // --kv
    int d; // head dimension: --d, or the user keys' (resolved in call)
    String dist; // "gaussian", "llm" or "user:<key file name>"
    Workloads.UserData user; // null without --keys
    private final Map<String, Long> warmRows = new java.util.HashMap<>(); // decode rows run untimed, per method

    @Override
    public Integer call() throws Exception {
        if (!List.of("decode", "prefill", "sparsity", "error", "engine").contains(workload)) {
            throw new UsageException("bench workload must be decode, prefill, sparsity, error or engine, got " + workload);
        }
        if (ns != null && ns.isEmpty()) throw new UsageException("--n: no key count given");
        if (budget != null && budget < WINDOW_SINK) {
            // checked for every --kind (ReLU runs no budgeted peer, but a budget below the limit is wrong either way)
            throw new UsageException("--budget must be >= " + WINDOW_SINK + " (the window peer keeps " + WINDOW_SINK
                    + " sink tokens), got " + budget);
        }
        if (workload.equals("engine")) return engine();
        if (distOption != null && !distOption.equals("gaussian") && !distOption.equals("llm")) {
            throw new UsageException("--dist must be gaussian or llm, got " + distOption);
        }
        if (keysFile != null && distOption != null) throw new UsageException("give --dist or --keys, not both");
        if ((keysFile == null) != (queryFile == null)) throw new UsageException("--keys and --query-file go together");
        if (valuesFile != null && keysFile == null) throw new UsageException("--values needs --keys and --query-file");
        CliIO.requirePositive(threads, "--threads");
        CliIO.requirePositive(repeat, "--repeat");
        if (threads != 1 && !workload.equals("prefill")) {
            throw new UsageException("--threads: only prefill runs on more than one thread, got " + threads);
        }
        if (dOption != null) CliIO.requirePositive(dOption, "--d");
        kvType = CliIO.elementType(kv);
        CliIO.requirePositive(queries, "--queries");
        if (ns != null) for (int n : ns) CliIO.requirePositive(n, "--n");
        checkSizes(dOption != null ? dOption : 128);
        CliIO.checkOutputs(List.of(CliIO.named("--keys", keysFile), CliIO.named("--query-file", queryFile),
                CliIO.named("--values", valuesFile)), List.of(CliIO.named("--json", json), CliIO.named("--html", html)));
        boolean relu = switch (kind) {
            case "relu" -> true;
            case "softmax" -> false;
            default -> throw new UsageException("--kind must be relu or softmax, got " + kind);
        };
        Selection selection = relu ? null : Selection.parse(select);
        if (keysFile != null) {
            user = Workloads.load(keysFile, queryFile, valuesFile, dOption);
            d = user.d();
            checkSizes(Math.max(d, user.dv()));
            dist = "user:" + user.name();
            for (int n : ns != null ? ns : List.<Integer>of()) {
                if (n > user.keys()) throw new UsageException("--n " + n + " exceeds the " + user.keys() + " keys in " + keysFile);
                if (workload.equals("prefill") && n > user.queries()) {
                    throw new UsageException("prefill needs a query per key: " + queryFile + " has " + user.queries()
                            + " rows, --n " + n);
                }
            }
        } else {
            d = dOption != null ? dOption : 128;
            dist = distOption != null ? distOption : "gaussian";
        }
        boolean decode = workload.equals("decode");
        if (workload.equals("sparsity")) return Analyses.sparsity(this, quick);
        if (workload.equals("error")) return Analyses.error(this, quick);
        List<Integer> sizes = sizes(quick ? (decode ? List.of(4096, 8192, 16384) : List.of(1024, 2048, 4096))
                : decode ? List.of(8192, 32768, 131072) : List.of(2048, 4096, 8192));
        int nq = quick ? Math.min(queries, 8) : queries;
        List<String> methods = new ArrayList<>(decode ? List.of("dense", "flat", "hsr") : List.of("dense", "hsr"));
        if (!decode && !noNumpy) methods.add("numpy");
        if (!relu && decode) methods.addAll(List.of("quest", "window"));
        boolean faiss = decode && !noFaiss && (relu || selection instanceof Selection.Threshold);
        List<Map<String, Object>> results = new ArrayList<>();
        Progress progress = new Progress(sizes.size() * (methods.size() + (faiss ? 1 : 0)));
        Map<String, Object> bandwidth = new LinkedHashMap<>();
        for (int n : sizes) {
            Workloads.Data data = data(new SplittableRandom(n * 31L + d), n, decode ? nq : n, !decode);
            float bias = (float) BiasRule.paper(data.scoreStd(), n);
            AttentionConfig cfg = relu ? AttentionConfig.relu(1, bias, !decode) : AttentionConfig.softmax(!decode);
            double readGBs = readBandwidth(data, n);
            bandwidth.put(String.valueOf(n), readGBs);
            for (String method : methods) {
                Map<String, Object> row = decode ? decode(method, data, n, cfg, selection) : prefill(method, data, n, cfg, selection);
                if (row == null) { // a peer that could not run (the reason is printed)
                    progress.step(workload + " n=" + n + " " + method + " skipped");
                    continue;
                }
                double bytes = ((Number) row.get("bytes_per_query")).doubleValue();
                row.put("bandwidth_frac", bytes / ((Double) row.get("ms_median") * 1e-3) / 1e9 / readGBs);
                row.put("score_std", data.scoreStd());
                if (relu) row.put("bias", bias);
                results.add(row);
                progress.step(workload + " n=" + n + " " + method);
            }
            if (faiss) {
                float t = relu ? bias / cfg.scaleFor(d) : ((Selection.Threshold) selection).t() / cfg.scaleFor(d);
                FaissPeer.Result f = FaissPeer.rangeSearch(data.k(), n, data.q(), data.m(), d, t);
                if (f.skipped() == null) {
                    Map<String, Object> row = row("faiss", n, f.msPerQuery(), new AttentionStats(), Double.NaN, 0);
                    row.put("keys_touched_frac", 1.0);
                    row.put("kept_frac", (double) f.reported() / data.m() / n);
                    row.put("note", "FAISS IndexFlatIP.range_search, 1 thread, search time only (no attention)");
                    row.put("bytes_per_query", (double) n * d * 4);
                    row.put("bandwidth_frac", (double) n * d * 4 / (f.msPerQuery() * 1e-3) / 1e9 / readGBs);
                    results.add(row);
                } else {
                    System.err.println("\nhsr bench: " + f.skipped());
                }
                progress.step(workload + " n=" + n + " faiss");
            }
        }
        progress.done();
        if (!decode) speedups(results);
        Map<String, Object> js = header();
        js.put("kind", kind);
        js.put("threads", threads);
        if (decode) js.put("queries", user != null ? Math.min(nq, user.queries()) : nq);
        js.put("read_bandwidth_gbs", bandwidth);
        js.put("results", results);
        js.put("slopes", slopes(results));
        new CliIO.Outputs().json(json, js).text(html, html == null ? null : Report.html(js)).write();
        System.out.println(Report.markdown(results));
        return 0;
    }

    /** {@code hsr bench engine}: one decoding token of a whole model's attention, dense and hsr over one cache. */
    private int engine() throws java.io.IOException {
        if (keysFile != null) throw new UsageException("bench engine runs on --dist data, not --keys");
        if (distOption != null && !distOption.equals("gaussian") && !distOption.equals("llm")) {
            throw new UsageException("--dist must be gaussian or llm, got " + distOption);
        }
        CliIO.requirePositive(layers, "--layers");
        CliIO.requirePositive(heads, "--heads");
        CliIO.requirePositive(kvHeads, "--kv-heads");
        CliIO.requirePositive(threads, "--threads");
        if (steps < 0) throw new UsageException("--steps must be >= 0, got " + steps);
        if (heads % kvHeads != 0) throw new UsageException("--heads " + heads + " is not a multiple of --kv-heads " + kvHeads);
        if (ns != null && ns.size() != 1) throw new UsageException("bench engine takes one --n, got " + ns);
        int n = ns == null ? (quick ? 4096 : 32768) : ns.get(0);
        CliIO.requirePositive(n, "--n");
        int dd = dOption != null ? dOption : 128;
        CliIO.requirePositive(dd, "--d");
        long width = (long) kvHeads * dd; // a layer's keys are one array of n positions x kv heads x d
        if (n > MAX_ARRAY / width) {
            throw new UsageException("--n " + n + " is too large: " + n + " positions of " + width + " floats (--kv-heads "
                    + kvHeads + " x --d " + dd + ") exceed Java's array limit of " + MAX_ARRAY + " elements (at most "
                    + MAX_ARRAY / width + " positions here)");
        }
        CliIO.checkOutputs(List.of(), List.of(CliIO.named("--json", json)));
        boolean relu = switch (kind) {
            case "relu" -> true;
            case "softmax" -> false;
            default -> throw new UsageException("--kind must be relu or softmax, got " + kind);
        };
        var o = new EngineBench.Options(quick ? Math.min(layers, 4) : layers, heads, kvHeads, dd, n,
                CliIO.elementType(kv), threads, distOption != null ? distOption : "gaussian", relu,
                relu ? null : Selection.parse(select), steps);
        dist = o.dist();
        d = dd;
        Progress progress = new Progress(o.layers() + 2);
        Map<String, Object> js = EngineBench.run(o, progress);
        progress.done();
        Map<String, Object> all = header();
        all.putAll(js);
        new CliIO.Outputs().json(json, all).write();
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> results = (List<Map<String, Object>>) js.get("results");
        System.out.printf(java.util.Locale.ROOT, "%d layers x %d heads (%d kv heads), d = %d, n = %d, %s, %d thread(s)%n",
                o.layers(), heads, kvHeads, dd, n, o.kv().label(), threads);
        for (var r : results) {
            System.out.printf(java.util.Locale.ROOT, "%-6s %9.2f ms/token  %8.1f MB read/token  cache %7.1f MB  max rel err %.1e%n",
                    r.get("method"), (Double) r.get("ms_per_token"), (Double) r.get("bytes_per_token") / 1e6,
                    ((Number) r.get("cache_bytes")).doubleValue() / 1e6, (Double) r.get("max_rel_err"));
        }
        System.out.printf(java.util.Locale.ROOT, "hsr speed-up: %.2fx%n", (Double) js.get("hsr_speedup"));
        if (steps > 0) {
            System.out.printf(java.util.Locale.ROOT, "%d decoding steps after the %d cached positions (append + attend per "
                    + "layer), ms per token:%n", steps, n);
            for (var r : results) {
                System.out.printf(java.util.Locale.ROOT, "%-6s p50 %9.2f  p99 %9.2f  max %9.2f  (max / p50 %.2f)%n",
                        r.get("method"), (Double) r.get("step_ms_p50"), (Double) r.get("step_ms_p99"),
                        (Double) r.get("step_ms_max"), (Double) r.get("step_ms_max") / (Double) r.get("step_ms_p50"));
            }
        }
        return 0;
    }

    /** Keys the window peer always keeps (attention sinks); {@code --budget} must cover them. */
    static final int WINDOW_SINK = 4;

    /** The longest Java array (elements): a few below 2^31 - 1, which HotSpot reserves for the array header. */
    static final int MAX_ARRAY = Integer.MAX_VALUE - 8;

    /**
     * Refuses, before any work, a {@code --n} or {@code --queries} whose arrays Java cannot hold: keys, values and
     * queries are float arrays of n·width and queries·width elements ({@code width} the largest row length), and the
     * decode timings {@code TIMED_PASSES}·queries doubles.
     */
    private void checkSizes(int width) {
        long maxRows = MAX_ARRAY / width;
        if (ns != null) {
            for (int n : ns) {
                if (n > maxRows) {
                    throw new UsageException("--n " + n + " is too large: " + n + " keys of " + width + " floats exceed "
                            + "Java's array limit of " + MAX_ARRAY + " elements (at most " + maxRows + " keys here)");
                }
            }
        }
        long maxQueries = Math.min(maxRows, MAX_ARRAY / TIMED_PASSES);
        if (queries > maxQueries) {
            throw new UsageException("--queries " + queries + " is too large: at most " + maxQueries + " (" + width
                    + " floats per query and " + TIMED_PASSES + " timings each must fit Java's array limit of "
                    + MAX_ARRAY + " elements)");
        }
    }

    /** The sizes to run: {@code --n}, else all user keys (all that have a query too, for prefill), else the defaults. */
    List<Integer> sizes(List<Integer> synthetic) {
        if (ns != null) return ns;
        if (user == null) return synthetic;
        return List.of(workload.equals("prefill") ? Math.min(user.keys(), user.queries()) : user.keys());
    }

    /**
     * The data of one n: synthetic ({@code --dist}, drawn from {@code r}) or the user's first n keys with m of the
     * queries (the first m when {@code prefix}, else evenly spaced; fewer when the file has fewer). Use
     * {@link Workloads.Data#m()} for the count.
     */
    Workloads.Data data(SplittableRandom r, int n, int m, boolean prefix) {
        return user != null ? Workloads.user(user, n, m, prefix) : Workloads.make(dist, r, n, m, d);
    }

    /** The top of every bench JSON: what ran, on which data, machine, JDK and date. */
    Map<String, Object> header() {
        Map<String, Object> js = new LinkedHashMap<>();
        js.put("workload", workload);
        js.put("dist", dist + (dist.equals("llm") ? " (synthetic)" : ""));
        js.put("caches", cold ? "cold: evicted before every timed decode row" : "warm: rows back to back");
        if (user != null) {
            js.put("keys_file", keysFile.toString());
            js.put("query_file", queryFile.toString());
            js.put("values", user.valuesFrom());
            js.put("user_keys", user.keys());
            js.put("user_queries", user.queries());
            js.put("score_std_source", "measured: std of <q,k>/sqrt(d) over the keys, mean over the queries used "
                    + "(BiasRule.scoreStd)");
        }
        js.put("kernels", Vectors.kernels());
        js.put("tile_kernels", Vectors.tileKernels());
        js.put("java", System.getProperty("java.version"));
        js.put("java_vm", System.getProperty("java.vm.vendor") + " " + System.getProperty("java.vm.name"));
        js.put("machine", Report.machine());
        js.put("cpus", Runtime.getRuntime().availableProcessors());
        js.put("date", java.time.OffsetDateTime.now().withNano(0).toString());
        return js;
    }

    /** Plain SIMD streaming read of the keys and values (GB/s, median of 7): the machine's limit for this data. */
    private double readBandwidth(Workloads.Data data, int n) {
        double[] ms = new double[7];
        float sink = 0;
        for (int rep = -2; rep < ms.length; rep++) {
            long t0 = System.nanoTime();
            sink += Vectors.sum(data.k(), 0, n * d) + Vectors.sum(data.v(), 0, n * data.dv());
            if (rep >= 0) ms[rep] = (System.nanoTime() - t0) / 1e6;
        }
        if (sink == 42.4242f) System.err.print(""); // keeps the sums alive
        return (double) n * (d + data.dv()) * 4 / (CliIO.median(ms) * 1e-3) / 1e9;
    }

    private Map<String, Object> decode(String method, Workloads.Data data, int n, AttentionConfig cfg, Selection sel) {
        int nq = data.m(), dv = data.dv();
        float[] out = new float[dv];
        long t0 = System.nanoTime();
        // dense and hsr run over one engine cache of the --kv storage type (the index owns its only copy); the peers
        // (flat, quest, window) over the fp32 arrays
        KvCache cache = method.equals("dense") || method.equals("hsr") ? KvCache.builder(new KvShape(1, 1, 1, d, dv, kvType))
                .attention(cfg).selection(method.equals("hsr") ? sel : null)
                .method(method.equals("hsr") ? KvCache.Method.HSR : KvCache.Method.DENSE).build() : null;
        if (cache != null) cache.append(0, data.k(), 0, data.v(), 0, n);
        HalfSpaceIndex index = method.equals("flat") ? new FlatIndex(d) : null;
        if (index != null) index.add(data.k(), n);
        QuestAttention quest = method.equals("quest") ? new QuestAttention(data.k(), 0, n, d) : null;
        SinkWindowAttention window = method.equals("window") ? new SinkWindowAttention() : null;
        int tokens = budget != null ? budget : Math.max(64, n / 32);
        double buildMs = (System.nanoTime() - t0) / 1e6;
        float maxNorm = HsrAttention.maxNorm(data.k(), 0, n, d);
        var keys = index == null ? null : new SparseAttention.Keys(index, data.k(), 0, data.v(), 0, n, d, dv, maxNorm);
        SparseAttention sparse = new SparseAttention();
        float c = cfg.scaleFor(d);
        // one query row i through this method, counted into st (null: not counted). One lambda per method, so each is
        // its own class and the JIT compiles each method's path on its own: a single lambda branching over all methods
        // was compiled with every path inlined into one unit, hit C2's node budget, and ran the hsr kernels ~2x slower.
        RowFn attend;
        if (cache != null) {
            attend = (i, st) -> cache.attend(0, data.q(), i * d, 1, out, 0, st);
        } else if (quest != null) {
            attend = (i, st) -> quest.attendRow(data.q(), i * d, data.v(), 0, dv, tokens, c, out, 0, st);
        } else if (window != null) {
            attend = (i, st) -> window.attendRow(data.q(), i * d, data.k(), 0, data.v(), 0, n, d, dv, WINDOW_SINK,
                    tokens - WINDOW_SINK, c, out, 0, st);
        } else {
            attend = (i, st) -> sparse.attendRow(keys, n, data.q(), i * d, cfg, sel, out, 0, st);
        }
        // warm-up: untimed passes over the queries for at least WARMUP_MS, and until the method has run WARMUP_ROWS rows
        // in this process (at most WARMUP_MAX_MS), so that the first n is not timed while the JIT is still compiling the
        // method's path (measured: hsr at n = 4096 took 0.18 ms per row after 250 ms of warm-up, 0.03 ms once warm)
        long start = System.nanoTime(), warmUntil = start + WARMUP_MS * 1_000_000L, hardStop = start + WARMUP_MAX_MS * 1_000_000L;
        for (int pass = 0; pass == 0 || System.nanoTime() < hardStop
                && (System.nanoTime() < warmUntil || warmRows.getOrDefault(method, 0L) < WARMUP_ROWS); pass++) {
            for (int i = 0; i < nq; i++) attend.run(i, null);
            warmRows.merge(method, (long) nq, Long::sum);
        }
        // TIMED_PASSES timed passes, the median over every row of every pass; statistics from the first, and its
        // first two rows are checked against the float64 reference
        AttentionStats stats = new AttentionStats();
        double[] ms = new double[TIMED_PASSES * nq];
        double maxErr = 0;
        // the truth is float64 on the stored values: the keys and values rounded to --kv for the cache's methods
        Workloads.Data stored = cache == null ? data : data.roundedTo(kvType);
        for (int pass = 0; pass < TIMED_PASSES; pass++) {
            for (int i = 0; i < nq; i++) {
                if (cold) evictCaches();
                long s = System.nanoTime();
                attend.run(i, pass == 0 ? stats : null);
                ms[pass * nq + i] = (System.nanoTime() - s) / 1e6;
                if (pass == 0 && i < 2) maxErr = Math.max(maxErr, relErr(out, stored, i, n, cfg));
            }
        }
        Map<String, Object> row = row(method, n, CliIO.median(ms), stats, maxErr, buildMs);
        row.put("kv", cache != null ? kvType.label() : "fp32");
        if (cache != null) row.put("cache_bytes", cache.memoryBytes());
        if (quest != null || window != null) {
            row.put("budget_tokens", tokens);
            // the peers read their selected keys and values, and Quest its page bounds (2 floats per channel per page)
            stats.bytesRead += quest != null ? (long) nq * ((n + 15) / 16) * 2L * d * 4 : 0;
            row.put("bytes_per_query", (double) stats.bytesRead / nq + (double) stats.keptKeys / nq * (d + dv) * 4);
        }
        return row;
    }

    /** Bytes streamed through to push everything else out of the caches (last level here: 32 MiB). */
    static final int EVICT_BYTES = 128 << 20;
    private float[] evictBuffer;
    float evictSink;

    /**
     * Reads a buffer four times the last-level cache, so the next row starts with cold caches. Reads only, so no dirty
     * lines are left for the next row to write back (a read-write pass measured the same times).
     */
    private void evictCaches() {
        if (evictBuffer == null) {
            evictBuffer = new float[EVICT_BYTES / Float.BYTES];
            java.util.Arrays.fill(evictBuffer, 1f); // touched once, so the pages exist
        }
        float s = 0f;
        for (int i = 0; i < evictBuffer.length; i += 16) s += evictBuffer[i];
        evictSink += s;
    }

    /**
     * One prefill method, causal m = n: {@code dense} (tiled, {@link TiledPrefill#dense}), {@code hsr} (tiled with
     * certified key-tile bounds, build included) or {@code numpy} (the NumPy/OpenBLAS blocked prefill, its own
     * process). One untimed warm-up, then {@code --repeat} timed runs; the error is measured on the same rows for all.
     */
    private Map<String, Object> prefill(String method, Workloads.Data data, int n, AttentionConfig cfg, Selection sel) {
        int dv = data.dv();
        AttentionInput in = AttentionInput.singleHead(data.q(), data.k(), data.v(), n, n, d, dv);
        if (method.equals("numpy")) {
            NumpyPeer.Result r = NumpyPeer.prefill(data.q(), data.k(), data.v(), n, n, d, dv,
                    cfg.kind() == AttentionConfig.Kind.RELU, cfg.bias(), cfg.alpha(), threads, repeat);
            if (r.skipped() != null) {
                System.err.println("\nhsr bench: " + r.skipped());
                return null;
            }
            AttentionStats st = new AttentionStats();
            st.rows = n;
            st.visibleKeys = st.scoredKeys = st.keptKeys = (long) n * (n + 1) / 2;
            Map<String, Object> row = row("numpy", n, r.ms(), st, prefillError(r.out(), data, n, cfg), 0);
            long flops = TiledPrefill.denseFlops(in, true);
            row.put("gflops", flops / (r.ms() * 1e6));
            row.put("sgemm_gflops", r.sgemmGflops());
            row.put("blas", r.blas());
            row.put("note", "NumPy blocked causal prefill (512-query blocks, S = Q_b @ K[:e].T, mask the diagonal "
                    + "block, W @ V[:e]), OPENBLAS_NUM_THREADS=" + threads + (sel instanceof Selection.Epsilon
                    ? "; dense softmax (the peer of epsilon)" : ""));
            return row;
        }
        TiledPrefill prefill = new TiledPrefill(threads);
        double[] ms = new double[repeat];
        double[] build = new double[repeat];
        AttentionStats stats = null;
        float[] out = null;
        for (int rep = -1; rep < ms.length; rep++) {
            AttentionStats st = new AttentionStats();
            long s = System.nanoTime();
            out = method.equals("dense") ? prefill.dense(in, cfg, st) : prefill.hsr(in, cfg, sel, st);
            if (rep >= 0) {
                ms[rep] = (System.nanoTime() - s) / 1e6;
                build[rep] = prefill.lastRun().buildMs();
            }
            stats = st;
        }
        TiledPrefill.Run run = prefill.lastRun();
        double median = CliIO.median(ms);
        Map<String, Object> row = row(method, n, median, stats, prefillError(out, data, n, cfg),
                method.equals("hsr") ? CliIO.median(build) : 0);
        row.put("gflops", run.flops() / (median * 1e6));
        row.put("threads", run.threads());
        row.put("tile_pairs", run.tilePairs());
        row.put("tiles_skipped", run.skippedTiles());
        row.put("note", method.equals("dense") ? "tiled dense prefill, " + Vectors.tileKernels()
                + "; gflops = dense flops / time" : "tiled HSR prefill, time includes build_ms (key-tile bounds)");
        return row;
    }

    /**
     * Largest per-row relative error (max-norm) against the float64 reference over the last 4 rows of the prompt and
     * the 4 rows ending at its middle (a shorter causal prefix).
     */
    private double prefillError(float[] out, Workloads.Data data, int n, AttentionConfig cfg) {
        int dv = data.dv();
        double maxErr = 0;
        for (int end : new int[] {Math.max(1, n / 2), n}) {
            int check = Math.min(4, end);
            float[] q = java.util.Arrays.copyOfRange(data.q(), (end - check) * d, end * d);
            float[] k = java.util.Arrays.copyOf(data.k(), end * d), v = java.util.Arrays.copyOf(data.v(), end * dv);
            double[] ref = DenseReference.attend(new AttentionInput(q, k, v, 1, 1, check, end, d, dv), cfg);
            for (int i = 0; i < check; i++) {
                double diff = 0, norm = 0;
                for (int t = 0; t < dv; t++) {
                    diff = Math.max(diff, Math.abs(out[(end - check + i) * dv + t] - ref[i * dv + t]));
                    norm = Math.max(norm, Math.abs(ref[i * dv + t]));
                }
                maxErr = Math.max(maxErr, norm == 0 ? diff : diff / norm);
            }
        }
        return maxErr;
    }

    private Map<String, Object> row(String method, int n, double ms, AttentionStats st, double err, double buildMs) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("workload", workload);
        m.put("dist", dist);
        m.put("kind", kind);
        m.put("select", kind.equals("softmax") ? select : null);
        m.put("n", n);
        m.put("d", d);
        m.put("method", method);
        m.put("ms_median", ms);
        m.put("keys_touched_frac", st.keysTouchedFraction());
        m.put("kept_frac", st.keptFraction());
        m.put("max_rel_err", err);
        m.put("fallback_rows", st.fallbackRows);
        m.put("dense_chosen_rows", st.denseChosenRows);
        m.put("dropped_mass_bound_max", st.droppedMassBoundMax);
        m.put("build_ms", buildMs);
        m.put("bytes_per_query", st.rows == 0 ? 0.0 : (double) st.bytesRead / st.rows);
        return m;
    }

    private double relErr(float[] out, Workloads.Data data, int i, int n, AttentionConfig cfg) {
        float[] q = java.util.Arrays.copyOfRange(data.q(), i * d, i * d + d);
        double[] ref = DenseReference.attend(AttentionInput.singleHead(q, data.k(), data.v(), 1, n, d, data.dv()), cfg);
        double diff = 0, norm = 0;
        for (int t = 0; t < data.dv(); t++) {
            diff = Math.max(diff, Math.abs(out[t] - ref[t]));
            norm = Math.max(norm, Math.abs(ref[t]));
        }
        return norm == 0 ? diff : diff / norm;
    }

    /** Prefill: {@code speedup_vs_numpy} = the NumPy peer's time / the method's, per n (when the peer ran). */
    static void speedups(List<Map<String, Object>> results) {
        Map<Object, Double> numpy = new java.util.HashMap<>();
        for (var r : results) if ("numpy".equals(r.get("method"))) numpy.put(r.get("n"), (Double) r.get("ms_median"));
        for (var r : results) {
            Double peer = numpy.get(r.get("n"));
            if (peer != null) r.put("speedup_vs_numpy", peer / (Double) r.get("ms_median"));
        }
    }

    /** Least-squares slope of log(ms) against log(n), per method. */
    static Map<String, Double> slopes(List<Map<String, Object>> results) {
        Map<String, List<double[]>> pts = new LinkedHashMap<>();
        for (var r : results) {
            pts.computeIfAbsent((String) r.get("method"), k -> new ArrayList<>())
                    .add(new double[] {Math.log(((Number) r.get("n")).doubleValue()), Math.log((Double) r.get("ms_median"))});
        }
        Map<String, Double> out = new LinkedHashMap<>();
        pts.forEach((m, p) -> out.put(m, Report.slope(p)));
        return out;
    }

    /** One query row of a decode method. */
    private interface RowFn {
        void run(int i, AttentionStats st);
    }

    /** {@code --queries} is a count; a file name there gets a pointer to {@code --query-file}. */
    static final class QueryCount implements picocli.CommandLine.ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            try {
                return Integer.valueOf(value.strip());
            } catch (NumberFormatException e) {
                throw new picocli.CommandLine.TypeConversionException("'" + value
                        + "' is not a number of queries (a query file goes to --query-file)");
            }
        }
    }

    /** A one-line progress bar on stderr. */
    static final class Progress {
        private final int total;
        private int done;

        Progress(int total) {
            this.total = total;
        }

        /** True while a bar is on the current stderr line: an error message then starts on a new line. */
        static volatile boolean lineOpen;

        void step(String what) {
            done++;
            note(what);
        }

        /** Redraws the bar with {@code what}, without counting a step. */
        void note(String what) {
            lineOpen = true;
            int w = 30, filled = w * done / total;
            System.err.printf("\r[%s%s] %d/%d %-40s", "#".repeat(filled), " ".repeat(w - filled), done, total, what);
            System.err.flush();
        }

        void done() {
            System.err.println();
            lineOpen = false;
        }
    }
}
