package org.hsr.cli;

import com.hazelcast.core.HazelcastInstance;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.hsr.attention.AttentionConfig;
import org.hsr.attention.AttentionStats;
import org.hsr.attention.BiasRule;
import org.hsr.attention.DenseReference;
import org.hsr.attention.Selection;
import org.hsr.cluster.ClusterSetup;
import org.hsr.cluster.ShardedKvCache;
import org.hsr.kv.KvCache;
import org.hsr.kv.KvShape;
import org.hsr.store.ElementType;

/**
 * {@code hsr cluster bench}: decoding attention for a batch of sequences, local (one {@link KvCache} per sequence in
 * this JVM) against sharded ({@link ShardedKvCache} over a cluster: by default {@code members} members started in
 * this JVM, all on 127.0.0.1; or an existing cluster given by {@code --join}), over the same data: per-layer round
 * latency, tokens per second for the batch, a framework-only round (a read-only entry processor over the same blocks
 * that computes nothing), bytes held per member, and the largest difference between the two outputs.
 */
final class ClusterBench {
    private ClusterBench() {}

    record Options(int layers, int heads, int kvHeads, int d, int n, int batch, int blockSize, ElementType kv,
                   boolean relu, Selection selection, int members, int rounds, String name, List<String> join,
                   double timeout) {}

    static Map<String, Object> run(Options o) throws IOException {
        KvShape shape = KvShape.of(o.layers(), o.heads(), o.kvHeads(), o.d(), o.kv());
        AttentionConfig cfg = o.relu() ? AttentionConfig.relu(1, (float) BiasRule.paper(1, o.n()), false)
                : AttentionConfig.softmax(false);
        Selection sel = o.relu() ? null : o.selection();
        List<HazelcastInstance> members = new ArrayList<>();
        String name = o.name() != null ? o.name() : "hsr-bench-" + ProcessHandle.current().pid();
        List<String> join = o.join();
        if (join == null) { // members in this JVM on loopback
            join = new ArrayList<>();
            int[] ports = ClusterSetup.freePorts(o.members());
            for (int p : ports) join.add("127.0.0.1:" + p);
            for (int p : ports) members.add(ClusterSetup.startMember(name, "127.0.0.1", p, join));
        }
        HazelcastInstance client = ClusterSetup.connect(name, join, (long) (o.timeout() * 1000));
        List<KvCache> local = new ArrayList<>();
        try {
            // the same K and V (Gaussian, seed per sequence) appended to both, a layer at a time in 4096-position pieces
            List<ShardedKvCache> sharded = new ArrayList<>();
            String run = "b" + System.nanoTime();
            long t0 = System.nanoTime();
            for (int s = 0; s < o.batch(); s++) {
                SplittableRandom r = new SplittableRandom(100 + s);
                ShardedKvCache c = ShardedKvCache.create(client, run + "-" + s, shape, o.blockSize(), cfg, sel);
                KvCache l = KvCache.builder(shape).attention(cfg).selection(sel).build();
                int piece = 4096;
                float[] k = new float[piece * shape.keyWidth()], v = new float[piece * shape.valueWidth()];
                for (int layer = 0; layer < o.layers(); layer++) {
                    for (int at = 0; at < o.n(); at += piece) {
                        int m = Math.min(piece, o.n() - at);
                        for (int i = 0; i < m * shape.keyWidth(); i++) k[i] = (float) r.nextGaussian();
                        for (int i = 0; i < m * shape.valueWidth(); i++) v[i] = (float) r.nextGaussian();
                        c.append(layer, k, 0, v, 0, m);
                        l.append(layer, k, 0, v, 0, m);
                    }
                }
                sharded.add(c);
                local.add(l);
            }
            double fillMs = (System.nanoTime() - t0) / 1e6;
            SplittableRandom r = new SplittableRandom(7);
            int qw = shape.queryWidth(), ow = shape.outputWidth();
            float[] q = new float[o.batch() * qw];
            for (int i = 0; i < q.length; i++) q[i] = (float) r.nextGaussian();
            float[] outLocal = new float[o.batch() * ow], outCluster = new float[o.batch() * ow];
            int warm = 3;
            double[] localMs = new double[o.rounds() * o.layers()], clusterMs = new double[localMs.length],
                    noopMs = new double[localMs.length];
            double maxDiff = 0;
            AttentionStats st = new AttentionStats();
            for (int round = -warm; round < o.rounds(); round++) {
                for (int layer = 0; layer < o.layers(); layer++) {
                    long a = System.nanoTime();
                    for (int s = 0; s < o.batch(); s++) local.get(s).attend(layer, q, s * qw, outLocal, s * ow);
                    long b = System.nanoTime();
                    ShardedKvCache.attendBatch(layer, sharded, q, 0, 1, outCluster, 0, o.heads(), round < 0 ? null : st);
                    long c = System.nanoTime();
                    ShardedKvCache.touchBatch(layer, sharded);
                    long e = System.nanoTime();
                    if (round < 0) continue;
                    int i = round * o.layers() + layer;
                    localMs[i] = (b - a) / 1e6;
                    clusterMs[i] = (c - b) / 1e6;
                    noopMs[i] = (e - c) / 1e6;
                    double[] l64 = new double[ow];
                    for (int s = 0; s < o.batch(); s++) {
                        for (int t = 0; t < ow; t++) l64[t] = outLocal[s * ow + t];
                        maxDiff = Math.max(maxDiff, DenseReference.maxRowRelError(
                                java.util.Arrays.copyOfRange(outCluster, s * ow, (s + 1) * ow), l64, o.d()));
                    }
                }
            }
            double local1 = CliIO.median(localMs), cluster1 = CliIO.median(clusterMs);
            Map<String, Object> js = new LinkedHashMap<>();
            js.put("network", o.join() == null ? "loopback, " + o.members() + " members in this JVM" : "the cluster at "
                    + String.join(",", join));
            js.put("members", client.getCluster().getMembers().size());
            js.put("cores", Runtime.getRuntime().availableProcessors());
            js.put("layers", o.layers());
            js.put("heads", o.heads());
            js.put("kv_heads", o.kvHeads());
            js.put("d", o.d());
            js.put("n", o.n());
            js.put("batch", o.batch());
            js.put("block_size", o.blockSize());
            js.put("blocks_per_round", o.batch() * ((o.n() + o.blockSize() - 1) / o.blockSize()));
            js.put("kv", o.kv().label());
            js.put("kind", o.relu() ? "relu" : "softmax");
            js.put("select", sel == null ? "dense" : String.valueOf(sel));
            js.put("fill_ms", fillMs);
            js.put("local_layer_ms_median", local1);
            js.put("cluster_layer_ms_median", cluster1);
            js.put("noop_round_ms_median", CliIO.median(noopMs));
            js.put("local_tokens_per_s", o.batch() / (o.layers() * local1 / 1e3));
            js.put("cluster_tokens_per_s", o.batch() / (o.layers() * cluster1 / 1e3));
            js.put("kept_frac", st.keptFraction());
            js.put("keys_touched_frac", st.keysTouchedFraction());
            js.put("max_rel_diff_vs_local", maxDiff);
            long localBytes = 0;
            for (KvCache l : local) localBytes += l.memoryBytes();
            js.put("local_cache_bytes", localBytes);
            Map<String, Map<String, Long>> perMember = new LinkedHashMap<>();
            for (ShardedKvCache c : sharded) {
                c.info().members().forEach((addr, m) -> {
                    Map<String, Long> acc = perMember.computeIfAbsent(addr, x -> new LinkedHashMap<>());
                    acc.merge("positions", m.positions(), Long::sum);
                    acc.merge("stored_bytes", m.storedBytes(), Long::sum);
                    acc.merge("index_bytes", m.indexBytes(), Long::sum);
                });
            }
            js.put("per_member", perMember);
            js.put("note", "stored_bytes: off-heap K and V the member owns (its backups of other members' blocks, as "
                    + "many bytes again, are not counted); index_bytes: heap of the derived indexes");
            return js;
        } finally {
            for (KvCache l : local) l.close();
            client.shutdown();
            for (HazelcastInstance m : members) m.getLifecycleService().terminate();
        }
    }

}
