#!/usr/bin/env bash
# The sharded cache's benchmark (issue 17), on this machine's loopback: `hsr cluster bench` twice, with
#   1. three members inside the benchmark's JVM, and
#   2. three `hsr cluster serve` processes (-Xmx2g each) and the benchmark as their client,
# each timing the same decoding attention through local caches and through the cluster. Writes
# bench/results/cluster-inproc.json and cluster-procs.json and prints both. Arguments go to both runs
# (for example --n 16384 --batch 8). Loopback only: no network latency or bandwidth is measured, and all members share
# this machine's cores, so the cluster cannot be faster here than the cores allow.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/bench/results"
mkdir -p "$OUT"
./hsr --version >/dev/null # build first
echo "== 1. three members in the benchmark's JVM"
./hsr cluster bench --json "$OUT/cluster-inproc.json" "$@"
echo "== 2. three member processes"
NAME="bench-$$"
PORTS=(5711 5712 5713)
JOIN="127.0.0.1:${PORTS[0]},127.0.0.1:${PORTS[1]},127.0.0.1:${PORTS[2]}"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
for p in "${PORTS[@]}"; do
  HSR_JAVA_OPTS="-Xmx2g -XX:MaxDirectMemorySize=4g" ./hsr cluster serve --name "$NAME" --port "$p" --join "$JOIN" \
    > "/tmp/hsr-cluster-bench-$p.log" 2>&1 &
  PIDS+=($!)
done
for p in "${PORTS[@]}"; do
  for _ in $(seq 1 120); do grep -q ready "/tmp/hsr-cluster-bench-$p.log" && break; sleep 1; done
done
sleep 3 # the last member's join settles the partition table
./hsr cluster bench --name "$NAME" --join "$JOIN" --json "$OUT/cluster-procs.json" "$@"
