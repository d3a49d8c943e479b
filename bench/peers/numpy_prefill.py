#!/usr/bin/python3
"""Blocked causal prefill with NumPy/OpenBLAS: the BLAS peer of `hsr bench prefill` (cli PrefillPeer).

Usage: numpy_prefill.py --q Q.npy --k K.npy --v V.npy --out O.npy --kind relu|softmax [--bias B] [--alpha A]
                        [--block 512] [--repeat 3] [--json F.json]

What a Python user writes (issue 15): for each block of 512 queries (the last m positions of n keys),
  S = Q_blk @ K[:end].T * c;  ReLU^alpha(S - b) or softmax(S - rowmax);  mask the diagonal block;  O = W @ V[:end] / rowsum.
- Threads: OPENBLAS_NUM_THREADS as given by the caller (the benchmark sets it to --threads).
- Timing: the median over --repeat runs after one warm-up, excluding file I/O. Also times one sgemm of the shape the
  prefill uses (512 x d times d x n) and reports its GFLOP/s: the practical ceiling of this machine's BLAS.
- Reports the OpenBLAS core type it runs (openblas_get_corename) and its configuration.
If NumPy cannot be imported it tries `apt-get install -y python3-numpy libopenblas0-pthread` (root only), and if
that fails it prints "numpy_prefill: SKIP: ..." and exits with status 3.
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys
import time

SKIP = 3


def import_numpy():
    try:
        import numpy
        return numpy
    except Exception as e:
        first = e
    if os.geteuid() == 0:
        print("numpy_prefill: NumPy not importable; installing python3-numpy libopenblas0-pthread with apt-get ...",
              file=sys.stderr)
        r = subprocess.run("(apt-get install -y -qq python3-numpy libopenblas0-pthread || (apt-get update -qq && "
                           "apt-get install -y -qq python3-numpy libopenblas0-pthread))", shell=True,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode == 0:
            if "/usr/lib/python3/dist-packages" not in sys.path:
                sys.path.append("/usr/lib/python3/dist-packages")
            try:
                import numpy
                return numpy
            except Exception as e:
                first = e
        else:
            lines = r.stderr.strip().splitlines()
            first = "apt-get failed: " + (lines[-1] if lines else f"status {r.returncode}")
    print(f"numpy_prefill: SKIP: NumPy unavailable for {sys.executable} ({first}); "
          "install python3-numpy and libopenblas0-pthread (Debian)", file=sys.stderr)
    sys.exit(SKIP)


def blas_info(np):
    """The OpenBLAS core type and configuration NumPy runs, when the library answers."""
    for name in ("libopenblas.so.0", "libopenblasp-r0.3.21.so", "libopenblas64_.so.0"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        info = {"library": name}
        for fn in ("openblas_get_corename", "openblas_get_config"):
            if hasattr(lib, fn):
                getattr(lib, fn).restype = ctypes.c_char_p
                info[fn.replace("openblas_get_", "")] = getattr(lib, fn)().decode()
        if hasattr(lib, "openblas_get_num_threads"):
            info["threads"] = lib.openblas_get_num_threads()
        return info
    return {"library": "unknown"}


def prefill(np, q, k, v, kind, bias, alpha, c, block):
    m, n = q.shape[0], k.shape[0]
    out = np.empty((m, v.shape[1]), dtype=np.float32)
    off = n - m  # query i is position off + i
    for b0 in range(0, m, block):
        b1 = min(m, b0 + block)
        end = off + b1  # keys visible to the block's last row
        s = q[b0:b1] @ k[:end].T
        s *= c
        # the diagonal part: row i sees keys j <= off + i
        start = off + b0
        if start + 1 < end:
            tri = np.arange(end - start)[None, :] > np.arange(b1 - b0)[:, None]
            s[:, start:][tri] = -np.inf  # exp(-inf) = 0 and max(-inf - b, 0) = 0
        if kind == "softmax":
            s -= s.max(axis=1, keepdims=True)
            np.exp(s, out=s)
        else:
            s -= bias
            np.maximum(s, 0, out=s)
            if alpha > 1:
                np.power(s, alpha, out=s)
        z = s.sum(axis=1, keepdims=True)
        o = s @ v[:end]
        np.divide(o, z, out=o, where=z > 0)
        o[(z == 0)[:, 0]] = 0
        out[b0:b1] = o
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--q", required=True)
    ap.add_argument("--k", required=True)
    ap.add_argument("--v", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--kind", choices=["relu", "softmax"], required=True)
    ap.add_argument("--bias", type=float, default=0.0)
    ap.add_argument("--alpha", type=int, default=1)
    ap.add_argument("--block", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args()
    np = import_numpy()
    q, k, v = (np.load(p).astype(np.float32, copy=False) for p in (a.q, a.k, a.v))
    d = q.shape[1]
    c = np.float32(1 / np.sqrt(d))
    ms = []
    for rep in range(a.repeat + 1):
        t = time.perf_counter()
        out = prefill(np, q, k, v, a.kind, np.float32(a.bias), a.alpha, c, a.block)
        if rep > 0:
            ms.append((time.perf_counter() - t) * 1e3)
    np.save(a.out, out)
    # the sgemm ceiling: one block of the prefill's shape, 512 x d times d x n, median of 5
    n = k.shape[0]
    qb = np.ascontiguousarray(q[:min(a.block, q.shape[0])])
    rows = qb.shape[0]
    times = []
    for rep in range(6):
        t = time.perf_counter()
        s = qb @ k.T
        if rep > 0:
            times.append(time.perf_counter() - t)
    times.sort()
    sgemm_gflops = 2.0 * rows * d * n / times[len(times) // 2] / 1e9
    ms.sort()
    res = {"ms_median": ms[len(ms) // 2], "ms_all": ms, "sgemm_gflops": sgemm_gflops,
           "sgemm_shape": [rows, d, n], "numpy": np.__version__, "blas": blas_info(np),
           "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
           "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE"), "block": a.block, "kind": a.kind}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
