#!/usr/bin/python3
"""Print compare.sh's Markdown table for one dataset from the JSON files of one run.

Usage: table.py --name NAME --meta meta.json --check check.json --block block.json --flat flat.json [--faiss faiss.json]

Columns:
  ms/query            per query; hsr: query_ms_median (median over --repeat runs of batch time / queries);
                      FAISS: the same statistic for one-query calls and for one call with all queries
  vs FAISS 1-q/batch  speed-up: FAISS's ms/query divided by this method's (> 1 means faster than FAISS)
  keys scored exactly fraction of (query, key) pairs whose exact fp32 dot product was computed (FAISS: all)
  exact               check_sets.py's verdict against float64 with SPEC §2's tolerance band
  build ms            index build (hsr: build_ms, the first build, JIT cold / build_warm_ms, the median of three more;
                      FAISS: IndexFlatIP.add)
  build / flat scan   warm build ms divided by one flat scan (hsr --index flat ms/query, also warm)
  append µs/key       adding the n keys one per call to an empty index (append_us_per_key)
  extra mem           index bytes beyond one fp32 copy of the keys, % of key bytes (index_extra_bytes; flat: 0),
                      after the bulk build / after the one-key appends
  reported            reported_total / (queries * n)
"""
import argparse
import json


def load(p):
    with open(p) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser()
    for a in ("--name", "--meta", "--check", "--block", "--flat"):
        ap.add_argument(a, required=True)
    ap.add_argument("--faiss")
    a = ap.parse_args()
    meta, check, block, flat = load(a.meta), load(a.check), load(a.block), load(a.flat)
    fz = load(a.faiss) if a.faiss else None
    n, d, m = meta["n"], meta["d"], meta["queries"]
    res = check["results"]
    flat_ms = flat["query_ms_median"]
    f1 = fz["single"]["ms_per_query"] if fz else None
    fb = fz["batch"]["ms_per_query"] if fz else None

    rows = []

    def row(label, key, ms, touched, build_ms, extra_bytes, key_bytes, stats=None):
        c = res.get(key)
        exact = "n/a" if c is None else ("yes" if c["ok"] else "**NO**")
        reported = None if c is None else c["reported_total"]
        rows.append([
            label,
            f"{ms:.3f}",
            f"{f1 / ms:.2f}×" if f1 else "n/a",
            f"{fb / ms:.2f}×" if fb else "n/a",
            f"{touched:.4f}",
            exact,
            f"{build_ms:.1f}" if not stats or "build_warm_ms" not in stats
            else f"{build_ms:.1f} / {stats['build_warm_ms']:.1f}",
            f"{(stats or {}).get('build_warm_ms', build_ms) / flat_ms:.1f}",
            f"{stats['append_us_per_key']:.2f}" if stats and "append_us_per_key" in stats else "n/a",
            f"{100.0 * extra_bytes / key_bytes:.1f}%" if not stats or "index_extra_bytes_appended" not in stats
            else f"{100.0 * extra_bytes / key_bytes:.1f}% / {100.0 * stats['index_extra_bytes_appended'] / key_bytes:.1f}%",
            "n/a" if reported is None else f"{reported / (m * n):.4%}",
        ])

    row("hsr search --index block", "hsr-block", block["query_ms_median"], block["keys_touched_frac"],
        block["build_ms"], block.get("index_extra_bytes", 0), block["key_bytes"], block)
    row("hsr search --index flat", "hsr-flat", flat_ms, flat["keys_touched_frac"],
        flat["build_ms"], flat.get("index_extra_bytes", 0), flat["key_bytes"], flat)
    if fz:
        row("FAISS IndexFlatIP, 1 query/call", "faiss-single", f1, 1.0, fz["build_ms"], 0, fz["key_bytes"])
        bl = "BLAS" if fz["batch"]["blas_path"] else "no BLAS: < 20 queries"
        row(f"FAISS IndexFlatIP, {m} queries/call ({bl})", "faiss-batch", fb, 1.0, fz["build_ms"], 0,
            fz["key_bytes"])

    thr = (f"t = {meta['threshold_repr']} (raw dot product)" if meta.get("threshold") is not None
           else "per-query t (about 1% of keys each)")
    print(f"### {a.name}: n = {n}, d = {d}, {m} queries, {thr}")
    print()
    head = ["method", "ms/query", "vs FAISS 1-query", "vs FAISS batch", "keys scored exactly", "exact",
            "build ms (cold / warm)", "build / flat scan", "append µs/key", "extra mem (% keys)", "reported"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    print(f"float64 truth: {check['truth_reported_total']} reported ({check['truth_reported_total'] / (m * n):.4%}); "
          f"{check['in_band_keys_total']} (query, key) pairs inside the tolerance band; in-band differences: "
          + ", ".join(f"{k} {v['in_band_differences']}" for k, v in res.items()))
    if fz is None:
        print("FAISS: skipped (not available).")
    print()


if __name__ == "__main__":
    main()
