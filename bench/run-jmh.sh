#!/usr/bin/env bash
# Runs the JMH benchmarks: bench/run-jmh.sh [JMH arguments], e.g. `bench/run-jmh.sh KernelBenchmark -f 1 -wi 2 -i 3`
# (`-h` lists JMH's options, `-l` the benchmarks). Rebuilds bench/target/benchmarks.jar first when it is missing or
# older than any source or pom of core/ and bench/. Each benchmark picks its own fork flags (heap, pre-touch, and
# --add-modules for the Vector twins), so do not run with -f 0: the Vector twins would fail without the module.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$(dirname "${BASH_SOURCE[0]}")/../bin/find-jdk.sh"
cd "$ROOT"
JAR=bench/target/benchmarks.jar
if [ ! -f "$JAR" ] || [ -n "$(find pom.xml core/pom.xml core/src bench/pom.xml bench/src -newer "$JAR" -type f -print -quit)" ]; then
  echo "run-jmh: building $JAR" >&2
  mvn -B -q -DskipTests package -pl bench -am
fi
exec java -jar "$JAR" "$@"
