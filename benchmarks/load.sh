#!/usr/bin/env bash
# load.sh: requests per second of the demo's fast route with and without the
# middleware, under hey on loopback, in alternating rounds; and a check that
# vitals counted exactly the requests hey sent.
#
# usage: benchmarks/load.sh [ROUNDS] [REQUESTS] [CONNECTIONS]   (from the repository root)
set -euo pipefail
rounds=${1:-5} n=${2:-100000} conc=${3:-32}
addr=127.0.0.1:18181
command -v hey >/dev/null || { echo "load.sh: hey is not installed (apt-get install hey)" >&2; exit 2; }
bin=$(mktemp -d)/demo
trap 'kill $pid 2>/dev/null || true; rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./examples/demo
pid=
start() {
	"$bin" -addr "$addr" "$@" 2>/dev/null & pid=$!
	for _ in $(seq 100); do curl -sf -o /dev/null "http://$addr/fast" && return; sleep 0.05; done
	echo "load.sh: the demo did not start" >&2; exit 1
}
stop() { kill -INT "$pid"; wait "$pid" || true; }
rps() { hey -n "$n" -c "$conc" "http://$addr/fast" | awk '/Requests\/sec/ { print $2 }'; }
counted() {
	curl -s "http://$addr/metrics?format=prometheus" |
		awk '/^http_requests_total\{route="GET \/fast",code="200",method="get"\}/ { print $NF }'
}
bare=() vitals=()
for r in $(seq "$rounds"); do
	start -bare; bare+=("$(rps)"); stop
	start; vitals+=("$(rps)"); got=$(counted); stop
	want=$((n + 1)) # hey's requests and start's readiness probe
	if [ "$got" != "$want" ]; then echo "load.sh: round $r: vitals counted $got requests of GET /fast, want $want" >&2; exit 1; fi
	echo "round $r: bare ${bare[-1]} req/s, vitals ${vitals[-1]} req/s, counted $got of $want" >&2
done
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
mb=$(median "${bare[@]}") mv=$(median "${vitals[@]}")
echo "load: hey -n $n -c $conc, $rounds rounds, medians: bare $mb req/s, vitals $mv req/s, ratio vitals/bare $(awk -v a="$mv" -v b="$mb" 'BEGIN { printf "%.3f", a / b }'); counts exact"
