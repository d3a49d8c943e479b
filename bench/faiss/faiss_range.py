#!/usr/bin/python3
"""FAISS IndexFlatIP.range_search as the exact, no-index peer of `hsr search` (bench/faiss/compare.sh).

Usage: faiss_range.py --keys K.npy --queries Q.npy --thresholds T.npy --out P [--repeat 5] [--json F.json]

- One thread: faiss.omp_set_num_threads(1), and OMP/OpenBLAS/MKL thread variables set to 1 before the import.
- Inclusive threshold: FAISS keeps scores strictly greater than the radius, so query i is given
  radius_i = nextafter(float32(t_i), -inf) (the float32 just below t_i): in float32, s > radius_i <=> s >= t_i.
- Two timings (both after a warm-up pass, both excluding file I/O and the add):
  single  one query per range_search call (the decoding situation; FAISS's sequential SIMD path).
          ms_per_query = median over repeats of (time of the m calls / m): the same statistic as hsr's
          query_ms_median. ms_median_per_query = median over queries of each query's median over repeats.
  batch   all queries in one call (from 20 queries per call FAISS computes the scores with a BLAS sgemm, so its
          rounding differs from the single path). ms_per_query = median over repeats of (call time / m).
          FAISS 1.7.3 takes one radius per call; with per-query thresholds the batch call uses the smallest
          radius and each query's hits are then filtered to s > radius_i (the filter is inside the timed region).
- Results are saved per mode as CSR, ids sorted ascending within each query (FAISS returns them unsorted; the
  sort is outside the timed region): P.single.{lims,ids,scores}.npy and P.batch.{lims,ids,scores}.npy.

If FAISS cannot be imported it tries `apt-get update -qq && apt-get install -y -qq python3-faiss` (root only), and
if that fails it prints "faiss_range: SKIP: ..." and exits with status 3.
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

SKIP = 3


def import_faiss():
    try:
        import faiss  # noqa: F401
        return faiss
    except Exception as e:  # ImportError, or a numpy ABI mismatch under another interpreter
        first = e
    sysp = "/usr/bin/python3"
    if os.path.realpath(sys.executable) != os.path.realpath(sysp) and os.path.exists(sysp) \
            and not os.environ.get("HSR_FAISS_REEXEC"):
        # Debian's python3-faiss is built for the system interpreter: run there instead
        os.environ["HSR_FAISS_REEXEC"] = "1"
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sysp, [sysp, os.path.abspath(__file__)] + sys.argv[1:])
    if os.geteuid() == 0:
        print("faiss_range: FAISS not importable; installing python3-faiss with apt-get ...", file=sys.stderr)
        r = subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-faiss",
                           shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode == 0:
            if "/usr/lib/python3/dist-packages" not in sys.path:
                sys.path.append("/usr/lib/python3/dist-packages")
            try:
                import faiss  # noqa: F401
                return faiss
            except Exception as e:
                first = e
        else:
            lines = r.stderr.strip().splitlines()
            first = "apt-get failed: " + (lines[-1] if lines else f"status {r.returncode}")
    print(f"faiss_range: SKIP: FAISS unavailable for {sys.executable} ({first}); "
          "install python3-faiss (Debian) for /usr/bin/python3", file=sys.stderr)
    sys.exit(SKIP)


def to_csr(parts, m):
    """parts[i] = (ids, scores) of query i -> lims, ids (sorted ascending per query), scores."""
    import numpy as np
    lims = np.zeros(m + 1, dtype=np.int64)
    ids_out, sc_out = [], []
    for i, (ids, sc) in enumerate(parts):
        o = np.argsort(ids, kind="stable")
        ids_out.append(ids[o].astype(np.int64))
        sc_out.append(sc[o].astype(np.float32))
        lims[i + 1] = lims[i] + len(ids)
    cat = (lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dtype=dt))
    return lims, cat(ids_out, np.int64), cat(sc_out, np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--thresholds", required=True, help=".npy of m raw thresholds (or a single value)")
    ap.add_argument("--out", required=True, help="output prefix P")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", help="statistics JSON (default P.faiss.json)")
    a = ap.parse_args()
    faiss = import_faiss()
    import numpy as np

    faiss.omp_set_num_threads(1)
    keys = np.ascontiguousarray(np.load(a.keys), dtype=np.float32)
    queries = np.ascontiguousarray(np.load(a.queries), dtype=np.float32)
    t = np.asarray(np.load(a.thresholds), dtype=np.float32).reshape(-1)
    n, d = keys.shape
    m = queries.shape[0]
    if queries.shape[1] != d:
        sys.exit(f"faiss_range: error: query dimension {queries.shape[1]} != key dimension {d}")
    if t.size == 1:
        t = np.full(m, t[0], dtype=np.float32)
    if t.size != m:
        sys.exit(f"faiss_range: error: {t.size} thresholds for {m} queries")
    radius = np.nextafter(t, np.float32(-np.inf)).astype(np.float32)

    t0 = time.perf_counter()
    index = faiss.IndexFlatIP(d)
    index.add(keys)
    build_ms = (time.perf_counter() - t0) * 1e3

    # (a) one query per call
    def single_pass(times=None):
        parts = []
        for i in range(m):
            s = time.perf_counter()
            lims, D, I = index.range_search(queries[i:i + 1], float(radius[i]))
            if times is not None:
                times[i] = time.perf_counter() - s
            parts.append((I, D))
        return parts

    single_pass()  # warm-up
    per = np.zeros((a.repeat, m))
    for r in range(a.repeat):
        parts_single = single_pass(per[r])
    single_ms = float(np.median(per.sum(axis=1) / m) * 1e3)
    single_ms_med = float(np.median(np.median(per, axis=0)) * 1e3)

    # (b) all queries in one call
    rmin = float(radius.min())
    uniform = bool(np.all(radius == radius[0]))

    def batch_call():
        lims, D, I = index.range_search(queries, rmin)
        if uniform:
            return [(I[lims[i]:lims[i + 1]], D[lims[i]:lims[i + 1]]) for i in range(m)]
        parts = []
        for i in range(m):
            Di, Ii = D[lims[i]:lims[i + 1]], I[lims[i]:lims[i + 1]]
            keep = Di > radius[i]
            parts.append((Ii[keep], Di[keep]))
        return parts

    batch_call()  # warm-up
    bt = np.zeros(a.repeat)
    for r in range(a.repeat):
        s = time.perf_counter()
        parts_batch = batch_call()
        bt[r] = time.perf_counter() - s
    batch_ms = float(np.median(bt) / m * 1e3)

    res = {}
    for mode, parts in (("single", parts_single), ("batch", parts_batch)):
        lims, ids, sc = to_csr(parts, m)
        np.save(f"{a.out}.{mode}.lims.npy", lims)
        np.save(f"{a.out}.{mode}.ids.npy", ids)
        np.save(f"{a.out}.{mode}.scores.npy", sc)
        res[mode] = int(lims[-1])

    js = {
        "method": "faiss IndexFlatIP.range_search", "faiss_version": faiss.__version__, "threads": 1,
        "n": int(n), "d": int(d), "queries": int(m), "repeat": a.repeat,
        "build_ms": build_ms, "key_bytes": int(n) * int(d) * 4, "index_extra_bytes": 0, "keys_touched_frac": 1.0,
        "radius_rule": "radius_i = nextafter(float32(t_i), -inf): FAISS keeps score > radius, we want score >= t",
        "single": {"ms_per_query": single_ms, "ms_median_per_query": single_ms_med, "reported_total": res["single"]},
        "batch": {"ms_per_query": batch_ms, "reported_total": res["batch"], "blas_path": m >= 20,
                  "per_query_thresholds": "uniform" if uniform else
                  "one call with the smallest radius, then per-query filter s > radius_i (timed)"},
    }
    out = a.json or f"{a.out}.faiss.json"
    with open(out, "w") as f:
        json.dump(js, f, indent=1)
    print(f"faiss_range: {m} queries x {n} keys (d={d}): single {single_ms:.4f} ms/query, "
          f"batch {batch_ms:.4f} ms/query, {res['single']} reported")


if __name__ == "__main__":
    main()
