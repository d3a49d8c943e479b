#!/usr/bin/python3
"""Check half-space result sets against float64 ground truth with SPEC §2's tolerance band.

Usage: check_sets.py --keys K.npy --queries Q.npy --thresholds T.npy [--json OUT.json] NAME=PREFIX [NAME=PREFIX ...]

Each PREFIX names a CSR result: PREFIX.lims.npy (m+1 int64), PREFIX.ids.npy (int64), PREFIX.scores.npy (float32,
optional). For query i with threshold t_i (taken as float32, the value every method was given) and key j, with
s = <q_i, k_j> in float64 and band = 1e-6 * d * ||q_i||_2 * ||k_j||_2:
  s >  t_i + band  -> must be reported (else a miss)
  s <  t_i - band  -> must not be reported (else a false hit)
  otherwise        -> may go either way (a disagreement with s >= t_i is counted as an "in-band difference",
                      not an error)
A result is also wrong if its lims are malformed, ids are out of range, repeated or not ascending within a query,
or a reported score differs from the float64 dot product by more than the band.

Prints one line per result and exits 1 if any result is wrong (0 otherwise).
"""
import argparse
import json
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--thresholds", required=True)
    ap.add_argument("--json")
    ap.add_argument("results", nargs="+", metavar="NAME=PREFIX")
    a = ap.parse_args()

    keys = np.load(a.keys)
    queries = np.load(a.queries)
    n, d = keys.shape
    m = queries.shape[0]
    t = np.asarray(np.load(a.thresholds), dtype=np.float32).reshape(-1).astype(np.float64)
    if t.size == 1:
        t = np.full(m, t[0])
    q64 = queries.astype(np.float64)
    qn = np.linalg.norm(q64, axis=1)

    # float64 scores, n x m, in chunks of keys
    S = np.empty((n, m))
    kn = np.empty(n)
    for s in range(0, n, 65536):
        k64 = keys[s:s + 65536].astype(np.float64)
        S[s:s + 65536] = k64 @ q64.T
        kn[s:s + 65536] = np.linalg.norm(k64, axis=1)
    must_in = np.empty((n, m), dtype=bool)
    must_out = np.empty((n, m), dtype=bool)
    inband_total = 0
    truth_total = 0
    for i in range(m):
        band = 1e-6 * d * qn[i] * kn
        must_in[:, i] = S[:, i] > t[i] + band
        must_out[:, i] = S[:, i] < t[i] - band
        inband_total += int(np.count_nonzero(~must_in[:, i] & ~must_out[:, i]))
        truth_total += int(np.count_nonzero(S[:, i] >= t[i]))

    report = {"n": int(n), "d": int(d), "queries": int(m), "truth_reported_total": truth_total,
              "in_band_keys_total": inband_total, "results": {}}
    bad_any = False
    for spec in a.results:
        name, _, prefix = spec.partition("=")
        r = {"prefix": prefix}
        problems = []
        try:
            lims = np.load(prefix + ".lims.npy")
            ids = np.load(prefix + ".ids.npy")
        except OSError as e:
            problems.append(f"cannot read: {e}")
            lims = ids = None
        try:
            scores = np.load(prefix + ".scores.npy")
        except OSError:
            scores = None
        misses = false_hits = inband_diff = score_bad = 0
        if lims is not None:
            if lims.shape != (m + 1,) or lims[0] != 0 or np.any(np.diff(lims) < 0) or lims[-1] != ids.size:
                problems.append("malformed lims")
            elif ids.size and (ids.min() < 0 or ids.max() >= n):
                problems.append("id out of range")
            else:
                if scores is not None and scores.size != ids.size:
                    problems.append("scores and ids differ in length")
                    scores = None
                for i in range(m):
                    ii = ids[lims[i]:lims[i + 1]]
                    if ii.size > 1 and np.any(np.diff(ii) <= 0):
                        problems.append(f"query {i}: ids not strictly ascending")
                        ii = np.unique(ii)
                    got = np.zeros(n, dtype=bool)
                    got[ii] = True
                    misses += int(np.count_nonzero(must_in[:, i] & ~got))
                    false_hits += int(np.count_nonzero(must_out[:, i] & got))
                    inband_diff += int(np.count_nonzero((got != (S[:, i] >= t[i])) & ~must_in[:, i] & ~must_out[:, i]))
                    if scores is not None and ids[lims[i]:lims[i + 1]].size:
                        jj = ids[lims[i]:lims[i + 1]]
                        err = np.abs(scores[lims[i]:lims[i + 1]].astype(np.float64) - S[jj, i])
                        score_bad += int(np.count_nonzero(err > 1e-6 * d * qn[i] * kn[jj]))
        if misses:
            problems.append(f"{misses} misses")
        if false_hits:
            problems.append(f"{false_hits} false hits")
        if score_bad:
            problems.append(f"{score_bad} scores off by more than the band")
        ok = not problems
        bad_any |= not ok
        r.update({"ok": ok, "reported_total": None if lims is None else int(lims[-1]), "misses": misses,
                  "false_hits": false_hits, "in_band_differences": inband_diff, "score_errors": score_bad,
                  "problems": problems[:20]})
        report["results"][name] = r
        print(f"check_sets: {name}: {'OK' if ok else 'WRONG'}: reported {r['reported_total']} "
              f"(float64 truth {truth_total}), misses {misses}, false hits {false_hits}, "
              f"in-band differences {inband_diff} (of {inband_total} in-band keys)"
              + ("" if ok else "; " + "; ".join(problems[:5])))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
    sys.exit(1 if bad_any else 0)


if __name__ == "__main__":
    main()
