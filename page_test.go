package vitals

import (
	"bytes"
	"flag"
	"fmt"
	"math"
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
	return s
}

// TestPageSample renders the sample snapshot; with -page-sample it writes
// the page to a file (docs/screenshots.sh sample takes its pictures).
func TestPageSample(t *testing.T) {
	body := renderSample(t, sampleSnapshot(), *pageSampleQuery)
	wantIn(t, body, "<h2>Routes</h2>", "Last hour, per minute")
	if *pageSample != "" {
		if err := os.WriteFile(*pageSample, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// renderSample renders s with query q (as in "range=start&sort=p99").
func renderSample(t *testing.T, s *Snapshot, q string) string {
	t.Helper()
	c, _ := newTestCollector(t, Options{RefreshInterval: time.Second})
	vals, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := c.renderPage(&buf, s, vals); err != nil {
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

// TestPageLeadsWithNow checks the cards: the recent window first, each
// figure saying what it covers, the since-start totals after them.
func TestPageLeadsWithNow(t *testing.T) {
	body := renderSample(t, sampleSnapshot(), "")
	wantIn(t, body,
		`Now <span>· last 5 min</span>`,
		`<div class="l">Requests</div><div class="v">37/s</div><div class="l">11,210 in the last 5 min</div>`,
		`<div class="card bad"><div class="l">Server errors (5xx)</div><div class="v">0.2%</div><div class="l">18 of 11,210 · last 5 min</div>`,
		`<div class="v">1.1ms</div><div class="l">p90 44ms · last 5 min</div>`,
		`<div class="v">212ms</div><div class="l">p99.9 1.4s · last 5 min</div>`,
		`<div class="v">3</div><div class="l">now · 14 open connections</div>`,
		`seen in the last 30 min`,
		`Since start (2026-03-01 13:19 UTC):</span> <span><b>1,482,311</b> requests</span>`,
	)
	if strings.Index(body, "37/s") > strings.Index(body, "1,482,311") {
		t.Error("the since-start totals come before the recent cards")
	}

	// Right after start the window is shorter, and says so.
	s := sampleSnapshot()
	s.Uptime, s.Recent.Span = 42*time.Second, 42*time.Second
	body = renderSample(t, s, "")
	wantIn(t, body, "11,210 in the last 42 s (all since start)", "18 of 11,210 · last 42 s (all since start)")

	// No requests lately: no rate of errors, no percentiles.
	s = sampleSnapshot()
	s.Recent = Recent{Span: 5 * time.Minute}
	body = renderSample(t, s, "")
	wantIn(t, body, `<div class="v">0/s</div>`, `<div class="card"><div class="l">Server errors (5xx)</div><div class="v">—</div><div class="l">no requests in the last 5 min</div>`)

	// A snapshot without recent figures claims none.
	s = sampleSnapshot()
	s.Recent = Recent{}
	for i := range s.Routes {
		s.Routes[i].Recent = Recent{}
	}
	body = renderSample(t, s, "")
	wantIn(t, body, `<div class="v">—</div><div class="l">no recent figures yet</div>`,
		`<td>5xx</td><td class="barcell">`, `</svg></td><td>—</td><td class="muted">2,978</td>`,
		`<tr class="idle"><td>POST /<wbr>api/<wbr>orders</td><td>—</td><td>—</td><td>—</td>`, "No recent figures yet.")
	wantNotIn(t, body, "last 0 s", "0/s")
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
		"this minute so far (22 s)",
		"14:07–14:08: 1,052 requests, 1 5xx, p50 691µs, p90 42ms, p99 209ms (so far)",
		"14:01–14:02: 0 requests, 0 5xx<", // a minute without requests is a zero, not a gap in the data
		"5xx per minute", "Latency p50 and p99 per minute (log scale)",
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
	wantIn(t, body, "Requests per minute")
	wantNotIn(t, body, "5xx per minute", "Latency p50 and p99 per", `class="p50"`, ", p50 ")

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
		"13:33–13:34: 2,")
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
	wantNotIn(t, renderSample(t, s, ""), `class="nd"`, "no data")
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
		"14:07:22–14:07:23: 5 requests, 1 5xx (so far)", "steady at 1.0 MiB over the last 12 min")
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
		names = append(names, strings.ReplaceAll(m[1], "<wbr>", ""))
	}
	return names
}

// TestPageRoutesRange checks the routes table: recent figures by default,
// since start a link away, the sort kept across the switch.
func TestPageRoutesRange(t *testing.T) {
	s := sampleSnapshot()
	body := renderSample(t, s, "")
	wantIn(t, body,
		`<span class="cur">Last 5 min</span><a href="?format=html&amp;range=start">Since start</a>`,
		`<td>GET /<wbr>api/<wbr>items/<wbr>{id}</td><td>7,420</td><td class="err">2</td><td>910µs</td><td class="opt">41µs</td>`,
		`<td>GET /<wbr>healthz</td><td>1,500</td><td>0</td><td>2µs</td><td class="opt">&lt; 1µs</td>`,
		`<td class="opt">&gt; 1.1h</td><td class="opt">0</td></tr>`, // p99.9 of /reports: above what vitals resolves
		`<tr class="idle"><td>GET /<wbr>admin/<wbr>export</td><td>0</td><td>0</td><td>—</td>`,
		"Figures of the last 5 min, per route.",
		`<a href="?format=html&amp;sort=p99">p99</a>`)
	wantNotIn(t, body, ">Bytes<")

	body = renderSample(t, s, "range=start&sort=p99")
	wantIn(t, body,
		`<a href="?format=html&amp;sort=p99">Last 5 min</a><span class="cur">Since start</span>`,
		`<td>GET /<wbr>api/<wbr>items/<wbr>{id}</td><td>980,000</td><td class="err">210</td><td>870µs</td>`,
		`<th>p99 ▾</th>`, `<a href="?format=html&amp;range=start&amp;sort=errors">5xx</a>`,
		">Bytes<", "Figures since 2026-03-01 13:19 UTC, per route.")

	for _, tt := range []struct{ q, want string }{
		{"", "[GET /api/items/{id} POST /api/orders GET /healthz GET /static/ unmatched GET /reports/{year} GET /admin/export]"},
		{"sort=errors", "[POST /api/orders GET /api/items/{id} GET /reports/{year} GET /admin/export GET /healthz GET /static/ unmatched]"},
		{"sort=p99", "[GET /reports/{year} POST /api/orders GET /static/ GET /api/items/{id} unmatched GET /healthz GET /admin/export]"},
		{"range=start&sort=p99", "[GET /reports/{year} GET /admin/export POST /api/orders GET /static/ GET /api/items/{id} unmatched GET /healthz]"},
		{"range=start", "[GET /api/items/{id} POST /api/orders GET /healthz GET /static/ unmatched GET /reports/{year} GET /admin/export]"},
		{"range=bogus&sort=bogus", "[GET /api/items/{id} POST /api/orders GET /healthz GET /static/ unmatched GET /reports/{year} GET /admin/export]"},
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
	wantNotIn(t, body, "http://", "https://", `style="`, " on", "<link", "<img", "<script>alert", "ZgotmplZ")
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
	for _, want := range []string{"<b>1,235</b> requests", "Requests per minute", `<span class="err"><b>1</b> 5xx (&lt; 0.1%)</span>`,
		"<td>unmatched</td><td>1,235</td><td class=\"err\">1</td>", "Figures since "} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// BenchmarkRenderPage renders the dashboard of the sample snapshot: the
// cost of one page view (every RefreshInterval per open browser tab).
func BenchmarkRenderPage(b *testing.B) {
	c, err := Open(Options{RefreshInterval: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	s := sampleSnapshot()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := c.renderPage(&buf, s, url.Values{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/page")
}
