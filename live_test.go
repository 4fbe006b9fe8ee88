package vitals

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// finishAt counts one request of duration d on route as the middleware's
// deferred step does, at the collector's clock, with request r (for its
// traceparent).
func finishAt(c *Collector, route string, d time.Duration, status int, r *http.Request) {
	wall := c.wallAt(0)
	slot, rec := c.slotOfWall(wall), c.routes.get(route)
	rec.observe(slot, 0, status, int64(d), 0, c.bounds)
	c.recordLive(rec, slot, wall, int64(d), status, 0, false, r)
}

// TestRingTornRecords writes records whose words check each other from
// several goroutines into a small ring (so that slots are rewritten all
// the time) while reading it: every record read must be one that was
// written, whole.
func TestRingTornRecords(t *testing.T) {
	r := newRing(8)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(1); !stop.Load(); i++ {
				d := i*8 + int64(g)
				// end, status and method are all functions of d.
				r.put(d*7919, d, 100+int(d%900), int(d%10))
			}
		}()
	}
	reads, records := 0, 0
	var buf []ringRecord
	for start := time.Now(); time.Since(start) < 300*time.Millisecond || reads < 100; reads++ {
		buf, _, _ = r.read(buf[:0], 0)
		for _, rec := range buf {
			records++
			if rec.end != rec.dur*7919 || rec.status != 100+int(rec.dur%900) || rec.method != int(rec.dur%10) {
				t.Fatalf("torn record %+v", rec)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	if records == 0 {
		t.Fatal("no record read")
	}
	t.Logf("%d reads, %d records checked", reads, records)
}

// TestPerSecondUnprepared counts from several goroutines into seconds
// the refresh never prepared: every count lands, exactly.
func TestPerSecondUnprepared(t *testing.T) {
	var p perSecond
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := int64(1000); s < 1200; s++ {
				for i := range 50 {
					p.add(s, i%5 == 0)
				}
			}
		}()
	}
	wg.Wait()
	// The last minute and a bit: seconds 1137..1199 are still held.
	req, errs := p.sum(1140, 1199)
	if req != 60*8*50 || errs != 60*8*10 {
		t.Errorf("sum = %d, %d; want %d, %d", req, errs, 60*8*50, 60*8*10)
	}
	if req, _ := p.sum(1000, 1100); req != 0 {
		t.Errorf("seconds over a minute old still count %d", req)
	}
	p.prepare(1199)
	if req, _ := p.sum(1200, 1201); req != 0 {
		t.Errorf("prepared seconds count %d", req)
	}
}

// TestLiveTrafficThenSilence: Live counts the requests of the last
// LiveWindow and is 0 once it has passed, while Recent still holds them.
func TestLiveTrafficThenSilence(t *testing.T) {
	c, clk := newTestCollector(t, Options{})
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(503)
		}
	}))
	for i := range 100 {
		path := "/"
		if i%10 == 0 {
			path = "/fail"
		}
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
		clk.Add(20 * time.Millisecond) // two seconds of traffic
	}
	s := c.Refresh()
	if s.Live.Requests != 100 || s.Live.Errors != 10 || s.Live.Rate != 10 || s.Live.Samples != 100 || s.Live.Span != DefaultLiveWindow {
		t.Errorf("Live = %+v, want 100 requests, 10 errors, rate 10/s, 100 samples over 10s", s.Live)
	}
	if s.Live.Max == 0 || s.Live.P50 > s.Live.P99 {
		t.Errorf("Live percentiles %+v", s.Live)
	}
	clk.Add(DefaultLiveWindow)
	s = c.Refresh()
	if s.Live.Requests != 0 || s.Live.Rate != 0 || s.Live.Samples != 0 || s.Live.Max != 0 {
		t.Errorf("after LiveWindow of silence: Live = %+v, want zeros", s.Live)
	}
	if s.Recent.Requests != 100 {
		t.Errorf("Recent.Requests = %d, want 100", s.Recent.Requests)
	}
}

// exactRank is the nearest-rank percentile of ds, computed plainly.
func exactRank(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	for i := range s {
		if float64(i+1) >= p/100*float64(len(s)) {
			return s[i]
		}
	}
	return s[len(s)-1]
}

// TestLivePercentilesExact: the live percentiles are the exact nearest-rank
// percentiles of the requests of the window; the ring's span shrinks when
// it wraps inside the window.
func TestLivePercentilesExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(randomSeed(t), 2))
	c, clk := newTestCollector(t, Options{LiveRequests: 1000})
	r := httptest.NewRequest("GET", "/", nil)
	// Old requests, out of the window by the time it is read.
	for range 50 {
		finishAt(c, "GET /", time.Hour, 200, r)
	}
	clk.Add(30 * time.Second)
	var ds []time.Duration
	for range 1 + rng.IntN(999) {
		d := time.Duration(rng.Int64N(int64(time.Second)))
		ds = append(ds, d)
		finishAt(c, "GET /", d, 200, r)
		clk.Add(time.Millisecond)
	}
	s := c.Refresh()
	l := s.Live
	want := []time.Duration{exactRank(ds, 50), exactRank(ds, 90), exactRank(ds, 99), slices.Max(ds)}
	if got := []time.Duration{l.P50, l.P90, l.P99, l.Max}; !slices.Equal(got, want) || l.Samples != len(ds) {
		t.Errorf("live p50 p90 p99 max = %v (%d samples), want %v (%d)", got, l.Samples, want, len(ds))
	}
	if l.Span != DefaultLiveWindow {
		t.Errorf("Span = %v, want %v", l.Span, DefaultLiveWindow)
	}

	// 2000 more in 2 s: the ring of 1000 wraps inside the window.
	for range 2000 {
		finishAt(c, "GET /", time.Millisecond, 200, r)
		clk.Add(time.Millisecond)
	}
	l = c.Refresh().Live
	if l.Samples != 1000 || l.Span != time.Second || l.Requests != uint64(len(ds)+2000) {
		t.Errorf("wrapped: Samples %d Span %v Requests %d, want 1000, 1s, %d", l.Samples, l.Span, l.Requests, len(ds)+2000)
	}
	pts := c.livePoints(nil, clk.Now().Add(-time.Minute))
	if len(pts) != 1000 || !slices.IsSortedFunc(pts, func(a, b livePoint) int { return a.End.Compare(b.End) }) {
		t.Errorf("livePoints: %d points, sorted %v", len(pts), len(pts) > 0)
	}
}

// TestSlowestTopK: 8 goroutines finish requests of random durations; the
// slowest are exactly the true top K, slowest first, and age out with
// RecentWindow.
func TestSlowestTopK(t *testing.T) {
	seed := randomSeed(t)
	c, clk := newTestCollector(t, Options{Slowest: 7})
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			r := httptest.NewRequest("GET", "/", nil)
			if g == 3 {
				r.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			}
			var mine []time.Duration
			for range 5000 {
				d := time.Duration(rng.Int64N(int64(time.Minute)))
				mine = append(mine, d)
				finishAt(c, fmt.Sprint("GET /g", g), d, 200, r)
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	clk.Add(time.Second)
	s := c.Refresh()
	slices.Sort(all)
	slices.Reverse(all)
	if len(s.Slowest) != 7 {
		t.Fatalf("%d slowest, want 7", len(s.Slowest))
	}
	for i, q := range s.Slowest {
		if q.Duration != all[i] {
			t.Errorf("slowest[%d] = %v, want %v", i, q.Duration, all[i])
		}
		if want := ""; q.Route == "GET /g3" {
			want = "4bf92f3577b34da6a3ce929d0e0e4736"
			if q.TraceID != want {
				t.Errorf("slowest[%d] trace id %q, want %q", i, q.TraceID, want)
			}
		} else if q.TraceID != want {
			t.Errorf("slowest[%d] trace id %q, want none", i, q.TraceID)
		}
		if q.Method != "GET" || q.Status != 200 || q.End.IsZero() {
			t.Errorf("slowest[%d] = %+v", i, q)
		}
	}
	clk.Add(DefaultRecentWindow + 2*DefaultBucketWidth)
	if s := c.Refresh(); len(s.Slowest) != 0 {
		t.Errorf("after RecentWindow: %d slowest, want none", len(s.Slowest))
	}
}

// TestLiveMemory: the ring and the per-second counters at their defaults
// hold at most 128 KiB.
func TestLiveMemory(t *testing.T) {
	before := heapInUse()
	r, p := newRing(DefaultLiveRequests), newPerSecond(0)
	n := heapInUse() - before
	t.Logf("ring of %d and per-second counters: %d KiB", DefaultLiveRequests, n>>10)
	if n > 128<<10 {
		t.Errorf("ring and per-second counters hold %d KiB, over 128 KiB", n>>10)
	}
	runtime.KeepAlive(r)
	runtime.KeepAlive(p)
}

// BenchmarkRefreshLive is a refresh with 100 busy routes and a full ring.
func BenchmarkRefreshLive(b *testing.B) {
	c := New(Options{})
	defer c.Close()
	fillRoutes(c, func() int64 { return 2e6 })
	r := httptest.NewRequest("GET", "/", nil)
	for i := range DefaultLiveRequests {
		finishAt(c, fmt.Sprint("GET /route/", i%100, "/{id}"), time.Duration(i)*time.Microsecond, 200, r)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Refresh()
	}
}

// BenchmarkBuildLive is the live figures' share of a refresh: a full ring
// read, its durations sorted.
func BenchmarkBuildLive(b *testing.B) {
	c := New(Options{})
	defer c.Close()
	r := httptest.NewRequest("GET", "/", nil)
	for i := range DefaultLiveRequests {
		finishAt(c, "GET /", time.Duration(i*7919%4096)*time.Microsecond, 200, r)
	}
	var s Snapshot
	b.ReportAllocs()
	for b.Loop() {
		c.mu.Lock()
		c.buildLive(&s, c.now())
		c.mu.Unlock()
	}
}

// TestSelectNth checks the selection against a sort, ties included.
func TestSelectNth(t *testing.T) {
	rng := rand.New(rand.NewPCG(randomSeed(t), 3))
	for range 2000 {
		a := make([]int64, 1+rng.IntN(200))
		for i := range a {
			a[i] = rng.Int64N(int64(1 + rng.IntN(50)))
		}
		s := slices.Clone(a)
		slices.Sort(s)
		k := rng.IntN(len(a))
		if got := selectNth(a, k); got != s[k] {
			t.Fatalf("selectNth(%v, %d) = %d, want %d", s, k, got, s[k])
		}
		for i := range a {
			if i < k && a[i] > a[k] || i > k && a[i] < a[k] {
				t.Fatalf("not partitioned around %d: %v", k, a)
			}
		}
	}
}

// TestLiveRateAtSecondStart: the per-second counters count whole seconds,
// so Live.Requests covers the seconds the window reaches into (between
// LiveWindow and one second more) and Rate is over the time they cover:
// right after a second starts the rate is still the traffic's, not a
// fraction of it.
func TestLiveRateAtSecondStart(t *testing.T) {
	for _, w := range []time.Duration{time.Second, 10 * time.Second} {
		c, clk := newTestCollector(t, Options{LiveWindow: w})
		h := c.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		// The clock starts on a whole second: one request each 10 ms for
		// w+2s, the last at a whole second plus 10 ms.
		n := int((w + 2*time.Second) / (10 * time.Millisecond))
		for range n {
			clk.Add(10 * time.Millisecond)
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		}
		clk.Add(10 * time.Millisecond) // now: a whole second + 20 ms
		s := c.Refresh()
		inWindow := uint64(w / (10 * time.Millisecond))                  // requests in (now-w, now]
		inSeconds := uint64((w + time.Second) / (10 * time.Millisecond)) // and in the second holding now-w
		if s.Live.Requests < inWindow || s.Live.Requests > inSeconds {
			t.Errorf("LiveWindow %v: Live.Requests = %d, want %d to %d", w, s.Live.Requests, inWindow, inSeconds)
		}
		if s.Live.Rate < 98 || s.Live.Rate > 102 {
			t.Errorf("LiveWindow %v: Live.Rate = %v, want 100/s", w, s.Live.Rate)
		}
		if uint64(s.Live.Samples) > s.Live.Requests {
			t.Errorf("LiveWindow %v: Samples %d above Requests %d", w, s.Live.Samples, s.Live.Requests)
		}
	}
}

// TestLiveAfterClockBack: requests after an injected clock moved back
// count in Live as in Recent (the collector's time never goes back).
func TestLiveAfterClockBack(t *testing.T) {
	c, clk := newTestCollector(t, Options{})
	h := c.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	clk.Add(time.Minute)
	c.Refresh()
	clk.Add(-30 * time.Second)
	for range 10 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}
	s := c.Refresh()
	if s.Recent.Requests != 10 {
		t.Fatalf("Recent.Requests = %d, want 10", s.Recent.Requests)
	}
	if s.Live.Requests != 10 || s.Live.Samples != 10 {
		t.Errorf("after the clock moved back: Live.Requests = %d, Samples = %d, want 10", s.Live.Requests, s.Live.Samples)
	}
}

// TestLiveFarClocks: the per-second counters count before 1970 and after
// 2038 (a second above 2^31), where a counter word of zero would read as
// newer than every second.
func TestLiveFarClocks(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(1960, 3, 1, 12, 0, 0, 0, time.UTC),
		time.Date(2040, 3, 1, 12, 0, 0, 0, time.UTC),
	} {
		clk := &fakeClock{t: at}
		c, _ := newTestCollector(t, Options{Now: clk.Now})
		h := c.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		for range 10 {
			clk.Add(10 * time.Millisecond)
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		}
		s := c.Refresh()
		if s.Live.Requests != 10 || s.Live.Samples != 10 || s.Recent.Requests != 10 {
			t.Errorf("clock at %v: Live.Requests = %d, Live.Samples = %d, Recent.Requests = %d; want 10 each",
				at.Year(), s.Live.Requests, s.Live.Samples, s.Recent.Requests)
		}
	}
}
