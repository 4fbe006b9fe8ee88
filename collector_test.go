package vitals

import (
	"cmp"
	"encoding/json"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeClock is an injectable clock that moves only when a test says so.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

// newTestCollector returns a Collector on a fake clock (a new one unless o
// has a clock) whose refresh goroutine never ticks during a test: the test
// calls refresh itself.
func newTestCollector(t *testing.T, o Options) (*Collector, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	if o.Now == nil {
		o.Now = clk.Now
	}
	if o.RefreshInterval == 0 {
		// As long as allowed: the ticker should not fire during a test.
		o.RefreshInterval = cmp.Or(o.BucketWidth, DefaultBucketWidth) / 2
	}
	c, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, clk
}

// TestLatencyPercentiles checks Latency against a sorted reference: counts
// and mean exact, percentiles, min and max within 1.1 % (or a bound below
// 954 ns), and aging out with Recent.
func TestLatencyPercentiles(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
	}{
		{"one", []time.Duration{7 * time.Millisecond}},
		{"zeros are samples", []time.Duration{0, 0, 0, time.Second}},
		{"negative clamps to zero", []time.Duration{-time.Second, 2 * time.Second}},
		{"hundred", seq(100)},
		{"random", randomDurations(5000, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTestCollector(t, Options{})
			for _, d := range tt.samples {
				c.RecordDuration(d)
			}
			got := c.Refresh().Latency

			ref := make([]time.Duration, len(tt.samples))
			var sum time.Duration
			for i, d := range tt.samples {
				ref[i] = max(d, 0)
				sum += ref[i]
			}
			slices.Sort(ref)
			n := len(ref)
			at := func(q float64) time.Duration { // nearest rank, computed independently
				k := int(q*float64(n)/100 + 0.999999)
				return ref[max(k, 1)-1]
			}
			if got.Samples != n || got.Mean != sum/time.Duration(n) {
				t.Errorf("Samples %d Mean %v, want %d %v", got.Samples, got.Mean, n, sum/time.Duration(n))
			}
			near := func(name string, got, want time.Duration) {
				t.Helper()
				if want < LatencyFloor {
					if got != LatencyFloor {
						t.Errorf("%s = %v, want the bound LatencyFloor for %v", name, got, want)
					}
					return
				}
				if e := float64(got)/float64(want) - 1; e > 0.011 || e < -0.011 {
					t.Errorf("%s = %v, want %v ±1.1%%", name, got, want)
				}
			}
			near("Min", got.Min, ref[0])
			near("Max", got.Max, ref[n-1])
			near("P50", got.P50, at(50))
			near("P90", got.P90, at(90))
			near("P99", got.P99, at(99))

			clk.Add(DefaultRecentWindow + DefaultBucketWidth)
			if l := c.Refresh().Latency; l != (Latency{}) {
				t.Errorf("Latency after RecentWindow = %+v, want zero: it ages out", l)
			}
		})
	}
}

func seq(n int) []time.Duration {
	d := make([]time.Duration, n)
	for i := range d {
		d[i] = time.Duration(n-i) * time.Millisecond // reversed, so order cannot help
	}
	return d
}

func randomDurations(n int, seed uint64) []time.Duration {
	r := rand.New(rand.NewPCG(seed, seed))
	d := make([]time.Duration, n)
	for i := range d {
		d[i] = time.Duration(r.Int64N(int64(5 * time.Second)))
	}
	return d
}

func TestLatencyEmpty(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	if l := c.Snapshot().Latency; l != (Latency{}) {
		t.Errorf("Latency with no samples = %+v, want zero", l)
	}
}

func TestCloseStopsGoroutine(t *testing.T) {
	base := runtime.NumGoroutine()
	for range 1000 {
		c := New(Options{RefreshInterval: time.Millisecond})
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := c.Close(); err != nil { // idempotent
			t.Fatalf("second Close: %v", err)
		}
	}
	// Close waits for its goroutine, so none is left to wind down.
	if n := runtime.NumGoroutine(); n > base {
		t.Errorf("goroutines: %d before, %d after 1000 New/Close", base, n)
	}
}

func TestRecordingAfterClose(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	c.Close()
	c.IncrementRequests()
	c.RecordDuration(time.Second)
	c.ConnOpen()
	c.ConnClose()
	c.TouchSession("s")
	if c.Snapshot() == nil {
		t.Fatal("Snapshot after Close is nil")
	}
}

// TestTickerRefreshes drives the real refresh goroutine in a synctest bubble:
// time advances only when every goroutine is blocked, so the ticks are exact
// and a goroutine left running after Close fails the test.
func TestTickerRefreshes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{RefreshInterval: time.Second, BucketWidth: time.Minute, WindowBuckets: 3})
		first := c.Snapshot()
		c.IncrementRequests()
		time.Sleep(time.Second + time.Millisecond)
		s := c.Snapshot()
		if s == first || s.Requests != 1 {
			t.Fatalf("after one tick: same snapshot %v, Requests %d", s == first, s.Requests)
		}
		if s.Time.Sub(first.Time) != time.Second {
			t.Errorf("snapshot taken %v after the first, want 1s", s.Time.Sub(first.Time))
		}
		time.Sleep(3 * time.Minute)
		c.IncrementRequests()
		time.Sleep(time.Second)
		s = c.Snapshot()
		if !slices.Equal(s.Window.Counts, []uint64{0, 0, 1}) || s.Requests != 2 {
			t.Errorf("after 3m: Counts %v Requests %d, want [0 0 1] and 2", s.Window.Counts, s.Requests)
		}
		if s.Uptime < 3*time.Minute {
			t.Errorf("Uptime = %v", s.Uptime)
		}
		c.Close()
	})
}

func TestSnapshotNeverNilAndImmutable(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	s1 := c.Snapshot()
	if s1 == nil {
		t.Fatal("Snapshot right after New is nil")
	}
	c.IncrementRequests()
	c.refresh()
	if s1.Requests != 0 {
		t.Errorf("published snapshot changed: Requests = %d", s1.Requests)
	}
	if r := c.Snapshot().Runtime; r.Goroutines < 1 || r.HeapBytes == 0 || r.TotalBytes < r.HeapBytes {
		t.Errorf("runtime figures look wrong: %+v", r)
	}
}

func TestSnapshotJSONNames(t *testing.T) {
	c, _ := newTestCollector(t, Options{WindowBuckets: 2})
	c.RecordDuration(1500 * time.Millisecond)
	c.refresh()
	b, err := json.Marshal(c.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"time", "start", "uptime_seconds", "requests", "in_flight", "connections",
		"sessions_active", "recent", "window", "latency", "status", "bytes_written", "runtime"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	lat := m["latency"].(map[string]any)
	if lat["mean_seconds"] != 1.5 || lat["samples"] != 1.0 {
		t.Errorf("latency = %v, want mean_seconds 1.5 and samples 1", lat)
	}
	w := m["window"].(map[string]any)
	if w["bucket_width_seconds"] != 60.0 {
		t.Errorf("window = %v", w)
	}
	for _, k := range []string{"errors", "p50_seconds", "p90_seconds", "p99_seconds", "no_data_at", "heap_bytes", "goroutines"} {
		if _, ok := w[k]; !ok {
			t.Errorf("window lacks %q: %v", k, w)
		}
	}
	rec := m["recent"].(map[string]any)
	for _, k := range []string{"span_seconds", "requests", "errors", "status", "p50_seconds", "p90_seconds", "p99_seconds", "p999_seconds"} {
		if _, ok := rec[k]; !ok {
			t.Errorf("recent lacks %q: %v", k, rec)
		}
	}
	if p := rec["p50_seconds"].(float64); p < 1.5*0.989 || p > 1.5*1.011 {
		t.Errorf("recent p50_seconds = %v, want 1.5 ±1.1%%", p)
	}
}

// TestClockSteps checks what vitals shows when its clock steps, as an
// injected clock does here (the default clock, the wall clock at start
// plus the monotonic time since, never steps): an hour forward, then an
// hour back, with requests before and after each. Forward, the window
// moves on and the buckets skipped count zero requests; back, time stays
// where it was (the snapshot's time, uptime, the window, the time a save
// records) and requests count in the current bucket until the clock passes
// it again. Since start nothing is lost or counted twice, and a save
// restores the same window.
func TestClockSteps(t *testing.T) {
	at := func(hh, mm, ss int) time.Time { return time.Date(2026, 3, 1, hh, mm, ss, 0, time.UTC) }
	// check checks s at when, with its buckets' counts by their distance
	// from the current one.
	check := func(t *testing.T, s *Snapshot, when time.Time, up time.Duration, requests uint64, counts map[int]uint64) {
		t.Helper()
		if !s.Time.Equal(when) || s.Uptime != up {
			t.Errorf("Time %v Uptime %v, want %v and %v", s.Time, s.Uptime, when, up)
		}
		if s.Requests != requests || s.Window.Total != requests {
			t.Errorf("Requests %d Window.Total %d, want %d", s.Requests, s.Window.Total, requests)
		}
		n := len(s.Window.Counts)
		if want := when.Truncate(time.Minute).Add(-time.Duration(n-1) * time.Minute); !s.Window.Start.Equal(want) {
			t.Errorf("Window.Start %v, want %v", s.Window.Start, want)
		}
		for i, got := range s.Window.Counts {
			if want := counts[n-1-i]; got != want {
				t.Errorf("bucket %d before the current one: %d requests, want %d", n-1-i, got, want)
			}
			// Before 12:00 nothing counted; after it, zero means zero.
			if nd, want := s.Window.NoDataAt[i], s.Window.Start.Add(time.Duration(i+1)*time.Minute).Compare(at(12, 0, 0)) <= 0; nd != want {
				t.Errorf("bucket %d before the current one: NoDataAt %v, want %v", n-1-i, nd, want)
			}
		}
	}
	t.Run("forward", func(t *testing.T) {
		o := Options{WindowBuckets: 90}
		c, clk := newTestCollector(t, o)
		o.Now = clk.Now
		clk.Add(30 * time.Second) // 12:00:30
		serveN(c, "GET /x", 200, 3)
		c.Refresh()
		clk.Add(time.Hour) // 13:00:30
		serveN(c, "GET /x", 500, 2)
		s := c.Refresh()
		check(t, s, at(13, 0, 30), time.Hour+30*time.Second, 5, map[int]uint64{0: 2, 60: 3})
		if s.Recent.Requests != 2 || s.Recent.Errors != 2 || s.Status.ServerError != 2 {
			t.Errorf("Recent %d/%d 5xx, 5xx since start %d; want 2/2 and 2", s.Recent.Requests, s.Recent.Errors, s.Status.ServerError)
		}
		check(t, saveRestore(t, c, o), at(13, 0, 30), 0, 5, map[int]uint64{0: 2, 60: 3})
	})
	t.Run("backward", func(t *testing.T) {
		o := Options{WindowBuckets: 90}
		c, clk := newTestCollector(t, o)
		o.Now = clk.Now
		clk.Add(30 * time.Second) // 12:00:30
		serveN(c, "GET /x", 200, 3)
		c.Refresh()
		clk.Add(-time.Hour) // 11:00:30: vitals stays at 12:00:30
		serveN(c, "GET /x", 500, 2)
		c.IncrementRequests()
		s := c.Refresh()
		check(t, s, at(12, 0, 30), 30*time.Second, 6, map[int]uint64{0: 6})
		if s.Recent.Requests != 6 || s.Recent.Errors != 2 || s.Window.Errors[len(s.Window.Errors)-1] != 2 {
			t.Errorf("Recent %d/%d 5xx, current bucket %d 5xx; want 6/2 and 2", s.Recent.Requests, s.Recent.Errors, s.Window.Errors[len(s.Window.Errors)-1])
		}
		if got := time.Unix(0, c.capture().savedAt); !got.Equal(at(12, 0, 30)) {
			t.Errorf("a save records %v, want the window's time %v", got.UTC(), at(12, 0, 30))
		}
		clk.Add(61 * time.Minute) // 12:01:30: the clock passes vitals again
		serveN(c, "GET /x", 200, 1)
		s = c.Refresh()
		check(t, s, at(12, 1, 30), 90*time.Second, 7, map[int]uint64{0: 1, 1: 6})
		check(t, saveRestore(t, c, o), at(12, 1, 30), 0, 7, map[int]uint64{0: 1, 1: 6})
	})
}

// TestSessionsAcross1970 checks the session count of an injected clock
// that crosses into 1970: a session is counted for at least SessionTTL,
// at most SessionTTL/16 longer, whatever side of 1970 it was seen on.
func TestSessionsAcross1970(t *testing.T) {
	epoch := time.Unix(0, 0).UTC()
	for seen := -40 * time.Minute; seen <= 5*time.Minute; seen += 50 * time.Second {
		for _, age := range []time.Duration{29 * time.Minute, 33 * time.Minute} {
			clk := newFakeClock()
			clk.t = epoch.Add(seen)
			c, _ := newTestCollector(t, Options{Now: clk.Now})
			c.TouchSession("a")
			clk.Add(age)
			if got, want := c.Refresh().SessionsActive, age < DefaultSessionTTL; (got == 1) != want {
				t.Errorf("seen at %v, %v later: SessionsActive %d, want counted %v", clk.t.Add(-age).Format(time.TimeOnly), age, got, want)
			}
			c.Close()
		}
	}
}
