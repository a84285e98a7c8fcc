#!/usr/bin/env bash
# make bench: run every package's Go benchmarks and print a summary table.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
out=build/bench.txt
go test -run '^$' -bench . -benchmem -count 1 -timeout 60m ./... | tee "$out"
echo
echo "== summary (also in $out) =="
grep -E '^Benchmark' "$out" | awk '{printf "%-60s", $1; for (i=3;i<=NF;i+=2) printf "  %s %s", $i, $(i+1); printf "\n"}'
