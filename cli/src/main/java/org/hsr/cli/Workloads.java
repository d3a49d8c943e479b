package org.hsr.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.hsr.attention.BiasRule;
import org.hsr.io.NpyArray;

/**
 * Benchmark data (SPEC §8). {@code gaussian}: the paper's setting, every entry of q, k, v i.i.d. N(0,1).
 *
 * <p>{@code llm}: a <b>synthetic</b> stand-in for the keys and queries of one decoding head of a trained model,
 * never a measurement on a real model. It builds in what is documented about real attention, each with a fixed
 * parameter:
 * <ul>
 *   <li><b>low effective rank</b>: bulk keys {@code k_j = μ + L·z_j}, L a d×(d/8) Gaussian matrix scaled by
 *       {@code 1/sqrt(d/8)}, {@code z_j ~ N(0, I)};</li>
 *   <li><b>a shared offset</b> μ ~ N(0, I) (trained keys: ‖mean k‖/mean ‖k‖ of 0.55–0.66);</li>
 *   <li><b>outlier channels</b>: 4 dimensions (0, d/4, d/2, 3d/4) scaled by 4;</li>
 *   <li><b>RoPE</b> on every key (theta 10000, interleaved pairs, key j at position j);</li>
 *   <li><b>massive activations</b>: the query is {@code q = 1.5·sqrt(d)·ν + N(0, 0.25·I)} for a fixed unit ν, rescaled so
 *       that the bulk's scaled scores have standard deviation 1; 2% of the keys (positions drawn at random) are
 *       "heavy hitters", shifted along ν so that their scaled score sits about 12 above the bulk;</li>
 *   <li><b>a sink token</b>: key 0 scores about 14 above the bulk;</li>
 *   <li><b>recency</b>: the last 32 keys score about 8 above the bulk.</li>
 * </ul>
 * Values are N(0,1). So a certified softmax keeps the sink, the recent window and the heavy hitters, about 2–3% of
 * the keys — the regime the paper's "massively activated" entries describe.
 *
 * <p>User data ({@link #load}, {@link #user}): keys, queries and optionally values from {@code .npy} files, for
 * instance dumped from a real model; σ is then measured from the data ({@link BiasRule#scoreStd}, averaged over the
 * queries used).
 */
final class Workloads {
    private Workloads() {}

    /** Queries (m×d), keys (n×d) and values (n×dv), and the standard deviation σ of the scaled scores (bias rule). */
    record Data(float[] q, float[] k, float[] v, int m, int dv, double scoreStd) {
        /** The same data with keys and values rounded to {@code type}: what a cache of that type stores. */
        Data roundedTo(org.hsr.store.ElementType type) {
            if (type == org.hsr.store.ElementType.FP32) return this;
            float[] rk = k.clone(), rv = v.clone();
            type.roundInPlace("key", rk, 0, rk.length);
            type.roundInPlace("value", rv, 0, rv.length);
            return new Data(q, rk, rv, m, dv, scoreStd);
        }
    }

    /** Seed of the N(0,1) values that stand in when user data comes without {@code --values}. */
    static final long USER_VALUES_SEED = 42;

    /** Evenly spaced keys on which σ is measured per query (all keys when there are fewer). */
    static final int SIGMA_SAMPLE = 4096;

    /**
     * User arrays as read: keys (keys×d), queries (queries×d), values (keys×dv); {@code name} is the key file's name
     * and {@code valuesFrom} says where the values came from.
     */
    record UserData(String name, float[] k, float[] q, float[] v, int keys, int queries, int d, int dv,
                    String valuesFrom) {}

    /**
     * Reads and checks user data: keys n×d, queries m×d with the same d, values (optional) n×dv. Keys and values of
     * one kv head may also come as 1×n×d and 1×n×dv, and queries as H×m×d (the query heads of that kv head, as
     * {@code hsr analyze --dump-dir} writes them): they are read as n×d, n×dv and (H·m)×d. A {@code --d} given
     * with it must agree with the keys. Errors are usage errors naming the flag and both values; an unreadable file
     * is a runtime failure (the {@code IOException} propagates).
     */
    static UserData load(Path keys, Path queries, Path values, Integer d) throws IOException {
        NpyArray k = oneHead(CliIO.readReal(keys, "--keys", 2, 3), "--keys", keys);
        int n = k.dim(0), kd = k.dim(1);
        if (d != null && d != kd) {
            throw new UsageException("--d " + d + " != key dimension " + kd + " of " + keys + " (omit --d with --keys)");
        }
        NpyArray q = CliIO.readReal(queries, "--query-file", 2, 3);
        if (q.rank() == 3) q = NpyArray.ofFloats(q.floats(), q.dim(0) * q.dim(1), q.dim(2));
        if (q.dim(1) != kd) {
            throw new UsageException("--query-file " + queries + ": query dimension " + q.dim(1) + " != key dimension " + kd);
        }
        float[] v;
        int dv;
        String valuesFrom;
        if (values != null) {
            NpyArray va = oneHead(CliIO.readReal(values, "--values", 2, 3), "--values", values);
            if (va.dim(0) != n) {
                throw new UsageException("--values " + values + " has " + va.dim(0) + " rows, keys " + n);
            }
            v = va.floats();
            dv = va.dim(1);
            valuesFrom = "user:" + values.getFileName();
        } else {
            v = gaussian(new SplittableRandom(USER_VALUES_SEED), n * kd);
            dv = kd;
            valuesFrom = "gaussian N(0,1), seed " + USER_VALUES_SEED + " (no --values given)";
        }
        return new UserData(keys.getFileName().toString(), k.floats(), q.floats(), v, n, q.dim(0), kd, dv, valuesFrom);
    }

    /** A 1×n×d array as n×d; a usage error for more than one head. */
    private static NpyArray oneHead(NpyArray a, String flag, Path file) {
        if (a.rank() == 2) return a;
        if (a.dim(0) != 1) {
            throw new UsageException(flag + " " + file + ": shape " + a.shapeString() + " holds " + a.dim(0)
                    + " kv heads; bench decode takes one (1 x n x d or n x d)");
        }
        return NpyArray.ofFloats(a.floats(), a.dim(1), a.dim(2));
    }

    /**
     * The first {@code n} user keys and values, and {@code m} of the queries: the first m when {@code prefix} (causal
     * prefill, query i at position i), else m rows evenly spaced over the file. σ is the mean over those queries of
     * the standard deviation of their scaled scores {@code <q,k>/sqrt(d)} on the n keys.
     */
    static Data user(UserData u, int n, int m, boolean prefix) {
        int d = u.d();
        if (n > u.keys()) throw new UsageException("--n " + n + " exceeds the " + u.keys() + " keys in " + u.name());
        if (prefix && m > u.queries()) {
            throw new UsageException("prefill needs a query per key: the query file has " + u.queries() + " rows, n = "
                    + n + " (pass --n <= " + Math.min(u.keys(), u.queries()) + ")");
        }
        m = Math.min(m, u.queries());
        float[] q = new float[m * d];
        for (int i = 0; i < m; i++) {
            int row = prefix ? i : (int) ((long) i * u.queries() / m);
            System.arraycopy(u.q(), row * d, q, i * d, d);
        }
        float[] k = Arrays.copyOf(u.k(), n * d), v = Arrays.copyOf(u.v(), n * u.dv());
        float c = (float) (1 / Math.sqrt(d));
        int sample = Math.min(n, SIGMA_SAMPLE);
        double sigma = 0;
        int used = Math.min(m, 64); // σ varies little between queries; 64 of them bound the cost at large m
        for (int i = 0; i < used; i++) sigma += BiasRule.scoreStd(q, (int) ((long) i * m / used) * d, k, 0, n, d, c, sample);
        return new Data(q, k, v, m, u.dv(), sigma / used);
    }

    static final double HEAVY_FRACTION = 0.02, HEAVY_BOOST = 12, SINK_BOOST = 14, RECENT_BOOST = 8;
    static final int RECENT = 32;

    static Data make(String dist, SplittableRandom r, int n, int m, int d) {
        float[] q = gaussian(r, m * d), k = gaussian(r, n * d), v = gaussian(r, n * d);
        if (dist.equals("gaussian")) return new Data(q, k, v, m, d, 1.0);
        int rank = Math.max(1, d / 8);
        float[] lowRank = gaussian(r, d * rank);
        float[] mu = gaussian(r, d);
        float[] nu = gaussian(r, d);
        normalise(nu); // the shared query direction
        double sqrtD = Math.sqrt(d);
        double inv = 1 / Math.sqrt(rank);
        for (int j = 0; j < n; j++) {
            float[] z = gaussian(r, rank);
            for (int t = 0; t < d; t++) {
                double x = 0;
                for (int a = 0; a < rank; a++) x += lowRank[t * rank + a] * z[a];
                double val = mu[t] + inv * x;
                if (t % Math.max(1, d / 4) == 0) val *= 4;
                k[j * d + t] = (float) val;
            }
            rope(k, j * d, d, j);
        }
        // queries: the shared direction plus noise; the bulk's scores come from μ, the low-rank part and the noise
        double qNorm = 1.5 * sqrtD;
        for (int i = 0; i < m; i++) {
            for (int t = 0; t < d; t++) q[i * d + t] = (float) (qNorm * nu[t] + 0.5 * q[i * d + t]);
        }
        // rescale the queries so the bulk's scaled scores have standard deviation 1
        double sigma = scoreStd(q, k, n, d);
        for (int i = 0; i < m * d; i++) q[i] /= (float) sigma;
        qNorm /= sigma;
        // score boosts along ν: a key gets about +boost (scaled score units) when k += boost·sqrt(d)/qNorm · ν
        for (int j = 0; j < n; j++) {
            double boost = j == 0 ? SINK_BOOST : j >= n - RECENT ? RECENT_BOOST
                    : r.nextDouble() < HEAVY_FRACTION ? HEAVY_BOOST : 0;
            if (boost == 0) continue;
            for (int t = 0; t < d; t++) k[j * d + t] += (float) (boost * sqrtD / qNorm * nu[t]);
        }
        return new Data(q, k, v, m, d, scoreStd(q, k, n, d));
    }

    /** σ of the scaled scores of the first query, on a sample of keys. */
    private static double scoreStd(float[] q, float[] k, int n, int d) {
        double s = 0, s2 = 0;
        int samples = Math.min(n, 4096);
        for (int j = 0; j < samples; j++) {
            double dot = 0;
            for (int t = 0; t < d; t++) dot += (double) q[t] * k[j * d + t];
            dot /= Math.sqrt(d);
            s += dot;
            s2 += dot * dot;
        }
        double mean = s / samples;
        return Math.sqrt(Math.max(1e-12, s2 / samples - mean * mean));
    }

    private static void rope(float[] x, int off, int d, int pos) {
        for (int j = 0; j + 1 < d; j += 2) {
            double angle = pos * Math.pow(10000, -(double) j / d);
            double c = Math.cos(angle), s = Math.sin(angle);
            float a = x[off + j], b = x[off + j + 1];
            x[off + j] = (float) (a * c - b * s);
            x[off + j + 1] = (float) (a * s + b * c);
        }
    }

    private static void normalise(float[] x) {
        double s = 0;
        for (float f : x) s += f * f;
        float inv = (float) (1 / Math.sqrt(s));
        for (int i = 0; i < x.length; i++) x[i] *= inv;
    }

    static float[] gaussian(SplittableRandom r, int len) {
        float[] x = new float[len];
        for (int i = 0; i < len; i++) x[i] = (float) r.nextGaussian();
        return x;
    }
}
