#!/usr/bin/python3
"""Synthetic half-space-reporting datasets for the FAISS comparison (bench/faiss/compare.sh).

Writes, into OUTDIR/<dataset>/ :
  keys.npy        n x d float32 (C order)
  queries.npy     m x d float32
  thresholds.npy  m float32, the raw dot-product threshold t_i of query i (report <q_i, k> >= t_i)
  meta.json       parameters, seed, and "threshold" (a single float32 value, or null when per-query)

Datasets (everything is drawn from numpy.random.default_rng(seed), so a given (seed, n, d, m) is reproducible):

gaussian   The paper's setting (SPEC §8): entries of q and k i.i.d. N(0, 1). One threshold for all queries on the
           raw dot product: t = sqrt(d) * sqrt(0.4 * ln n), i.e. <q,k>/sqrt(d) >= sqrt(0.4 ln n). Stored as float32
           (the value every method is given).

clustered  A mixture of C = 256 Gaussian clusters (--clusters):
             centres   c_1..c_C ~ 3 * N(0, I)            (per-coordinate std 3, --centre-std)
             keys      k = c_{z} + 0.3 * N(0, I)          (z uniform over clusters, --key-noise),
                       in random order (cluster ids are NOT grouped in storage, like tokens in a KV cache);
                       --grouped sorts keys by cluster instead
             queries   q = c_{z'} + 0.3 * N(0, I)         (z' = the cluster of a uniformly chosen key, so clusters
                       are hit in proportion to their size; --query-noise)
           Per-query thresholds, computed from the data in float64: t_i is the midpoint between the r-th and
           (r+1)-th largest <q_i, k> with r = round(frac * n), frac = 0.01 (--frac). So each query reports r keys
           (1% of n), and no key lies on the boundary itself. With these defaults a query's own cluster
           (~n/256 = 0.39% of keys, scores ~ ||c||^2 ~ 9 d) always passes, and the rest of the 1% comes from the
           top of the one or two best-aligned other clusters (scores ~ <c, c'> ~ N(0, 81 d)).

Usage: make_data.py OUTDIR [--dataset gaussian|clustered|both] [--n 131072] [--d 128] [--queries 64] [--seed 1234]
"""
import argparse
import json
import math
import os
import sys

import numpy as np


def save(path, arr):
    np.save(path, np.ascontiguousarray(arr))


def gaussian(rng, n, d, m):
    keys = rng.standard_normal((n, d), dtype=np.float32)
    queries = rng.standard_normal((m, d), dtype=np.float32)
    t = np.float32(math.sqrt(d) * math.sqrt(0.4 * math.log(n)))
    return keys, queries, np.full(m, t, dtype=np.float32), float(t), {}


def clustered(rng, n, d, m, clusters, centre_std, key_noise, query_noise, frac, grouped):
    centres = (centre_std * rng.standard_normal((clusters, d))).astype(np.float32)
    z = rng.integers(0, clusters, size=n)
    if grouped:
        z = np.sort(z)
    keys = (centres[z] + key_noise * rng.standard_normal((n, d), dtype=np.float32)).astype(np.float32)
    zq = z[rng.integers(0, n, size=m)]
    queries = (centres[zq] + query_noise * rng.standard_normal((m, d), dtype=np.float32)).astype(np.float32)
    r = max(1, min(n - 1, int(round(frac * n))))
    k64 = keys.astype(np.float64)
    t = np.empty(m, dtype=np.float32)
    for i in range(m):
        s = k64 @ queries[i].astype(np.float64)
        part = np.partition(s, (n - r - 1, n - r))  # ascending: [n-r-1] is the (r+1)-th largest, [n-r] the r-th
        t[i] = np.float32(0.5 * (part[n - r - 1] + part[n - r]))
    params = {"clusters": clusters, "centre_std": centre_std, "key_noise": key_noise, "query_noise": query_noise,
              "frac": frac, "reported_per_query_target": r, "grouped": grouped}
    return keys, queries, t, None, params


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--dataset", choices=["gaussian", "clustered", "both"], default="both")
    ap.add_argument("--n", type=int, default=131072)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--queries", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--clusters", type=int, default=256)
    ap.add_argument("--centre-std", type=float, default=3.0)
    ap.add_argument("--key-noise", type=float, default=0.3)
    ap.add_argument("--query-noise", type=float, default=0.3)
    ap.add_argument("--frac", type=float, default=0.01)
    ap.add_argument("--grouped", action="store_true", help="clustered: store keys sorted by cluster")
    a = ap.parse_args(argv)
    if a.n < 2 or a.d < 1 or a.queries < 1:
        ap.error("need n >= 2, d >= 1, queries >= 1")
    names = ["gaussian", "clustered"] if a.dataset == "both" else [a.dataset]
    for idx, name in enumerate(names):
        # one independent stream per dataset, so each is the same whether made alone or with the other
        rng = np.random.default_rng([a.seed, 0 if name == "gaussian" else 1])
        if name == "gaussian":
            keys, queries, t, t1, params = gaussian(rng, a.n, a.d, a.queries)
        else:
            keys, queries, t, t1, params = clustered(rng, a.n, a.d, a.queries, a.clusters, a.centre_std,
                                                     a.key_noise, a.query_noise, a.frac, a.grouped)
        out = os.path.join(a.outdir, name)
        os.makedirs(out, exist_ok=True)
        save(os.path.join(out, "keys.npy"), keys)
        save(os.path.join(out, "queries.npy"), queries)
        save(os.path.join(out, "thresholds.npy"), t)
        meta = {"dataset": name, "n": a.n, "d": a.d, "queries": a.queries, "seed": a.seed, "dtype": "float32",
                "threshold": t1, "threshold_repr": None if t1 is None else repr(t1),
                "threshold_rule": ("t = sqrt(d)*sqrt(0.4 ln n) on the raw dot product" if name == "gaussian"
                                   else "per query: midpoint of the r-th and (r+1)-th largest float64 <q,k>, "
                                        "r = round(frac*n)"),
                **params}
        with open(os.path.join(out, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        print(f"make_data: {name}: n={a.n} d={a.d} queries={a.queries} -> {out}"
              + (f" (t={t1!r})" if t1 is not None else f" (per-query t, mean {float(t.mean()):.4g})"))


if __name__ == "__main__":
    main(sys.argv[1:])
