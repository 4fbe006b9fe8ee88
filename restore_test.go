package vitals

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Tests of what a restore brings back (restore.go): the window realigned
// by wall clock, histograms with other bounds, the restored codes and
// routes, and the downtime shown as no data.

func TestStateRestartAfterGap(t *testing.T) {
	// Counting starts at 12:00; the state is saved at 12:03.
	tests := []struct {
		name       string
		gap        time.Duration
		wantWindow []uint64
		// the buckets before 12:00, and those the process was down for
		// (from the save to the restart): no data, not zero requests
		wantNoDataAt []bool
	}{
		{"no gap", 0, []uint64{0, 10, 10, 10, 1}, []bool{true, false, false, false, false}},
		{"two minutes down", 2 * time.Minute, []uint64{10, 10, 1, 0, 0}, []bool{false, false, false, true, false}},
		{"down longer than the window", time.Hour, []uint64{0, 0, 0, 0, 0}, []bool{true, true, true, true, false}},
		// (Start stays this collector's: the shifted buckets are not
		// checked for no data.)
		{"clock moved back: read as saved now", -10 * time.Minute, []uint64{0, 10, 10, 10, 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, clk := loadedCollector(t, Options{WindowBuckets: 5})
			var buf bytes.Buffer
			if err := a.Save(&buf); err != nil {
				t.Fatal(err)
			}
			clk.Add(tt.gap)
			b, _ := newTestCollector(t, Options{WindowBuckets: 5, Now: clk.Now})
			if err := b.Restore(&buf); err != nil {
				t.Fatal(err)
			}
			b.refresh()
			s := b.Snapshot()
			if !slices.Equal(s.Window.Counts, tt.wantWindow) {
				t.Errorf("window %v, want %v", s.Window.Counts, tt.wantWindow)
			}
			if tt.wantNoDataAt != nil && !slices.Equal(s.Window.NoDataAt, tt.wantNoDataAt) {
				t.Errorf("NoDataAt %v, want %v", s.Window.NoDataAt, tt.wantNoDataAt)
			}
			if s.Requests != 31 {
				t.Errorf("Requests = %d, want 31 whatever the gap", s.Requests)
			}
			if s.Start.After(s.Time) {
				t.Errorf("counting started %v, after now %v", s.Start, s.Time)
			}
			if tt.gap >= 0 && !s.Start.Equal(a.Snapshot().Start) {
				t.Errorf("Start = %v, want the first start %v", s.Start, a.Snapshot().Start)
			}
		})
	}
}

func TestStateOtherBounds(t *testing.T) {
	a, clk := loadedCollector(t, Options{})
	var buf bytes.Buffer
	_ = a.Save(&buf)
	b, _ := newTestCollector(t, Options{Buckets: []float64{0.001, 0.1}, Now: clk.Now})
	if err := b.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	var total uint64
	b.mu.Lock()
	for _, r := range b.routes.list() {
		if r.restored != nil {
			total += sum(r.restored.hist)
		}
	}
	b.mu.Unlock()
	if total != 30 {
		t.Errorf("histogram holds %d requests after re-bucketing, want 30", total)
	}
}

// routesState returns a state of n routes named r0, r1, …, each with
// codes (method, code) pairs counted count times (in one classic bucket).
func routesState(n, codes int, count uint64) []byte {
	var routes []byte
	for i := range n {
		r := routeState{name: fmt.Sprint("r", i), hist: []uint64{uint64(codes) * count, 0, 0}}
		for k := range codes {
			r.codes = append(r.codes, codeCount{k % numMethods, 100 + k/numMethods%9*100 + k/90, count})
		}
		routes = appendRoute(routes, &r)
	}
	st := &state{
		savedAt: 1_700_000_000e9, firstStart: 1_700_000_000e9, width: int64(time.Minute),
		abs: 1_700_000_000 / 60, window: []uint64{uint64(n*codes) * count}, bounds: []int64{1e6, 1e9},
		nroutes: n, routes: routes,
	}
	return st.encode()
}

// TestRestoredCodes: restored codes keep only non-zero counts, one entry
// per (method, code), in method then code order, however they come.
func TestRestoredCodes(t *testing.T) {
	var r restoredStats
	r.addCodes([]codeCount{{0, 200, 0}, {9, 999, 0}})
	if r.codes != nil {
		t.Errorf("zero counts stored: %v", r.codes)
	}
	r.addCodes([]codeCount{{2, 503, 1}, {0, 404, 2}, {2, 503, 3}, {0, 200, 0}})
	r.addCodes([]codeCount{{0, 200, 4}, {0, 404, 5}})
	var got []string
	r.forEachCode(func(method, code int, n uint64) {
		got = append(got, fmt.Sprintf("%s %d %d", methodNames[method], code, n))
	})
	if want := []string{"get 200 4", "get 404 7", "post 503 4"}; !slices.Equal(got, want) {
		t.Errorf("codes %q, want %q", got, want)
	}
}

var statsSink *recorder // keeps what a test allocates on the heap

// TestStateRestoreManyRoutes restores 10000 routes with MaxRoutes 10000:
// the routes enter the table in one batch, not one copy of the table per
// route, and each costs a live route's counters plus its non-zero codes,
// not a block of 100 counters per (method, status class).
func TestStateRestoreManyRoutes(t *testing.T) {
	const n = 10000
	data := routesState(n, 90, 1)
	c, _ := newTestCollector(t, Options{MaxRoutes: n})
	route := allocatedBy(func() { statsSink = newRecorder("r", len(c.bounds), c.win.n) })
	allocated := allocatedBy(func() {
		if err := c.Restore(bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	})
	beyond := int64(allocated) - n*int64(route)
	t.Logf("Restore of %d routes (%d KiB) allocated %d KiB: %d KiB for the routes' live counters (%d B each), %d KiB more (%.1fx the input)",
		n, len(data)>>10, allocated>>10, n*route>>10, route, beyond>>10, float64(beyond)/float64(len(data)))
	// The input, read into memory, and 16 bytes per non-zero code, which
	// takes at least 3 bytes of the input.
	if limit := 8 * int64(len(data)); beyond > limit {
		t.Errorf("beyond the routes' counters, Restore of %d KiB allocated %d KiB, want at most 8x the input", len(data)>>10, beyond>>10)
	}
	s := c.Refresh()
	if len(s.Routes) != n || s.Requests != n*90 || s.Status.Success != n*10 {
		t.Errorf("restored %d routes, %d requests, %+v; want %d routes, %d requests", len(s.Routes)-1, s.Requests, s.Status, n, n*90)
	}
}

// TestStateRestoredRoutesKeepLiveSlots: the routes of a restored state do
// not take the MaxRoutes slots of the routes this process serves; they are
// capped apart, at MaxRoutes, and those beyond count under RouteOther.
func TestStateRestoredRoutesKeepLiveSlots(t *testing.T) {
	serve := func(c *Collector, paths ...string) {
		h := c.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		for _, p := range paths {
			h.ServeHTTP(newTestInner(), httptest.NewRequest("GET", p, nil))
		}
	}
	counts := func(s *Snapshot) map[string]uint64 {
		m := map[string]uint64{}
		for _, r := range s.Routes {
			m[r.Route] = r.Requests
		}
		return m
	}
	byPath := func(r *http.Request) string { return r.URL.Path[1:] }

	t.Run("default", func(t *testing.T) {
		c, _ := newTestCollector(t, Options{Route: byPath})
		if err := c.Restore(bytes.NewReader(routesState(DefaultMaxRoutes, 1, 1))); err != nil {
			t.Fatal(err)
		}
		serve(c, "/real")
		got := counts(c.Refresh())
		if got["real"] != 1 || got[RouteOther] != 0 || got["r0"] != 1 || got["r99"] != 1 {
			t.Errorf("after restoring %d routes, a live one: %v; want real 1, other 0, r0…r99 1", DefaultMaxRoutes, got)
		}
	})
	t.Run("capped apart", func(t *testing.T) {
		c, _ := newTestCollector(t, Options{Route: byPath, MaxRoutes: 3})
		if err := c.Restore(bytes.NewReader(routesState(5, 1, 1))); err != nil {
			t.Fatal(err)
		}
		// r0 is restored: live requests to it count there and take no
		// slot; a, b and c take the three live slots, d is other.
		serve(c, "/r0", "/a", "/b", "/c", "/d")
		got := counts(c.Refresh())
		want := map[string]uint64{"r0": 2, "r1": 1, "r2": 1, "a": 1, "b": 1, "c": 1, RouteOther: 2 + 1}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("routes %v, want %v", got, want)
		}
	})
}

// TestNoDataAfterRestart checks that the buckets a crashed process was down
// for are "no data" in the window, in JSON and on the page, not zero
// requests: from the last save to the restart.
func TestNoDataAfterRestart(t *testing.T) {
	clk := newFakeClock()
	a, _ := newTestCollector(t, Options{Now: clk.Now, WindowBuckets: 60})
	clk.Add(90 * time.Second) // 12:01:30
	serveN(a, "GET /x", 200, 4)
	a.Refresh()
	var buf bytes.Buffer
	if err := a.Save(&buf); err != nil {
		t.Fatal(err)
	}
	clk.Add(30 * time.Minute) // down until 12:31:30
	b, _ := newTestCollector(t, Options{Now: clk.Now, WindowBuckets: 60})
	if err := b.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	s := b.Refresh()
	// The window is 11:32 to 12:31: 28 buckets before counting started at
	// 12:00, 12:00 and 12:01 counted, 12:02 to 12:30 down, 12:31 counted.
	want := make([]bool, 60)
	for i := range want {
		want[i] = i < 28 || i >= 30 && i < 59
	}
	if !slices.Equal(s.Window.NoDataAt, want) {
		t.Errorf("NoDataAt = %v, want %v", s.Window.NoDataAt, want)
	}
	if s.Window.Counts[29] != 4 {
		t.Errorf("12:01 count %d, want 4", s.Window.Counts[29])
	}
	j, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(j, []byte(`"no_data_at":[true,`)) {
		t.Errorf("JSON has no no_data_at: %s", j)
	}
	body := renderSample(t, s, "")
	wantIn(t, body,
		`<rect class="nd" x="0" y="0" width="28" height="100"/>`,
		`<rect class="nd" x="30" y="0" width="29" height="100"/>`,
		"no data: before counting started at 12:00; not counting 12:02–12:31",
		"12:02–12:03: no data (not counting: the process was down)",
		"12:31–12:32: 0 requests",
	)
}

// largestState returns a valid state of n routes with names of
// maxRouteLen bytes, each with codes (method, code) pairs, sorted as Save
// writes them, that rotate through every pair, so that routes merged into
// one counters (RouteOther) hold every pair together.
func largestState(n, codes int) []byte {
	var routes []byte
	var total uint64
	for i := range n {
		name := fmt.Sprintf("GET /%0*d", maxRouteLen-5, i)
		r := routeState{name: name, hist: []uint64{uint64(codes), 0, 0}}
		for k := range codes {
			p := (i*codes + k) % maxStateCodes
			r.codes = append(r.codes, codeCount{p / 900, 100 + p%900, 1})
		}
		slices.SortFunc(r.codes, func(a, b codeCount) int { return cmp.Or(a.method-b.method, a.code-b.code) })
		routes = appendRoute(routes, &r)
		total += uint64(codes)
	}
	st := &state{
		savedAt: 1_700_000_000e9, firstStart: 1_700_000_000e9, width: int64(time.Minute),
		abs: 1_700_000_000 / 60, window: []uint64{total}, bounds: []int64{1e6, 1e9},
		nroutes: n, routes: routes,
	}
	return st.encode()
}

// TestStateLargestFile decodes and restores a 15 MiB state of 10002
// routes with 200-byte names into a default collector, where all but 100
// are merged into RouteOther: the decoder allocates what the format's
// comment and the README say, whatever the size of the file (not a string
// per route), and Restore allocates in proportion to the file, not to the
// routes times the codes RouteOther holds (it sorted those again for each
// route: BenchmarkRestoreLargest times it).
func TestStateLargestFile(t *testing.T) {
	data := largestState(10002, 340)
	t.Logf("state of %.1f MiB", float64(len(data))/(1<<20))
	decoded := allocatedBy(func() {
		if _, err := decodeState(data); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("decodeState allocated %d KiB", decoded>>10)
	if decoded > 64<<10 { // a one-bucket window: the bounds and the state
		t.Errorf("decodeState allocated %d KiB, want under 64 KiB for a state of one window bucket", decoded>>10)
	}
	c, _ := newTestCollector(t, Options{})
	allocated := allocatedBy(func() {
		if err := c.Restore(bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("Restore allocated %d MiB", allocated>>20)
	if limit := 2 * uint64(len(data)); allocated > limit {
		t.Errorf("Restore of %d MiB allocated %d MiB, want at most twice the file", len(data)>>20, allocated>>20)
	}
	s := c.Refresh()
	var other RouteStats
	for _, r := range s.Routes {
		if r.Route == RouteOther {
			other = r
		}
	}
	if want := uint64(10002-100) * 340; other.Requests != want || s.Requests != 10002*340 {
		t.Errorf("other %d requests, all %d; want %d, %d", other.Requests, s.Requests, want, 10002*340)
	}
	n := 0
	c.routes.other.restored.forEachCode(func(method, code int, k uint64) { n++ })
	if n != maxStateCodes {
		t.Errorf("other holds %d (method, code) pairs, want %d", n, maxStateCodes)
	}
}

// BenchmarkRestoreLargest restores the state of TestStateLargestFile.
func BenchmarkRestoreLargest(b *testing.B) {
	data := largestState(10002, 340)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		c := New(Options{RefreshInterval: 30 * time.Second})
		if err := c.Restore(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.Close()
		b.StartTimer()
	}
}

// TestStateLargestMaxRoutes: a collector at the largest MaxRoutes that
// restored MaxRoutes routes and served MaxRoutes more saves a state that
// the next start reads, through a state file (it refused more than 10002
// routes, and counting started empty).
func TestStateLargestMaxRoutes(t *testing.T) {
	const n = maxMaxRoutes
	if _, err := Open(Options{MaxRoutes: n + 1}); err == nil {
		t.Fatalf("MaxRoutes %d accepted: maxMaxRoutes is not the largest", n+1)
	}
	path := filepath.Join(t.TempDir(), "vitals.state")
	if err := os.WriteFile(path, routesState(n, 1, 1), 0o600); err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	o := Options{StateFile: path, MaxRoutes: n, Now: clk.Now, RefreshInterval: 30 * time.Second, SaveInterval: time.Hour, StrictState: true}
	a, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	// n routes served: entered in one copy of the table (add copies it
	// for each), as n requests would enter them one by one.
	t0 := a.routes
	m := grown(*t0.m.Load(), n)
	for i := range n {
		name := fmt.Sprint("GET /new/", i)
		m[name] = newRecorder(name, t0.bounds, t0.slices)
	}
	t0.m.Store(&m)
	t0.routes = n
	for i := range n {
		t0.get(fmt.Sprint("GET /new/", i)).observe(a.slotNow(), 0, 200, 1e6, 1, a.bounds)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readState(t, path).nroutes; got != 2*n+2 {
		t.Fatalf("saved %d routes, want %d", got, 2*n+2)
	}
	b, err := Open(o)
	if err != nil {
		t.Fatalf("the state saved cannot be read: %v", err)
	}
	defer b.Close()
	if s := b.Refresh(); s.Requests != 2*n {
		t.Errorf("restored %d requests, want %d", s.Requests, 2*n)
	}
}

// TestStateRestoredRoutesCapped: restored routes beyond the cap, merged
// into RouteOther, set RoutesCapped, so the page says so; the routes this
// process serves keep their slots all the same.
func TestStateRestoredRoutesCapped(t *testing.T) {
	c, _ := newTestCollector(t, Options{MaxRoutes: 3})
	if err := c.Restore(bytes.NewReader(routesState(3, 1, 1))); err != nil {
		t.Fatal(err)
	}
	if c.Refresh().RoutesCapped {
		t.Fatal("RoutesCapped with every restored route in a slot of its own")
	}
	if err := c.Restore(bytes.NewReader(routesState(5, 1, 1))); err != nil {
		t.Fatal(err)
	}
	serveN(c, "GET /x", 200, 1)
	s := c.Refresh()
	if !s.RoutesCapped {
		t.Error("RoutesCapped false with restored routes counted under other")
	}
	live := false
	for _, r := range s.Routes {
		live = live || r.Route == "GET /x" && r.Requests == 1
	}
	if !live {
		t.Errorf("a live route counts in other after restored ones were capped: %+v", s.Routes)
	}
	wantIn(t, renderSample(t, s, ""), "The cap on distinct routes (MaxRoutes) was reached")
}
