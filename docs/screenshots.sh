#!/bin/sh
# Takes the dashboard screenshots in docs/ with headless Chromium, at
# desktop width (docs/dashboard.png) and on a 360 px phone
# (docs/dashboard-phone.png), under traffic, and at desktop width again
# once the traffic has stopped for longer than the live window
# (docs/dashboard-stopped.png): the live cards then say so.
#
#   docs/screenshots.sh          the demo on loopback, under traffic that
#                                this script drives with curl
#   docs/screenshots.sh sample   a page rendered from the hand-built
#                                snapshot of page_test.go, to judge the
#                                design without waiting for traffic (the
#                                stopped one as if traffic stopped 17 s ago)
#
# Needs Go, curl and Chromium (apt-get install chromium). Settings, from the
# environment: PORT (default 18080), TRAFFIC_SECONDS (how long to drive the
# demo, default 150: the hour chart then has a few minutes to show), OUT
# (the path prefix of the two PNGs, default docs/dashboard), CHROMIUM.
set -eu
cd "$(dirname "$0")/.."

mode=${1:-demo}
PORT=${PORT:-18080}
TRAFFIC_SECONDS=${TRAFFIC_SECONDS:-150}
OUT=${OUT:-docs/dashboard}
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
if [ -z "$CHROMIUM" ]; then
	echo "screenshots: Chromium not found (apt-get install chromium, or set CHROMIUM)" >&2
	exit 1
fi

tmp=$(mktemp -d)
demo_pid=
cleanup() {
	if [ -n "$demo_pid" ]; then kill "$demo_pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# shot FILE WIDTH HEIGHT URL: one screenshot, in a fresh profile with
# Chromium's own network chatter off. The window is tall enough for the
# whole page.
shot() {
	rm -f "$1"
	"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--hide-scrollbars --user-data-dir="$(mktemp -d "$tmp/profile.XXXXXX")" \
		--window-size="$2,$3" --screenshot="$1" "$4" >"$tmp/chromium.log" 2>&1 || true
	if [ ! -s "$1" ]; then
		echo "screenshots: Chromium wrote no $1:" >&2
		tail -20 "$tmp/chromium.log" >&2
		exit 1
	fi
	echo "screenshots: wrote $1"
}

# shots URL: the desktop and the phone screenshot of URL.
shots() {
	shot "$OUT.png" 1200 2000 "$1"
	shot "$OUT-phone.png" 360 3000 "$1"
}

case $mode in
sample)
	go test -count=1 -run '^TestPageSample$' -page-sample="$tmp/sample.html" . >/dev/null
	go test -count=1 -run '^TestPageSample$' -page-sample="$tmp/stopped.html" -page-sample-stopped=17s . >/dev/null
	shots "file://$tmp/sample.html"
	shot "$OUT-stopped.png" 1200 2000 "file://$tmp/stopped.html"
	;;
demo)
	addr=127.0.0.1:$PORT
	go build -o "$tmp/demo" ./examples/demo
	"$tmp/demo" -addr "$addr" 2>"$tmp/demo.log" &
	demo_pid=$!
	i=0
	until curl -fs -o /dev/null "http://$addr/"; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$demo_pid" 2>/dev/null; then
			echo "screenshots: the demo did not start:" >&2
			cat "$tmp/demo.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	# Traffic, bounded in time: four clients, mostly fast pages, some slow
	# ones, some 404s and 500s, logins that start sessions.
	echo "screenshots: driving traffic for ${TRAFFIC_SECONDS}s"
	end=$(($(date +%s) + TRAFFIC_SECONDS))
	b=http://$addr
	workers=
	for w in 1 2 3 4; do
		(
			n=0
			while [ "$(date +%s)" -lt "$end" ]; do
				n=$((n + 1))
				set -- "$b/fast" "$b/fast" "$b/fast" "$b/" "$b/fast" "$b/missing" "$b/fast" "$b/nowhere"
				if [ $((n % 3)) -eq 0 ]; then set -- "$@" "$b/slow"; fi
				if [ $((n % 7)) -eq "$w" ]; then set -- "$@" "$b/fail"; fi
				if [ $((n % 50)) -eq 1 ]; then set -- "$@" "$b/login"; fi
				curl -s -b "$tmp/jar$w" -c "$tmp/jar$w" "$@" >/dev/null || true
				sleep 0.05
			done
		) &
		workers="$workers $!"
	done
	# The pictures under traffic, taken while it runs; then one once the
	# traffic has stopped for longer than the live window (10 s).
	sleep $((TRAFFIC_SECONDS > 20 ? TRAFFIC_SECONDS - 12 : TRAFFIC_SECONDS / 2))
	shots "http://$addr/metrics"
	wait $workers
	sleep 13
	shot "$OUT-stopped.png" 1200 2000 "http://$addr/metrics"
	;;
*)
	echo "usage: docs/screenshots.sh [demo|sample]" >&2
	exit 2
	;;
esac
