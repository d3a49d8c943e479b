#!/usr/bin/env bash
# Perplexity table: teacher-forced loss of the embedded stories260K model on a held-out text, dense softmax against
# every sparse-softmax policy of SPEC §4 at several settings, and dense ReLU^α against ReLU^α through the index.
#
#   bench/perplexity-table.sh [TEXT]     (default: model/src/test/resources/org/hsr/model/eval-stories.txt)
#
# Runs `./hsr perplexity --json` once per setting (each run is a fresh JVM, about a second) and prints a Markdown
# table on stdout. Columns: mean NLL (nats/token), perplexity, Δ NLL against dense softmax, kept fraction (kept keys
# over visible keys, summed over every layer, head and position; a fallback row counts as fully kept), keys scored
# fraction (keys whose exact score was computed over visible keys; above 1 when fallback rows are scored twice, once
# through the index and once densely), fallback rows (rows computed densely because the policy kept nothing or judged
# dense cheaper) and the certified dropped-mass bound (largest of any row; epsilon policy only).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TEXT="${1:-$ROOT/model/src/test/resources/org/hsr/model/eval-stories.txt}"
[ -f "$TEXT" ] || { echo "perplexity-table: no such text file: $TEXT" >&2; exit 1; }
PY=/usr/bin/python3
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

# label|flags (one run per line, in table order)
RUNS=(
  "dense softmax|--attention dense --kind softmax"
  "hsr softmax epsilon:1e-1|--attention hsr --kind softmax --select epsilon:1e-1"
  "hsr softmax epsilon:1e-2|--attention hsr --kind softmax --select epsilon:1e-2"
  "hsr softmax epsilon:1e-3|--attention hsr --kind softmax --select epsilon:1e-3"
  "hsr softmax epsilon:1e-4|--attention hsr --kind softmax --select epsilon:1e-4"
  "hsr softmax top:4|--attention hsr --kind softmax --select top:4"
  "hsr softmax top:8|--attention hsr --kind softmax --select top:8"
  "hsr softmax top:16|--attention hsr --kind softmax --select top:16"
  "hsr softmax top:32|--attention hsr --kind softmax --select top:32"
  "hsr softmax top:64|--attention hsr --kind softmax --select top:64"
  "hsr softmax threshold:-2|--attention hsr --kind softmax --select threshold:-2"
  "hsr softmax threshold:-1|--attention hsr --kind softmax --select threshold:-1"
  "hsr softmax threshold:0|--attention hsr --kind softmax --select threshold:0"
  "hsr softmax threshold:1|--attention hsr --kind softmax --select threshold:1"
  "hsr softmax threshold:2|--attention hsr --kind softmax --select threshold:2"
  "dense relu α=1 b=0|--attention dense --kind relu --alpha 1 --bias 0"
  "hsr relu α=1 b=0|--attention hsr --kind relu --alpha 1 --bias 0"
  "dense relu α=2 b=0|--attention dense --kind relu --alpha 2 --bias 0"
  "hsr relu α=2 b=0|--attention hsr --kind relu --alpha 2 --bias 0"
)

i=0
for run in "${RUNS[@]}"; do
  label="${run%%|*}"
  flags="${run#*|}"
  i=$((i + 1))
  json="$OUT/$(printf '%02d' "$i").json"
  echo "perplexity-table: [$i/${#RUNS[@]}] $label" >&2
  # shellcheck disable=SC2086 # flags are word-split on purpose
  "$ROOT/hsr" perplexity --text "$TEXT" $flags --json "$json" >/dev/null
  printf '%s\t%s\n' "$label" "$json" >>"$OUT/index.tsv"
done

"$PY" - "$OUT/index.tsv" "$TEXT" <<'PYEOF'
import json, math, sys

index, text = sys.argv[1], sys.argv[2]
runs = []
with open(index, encoding="utf-8") as f:
    for line in f:
        label, path = line.rstrip("\n").split("\t")
        with open(path, encoding="utf-8") as jf:
            runs.append((label, json.load(jf)))

tokens = {j["tokens"] for _, j in runs}
assert len(tokens) == 1, f"runs scored different token counts: {tokens}"
dense = next(j for label, j in runs if label == "dense softmax")
base = dense["mean_nll"]
first = runs[0][1]

def num(x, fmt):
    return "—" if x is None else format(x, fmt)

print(f"Text: `{text.split('/')[-1]}`, {tokens.pop()} predicted tokens; model {first['model']}, "
      f"tokenizer {first['tokenizer']}; kernels {first['kernels']}; {first.get('rows', '?')} attention rows "
      f"(layers × query heads × positions).")
print()
print("| setting | mean NLL | perplexity | Δ NLL vs dense softmax | kept fraction | keys scored fraction "
      "| fallback rows | dropped-mass bound |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for label, j in runs:
    nll = j["mean_nll"]
    delta = nll - base
    bound = j.get("dropped_mass_bound_max")
    print(f"| {label} | {nll:.5f} | {j['perplexity']:.4f} | {delta:+.2e} | {num(j.get('kept_frac_mean'), '.4f')} "
          f"| {num(j.get('keys_touched_frac'), '.4f')} | {j.get('fallback_rows', '—')} "
          f"| {num(bound, '.2e') if bound is not None else '—'} |")

print()
by = dict(runs)
for a in (1, 2):
    d, h = by.get(f"dense relu α={a} b=0"), by.get(f"hsr relu α={a} b=0")
    if d and h:
        print(f"ReLU α={a}: |NLL(hsr) − NLL(dense)| = {abs(h['mean_nll'] - d['mean_nll']):.2e} nats.")
PYEOF
