package vitals

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// routeCounts returns requests per route from a fresh snapshot.
func routeCounts(c *Collector) map[string]uint64 {
	c.refresh()
	m := map[string]uint64{}
	for _, r := range c.Snapshot().Routes {
		m[r.Route] = r.Requests
	}
	return m
}

func TestRoutesFromServeMuxPatterns(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "bad" {
			w.WriteHeader(500)
		}
	})
	mux.HandleFunc("POST /items", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201) })
	h := c.Middleware(mux)

	const goroutines, per = 8, 200
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for i := range per {
				var r *http.Request
				switch i % 4 {
				case 0, 1:
					r = httptest.NewRequest("GET", fmt.Sprintf("/items/%d-%d", g, i), nil)
				case 2:
					r = httptest.NewRequest("POST", "/items", nil)
				default:
					r = httptest.NewRequest("GET", "/items/bad", nil)
				}
				h.ServeHTTP(newTestInner(), r)
			}
		})
	}
	close(start)
	wg.Wait()
	got := routeCounts(c)
	want := map[string]uint64{"GET /items/{id}": goroutines * per * 3 / 4, "POST /items": goroutines * per / 4}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("routes = %v, want %v", got, want)
	}
	for _, r := range c.Snapshot().Routes {
		if r.Route == "GET /items/{id}" && (r.Errors != goroutines*per/4 || r.Status.Success != goroutines*per/2) {
			t.Errorf("GET /items/{id}: errors %d, 2xx %d", r.Errors, r.Status.Success)
		}
	}
}

func TestRoutesUnmatchedIsOneSeries(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /known", func(http.ResponseWriter, *http.Request) {})
	h := c.Middleware(mux)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		path := fmt.Sprintf("/%x/%x", rng.Uint64(), rng.Uint64())
		h.ServeHTTP(newTestInner(), httptest.NewRequest("GET", path, nil))
	}
	h.ServeHTTP(newTestInner(), httptest.NewRequest("GET", "/known", nil))
	got := routeCounts(c)
	if len(got) != 2 || got[RouteUnmatched] != 10000 || got["GET /known"] != 1 {
		t.Errorf("routes = %v, want 10000 unmatched and 1 known", got)
	}
	if n := len(*c.routes.m.Load()); n != 3 { // unmatched, other, GET /known
		t.Errorf("route table holds %d entries, want 3", n)
	}
	text := string(c.appendPrometheus(nil, c.Snapshot()))
	if n := strings.Count(text, `http_requests_total{route="unmatched"`); n != 1 {
		t.Errorf("%d unmatched series in http_requests_total, want 1", n)
	}
}

func TestRoutesCapAndOther(t *testing.T) {
	c, _ := newTestCollector(t, Options{MaxRoutes: 3, Route: func(r *http.Request) string {
		return r.URL.Query().Get("route")
	}})
	h := c.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, name := range []string{"a", "b", "a", "c", "d", "e", "a", "", "d"} {
		h.ServeHTTP(newTestInner(), httptest.NewRequest("GET", "/?route="+name, nil))
	}
	got := routeCounts(c)
	want := map[string]uint64{"a": 3, "b": 1, "c": 1, RouteOther: 3, RouteUnmatched: 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("routes = %v, want %v", got, want)
	}
	if !c.Snapshot().RoutesCapped {
		t.Error("RoutesCapped is false")
	}
	if body := get(t, c.Handler(), "GET", "/metrics").Body.String(); !strings.Contains(body, "cap on distinct routes") {
		t.Error("the page does not say that the route cap was reached")
	}
}

func TestRouteNamesAreUntrusted(t *testing.T) {
	long := strings.Repeat("é", 150) // 300 bytes
	names := []string{`<script>alert("x")</script>`, "line\nbreak \"q\" back\\slash", long, "bad\xffutf8"}
	c, _ := newTestCollector(t, Options{Route: func(r *http.Request) string {
		return names[len(r.URL.Path)-1]
	}})
	h := c.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for i := range names {
		h.ServeHTTP(newTestInner(), httptest.NewRequest("GET", "/"+strings.Repeat("x", i), nil))
	}
	c.refresh()
	for _, r := range c.Snapshot().Routes {
		if len(r.Route) > maxRouteLen+2 || !utf8.ValidString(r.Route) {
			t.Errorf("route name %q: %d bytes, valid UTF-8 %v", r.Route, len(r.Route), utf8.ValidString(r.Route))
		}
	}
	page := strings.ReplaceAll(get(t, c.Handler(), "GET", "/metrics").Body.String(), "<wbr>", "") // the page lets names wrap after a slash
	if strings.Contains(page, "<script>alert") || !strings.Contains(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Error("route name is not escaped in the page")
	}
	prom := string(c.appendPrometheus(nil, c.Snapshot()))
	if !strings.Contains(prom, `route="line\nbreak \"q\" back\\slash"`) {
		t.Error("route name is not escaped in the Prometheus text")
	}
	if strings.Contains(prom, "\xff") {
		t.Error("invalid UTF-8 reaches the Prometheus text")
	}
}

// TestRouteQuantiles checks a route's percentiles: within 1.1 % of the
// exact ones, at any scale, and bounds outside the histogram's range.
func TestRouteQuantiles(t *testing.T) {
	c, _ := newTestCollector(t, Options{Buckets: []float64{0.1, 0.2, 0.4}})
	s := c.routes.get("r")
	us := int64(time.Microsecond)
	for range 50 {
		s.observe(c.slotNow(), 0, 200, 5*us, 0, c.bounds)
	}
	for range 40 {
		s.observe(c.slotNow(), 0, 200, 150*us, 0, c.bounds)
	}
	for range 9 {
		s.observe(c.slotNow(), 0, 200, 300*int64(time.Millisecond), 0, c.bounds)
	}
	s.observe(c.slotNow(), 0, 200, 2*int64(time.Hour), 0, c.bounds) // overflow
	rs := routeNamed(t, c.Refresh(), "r")
	near := func(name string, got, want time.Duration) {
		t.Helper()
		if e := float64(got)/float64(want) - 1; e > 0.011 || e < -0.011 {
			t.Errorf("%s = %v, want %v ±1.1%%", name, got, want)
		}
	}
	near("p50", rs.P50, 5*time.Microsecond)
	near("p90", rs.P90, 150*time.Microsecond)
	near("p99", rs.P99, 300*time.Millisecond)
	if rs.P999 != LatencyCeiling {
		t.Errorf("p99.9 in the overflow = %v, want the bound LatencyCeiling", rs.P999)
	}
	if rs.Recent.P50 != rs.P50 || rs.Recent.Requests != 100 {
		t.Errorf("recent p50 %v requests %d, want %v 100", rs.Recent.P50, rs.Recent.Requests, rs.P50)
	}
	s2 := c.routes.get("r2")
	for range 10 {
		s2.observe(c.slotNow(), 0, 200, 100, 0, c.bounds) // 100ns
	}
	if rs := routeNamed(t, c.Refresh(), "r2"); rs.P50 != LatencyFloor || rs.P99 != LatencyFloor {
		t.Errorf("sub-microsecond p50 %v p99 %v, want the bound LatencyFloor", rs.P50, rs.P99)
	}
}

func routeNamed(t *testing.T, s *Snapshot, name string) RouteStats {
	t.Helper()
	for _, r := range s.Routes {
		if r.Route == name {
			return r
		}
	}
	t.Fatalf("no route %q in the snapshot", name)
	return RouteStats{}
}

// TestRoutesKeyedAsShown: names that differ only in invalid UTF-8, or
// past the length cap (a rune cut in two included), are shown the same and
// are one route, so the Prometheus text holds no duplicate series.
func TestRoutesKeyedAsShown(t *testing.T) {
	prefix := strings.Repeat("a", maxRouteLen-1)
	groups := [][]string{
		{"GET /\xff", "GET /\xfe", "GET /\xff\xfe", "GET /\uFFFD"},
		{prefix + "é", prefix + "è", prefix + "\xff", prefix + "\xff\xff tail", prefix},
		{"GET /x" + strings.Repeat("é", 200), "GET /x" + strings.Repeat("é", 97) + "\xe9"},
	}
	var names []string
	for _, g := range groups {
		names = append(names, g...)
	}
	c, _ := newTestCollector(t, Options{Route: func(r *http.Request) string { return r.Header.Get("Route") }})
	h := c.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, name := range names {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Route"] = []string{name}
		h.ServeHTTP(newTestInner(), r)
	}
	c.refresh()
	var got []string
	for _, r := range c.Snapshot().Routes {
		if len(r.Route) > maxRouteLen || !utf8.ValidString(r.Route) {
			t.Errorf("route name %q: %d bytes, valid UTF-8 %v", r.Route, len(r.Route), utf8.ValidString(r.Route))
		}
		got = append(got, fmt.Sprintf("%q=%d", r.Route, r.Requests))
	}
	want := []string{
		fmt.Sprintf("%q=%d", "GET /x"+strings.Repeat("é", 97), len(groups[2])),
		fmt.Sprintf("%q=%d", "GET /\uFFFD", len(groups[0])),
		fmt.Sprintf("%q=%d", prefix, len(groups[1])),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("routes:\n%v\nwant:\n%v", got, want)
	}
	seen := map[string]bool{}
	for line := range strings.SplitSeq(string(c.appendPrometheus(nil, c.Snapshot())), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		series := line[:strings.LastIndexByte(line, ' ')] // the value follows the last space
		if seen[series] {
			t.Errorf("duplicate series %.80s", series)
		}
		seen[series] = true
	}
}

// TestRoutesGetAllocations: looking up an existing route allocates
// nothing, whether its name is valid, too long or invalid UTF-8.
func TestRoutesGetAllocations(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	for _, name := range []string{"GET /a/{id}", "GET /\xff\xfe", strings.Repeat("é", 150), strings.Repeat("a", 199) + "é"} {
		c.routes.get(name)
		if a := testing.AllocsPerRun(100, func() { c.routes.get(name) }); a != 0 {
			t.Errorf("get(%.20q) allocates %v times", name, a)
		}
	}
}

// BenchmarkRouteGet looks up an existing route by a valid name, one cut at
// the length cap, and one with invalid UTF-8 (the last two through their
// aliases). The baseline is a bare lookup in the table's map, all that get
// did before routes were keyed by the name as shown.
func BenchmarkRouteGet(b *testing.B) {
	c := New(Options{RefreshInterval: 30 * time.Second})
	b.Cleanup(func() { c.Close() })
	b.Run("baseline", func(b *testing.B) {
		rt := c.routes
		rt.get("GET /api/items/{id}")
		b.ReportAllocs()
		for b.Loop() {
			_ = (*rt.m.Load())["GET /api/items/{id}"]
		}
	})
	for _, tt := range []struct{ name, route string }{
		{"valid", "GET /api/items/{id}"},
		{"long", strings.Repeat("é", 150)},
		{"invalid", "GET /api/\xff/items/{id}"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			rt := c.routes
			rt.get(tt.route)
			b.ReportAllocs()
			for b.Loop() {
				rt.get(tt.route)
			}
		})
	}
}

// TestRoutesAliasesBounded: past MaxRoutes aliases, names shown the same
// still count as their route, without allocating and without growing the
// table.
func TestRoutesAliasesBounded(t *testing.T) {
	c, _ := newTestCollector(t, Options{MaxRoutes: 1})
	rt := c.routes
	want := rt.get("GET /\xff")
	for i := range 300 {
		name := "GET /" + strings.Repeat("\xfe", i+1)
		if s := rt.get(name); s != want {
			t.Fatalf("%q counts as %q, want %q", name, s.name, want.name)
		}
		if a := testing.AllocsPerRun(10, func() { rt.get(name) }); a != 0 {
			t.Fatalf("get(%q) allocates %v times", name, a)
		}
	}
	if n := len(*rt.m.Load()); n > 2+1+1 { // unmatched, other, the route, one alias
		t.Errorf("the table holds %d keys", n)
	}
	if l := rt.list(); len(l) != 3 {
		t.Errorf("list has %d routes, want 3", len(l))
	}
}
