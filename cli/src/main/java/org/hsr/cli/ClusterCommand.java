package org.hsr.cli;

import com.hazelcast.core.HazelcastInstance;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.Selection;
import org.hsr.cluster.ClusterMember;
import org.hsr.cluster.ClusterSetup;
import org.hsr.cluster.ShardedKvCache;
import org.hsr.io.NpyArray;
import org.hsr.kv.KvShape;
import org.hsr.store.ElementType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code hsr cluster serve|put|attend|info}: a KV cache sharded over a Hazelcast cluster (issue 17; the contract is
 * in the README's "Cluster" section and {@code docs/SPEC-cluster.md}). {@code serve} runs a member; the other three
 * connect as Hazelcast clients and fail with exit 1 when no member answers within {@code --timeout}.
 */
@Command(name = "cluster", mixinStandardHelpOptions = true,
        description = "A KV cache sharded over a Hazelcast cluster: serve a member, put K and V, attend, info, bench.",
        subcommands = {ClusterCommand.Serve.class, ClusterCommand.Put.class, ClusterCommand.Attend.class,
                ClusterCommand.Info.class, ClusterCommand.Bench.class})
final class ClusterCommand implements Runnable {

    @Override
    public void run() {
        throw new UsageException("missing cluster command: serve, put, attend or info (try: hsr cluster --help)");
    }

    /** The options every cluster command takes. */
    static final class Where {
        @Option(names = "--name", required = true, description = "cluster name (members and clients must agree)")
        String name;
        @Option(names = "--join", required = true, description = "HOST:PORT[,HOST:PORT...] of members") String join;

        List<String> joinList() {
            try {
                return ClusterSetup.parseJoin(join);
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage());
            }
        }

        void check() {
            if (name.isBlank()) throw new UsageException("--name is empty");
            joinList();
        }
    }

    /** The client commands' options: where, which cache, and how long to wait for a member. */
    static final class ClientOptions {
        @Mixin Where where;
        @Option(names = "--cache", required = true, description = "cache name: 1-100 of [A-Za-z0-9._-]") String cache;
        @Option(names = "--timeout", defaultValue = "10", description = "seconds to wait for a member (default ${DEFAULT-VALUE})")
        double timeout;

        void check() {
            where.check();
            if (!(timeout > 0 && timeout <= 3600)) throw new UsageException("--timeout must be in (0, 3600] s, got " + timeout);
            if (!cache.matches("[A-Za-z0-9._-]{1,100}")) {
                throw new UsageException("--cache '" + cache + "' must be 1-100 of [A-Za-z0-9._-]");
            }
        }

        HazelcastInstance connect() {
            return ClusterSetup.connect(where.name, where.joinList(), (long) (timeout * 1000));
        }
    }

    @Command(name = "serve", mixinStandardHelpOptions = true,
            description = "Runs one member in the foreground until killed; prints a line with 'ready' once joined.")
    static final class Serve implements Callable<Integer> {
        @Mixin Where where;
        @Option(names = "--port", required = true, description = "this member's TCP port") int port;
        @Option(names = "--host", description = "address to bind and announce (default: 127.0.0.1 when every --join "
                + "address is loopback, else Hazelcast's choice)") String host;

        @Override
        public Integer call() throws InterruptedException {
            where.check();
            if (port < 1 || port > 65535) throw new UsageException("--port must be in [1, 65535], got " + port);
            var hz = ClusterMember.serve(where.name, host, port, where.joinList());
            ClusterMember.awaitShutdown(hz); // until killed (SIGTERM leaves the cluster gracefully), or it stops itself
            throw new IllegalStateException("member " + port + " of cluster '" + where.name + "' stopped (see the "
                    + "warnings above: out of memory, or cut off from the cluster)");
        }
    }

    @Command(name = "put", mixinStandardHelpOptions = true,
            description = "Appends positions (K, V rows) after those cache C holds; creates C on first use.")
    static final class Put implements Callable<Integer> {
        @Mixin ClientOptions opt;
        @Option(names = "--k", required = true, description = "keys: n x d, or Hkv x n x d") Path kPath;
        @Option(names = "--v", required = true, description = "values: n x dv, or Hkv x n x dv") Path vPath;
        @Option(names = "--kv", description = "storage type fp32, bf16 or fp16 (a new cache: default fp32; an existing "
                + "one: must be its type)") String kv;
        @Option(names = "--block-size", defaultValue = "4096", description = "positions per block of a new cache "
                + "(default ${DEFAULT-VALUE})") int blockSize;

        @Override
        public Integer call() throws Exception {
            opt.check();
            CliIO.requirePositive(blockSize, "--block-size");
            ElementType wanted = kv == null ? null : CliIO.elementType(kv);
            NpyArray k = CliIO.readReal(kPath, "--k", 2, 3), v = CliIO.readReal(vPath, "--v", 2, 3);
            if (k.rank() != v.rank()) {
                throw new UsageException("--k and --v must both be 2-D or both 3-D, got " + k.shapeString() + ", "
                        + v.shapeString());
            }
            int o = k.rank() - 2, kvh = o == 0 ? 1 : k.dim(0), n = k.dim(o), d = k.dim(o + 1), dv = v.dim(o + 1);
            if (v.dim(o) != n) throw new UsageException("values have " + v.dim(o) + " rows, keys " + n);
            if (o == 1 && v.dim(0) != kvh) throw new UsageException("values have " + v.dim(0) + " heads, keys " + kvh);
            HazelcastInstance hz = opt.connect();
            try {
                KvShape had = ShardedKvCache.shapeOf(hz, opt.cache);
                ElementType type = wanted != null ? wanted : had != null ? had.type() : ElementType.FP32;
                if (had != null && (had.kvHeads() != kvh || had.headDim() != d || had.valueDim() != dv
                        || had.type() != type)) {
                    throw new UsageException("cache '" + opt.cache + "' holds " + had.type().label() + " rows of "
                            + had.kvHeads() + " kv heads x " + had.headDim() + "/" + had.valueDim() + ", got "
                            + type.label() + " rows of " + kvh + " x " + d + "/" + dv);
                }
                float[] kf = positionMajor(k.floats(), kvh, n, d), vf = positionMajor(v.floats(), kvh, n, dv);
                try {
                    type.roundInPlace("--k", kf, 0, kf.length);
                    type.roundInPlace("--v", vf, 0, vf.length);
                } catch (IllegalArgumentException e) {
                    throw new UsageException(e.getMessage());
                }
                ShardedKvCache c = ShardedKvCache.create(hz, opt.cache, new KvShape(1, kvh, kvh, d, dv, type),
                        blockSize, AttentionConfig.softmax(false), null);
                int start = c.length(0);
                // a few MB per piece (bounded messages, each retried on its own after a member loss), one commit at
                // the end: a put killed half-way commits nothing, and the same put again stores each row once
                int step = Math.max(1, (4 << 20) / (kvh * (d + dv)));
                c.append(0, kf, 0, vf, 0, n, step);
                System.out.printf("hsr cluster put: cache %s: appended %d positions at [%d, %d); %d positions, %s, "
                        + "on %d members%n", opt.cache, n, start, start + n, c.length(0), type.label(),
                        hz.getCluster().getMembers().size());
                return 0;
            } finally {
                hz.shutdown();
            }
        }
    }

    /** (kvHeads, n, width) as a file holds it -> (n, kvHeads, width) as an engine appends positions. */
    static float[] positionMajor(float[] x, int kvh, int n, int w) {
        if (kvh == 1) return x;
        float[] y = new float[x.length];
        for (int h = 0; h < kvh; h++) {
            for (int p = 0; p < n; p++) System.arraycopy(x, (h * n + p) * w, y, (p * kvh + h) * w, w);
        }
        return y;
    }

    @Command(name = "attend", mixinStandardHelpOptions = true,
            description = "Attention of each query row over every stored position of cache C (as hsr attend --mode hsr).")
    static final class Attend implements Callable<Integer> {
        @Mixin ClientOptions opt;
        @Option(names = "--q", required = true, description = "queries: m x d, or H x m x d") Path qPath;
        @Option(names = "--out", required = true, description = "output .npy (m x dv or H x m x dv, float32)") Path out;
        @Option(names = "--kind", defaultValue = "softmax", description = "relu or softmax") String kind;
        @Option(names = "--alpha", defaultValue = "1", description = "ReLU power, integer >= 1") int alpha;
        @Option(names = "--bias", defaultValue = "0", description = "ReLU bias b on the scaled score") float bias;
        @Option(names = "--scale", description = "score scale c (default 1/sqrt(d))") Float scale;
        @Option(names = "--select", description = "softmax key selection per block: threshold:T, top:R or epsilon:E")
        String select;
        @Option(names = "--repeat", defaultValue = "1", description = "timed rounds (after one warm-up when > 1)") int repeat;
        @Option(names = "--stats", description = "statistics JSON file") Path stats;

        @Override
        public Integer call() throws Exception {
            opt.check();
            CliIO.requirePositive(repeat, "--repeat");
            AttentionConfig cfg = AttendCommand.config(kind, alpha, bias, scale, false);
            Selection sel = AttendCommand.selection(select, cfg);
            CliIO.checkOutputs(List.of(CliIO.named("--q", qPath)),
                    List.of(CliIO.named("--out", out), CliIO.named("--stats", stats)));
            NpyArray q = CliIO.readReal(qPath, "--q", 2, 3);
            int o = q.rank() - 2, heads = o == 0 ? 1 : q.dim(0), m = q.dim(o), d = q.dim(o + 1);
            HazelcastInstance hz = opt.connect();
            try {
                ShardedKvCache c = ShardedKvCache.open(hz, opt.cache, cfg, sel);
                KvShape s = c.shape();
                if (d != s.headDim()) throw new UsageException("query dimension " + d + " != key dimension " + s.headDim());
                if (heads % s.kvHeads() != 0) {
                    throw new UsageException("query heads " + heads + " is not a multiple of kv heads " + s.kvHeads());
                }
                int n = c.length(0), dv = s.valueDim();
                float[] qRows = positionMajor(q.floats(), heads, m, d); // (m, heads, d): every row one round's query
                float[] rows = new float[m * heads * dv];
                if (repeat > 1) c.attend(0, qRows, 0, m, rows, 0, heads, null); // warm-up: builds the indexes
                double[] ms = new double[repeat];
                AttentionStats st = null;
                for (int r = 0; r < repeat; r++) {
                    st = new AttentionStats();
                    long t0 = System.nanoTime();
                    c.attend(0, qRows, 0, m, rows, 0, heads, st);
                    ms[r] = (System.nanoTime() - t0) / 1e6;
                }
                float[] result = new float[rows.length]; // (m, heads, dv) -> (heads, m, dv)
                for (int i = 0; i < m; i++) {
                    for (int h = 0; h < heads; h++) System.arraycopy(rows, (i * heads + h) * dv, result, (h * m + i) * dv, dv);
                }
                int[] shape = o == 0 ? new int[] {m, dv} : new int[] {heads, m, dv};
                Map<String, Object> js = new LinkedHashMap<>();
                js.put("cache", opt.cache);
                js.put("kind", kind);
                js.put("rows", st.rows);
                js.put("n", n);
                js.put("positions", n);
                js.put("d", d);
                js.put("kv", s.type().label());
                js.put("members", hz.getCluster().getMembers().size());
                js.put("blocks", (n + c.blockSize() - 1) / c.blockSize());
                js.put("rounds", 1);
                js.put("kept_mean", st.keptMean());
                js.put("kept_frac", st.keptFraction());
                js.put("keys_touched_frac", st.keysTouchedFraction());
                js.put("empty_rows", st.emptyRows);
                js.put("fallback_rows", st.fallbackRows);
                if (sel instanceof Selection.Epsilon) js.put("dropped_mass_bound_max", st.droppedMassBoundMax);
                js.put("attend_ms_median", CliIO.median(ms));
                js.put("repeat", repeat);
                new CliIO.Outputs().npy(out, NpyArray.ofFloats(result, shape)).json(stats, js).write();
                System.out.printf("hsr cluster attend: cache %s, %d rows over %d positions on %d members, %.1f keys "
                        + "kept per row, %.3f ms per round%n", opt.cache, st.rows, n,
                        hz.getCluster().getMembers().size(), st.keptMean(), CliIO.median(ms));
                return 0;
            } finally {
                hz.shutdown();
            }
        }
    }

    @Command(name = "info", mixinStandardHelpOptions = true,
            description = "Members, positions and where they live (as the owning members report it).")
    static final class Info implements Callable<Integer> {
        @Mixin ClientOptions opt;
        @Option(names = "--json", description = "JSON file") Path json;

        @Override
        public Integer call() throws Exception {
            opt.check();
            CliIO.checkOutputs(List.of(), List.of(CliIO.named("--json", json)));
            HazelcastInstance hz = opt.connect();
            try {
                ShardedKvCache c = ShardedKvCache.open(hz, opt.cache, AttentionConfig.softmax(false), null);
                ShardedKvCache.Info info = c.info();
                Map<String, Object> js = new LinkedHashMap<>();
                js.put("cache", opt.cache);
                js.put("members", info.members().size());
                js.put("member_addresses", new ArrayList<>(info.members().keySet()));
                js.put("positions", info.lengths()[0]);
                Map<String, Object> pos = new LinkedHashMap<>(), blocks = new LinkedHashMap<>(),
                        stored = new LinkedHashMap<>(), index = new LinkedHashMap<>();
                info.members().forEach((addr, mb) -> {
                    pos.put(addr, mb.positions());
                    blocks.put(addr, mb.blocks());
                    stored.put(addr, mb.storedBytes());
                    index.put(addr, mb.indexBytes());
                });
                js.put("positions_per_member", pos);
                js.put("blocks_per_member", blocks);
                js.put("stored_bytes_per_member", stored);
                js.put("index_bytes_per_member", index);
                js.put("backups", info.backups());
                KvShape s = info.shape();
                js.put("kv", s.type().label());
                js.put("kv_heads", s.kvHeads());
                js.put("d", s.headDim());
                js.put("dv", s.valueDim());
                js.put("block_size", info.blockSize());
                new CliIO.Outputs().json(json, js).write();
                System.out.printf("hsr cluster info: cache %s: %d positions on %d members %s, %d backup%n", opt.cache,
                        info.lengths()[0], info.members().size(), pos, info.backups());
                return 0;
            } finally {
                hz.shutdown();
            }
        }
    }

    @Command(name = "bench", mixinStandardHelpOptions = true,
            description = {"Decoding attention of a batch of sequences: local caches vs the sharded cache, same data.",
                    "Default: members started in this JVM on 127.0.0.1 (loopback); --name and --join: an existing cluster."})
    static final class Bench implements Callable<Integer> {
        @Option(names = "--layers", defaultValue = "2", description = "layers (default ${DEFAULT-VALUE})") int layers;
        @Option(names = "--heads", defaultValue = "32", description = "query heads (default ${DEFAULT-VALUE})") int heads;
        @Option(names = "--kv-heads", defaultValue = "8", description = "kv heads (default ${DEFAULT-VALUE})") int kvHeads;
        @Option(names = "--d", defaultValue = "128", description = "head dimension (default ${DEFAULT-VALUE})") int d;
        @Option(names = "--n", defaultValue = "8192", description = "positions per sequence (default ${DEFAULT-VALUE})") int n;
        @Option(names = "--batch", defaultValue = "4", description = "sequences per round (default ${DEFAULT-VALUE})") int batch;
        @Option(names = "--block-size", defaultValue = "4096", description = "positions per block (default ${DEFAULT-VALUE})")
        int blockSize;
        @Option(names = "--kv", defaultValue = "bf16", description = "storage type (default ${DEFAULT-VALUE})") String kv;
        @Option(names = "--kind", defaultValue = "relu", description = "relu (alpha 1, the paper's bias) or softmax") String kind;
        @Option(names = "--select", description = "softmax selection, per block") String select;
        @Option(names = "--members", defaultValue = "3", description = "members started in this JVM (default ${DEFAULT-VALUE})")
        int members;
        @Option(names = "--rounds", defaultValue = "20", description = "timed rounds per layer (default ${DEFAULT-VALUE})") int rounds;
        @Option(names = "--name", description = "cluster name of an existing cluster (with --join)") String name;
        @Option(names = "--join", description = "HOST:PORT[,...] of an existing cluster") String join;
        @Option(names = "--json", description = "JSON file") Path json;
        @Option(names = "--timeout", defaultValue = "60", description = "seconds to wait for a member of --join, or for "
                + "the members started here (default ${DEFAULT-VALUE})") double timeout;

        @Override
        public Integer call() throws Exception {
            if (!(timeout > 0 && timeout <= 3600)) throw new UsageException("--timeout must be in (0, 3600] s, got " + timeout);
            for (int[] x : new int[][] {{layers}, {heads}, {kvHeads}, {d}, {n}, {batch}, {blockSize}, {members}, {rounds}}) {
                if (x[0] < 1) throw new UsageException("bench cluster sizes must be >= 1, got " + x[0]);
            }
            if (heads % kvHeads != 0) throw new UsageException("--heads " + heads + " is not a multiple of --kv-heads " + kvHeads);
            if (!kind.equals("relu") && !kind.equals("softmax")) throw new UsageException("--kind must be relu or softmax");
            if ((name == null) != (join == null)) throw new UsageException("--name and --join go together");
            Selection sel = AttendCommand.selection(select, AttendCommand.config(kind, 1, 0f, null, false));
            List<String> joinList = null;
            if (join != null) {
                try {
                    joinList = ClusterSetup.parseJoin(join);
                } catch (IllegalArgumentException e) {
                    throw new UsageException(e.getMessage());
                }
            }
            CliIO.checkOutputs(List.of(), List.of(CliIO.named("--json", json)));
            var o = new ClusterBench.Options(layers, heads, kvHeads, d, n, batch, blockSize, CliIO.elementType(kv),
                    kind.equals("relu"), sel, members, rounds, name, joinList, timeout);
            Map<String, Object> js = ClusterBench.run(o);
            new CliIO.Outputs().json(json, js).write();
            System.out.println(Json.toString(js));
            return 0;
        }
    }
}
