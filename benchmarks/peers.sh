#!/usr/bin/env bash
# peers.sh: runs this module's benchmarks in interleaved rounds (one
# -count 1 run of the whole suite per round, so a burst of noise on a shared
# machine hits one sample of each benchmark), keeps the raw output, and
# prints a markdown table of medians.
#
# usage: benchmarks/peers.sh [ROUNDS] [CPUS]   (from the repository root)
set -euo pipefail
rounds=${1:-6} cpus=${2:-1,2}
cd "$(dirname "$0")"
bin=$(mktemp -d)/peers.test
trap 'rm -rf "$(dirname "$bin")"' EXIT
go test -c -o "$bin" .
raw=results.txt
{
	echo "# $(go version) on $(uname -sm), $(nproc) CPUs, $(date -u +%Y-%m-%d); $rounds rounds, GOMAXPROCS $cpus"
	for r in $(seq "$rounds"); do
		echo "round $r/$rounds" >&2
		"$bin" -test.run '^$' -test.bench . -test.benchmem -test.count 1 -test.cpu "$cpus" -test.benchtime 300ms
	done
} > "$raw"
go run ./cmd/table < "$raw"
