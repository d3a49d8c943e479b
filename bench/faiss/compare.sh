#!/usr/bin/env bash
# compare.sh [n] [d] [queries]: `hsr search` (block index and flat scan) against FAISS IndexFlatIP.range_search
# (one thread) on the same .npy files, for the `gaussian` and `clustered` datasets of make_data.py.
#
# For each dataset: makes the data in a temporary directory, runs
#   ./hsr search --index block|flat --repeat $REPEAT --stats ...   (at the repository root)
#   bench/faiss/faiss_range.py                                     (one query per call, and all queries in one call)
# checks every result set against float64 with SPEC §2's tolerance band (check_sets.py), and prints a Markdown
# table (table.py says what each column means).
#
# Defaults: n=131072 d=128 queries=64. Environment: REPEAT (5), SEED (1234), KEEP=1 keeps the temporary directory,
# HSR_BUILD_WAIT seconds to keep retrying a failing CLI build (1200: others may be mid-edit).
# Exit status: 0 all result sets exact; 1 some result set wrong or a run failed. FAISS missing (and not
# installable) is reported and skipped, not a failure.
set -uo pipefail
N="${1:-131072}"
D="${2:-128}"
M="${3:-64}"
REPEAT="${REPEAT:-5}"
SEED="${SEED:-1234}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY=/usr/bin/python3

if ! "$PY" -c 'import numpy' 2>/dev/null; then
  echo "compare.sh: numpy missing for $PY; installing python3-numpy" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-numpy) >/dev/null 2>&1 || {
    echo "compare.sh: error: numpy not available for $PY" >&2; exit 1; }
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/hsr-faiss.XXXXXX")"
if [ "${KEEP:-0}" = 1 ]; then
  echo "compare.sh: keeping $TMP" >&2
else
  trap 'rm -rf "$TMP"' EXIT
fi

# Build the CLI first (retrying while it does not compile), so build time never lands in a measurement.
deadline=$(( $(date +%s) + ${HSR_BUILD_WAIT:-1200} ))
until (cd "$ROOT" && ./hsr search --help >"$TMP/build.log" 2>&1); do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    cat "$TMP/build.log" >&2
    echo "compare.sh: error: ./hsr does not build" >&2
    exit 1
  fi
  echo "compare.sh: ./hsr not ready (build failed); retrying in 60 s" >&2
  sleep 60
done

"$PY" "$HERE/make_data.py" "$TMP" --n "$N" --d "$D" --queries "$M" --seed "$SEED" >&2 || exit 1

status=0
faiss_ok=1
tables=""
for ds in gaussian clustered; do
  dir="$TMP/$ds"
  thr_args=()
  t1="$("$PY" -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["threshold_repr"] or "")' "$dir/meta.json")"
  if [ -n "$t1" ]; then thr_args=(--threshold "$t1"); else thr_args=(--thresholds "$dir/thresholds.npy"); fi
  names=()
  for kind in block flat; do
    echo "compare.sh: $ds: hsr search --index $kind" >&2
    # ./hsr rebuilds itself when sources changed since its jar; if that build fails (someone mid-edit), wait.
    until (cd "$ROOT" && ./hsr search --keys "$dir/keys.npy" --queries "$dir/queries.npy" "${thr_args[@]}" \
          --out "$dir/hsr-$kind" --repeat "$REPEAT" --stats "$dir/hsr-$kind.json" --index "$kind") \
          >"$TMP/hsr.log" 2>&1; do
      if grep -q "hsr: error: build failed" "$TMP/hsr.log" && [ "$(date +%s)" -lt "$deadline" ]; then
        echo "compare.sh: ./hsr rebuild failed; retrying in 60 s" >&2
        sleep 60
        continue
      fi
      cat "$TMP/hsr.log" >&2
      echo "compare.sh: error: hsr search --index $kind failed on $ds" >&2
      exit 1
    done
    grep -v "^WARNING: Using incubator modules" "$TMP/hsr.log" >&2
    names+=("hsr-$kind=$dir/hsr-$kind")
  done
  faiss_json=()
  if [ "$faiss_ok" = 1 ]; then
    echo "compare.sh: $ds: FAISS range_search" >&2
    "$PY" "$HERE/faiss_range.py" --keys "$dir/keys.npy" --queries "$dir/queries.npy" \
      --thresholds "$dir/thresholds.npy" --out "$dir/faiss" --repeat "$REPEAT" --json "$dir/faiss.json" >&2
    rc=$?
    if [ "$rc" = 0 ]; then
      names+=("faiss-single=$dir/faiss.single" "faiss-batch=$dir/faiss.batch")
      faiss_json=(--faiss "$dir/faiss.json")
    elif [ "$rc" = 3 ]; then
      echo "compare.sh: FAISS unavailable: comparing hsr block and flat only" >&2
      faiss_ok=0
    else
      echo "compare.sh: error: faiss_range.py failed ($rc) on $ds" >&2
      exit 1
    fi
  fi
  echo "compare.sh: $ds: checking result sets against float64" >&2
  "$PY" "$HERE/check_sets.py" --keys "$dir/keys.npy" --queries "$dir/queries.npy" \
    --thresholds "$dir/thresholds.npy" --json "$dir/check.json" "${names[@]}" >&2
  rc=$?
  if [ "$rc" != 0 ]; then
    status=1
    [ -f "$dir/check.json" ] || { echo "compare.sh: error: check_sets.py failed ($rc)" >&2; exit 1; }
  fi
  tables+="$("$PY" "$HERE/table.py" --name "$ds" --meta "$dir/meta.json" --check "$dir/check.json" \
    --block "$dir/hsr-block.json" --flat "$dir/hsr-flat.json" "${faiss_json[@]}")"$'\n\n'
done

echo
echo "## hsr search vs FAISS range_search (1 thread; $(nproc) cores on this machine; repeat $REPEAT, seed $SEED)"
echo
printf '%s' "$tables"
echo "FAISS is given radius nextafter(t, -inf) (it keeps scores strictly greater than the radius)."
if [ "$status" != 0 ]; then
  echo "compare.sh: FAILED: some result set is not exact (see check_sets lines above)" >&2
fi
exit "$status"
