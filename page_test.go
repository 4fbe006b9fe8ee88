package vitals

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	pageSample      = flag.String("page-sample", "", "write the dashboard of the sample snapshot to this file")
	pageSampleQuery = flag.String("page-sample-query", "", "the query of the -page-sample page, as in range=start")
	pageSampleStop  = flag.Duration("page-sample-stopped", 0, "draw the -page-sample page as if traffic had stopped this long before it")
)

// sampleSnapshot is a realistic snapshot, built by hand: a server started
// 48 minutes before now, 22 seconds into the current minute, with a burst
// of errors some minutes ago and routes from microseconds to seconds.
func sampleSnapshot() *Snapshot {
	now := time.Date(2026, 3, 1, 14, 7, 22, 0, time.UTC)
	const n = 60
	s := &Snapshot{
		Time: now, Start: now.Add(-48*time.Minute - 22*time.Second), Uptime: 48*time.Minute + 22*time.Second,
		InFlight: 3, Connections: 14, SessionsActive: 57,
		Runtime: Runtime{Goroutines: 41, HeapBytes: 6_400_000, TotalBytes: 19_000_000, GCCycles: 312, GCPause: 41 * time.Millisecond},
	}
	w := &s.Window
	w.Start = now.Truncate(time.Minute).Add(-(n - 1) * time.Minute)
	w.BucketWidth = time.Minute
	const noData = 11 // buckets before counting started
	w.NoDataAt = make([]bool, n)
	w.Counts = make([]uint64, n)
	w.Errors = make([]uint64, n)
	w.P50 = make([]time.Duration, n)
	w.P90 = make([]time.Duration, n)
	w.P99 = make([]time.Duration, n)
	w.HeapBytes = make([]uint64, n)
	w.Goroutines = make([]int, n)
	for i := range noData {
		w.NoDataAt[i] = true
	}
	for i := noData; i < n; i++ {
		x := float64(i)
		c := 2400 + 600*math.Sin(x/7) + 150*math.Sin(x*1.7)
		errs := uint64(3 + int(x)%4)
		p99 := 180*time.Millisecond + time.Duration(40*math.Sin(x/3))*time.Millisecond
		if i >= 44 && i <= 48 { // a bad deploy
			errs = 120 + uint64(i-44)*35
			p99 = 1900 * time.Millisecond
		}
		if i == 53 {
			c = 0 // a minute without requests
		}
		if i == n-1 {
			c *= 22.0 / 60 // the minute so far
			errs = 1
		}
		w.Counts[i] = uint64(c)
		if c > 0 {
			w.Errors[i] = errs
			w.P50[i] = time.Duration(900+300*math.Sin(x/5)) * time.Microsecond
			w.P90[i] = 42 * time.Millisecond
			w.P99[i] = p99
		}
		w.HeapBytes[i] = uint64(4_000_000 + 2_000_000*math.Mod(x, 9)/9)
		w.Goroutines[i] = 30 + int(8*math.Sin(x/4)+8)
		w.Total += w.Counts[i]
	}
	s.Requests = 1_482_311
	s.Status = Status{Success: 1_391_220, Redirect: 30_112, ClientError: 58_001, ServerError: 2_978}
	s.BytesWritten = 9_400_000_000
	s.Recent = Recent{Span: 5 * time.Minute, Requests: 11_210, Errors: 18,
		Status: Status{Success: 10_602, Redirect: 201, ClientError: 389, ServerError: 18},
		P50:    1100 * time.Microsecond, P90: 44 * time.Millisecond, P99: 212 * time.Millisecond, P999: 1400 * time.Millisecond}
	route := func(name string, req, errs, client uint64, p50, p90, p99, p999 time.Duration, recent Recent) RouteStats {
		return RouteStats{Route: name, Requests: req, Errors: errs, Status: Status{Success: req - errs - client, ClientError: client, ServerError: errs},
			Bytes: req * 1500, P50: p50, P90: p90, P99: p99, P999: p999, Recent: recent}
	}
	us, ms := time.Microsecond, time.Millisecond
	s.Routes = []RouteStats{
		route("GET /api/items/{id}", 980_000, 210, 31_000, 38*us, 95*us, 870*us, 4*ms,
			Recent{Span: 5 * time.Minute, Requests: 7420, Errors: 2, Status: Status{ClientError: 210}, P50: 41 * us, P90: 99 * us, P99: 910 * us, P999: 3 * ms}),
		route("POST /api/orders", 212_000, 2600, 9_000, 12*ms, 48*ms, 230*ms, 1200*ms,
			Recent{Span: 5 * time.Minute, Requests: 1730, Errors: 15, Status: Status{ClientError: 80}, P50: 14 * ms, P90: 51 * ms, P99: 260 * ms, P999: 1300 * ms}),
		route("GET /healthz", 172_000, 0, 0, 400*time.Nanosecond, 700*time.Nanosecond, 2*us, 9*us,
			Recent{Span: 5 * time.Minute, Requests: 1500, P50: 300 * time.Nanosecond, P90: 800 * time.Nanosecond, P99: 2 * us, P999: 4 * us}),
		route("GET /reports/{year}", 1_900, 140, 12, 2500*ms, 9*time.Second, 31*time.Second, 2*time.Hour,
			Recent{Span: 5 * time.Minute, Requests: 9, Errors: 1, P50: 2400 * ms, P90: 8 * time.Second, P99: 30 * time.Second, P999: LatencyCeiling}),
		route("GET /static/", 96_000, 0, 1_200, 180*us, 600*us, 1900*us, 7*ms,
			Recent{Span: 5 * time.Minute, Requests: 520, Status: Status{ClientError: 9}, P50: 170 * us, P90: 580 * us, P99: 2 * ms, P999: 6 * ms}),
		route(RouteUnmatched, 18_000, 0, 17_400, 25*us, 60*us, 300*us, 900*us,
			Recent{Span: 5 * time.Minute, Requests: 31, Status: Status{ClientError: 31}, P50: 22 * us, P90: 58 * us, P99: 280 * us, P999: 280 * us}),
		route("GET /admin/export", 411, 0, 0, 800*ms, 1900*ms, 3*time.Second, 3*time.Second, Recent{Span: 5 * time.Minute}),
	}
	events := route("GET /events", 37, 0, 0, 0, 0, 0, 0, Recent{Span: 5 * time.Minute, Requests: 4, Status: Status{Success: 4}})
	events.Streams = 37
	s.Routes = append(s.Routes, events)
	s.Streams = Streams{Open: 2, Total: 37}
	s.Live = Live{Span: 10 * time.Second, Requests: 412, Errors: 1, Rate: 41.2, Samples: 411,
		P50: 1180 * us, P90: 39 * ms, P99: 196 * ms, Max: 1730 * ms}
	trace := "4bf92f3577b34da6a3ce929d0e0e4736"
	s.Slowest = []Request{
		{Route: "GET /reports/{year}", Method: "GET", Status: 200, Duration: 31200 * ms, End: now.Add(-4*time.Minute - 12*time.Second), TraceID: trace},
		{Route: "GET /reports/{year}", Method: "GET", Status: 504, Duration: 30 * time.Second, End: now.Add(-2*time.Minute - 40*time.Second)},
		{Route: "POST /api/orders", Method: "POST", Status: 500, Duration: 1730 * ms, End: now.Add(-3 * time.Second), TraceID: "0af7651916cd43dd8448eb211c80319c"},
		{Route: "POST /api/orders", Method: "POST", Status: 201, Duration: 1310 * ms, End: now.Add(-48 * time.Second)},
		{Route: "/legacy/{path...}", Method: "PUT", Status: 200, Duration: 990 * ms, End: now.Add(-3*time.Minute - 2*time.Second)},
	}
	return s
}

// samplePoints are the ring's requests of the minute before now for the
// sample snapshot: about 40 a second, mostly fast, some slow, a few
// errors, with the same pseudo-random numbers every time.
func samplePoints(now time.Time) []livePoint {
	rng := rand.New(rand.NewPCG(17, 4))
	var pts []livePoint
	for t := now.Add(-time.Minute); t.Before(now); t = t.Add(time.Duration(rng.ExpFloat64() * float64(25*time.Millisecond))) {
		d := time.Duration(math.Exp(rng.NormFloat64()*0.6) * float64(900*time.Microsecond))
		status := 200
		switch x := rng.Float64(); {
		case x < 0.08:
			d = time.Duration(math.Exp(rng.NormFloat64()*0.5) * float64(40*time.Millisecond))
		case x < 0.09:
			d = time.Duration(math.Exp(rng.NormFloat64()*0.7) * float64(300*time.Millisecond))
		case x < 0.12:
			status, d = 404, d/3
		case x < 0.14:
			status = 304
		}
		if rng.Float64() < 0.003 {
			status = 500
		}
		pts = append(pts, livePoint{End: t, Duration: d, Status: status})
	}
	return pts
}

// TestPageSample renders the sample snapshot; with -page-sample it writes
// the page to a file (docs/screenshots.sh sample takes its pictures).
func TestPageSample(t *testing.T) {
	s := sampleSnapshot()
	pts := samplePoints(s.Time)
	if d := *pageSampleStop; d > 0 {
		s, pts = sampleStopped(s, pts, d)
	}
	body := renderSampleWith(t, s, *pageSampleQuery, pts)
	wantIn(t, body, "<h2>Routes</h2>", "Last hour, per minute")
	if *pageSample != "" {
		if err := os.WriteFile(*pageSample, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// sampleStopped returns the sample as if its traffic had stopped d before
// the snapshot: no live figures, and the ring's requests up to then.
func sampleStopped(s *Snapshot, pts []livePoint, d time.Duration) (*Snapshot, []livePoint) {
	s.Live = Live{Span: 10 * time.Second}
	s.InFlight, s.Streams, s.Slowest = 0, Streams{}, s.Slowest[:2]
	for len(pts) > 0 && s.Time.Sub(pts[len(pts)-1].End) < d {
		pts = pts[:len(pts)-1]
	}
	return s, pts
}

// renderSample renders s with query q (as in "range=start&sort=p99"),
// with the sample's live points.
func renderSample(t *testing.T, s *Snapshot, q string) string {
	t.Helper()
	return renderSampleWith(t, s, q, samplePoints(s.Time))
}

// renderSampleWith renders s with query q and the ring's points pts.
func renderSampleWith(t *testing.T, s *Snapshot, q string, pts []livePoint) string {
	t.Helper()
	c, _ := newTestCollector(t, Options{RefreshInterval: time.Second})
	vals, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := c.renderPageOf(&buf, s, vals, pts, false); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func wantIn(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}

func wantNotIn(t *testing.T, body string, nots ...string) {
	t.Helper()
	for _, w := range nots {
		if strings.Contains(body, w) {
			t.Errorf("page has %q", w)
		}
	}
}

// TestPageLeadsWithLive checks the cards: the live figures of the last
// LiveWindow first, each with the recent one beside it, each saying what
// it covers; the totals since counting started after them.
func TestPageLeadsWithLive(t *testing.T) {
	body := renderSample(t, sampleSnapshot(), "")
	wantIn(t, body,
		`Now <span>· last 10 s, beside the last 5 min</span>`,
		`<div class="card"><div class="l">Requests</div><div class="v">41/s</div><div class="l">last 10 s · 412 requests</div><div class="rc">last 5 min: 37/s</div></div>`,
		`<div class="card bad"><div class="l">Server errors (5xx)</div><div class="v">0.2%</div><div class="l">1 of 412 · last 10 s</div><div class="rc">last 5 min: 0.2%</div></div>`,
		`<div class="l">Latency p50</div><div class="v">1.2ms</div><div class="l">last 10 s · p90 39ms</div><div class="rc">last 5 min: 1.1ms</div>`,
		`<div class="l">Latency p99</div><div class="v">196ms</div><div class="l">last 10 s · max 1.7s</div><div class="rc">last 5 min: 212ms</div>`,
		`<div class="v">3</div><div class="l">now · 14 open connections</div><div class="rc">2 streams open, not in flight</div>`,
		`seen in the last 30 min`,
		`Counted since 13:19:</span> <span><b>1,482,311</b> requests</span>`,
	)
	if strings.Index(body, "41/s") > strings.Index(body, "37/s") || strings.Index(body, "37/s") > strings.Index(body, "1,482,311") {
		t.Error("the live figures do not lead, or the totals come before the cards")
	}

	// Right after start the recent window is shorter, and says so.
	s := sampleSnapshot()
	s.Uptime, s.Recent.Span = 42*time.Second, 42*time.Second
	body = renderSample(t, s, "")
	wantIn(t, body, `Now <span>· last 10 s, beside the last 42 s (since this process started)</span>`,
		`<div class="rc">last 42 s: 267/s</div>`, `<span class="cur">Last 42 s</span>`)

	// Traffic stopped: the live cards say for how long, from the ring's
	// newest request, while the recent ones still hold the traffic.
	s = sampleSnapshot()
	s.Live = Live{Span: 10 * time.Second}
	s.Streams = Streams{}
	pts := []livePoint{{End: s.Time.Add(-40 * time.Second), Duration: time.Millisecond, Status: 200},
		{End: s.Time.Add(-17*time.Second - 300*time.Millisecond), Duration: time.Millisecond, Status: 200}}
	body = renderSampleWith(t, s, "", pts)
	wantIn(t, body,
		`<div class="card warn"><div class="l">Requests</div><div class="v">0/s</div><div class="l">no requests for 17 s · 3 in flight</div><div class="rc">last 5 min: 37/s</div>`,
		`<div class="l">Server errors (5xx)</div><div class="v">—</div><div class="l">no requests in the last 10 s</div><div class="rc">last 5 min: 0.2%</div>`,
		`<div class="l">Latency p99</div><div class="v">—</div><div class="l">no requests in the last 10 s</div><div class="rc">last 5 min: 212ms</div>`)
	// The ring holds none of the last minute: a bound.
	s.InFlight = 0
	wantIn(t, renderSampleWith(t, s, "", nil), `<div class="v">0/s</div><div class="l">no requests for &gt; 10 s</div>`)
	// A stream, which the ring leaves out, may have ended since its newest
	// request: a bound again, with what the ring knows.
	s.Streams = Streams{Total: 3}
	wantIn(t, renderSampleWith(t, s, "", pts), `<div class="l">no requests for &gt; 10 s (the last non-stream one 17 s ago)</div>`)
	// Nor warn on a server that had no traffic to lose.
	s.Recent = Recent{Span: 5 * time.Minute}
	body = renderSampleWith(t, s, "", nil)
	wantIn(t, body, `<div class="rc">last 5 min: 0/s</div>`, `<div class="rc">last 5 min: no requests</div>`)
	wantNotIn(t, body, "card warn")

	// The ring wrapped inside the live window: the percentiles say what
	// they cover.
	s = sampleSnapshot()
	s.Live = Live{Span: 80 * time.Millisecond, Requests: 500_000, Errors: 0, Rate: 50_000, Samples: 4096,
		P50: 300 * time.Microsecond, P90: time.Millisecond, P99: 4 * time.Millisecond, Max: 9 * time.Millisecond}
	var ring []livePoint
	for i := range 4096 {
		ring = append(ring, livePoint{End: s.Time.Add(-80*time.Millisecond + time.Duration(i)*19*time.Microsecond), Duration: time.Millisecond, Status: 200})
	}
	wantIn(t, renderSampleWith(t, s, "", ring), "<h2>Each request of the last 80 ms: all the ring holds</h2>", "<span>80 ms ago</span><span>40 ms ago</span><span>now</span>")
	wantIn(t, renderSample(t, s, ""),
		`<div class="v">50,000/s</div><div class="l">last 10 s · 500,000 requests</div>`,
		`<div class="v">300µs</div><div class="l">of the 4,096 requests of the last 80 ms only · p90 1ms</div>`,
		`<div class="v">4ms</div><div class="l">p99 of the 4,096 requests of the last 80 ms only</div>`)

	// Only streams ended: no latency to show.
	s.Live = Live{Span: 10 * time.Second, Requests: 2, Rate: 0.2}
	wantIn(t, renderSample(t, s, ""), `<div class="v">0.2/s</div>`, `<div class="v">—</div><div class="l">only streams in the last 10 s: they have no latency</div>`)

	// A snapshot without recent figures claims none.
	s = sampleSnapshot()
	s.Recent = Recent{}
	for i := range s.Routes {
		s.Routes[i].Recent = Recent{}
	}
	body = renderSample(t, s, "")
	wantIn(t, body, `<div class="v">41/s</div><div class="l">last 10 s · 412 requests</div></div>`,
		`<td>5xx</td><td class="barcell">`, `</svg></td><td>—</td><td class="muted">2,978</td>`,
		`<tr class="idle"><td>POST /<wbr>api/<wbr>orders</td><td>—</td><td>—</td><td>—</td>`, "No recent figures yet.")
	wantNotIn(t, body, "last 0 s", "last 5 min")
}

// TestPageStarts checks that the process's start and the start of
// counting are named apart, also when a state file put counting first.
func TestPageStarts(t *testing.T) {
	s := sampleSnapshot()
	body := renderSample(t, s, "range=start")
	wantIn(t, body, "Updated 14:07:22 UTC · up 48m22s · counting since 2026-03-01 13:19 UTC, when this process started",
		"Counted since 13:19:", "<th>since 13:19</th>", `<span class="cur">Since 13:19</span>`)
	s.Start = s.Start.Add(-50 * time.Hour)
	body = renderSample(t, s, "range=start")
	wantIn(t, body,
		"this process up 48m22s, since 2026-03-01 13:19 UTC · counting since 2026-02-27 11:19 UTC (restored from the state file)",
		"Counted since Feb 27 11:19:", "<th>since Feb 27 11:19</th>", `<span class="cur">Since Feb 27 11:19</span>`,
		"Figures counted since 2026-02-27 11:19 UTC, per route.")
	wantNotIn(t, body, "Since start", "since start")
}

// TestPageStatusOrder checks the status table: 1xx to 5xx, then other.
func TestPageStatusOrder(t *testing.T) {
	s := sampleSnapshot()
	s.Status.Other, s.Status.Informational = 4, 7
	body := renderSample(t, s, "")
	var got []string
	for _, m := range regexp.MustCompile(`<tr><td>([^<]*)</td><td class="barcell">`).FindAllStringSubmatch(body, -1) {
		got = append(got, m[1])
	}
	if fmt.Sprint(got) != "[1xx 2xx 3xx 4xx 5xx other]" {
		t.Errorf("status rows %v", got)
	}
}

var barRE = regexp.MustCompile(`<path class="([be]|[be] part)" d="([^"]*)"/>`)

// TestPageHourChart checks the window: no-data buckets are drawn as such,
// not as zero; the partial bucket is marked; errors and percentiles per
// bucket.
func TestPageHourChart(t *testing.T) {
	s := sampleSnapshot()
	body := renderSample(t, s, "")
	wantIn(t, body,
		"Last hour, per minute",
		`<rect class="nd" x="0" y="0" width="11" height="100"/>`,
		"no data: before counting started at 13:19",
		"13:08–13:09: no data (before counting started)",
		`<rect class="pb" x="59" y="0" width="1" height="100"/>`,
		"partial minutes, not dips: this minute so far (22 s)",
		// The rate of the minute so far is over the 22 s it covers.
		"14:07–14:08: 1,052 requests (48/s), 1 5xx, p50 691µs, p90 42ms, p99 209ms (partial: so far)",
		"14:01–14:02: 0 requests (0/s), 0 5xx<", // a minute without requests is a zero, not a gap in the data
		"Requests per second, by minute", "5xx per second, by minute", "Latency p50 and p99, by minute (log scale)",
		"<span>52/s</span><span>0</span>", "<span>4.3/s</span><span>0</span>", // rates, per second like every rate of the page
		`<path class="p99" d="M11 `, `<path class="p50" d="M11 `,
		"<span>10s</span><span></span><span>100ms</span><span></span><span>1ms</span>", // log axis, whole decades
	)
	// Bars: one path per kind, one "M x 100V…z" per bucket drawn.
	bars := map[string][]float64{}
	for _, m := range barRE.FindAllStringSubmatch(body, -1) {
		for _, x := range regexp.MustCompile(`M([0-9.]+) 100V`).FindAllStringSubmatch(m[2], -1) {
			f, _ := strconv.ParseFloat(x[1], 64)
			bars[m[1]] = append(bars[m[1]], f)
		}
	}
	for _, class := range []string{"b", "e"} {
		// 60 buckets: 11 without data, one without requests, the partial one.
		if n := len(bars[class]); n != 47 {
			t.Errorf("%d bars of class %q, want 47", n, class)
		}
		for _, x := range bars[class] {
			if x < 11 || x > 59 {
				t.Errorf("bar %q at %v: in the no-data region, or the partial bucket unmarked", class, x)
			}
		}
		if p := bars[class+" part"]; len(p) != 1 || p[0] < 59 {
			t.Errorf("partial bars %q: %v, want one at 59.12", class+" part", p)
		}
	}
	// The latency lines break where a minute had no requests.
	for _, p := range regexp.MustCompile(`<path class="p(50|99)" d="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		if n := strings.Count(p[2], "M"); n != 2 {
			t.Errorf("p%s line has %d pieces, want 2 (a gap at 14:01): %s", p[1], n, p[2])
		}
	}

	// A snapshot without per-bucket errors or percentiles leaves those
	// rows out rather than draw zeros.
	s.Window.Errors, s.Window.P50, s.Window.P90, s.Window.P99 = nil, nil, nil, s.Window.P99[:3]
	body = renderSample(t, s, "")
	wantIn(t, body, "Requests per second, by minute")
	wantNotIn(t, body, "5xx per second", "Latency p50 and p99,", `class="p50"`, ", p50 ")

	// A restart: the buckets NoDataAt marks after the leading ones are
	// drawn as no data too, with no bars, and named in the legend.
	s = sampleSnapshot()
	s.Window.NoDataAt = make([]bool, len(s.Window.Counts))
	for i := range s.Window.NoDataAt {
		s.Window.NoDataAt[i] = i < 11 || i >= 20 && i < 25
	}
	body = renderSample(t, s, "")
	wantIn(t, body,
		`<rect class="nd" x="0" y="0" width="11" height="100"/>`,
		`<rect class="nd" x="20" y="0" width="5" height="100"/>`,
		"no data: before counting started at 13:19; not counting 13:28–13:33",
		"13:28–13:29: no data (not counting: the process was down)",
		// The minutes either side of the gap are partial, not dips.
		`<rect class="pb" x="19" y="0" width="1" height="100"/>`, `<rect class="pb" x="25" y="0" width="1" height="100"/>`,
		"13:27–13:28: 2,", "(partial: before a gap in the data)", "13:33–13:34: 2,", "(partial: after a gap in the data)",
		"partial minutes, not dips: either side of a gap in the data; this minute so far (22 s)")
	for _, m := range barRE.FindAllStringSubmatch(body, -1) {
		for _, x := range regexp.MustCompile(`M([0-9.]+) 100V`).FindAllStringSubmatch(m[2], -1) {
			if f, _ := strconv.ParseFloat(x[1], 64); f >= 20 && f < 25 {
				t.Errorf("bar %q at %v, in the restart's no-data region", m[1], f)
			}
		}
	}

	// Counting started before the window: nothing is marked as no data.
	s = sampleSnapshot()
	clear(s.Window.NoDataAt)
	s.Start = s.Window.Start.Add(-time.Hour)
	s.Uptime = s.Time.Sub(s.Start)
	body = renderSample(t, s, "")
	wantNotIn(t, body, `class="nd"`, "no data")
	wantIn(t, body, `<rect class="pb" x="59" y="0" width="1" height="100"/>`+"\n<line")
}

// partBars returns the x of each bar of the partial buckets.
func partBars(body string) []float64 {
	var xs []float64
	for _, m := range barRE.FindAllStringSubmatch(body, -1) {
		if m[1] != "b part" {
			continue
		}
		for _, x := range regexp.MustCompile(`M([0-9.]+) 100V`).FindAllStringSubmatch(m[2], -1) {
			f, _ := strconv.ParseFloat(x[1], 64)
			xs = append(xs, f)
		}
	}
	return xs
}

// TestPagePartialMinutes checks that the minutes that hold only part of
// their traffic are marked rather than drawn as dips: the first one,
// counted from mid-minute, and those around a restart.
func TestPagePartialMinutes(t *testing.T) {
	// Counting started at 13:19:40: its minute's rate is over 20 s; and
	// in the current minute, over the time since it started.
	s := sampleSnapshot()
	s.Start = s.Start.Add(40 * time.Second)
	s.Uptime -= 40 * time.Second
	body := renderSample(t, s, "")
	wantIn(t, body, `<rect class="pb" x="11" y="0" width="1" height="100"/>`,
		"13:19–13:20: 2,977 requests (149/s)", "(partial: counting started 13:19:40)",
		"partial minutes, not dips: counting started 13:19:40; this minute so far (22 s)")
	if got := fmt.Sprint(partBars(body)); got != "[11.12 59.12]" {
		t.Errorf("partial bars at %s, want [11.12 59.12]", got)
	}
	s.Start, s.Uptime = s.Time.Add(-12*time.Second), 12*time.Second
	wantIn(t, renderSample(t, s, ""), "14:07–14:08: 1,052 requests (88/s)", "(partial: counting started 14:07:10; so far)",
		"partial minutes, not dips: counting started 14:07:10; this minute so far (22 s)")

	// A state file kept counting across a restart at 13:40:30, after a
	// crash in the same minute or the one before: both are partial.
	s = sampleSnapshot()
	s.Uptime = 26*time.Minute + 52*time.Second
	body = renderSample(t, s, "")
	wantIn(t, body, "this process up 26m52s, since 2026-03-01 13:40 UTC",
		"(partial: around the restart at 13:40:30)",
		"partial minutes, not dips: around the restart at 13:40:30; this minute so far (22 s)")
	if got := fmt.Sprint(partBars(body)); got != "[31.12 32.12 59.12]" {
		t.Errorf("partial bars at %s, want [31.12 32.12 59.12]", got)
	}
	// With the minutes between the crash and the restart uncounted, the
	// last one counted before them is the partial one.
	for i := 28; i < 32; i++ {
		s.Window.NoDataAt[i] = true
	}
	if got := fmt.Sprint(partBars(renderSample(t, s, ""))); got != "[27.12 32.12 59.12]" {
		t.Errorf("partial bars at %s, want [27.12 32.12 59.12]", got)
	}
}

// TestPageLongWindow checks that a window of many short buckets is drawn
// by its most recent buckets, with times to the second.
func TestPageLongWindow(t *testing.T) {
	now := time.Date(2026, 3, 1, 14, 7, 22, 500e6, time.UTC)
	const n = 100000
	s := &Snapshot{Time: now, Start: now.Add(-10 * time.Minute), Uptime: 10 * time.Minute}
	s.Window = Window{Start: now.Truncate(time.Second).Add(-(n - 1) * time.Second), BucketWidth: time.Second,
		Counts: make([]uint64, n), Errors: make([]uint64, n), HeapBytes: make([]uint64, n), NoDataAt: make([]bool, n)}
	for i := range n - 600 {
		s.Window.NoDataAt[i] = true
	}
	for i := n - 600; i < n; i++ {
		s.Window.Counts[i], s.Window.Errors[i], s.Window.HeapBytes[i] = 5, uint64(i%2), 1<<20
	}
	body := renderSample(t, s, "")
	wantIn(t, body, "Last 12 min, per second", `<svg class="hits" viewBox="0 0 720 1"`,
		`<rect class="nd" x="0" y="0" width="120" height="100"/>`, "no data: before counting started at 13:57:22",
		"14:07:22–14:07:23: 5 requests (5/s), 1 5xx (partial: so far)", "steady at 1.0 MiB over the last 12 min")
	if n := strings.Count(body, `<rect class="hit"`); n != 720 {
		t.Errorf("%d hover columns, want 720", n)
	}
	if len(body) > 200_000 {
		t.Errorf("the page is %d bytes", len(body))
	}
}

// TestPageRuntimeHistory checks the heap and goroutine sparklines.
func TestPageRuntimeHistory(t *testing.T) {
	s := sampleSnapshot()
	body := renderSample(t, s, "")
	wantIn(t, body, "30 – 45 over the last hour", "3.8 MiB – 5.5 MiB over the last hour", `<svg class="spark" viewBox="0 0 60 100"`,
		"<div class=\"v\">41</div><div class=\"l\">now</div>", "41ms paused · since this process started")
	if n := strings.Count(body, `<svg class="spark"`); n != 2 {
		t.Errorf("%d sparklines, want 2", n)
	}
	// Buckets without a sample are gaps: each line starts after the
	// no-data region.
	for _, d := range regexp.MustCompile(`<svg class="spark"[^>]*><path d="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		if !strings.HasPrefix(d[1], "M11 ") || strings.Count(d[1], "M") != 1 {
			t.Errorf("sparkline %s, want one piece from bucket 11", d[1])
		}
	}
	s.Window.HeapBytes, s.Window.Goroutines = nil, nil
	wantNotIn(t, renderSample(t, s, ""), `class="spark"`)
}

// routeOrder returns the routes in the order the table lists them.
func routeOrder(body string) []string {
	var names []string
	_, table, _ := strings.Cut(body, "<h2>Routes</h2>")
	for _, m := range regexp.MustCompile(`<tr(?: class="idle")?><td>(.*?)</td>`).FindAllStringSubmatch(table, -1) {
		name, _, _ := strings.Cut(m[1], ` <span class="tag">`)
		names = append(names, strings.ReplaceAll(name, "<wbr>", ""))
	}
	return names
}

// TestPageRoutesRange checks the routes table: recent figures by default,
// since start a link away, the sort kept across the switch.
func TestPageRoutesRange(t *testing.T) {
	s := sampleSnapshot()
	body := renderSample(t, s, "")
	wantIn(t, body,
		`<span class="cur">Last 5 min</span><a href="?format=html&amp;range=start">Since 13:19</a>`,
		// p50, p90, p99 in that order.
		`<thead><tr><th>Route</th><th>Requests ▾</th><th><a href="?format=html&amp;sort=errors">5xx</a></th><th>p50</th><th class="opt">p90</th><th><a href="?format=html&amp;sort=p99">p99</a></th><th class="opt">p99.9</th><th class="opt">4xx</th></tr></thead>`,
		`<td>GET /<wbr>api/<wbr>items/<wbr>{id}</td><td>7,420</td><td class="err">2</td><td>41µs</td><td class="opt">99µs</td><td>910µs</td><td class="opt">3ms</td>`,
		`<td>GET /<wbr>healthz</td><td>1,500</td><td>0</td><td>&lt; 1µs</td><td class="opt">&lt; 1µs</td><td>2µs</td>`,
		`<td class="opt">&gt; 1.1h</td><td class="opt">0</td></tr>`, // p99.9 of /reports: above what vitals resolves
		`<tr class="idle"><td>GET /<wbr>admin/<wbr>export</td><td>0</td><td>0</td><td>—</td>`,
		"Figures of the last 5 min, per route.",
		`<a href="?format=html&amp;sort=p99">p99</a>`)
	wantNotIn(t, body, ">Bytes<")

	body = renderSample(t, s, "range=start&sort=p99")
	wantIn(t, body,
		`<a href="?format=html&amp;sort=p99">Last 5 min</a><span class="cur">Since 13:19</span>`,
		`<td>GET /<wbr>api/<wbr>items/<wbr>{id}</td><td>980,000</td><td class="err">210</td><td>38µs</td><td class="opt">95µs</td><td>870µs</td>`,
		`<th>p99 ▾</th>`, `<a href="?format=html&amp;range=start&amp;sort=errors">5xx</a>`,
		">Bytes<", "Figures counted since 2026-03-01 13:19 UTC, per route.")

	for _, tt := range []struct{ q, want string }{
		{"", "[GET /api/items/{id} POST /api/orders GET /healthz GET /static/ unmatched GET /reports/{year} GET /events GET /admin/export]"},
		{"sort=errors", "[POST /api/orders GET /api/items/{id} GET /reports/{year} GET /admin/export GET /events GET /healthz GET /static/ unmatched]"},
		{"sort=p99", "[GET /reports/{year} POST /api/orders GET /static/ GET /api/items/{id} unmatched GET /healthz GET /admin/export GET /events]"},
		{"range=start&sort=p99", "[GET /reports/{year} GET /admin/export POST /api/orders GET /static/ GET /api/items/{id} unmatched GET /healthz GET /events]"},
		{"range=start", "[GET /api/items/{id} POST /api/orders GET /healthz GET /static/ unmatched GET /reports/{year} GET /admin/export GET /events]"},
		{"range=bogus&sort=bogus", "[GET /api/items/{id} POST /api/orders GET /healthz GET /static/ unmatched GET /reports/{year} GET /events GET /admin/export]"},
	} {
		if got := fmt.Sprint(routeOrder(renderSample(t, s, tt.q))); got != tt.want {
			t.Errorf("?%s: %s\nwant %s", tt.q, got, tt.want)
		}
	}
}

// TestPageSelfContained checks the page of a full snapshot: the one style
// and one script are the hashed ones, nothing is fetched from elsewhere,
// and dynamic text is escaped.
func TestPageSelfContained(t *testing.T) {
	s := sampleSnapshot()
	s.Routes = append(s.Routes, RouteStats{Route: `GET /<script>alert(1)</script>`, Requests: 1})
	body := renderSample(t, s, "")
	for _, tag := range []struct{ name, want string }{{"style", dashboardCSS}, {"script", dashboardJS}} {
		m := regexp.MustCompile(`(?s)<`+tag.name+`>(.*?)</`+tag.name+`>`).FindAllStringSubmatch(body, -1)
		if len(m) != 1 || m[0][1] != tag.want {
			t.Errorf("<%s>: %d elements, or not the hashed text", tag.name, len(m))
		}
	}
	wantNotIn(t, body, "http://", "https://", `style="`, "<link", "<img", "<script>alert", "ZgotmplZ")
	if m := regexp.MustCompile(`\son[a-z]+=`).FindString(body); m != "" {
		t.Errorf("page has an event handler attribute %q", m)
	}
	wantIn(t, body, "GET /<wbr>&lt;script&gt;alert(1)&lt;/<wbr>script&gt;")
}

func TestPageSortsRoutes(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	ms := int64(time.Millisecond)
	for range 5 {
		c.routes.get("many").observe(c.slotNow(), 0, 200, ms, 0, c.bounds)
	}
	c.routes.get("slow").observe(c.slotNow(), 0, 200, 3000*ms, 0, c.bounds)
	for range 2 {
		c.routes.get("failing").observe(c.slotNow(), 0, 503, ms, 0, c.bounds)
	}
	c.refresh()
	order := func(sort string) []string {
		body := get(t, c.Handler(), "GET", "/metrics?format=html&range=start&sort="+sort).Body.String()
		names := []string{"many", "slow", "failing"}
		slices.SortFunc(names, func(a, b string) int {
			return strings.Index(body, "<td>"+a+"</td>") - strings.Index(body, "<td>"+b+"</td>")
		})
		return names
	}
	for sort, want := range map[string]string{
		"":         "[many failing slow]",
		"requests": "[many failing slow]",
		"p99":      "[slow failing many]",
		"errors":   "[failing many slow]",
		"bogus":    "[many failing slow]",
	} {
		if got := fmt.Sprint(order(sort)); got != want {
			t.Errorf("sort=%q: %s, want %s", sort, got, want)
		}
	}
}

// TestPageCSPMatchesInlineCode checks that the page's inline style and
// script are exactly the text whose hashes its Content-Security-Policy
// allows, so a browser enforcing the policy runs them.
func TestPageCSPMatchesInlineCode(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	w := get(t, c.Handler(), "GET", "/metrics?format=html")
	body := w.Body.String()
	csp := w.Header().Get("Content-Security-Policy")
	for _, tag := range []string{"style", "script"} {
		m := regexp.MustCompile(`(?s)<`+tag+`>(.*?)</`+tag+`>`).FindAllStringSubmatch(body, -1)
		if len(m) != 1 {
			t.Fatalf("%d <%s> elements, want 1", len(m), tag)
		}
		if h := cspHash(m[0][1]); !strings.Contains(csp, tag+"-src '"+h+"'") {
			t.Errorf("<%s> hash %s is not allowed by the CSP %q", tag, h, csp)
		}
	}
	for _, bad := range []string{"http://", "https://", "style=\"", "onclick", "<link", "<img"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains %q: it must be self-contained with no inline style attributes", bad)
		}
	}
}

func TestPageShowsFigures(t *testing.T) {
	c, clk := newTestCollector(t, Options{})
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/boom" {
			w.WriteHeader(500)
		}
	}))
	for range 1234 {
		h.ServeHTTP(newTestInner(), httptest.NewRequest("GET", "/", nil))
	}
	h.ServeHTTP(newTestInner(), httptest.NewRequest("GET", "/boom", nil))
	c.TouchSession("s1")
	clk.Add(time.Minute)
	c.refresh()
	body := get(t, c.Handler(), "GET", "/metrics?range=start").Body.String()
	for _, want := range []string{"<b>1,235</b> requests", "Requests per second, by minute", `<span class="err"><b>1</b> 5xx (&lt; 0.1%)</span>`,
		"<td>unmatched</td><td>1,235</td><td class=\"err\">1</td>", "Figures counted since "} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// BenchmarkRenderPage renders the dashboard of the sample snapshot, with
// its 2,367 live points: the cost of one page view (every RefreshInterval
// per open browser tab).
func BenchmarkRenderPage(b *testing.B) {
	c, err := Open(Options{RefreshInterval: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	s := sampleSnapshot()
	pts := samplePoints(s.Time)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := c.renderPageOf(&buf, s, url.Values{}, pts, false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/page")
}

// dotsOf counts the dots of each status class of a scatter.
func dotsOf(sc scatter) map[string]int {
	n := map[string]int{}
	for _, d := range sc.Dots {
		n[d.Class] += strings.Count(d.D, "h0")
	}
	return n
}

// TestPageLiveScatter checks the scatter of the ring's requests: one dot
// each over the last minute, coloured by status class, none after the
// snapshot; what the ring holds when it wrapped; a bounded number of dots.
func TestPageLiveScatter(t *testing.T) {
	now := time.Date(2026, 3, 1, 14, 7, 22, 0, time.UTC)
	ms := time.Millisecond
	pts := []livePoint{
		{End: now.Add(-90 * time.Second), Duration: ms, Status: 200}, // before the minute
		{End: now.Add(-59 * time.Second), Duration: 2 * ms, Status: 200},
		{End: now.Add(-30 * time.Second), Duration: 300 * ms, Status: 503},
		{End: now.Add(-5 * time.Second), Duration: 40 * time.Microsecond, Status: 404},
		{End: now.Add(-time.Second), Duration: 9 * ms, Status: 304},
		{End: now.Add(-time.Second), Duration: 9 * ms, Status: 101},
		{End: now.Add(time.Second), Duration: ms, Status: 200}, // after the snapshot
	}
	sc := newScatter(pts, now, 10*time.Second, false)
	if got := fmt.Sprint(dotsOf(sc)); got != "map[d1:1 d2:1 d3:1 d4:1 d5:1]" {
		t.Errorf("dots %s", got)
	}
	if sc.Title != "Each request of the last minute" || sc.Ticks != [3]string{"1 min ago", "30 s ago", "now"} {
		t.Errorf("title %q, ticks %q", sc.Title, sc.Ticks)
	}
	// The 503 at 30 s ago is in the middle, errors are drawn last.
	if last := sc.Dots[len(sc.Dots)-1]; last.Class != "d5" || !strings.HasPrefix(last.D, "M5000 ") {
		t.Errorf("last dots %+v", last)
	}
	// The live window is shaded: the last 10 s of 60.
	if sc.Live != 8333 || sc.LiveW != 1667 || sc.LiveKey != "last 10 s" {
		t.Errorf("live band at %v, %v wide, %q", sc.Live, sc.LiveW, sc.LiveKey)
	}
	// Log scale in whole decades, from 10µs to 1s, every other one labelled.
	if fmt.Sprint(sc.Axis) != "[1s  10ms  100µs ]" || len(sc.Grid) != 6 {
		t.Errorf("axis %q", sc.Axis)
	}
	if sc.Caption != "5 requests, streams aside: one dot each." {
		t.Errorf("caption %q", sc.Caption)
	}

	// The ring wrapped within the minute: the plot covers what it holds.
	var wrapped []livePoint
	for i := range 4096 {
		wrapped = append(wrapped, livePoint{End: now.Add(-80*ms + time.Duration(i)*20*time.Microsecond), Duration: ms, Status: 200})
	}
	sc = newScatter(wrapped, now, 10*time.Second, true)
	if sc.Title != "Each request of the last 80 ms: all the ring holds" || sc.Ticks[0] != "80 ms ago" || sc.Live != -1 {
		t.Errorf("wrapped: %q, ticks %q, live band at %v", sc.Title, sc.Ticks, sc.Live)
	}

	// Many requests: the dots are bounded, and the caption says so.
	rng := rand.New(rand.NewPCG(1, 2))
	var many []livePoint
	for i := range 60_000 {
		many = append(many, livePoint{End: now.Add(-time.Minute + time.Duration(i)*time.Millisecond),
			Duration: time.Duration(rng.ExpFloat64() * float64(time.Second)), Status: 200 + 100*rng.IntN(4)})
	}
	sc = newScatter(many, now, 10*time.Second, false)
	total := 0
	for _, n := range dotsOf(sc) {
		total += n
	}
	if total > maxScatterDots || total < maxScatterDots/8 {
		t.Errorf("%d dots of 60,000 requests, want at most %d", total, maxScatterDots)
	}
	if want := "60,000 requests (streams aside) in " + formatCount(uint64(total)) + " dots: requests on the same spot share one."; sc.Caption != want {
		t.Errorf("caption %q, want %q", sc.Caption, want)
	}

	// A ring larger still: one request in n is laid out, and the caption
	// says so.
	for len(many) < 300_000 {
		many = append(many, many[len(many)-1])
	}
	if sc = newScatter(many, now, 10*time.Second, false); !strings.HasPrefix(sc.Caption, "300,000 requests (streams aside): one in 5 drawn, in ") {
		t.Errorf("caption %q", sc.Caption)
	}

	// Nothing to draw.
	sc = newScatter(pts[:1], now, 10*time.Second, false)
	if sc.Dots != nil || sc.Empty != "No request ended in the last 1 min." {
		t.Errorf("empty scatter: %+v", sc)
	}

	// On the page: inline SVG, dots that stay round when the plot
	// stretches, the page small.
	body := renderSample(t, sampleSnapshot(), "")
	wantIn(t, body, "<h2>Each request of the last minute</h2>",
		`<svg class="tall scatter" viewBox="0 0 10000 1000" preserveAspectRatio="none"`,
		`<path class="dot d2" d="M`, `vector-effect="non-scaling-stroke"`,
		`<span><span class="key kd5"></span>5xx</span>`, `<span><span class="key klw"></span>last 10 s: the cards’ live figures</span>`)
	body = renderSampleWith(t, sampleSnapshot(), "", many)
	if len(body) > 100_000 {
		t.Errorf("the page with 300,000 live points is %d bytes", len(body))
	}
	wantIn(t, renderSampleWith(t, sampleSnapshot(), "", nil), `<p class="muted">No request ended in the last 1 min.</p>`)
}

// TestPageSlowest checks the slowest requests table.
func TestPageSlowest(t *testing.T) {
	s := sampleSnapshot()
	body := renderSample(t, s, "")
	wantIn(t, body, `<h2>Slowest requests <span>· last 5 min</span></h2>`,
		`<thead><tr><th>Duration</th><th>Route</th><th>Status</th><th>When</th><th class="opt">Trace id</th></tr></thead>`,
		// The trace id in monospace, shortened by the page, whole in its title.
		`<tr><td>31s</td><td>GET /<wbr>reports/<wbr>{year}<br class="ph"><code class="ph" title="trace id 4bf92f3577b34da6a3ce929d0e0e4736">4bf92f3577b34da6a3ce929d0e0e4736</code></td><td>200</td><td title="14:03:10.000 UTC">4 min ago</td><td class="opt tid"><code title="trace id 4bf92f3577b34da6a3ce929d0e0e4736">4bf92f3577b34da6a3ce929d0e0e4736</code></td></tr>`,
		`<tr><td>30s</td><td>GET /<wbr>reports/<wbr>{year}</td><td class="err">504</td><td title="14:04:42.000 UTC">2 min ago</td><td class="opt tid">—</td></tr>`,
		`<td>1.7s</td><td>POST /<wbr>api/<wbr>orders`, `<td title="14:07:19.000 UTC">3 s ago</td>`,
		// A route without its method gets it.
		`<td>990ms</td><td>PUT /<wbr>legacy/<wbr>{path...}</td>`)
	if strings.Index(body, "<td>31s</td>") > strings.Index(body, "<td>990ms</td>") {
		t.Error("not slowest first")
	}
	s.Slowest = nil
	wantIn(t, renderSample(t, s, ""), `<p class="muted">No request ended in the last 5 min.</p>`)
}

// TestPageStreamRoutes checks that the routes table marks stream routes
// and shows their streams instead of percentiles, and no per-route open
// count, which vitals cannot know (a stream's route is settled when it
// ends).
func TestPageStreamRoutes(t *testing.T) {
	body := renderSample(t, sampleSnapshot(), "")
	wantIn(t, body, `<tr><td>GET /<wbr>events <span class="tag">stream</span></td><td>4</td><td>0</td>`+
		`<td class="streams" title="Streams (server-sent events, websockets, hijacked connections) have no latency: 37 ended since this process started; the open ones are counted for all routes together">37 streams</td>`+
		`<td class="opt"></td><td class="streams" title="`)
	wantIn(t, body, `"></td><td class="opt"></td><td class="opt">0</td></tr>`)
}

// BenchmarkLiveScatter lays out the scatter of a full ring of the default
// 4096 requests within the minute.
func BenchmarkLiveScatter(b *testing.B) {
	now := time.Date(2026, 3, 1, 14, 7, 22, 0, time.UTC)
	rng := rand.New(rand.NewPCG(3, 4))
	pts := make([]livePoint, DefaultLiveRequests)
	for i := range pts {
		pts[i] = livePoint{End: now.Add(-time.Minute + time.Duration(i)*10*time.Millisecond),
			Duration: time.Duration(rng.ExpFloat64() * float64(10*time.Millisecond)), Status: 200 + 100*rng.IntN(4)}
	}
	b.ReportAllocs()
	for b.Loop() {
		newScatter(pts, now, 10*time.Second, false)
	}
}
