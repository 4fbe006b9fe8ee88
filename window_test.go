package vitals

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// serveN serves n requests to pattern through the middleware, each taking
// about d on a handler that answers code.
func serveN(c *Collector, pattern string, code, n int) {
	mux := http.NewServeMux()
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) })
	h := c.Middleware(mux)
	for range n {
		h.ServeHTTP(newTestInner(), httptest.NewRequest("GET", "/x", nil))
	}
}

// TestRecentAgesOut checks that traffic leaves Recent after RecentWindow
// while it stays in the since-start figures, and what Span says.
func TestRecentAgesOut(t *testing.T) {
	c, clk := newTestCollector(t, Options{RecentWindow: 5 * time.Minute, WindowBuckets: 10})
	clk.Add(30 * time.Second) // 12:00:30
	serveN(c, "GET /x", 200, 7)
	serveN(c, "GET /x", 500, 3)
	c.RecordDuration(time.Second) // counted in Recent's latency only

	s := c.Refresh()
	if s.Recent.Requests != 10 || s.Recent.Errors != 3 || s.Recent.Status.Success != 7 {
		t.Errorf("Recent = %+v, want 10 requests, 3 errors, 7 2xx", s.Recent)
	}
	if s.Recent.Span != 30*time.Second {
		t.Errorf("Span = %v, want 30s: never before the collector started", s.Recent.Span)
	}
	if s.Recent.P999 < 989*time.Millisecond || s.Recent.P999 > 1011*time.Millisecond {
		t.Errorf("Recent.P999 = %v, want RecordDuration's 1s ±1.1%%", s.Recent.P999)
	}
	r := routeNamed(t, s, "GET /x")
	if r.Recent.Requests != 10 || r.Recent.Errors != 3 {
		t.Errorf("route Recent = %+v, want 10 requests, 3 errors", r.Recent)
	}

	clk.Add(4 * time.Minute) // 12:04:30: still within the last 5 minutes
	s = c.Refresh()
	if s.Recent.Requests != 10 || s.Recent.Span != 4*time.Minute+30*time.Second {
		t.Errorf("after 4m: Recent.Requests %d Span %v, want 10 and 4m30s", s.Recent.Requests, s.Recent.Span)
	}
	// The 12:00 bucket has ended but its slice is live: its figures were
	// sealed at the first refresh after it ended, and stay.
	for range 2 {
		i := len(s.Window.Counts) - 5
		if s.Window.Counts[i] != 10 || s.Window.Errors[i] != 3 || s.Window.P50[i] == 0 {
			t.Errorf("after 4m: window bucket 12:00: count %d errors %d p50 %v, want 10 3 and a p50",
				s.Window.Counts[i], s.Window.Errors[i], s.Window.P50[i])
		}
		s = c.Refresh()
	}

	clk.Add(2 * time.Minute) // 12:06:30: the 12:00 bucket ended 6m30s ago
	s = c.Refresh()
	if s.Recent.Requests != 0 || s.Recent.Errors != 0 || s.Recent.P50 != 0 {
		t.Errorf("after 6m: Recent = %+v, want empty", s.Recent)
	}
	if want := 5*time.Minute + 30*time.Second; s.Recent.Span != want {
		t.Errorf("after 6m: Span = %v, want %v (whole buckets reaching back 5m)", s.Recent.Span, want)
	}
	r = routeNamed(t, s, "GET /x")
	if r.Recent.Requests != 0 {
		t.Errorf("route Recent.Requests = %d after 6m, want 0", r.Recent.Requests)
	}
	// Since start, nothing is lost.
	if s.Requests != 10 || s.Status.ServerError != 3 || r.Requests != 10 || r.Errors != 3 || r.P50 == 0 {
		t.Errorf("since start: Requests %d 5xx %d route %d/%d p50 %v; want 10 3 10/3 and a p50",
			s.Requests, s.Status.ServerError, r.Requests, r.Errors, r.P50)
	}
	// The window keeps the bucket's figures: 10 requests, 3 errors at
	// 12:00, six buckets before the current 12:06.
	i := len(s.Window.Counts) - 7
	if s.Window.Counts[i] != 10 || s.Window.Errors[i] != 3 || s.Window.P50[i] == 0 || s.Window.P99[i] == 0 {
		t.Errorf("window bucket 12:00: count %d errors %d p50 %v p99 %v, want 10 3 and percentiles",
			s.Window.Counts[i], s.Window.Errors[i], s.Window.P50[i], s.Window.P99[i])
	}
	if s.Window.Total != 10 {
		t.Errorf("Window.Total = %d, want 10", s.Window.Total)
	}
	// Buckets before 12:00 are no data, not zero requests.
	for i, nd := range s.Window.NoDataAt {
		if want := i < len(s.Window.Counts)-7; nd != want {
			t.Errorf("NoDataAt[%d] = %v, want %v", i, nd, want)
		}
	}
	if s.Window.HeapBytes[len(s.Window.HeapBytes)-1] == 0 || s.Window.Goroutines[len(s.Window.Goroutines)-1] == 0 {
		t.Errorf("no runtime sample in the current bucket: heap %v goroutines %v", s.Window.HeapBytes, s.Window.Goroutines)
	}
}

// TestRequestLandsInItsOwnBucket checks that a request that ends after a
// bucket boundary counts in the new bucket even before the next refresh.
func TestRequestLandsInItsOwnBucket(t *testing.T) {
	c, clk := newTestCollector(t, Options{WindowBuckets: 3})
	clk.Add(59*time.Second + 900*time.Millisecond) // 12:00:59.9
	c.Refresh()
	serveN(c, "GET /x", 200, 2)     // in 12:00
	clk.Add(200 * time.Millisecond) // 12:01:00.1, no refresh yet
	serveN(c, "GET /x", 503, 5)     // in 12:01
	clk.Add(time.Second)
	s := c.Refresh()
	if want := []uint64{0, 2, 5}; !slices.Equal(s.Window.Counts, want) {
		t.Errorf("Counts = %v, want %v", s.Window.Counts, want)
	}
	if want := []uint64{0, 0, 5}; !slices.Equal(s.Window.Errors, want) {
		t.Errorf("Errors = %v, want %v", s.Window.Errors, want)
	}
}

// TestRequestsPastPreparedBucket checks that requests served after the
// clock moved past the prepared bucket, before the next refresh, count in
// their own bucket: the request rotates the window itself.
func TestRequestsPastPreparedBucket(t *testing.T) {
	tests := []struct {
		name       string
		buckets    int
		advance    time.Duration
		wantCounts []uint64
	}{
		{"two and a half buckets", 5, 2*time.Minute + 30*time.Second, []uint64{0, 0, 0, 0, 5}},
		{"ten buckets", 15, 10 * time.Minute, []uint64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5}},
		{"longer than the window", 3, time.Hour, []uint64{0, 0, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTestCollector(t, Options{WindowBuckets: tt.buckets})
			c.Refresh()
			clk.Add(tt.advance) // no refresh yet
			serveN(c, "GET /x", 200, 3)
			c.IncrementRequests()
			c.IncrementRequests()
			s := c.Refresh()
			if !slices.Equal(s.Window.Counts, tt.wantCounts) {
				t.Errorf("Counts = %v, want %v", s.Window.Counts, tt.wantCounts)
			}
			if s.Recent.Requests != 5 || s.Requests != 5 {
				t.Errorf("Recent.Requests %d Requests %d, want 5 5", s.Recent.Requests, s.Requests)
			}
		})
	}
}

// TestSlotAtRealClock checks the bucket a monotonic reading maps to.
func TestSlotAtRealClock(t *testing.T) {
	c := New(Options{RefreshInterval: 30 * time.Second})
	defer c.Close()
	w := c.win
	p := w.prepared
	at := func(wall int64) int { return c.slotAt(time.Duration(wall - c.baseWall)) }
	cases := []struct {
		name string
		wall int64
		want int64
	}{
		{"in the current bucket", (p-1)*w.width + 5, p - 1},
		{"in the prepared bucket", p*w.width + 5, p},
		{"an older live bucket", (p-3)*w.width + 5, p - 3},
		{"older than the live slices: the oldest", (p-100)*w.width + 5, p - int64(w.n) + 1},
	}
	for _, tt := range cases {
		if got, want := at(tt.wall), w.slotOf(tt.want); got != want {
			t.Errorf("%s: slot %d, want %d", tt.name, got, want)
		}
	}

	// Past the prepared bucket while a refresh holds the lock: counted in
	// the prepared bucket, and the window is left alone.
	c.mu.Lock()
	got := at((p+3)*w.width + 5)
	prepared := w.prepared
	c.mu.Unlock()
	if want := w.slotOf(p); got != want || prepared != p {
		t.Errorf("past the prepared bucket, locked: slot %d prepared %d, want %d %d", got, prepared, want, p)
	}
	// With the lock free, the request rotates the window to its reading.
	got = at((p+3)*w.width + 5)
	c.mu.Lock()
	prepared = w.prepared
	c.mu.Unlock()
	if want := w.slotOf(p + 3); got != want || prepared != p+4 {
		t.Errorf("past the prepared bucket: slot %d prepared %d, want %d %d", got, prepared, want, p+4)
	}
}

// TestRecordingMethodsUseTheirOwnReading checks that IncrementRequests and
// RecordDuration count in the bucket of the moment they are called, not in
// the one current at the last refresh.
func TestRecordingMethodsUseTheirOwnReading(t *testing.T) {
	c, clk := newTestCollector(t, Options{WindowBuckets: 3})
	clk.Add(59*time.Second + 900*time.Millisecond) // 12:00:59.9
	c.Refresh()
	clk.Add(200 * time.Millisecond) // 12:01:00.1, no refresh yet
	c.IncrementRequests()
	c.RecordDuration(time.Millisecond)
	clk.Add(time.Second)
	s := c.Refresh()
	if want := []uint64{0, 0, 1}; !slices.Equal(s.Window.Counts, want) {
		t.Errorf("Counts = %v, want %v", s.Window.Counts, want)
	}
	if s.Window.P50[1] != 0 || s.Window.P50[2] == 0 {
		t.Errorf("P50 = %v, want the duration in 12:01 only", s.Window.P50)
	}
}

// TestRefreshReturnsPublished checks that Refresh publishes what it
// returns, with what was recorded just before.
func TestRefreshReturnsPublished(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	c.IncrementRequests()
	s := c.Refresh()
	if s != c.Snapshot() {
		t.Error("Refresh returned a snapshot other than the published one")
	}
	if s.Requests != 1 || s.Recent.Requests != 1 {
		t.Errorf("Requests %d Recent.Requests %d, want 1 1", s.Requests, s.Recent.Requests)
	}
}

// slotNow returns the slice of the bucket current at the last refresh, for
// tests that place figures without a clock reading of their own (the
// recording methods take one: slotAt).
func (c *Collector) slotNow() int {
	ps := int(c.win.cur.Load() & 0xff)
	if ps == 0 {
		return c.win.n - 1
	}
	return ps - 1
}

type windowStep struct {
	requests int
	advance  time.Duration
}

func TestWindowRotation(t *testing.T) {
	const width = time.Minute
	tests := []struct {
		name string
		// steps: before each refresh, add requests then move the clock.
		steps      []windowStep
		wantCounts []uint64
		wantTotal  uint64 // Requests: every request ever counted
	}{
		{
			name:       "no time passes",
			steps:      []windowStep{{requests: 5, advance: 0}},
			wantCounts: []uint64{0, 0, 0, 5},
			wantTotal:  5,
		},
		{
			name:       "one bucket per step, oldest first",
			steps:      []windowStep{{1, width}, {2, width}, {3, width}, {4, 0}},
			wantCounts: []uint64{1, 2, 3, 4},
			wantTotal:  10,
		},
		{
			name:       "window slides past old buckets",
			steps:      []windowStep{{1, width}, {2, width}, {3, width}, {4, width}, {5, width}, {6, 0}},
			wantCounts: []uint64{3, 4, 5, 6},
			wantTotal:  21,
		},
		{
			name:       "a missed tick catches up by elapsed widths",
			steps:      []windowStep{{7, 2 * width}, {1, 0}},
			wantCounts: []uint64{0, 7, 0, 1},
			wantTotal:  8,
		},
		{
			name:       "a pause longer than the window leaves it empty",
			steps:      []windowStep{{9, width}, {4, 10 * width}},
			wantCounts: []uint64{0, 0, 0, 0},
			wantTotal:  13,
		},
		{
			name:       "exactly the window's length",
			steps:      []windowStep{{9, 4 * width}},
			wantCounts: []uint64{0, 0, 0, 0},
			wantTotal:  9,
		},
		{
			// The window stays; time does not go back: a request at the
			// earlier reading counts in the current bucket, 12:01.
			name:       "a clock that goes backwards keeps the window",
			steps:      []windowStep{{2, width}, {3, -5 * width}, {1, 0}},
			wantCounts: []uint64{0, 0, 2, 4},
			wantTotal:  6,
		},
		{
			name:       "less than a width stays in the bucket",
			steps:      []windowStep{{2, 10 * time.Second}, {3, 0}},
			wantCounts: []uint64{0, 0, 0, 5},
			wantTotal:  5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTestCollector(t, Options{BucketWidth: width, WindowBuckets: 4})
			for _, st := range tt.steps {
				for range st.requests {
					c.IncrementRequests()
				}
				clk.Add(st.advance)
				c.refresh()
			}
			s := c.Snapshot()
			if !slices.Equal(s.Window.Counts, tt.wantCounts) {
				t.Errorf("Counts = %v, want %v", s.Window.Counts, tt.wantCounts)
			}
			if s.Requests != tt.wantTotal {
				t.Errorf("Requests = %d, want %d", s.Requests, tt.wantTotal)
			}
			var sum uint64
			for _, n := range tt.wantCounts {
				sum += n
			}
			if s.Window.Total != sum {
				t.Errorf("Window.Total = %d, want %d", s.Window.Total, sum)
			}
		})
	}
}

func TestWindowStartIsAligned(t *testing.T) {
	c, clk := newTestCollector(t, Options{BucketWidth: time.Minute, WindowBuckets: 3})
	clk.Add(90 * time.Second) // 12:01:30
	c.refresh()
	s := c.Snapshot()
	want := time.Date(2026, 3, 1, 11, 59, 0, 0, time.UTC)
	if !s.Window.Start.Equal(want) {
		t.Errorf("Window.Start = %v, want %v", s.Window.Start.UTC(), want)
	}
	if s.Window.BucketWidth != time.Minute {
		t.Errorf("BucketWidth = %v", s.Window.BucketWidth)
	}
}

// serveFaces serves requests through the middleware and the page in every
// format, and checks that each answers: nothing panics on the way.
func serveFaces(t *testing.T, c *Collector, n int) {
	t.Helper()
	serveN(c, "GET /x", 200, n)
	c.IncrementRequests()
	c.RecordDuration(time.Millisecond)
	c.Refresh()
	for _, f := range []string{"html", "json", "prometheus"} {
		rec := httptest.NewRecorder()
		c.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics?format="+f, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("format %s: status %d", f, rec.Code)
		}
	}
	if _, err := json.Marshal(c.Snapshot()); err != nil {
		t.Fatalf("json: %v", err)
	}
}

// saveRestore saves c and restores the state into a new collector on the
// same options, returning its snapshot.
func saveRestore(t *testing.T, c *Collector, o Options) *Snapshot {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Save(&buf); err != nil {
		t.Fatalf("Save: %v", err)
	}
	d, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if err := d.Restore(&buf); err != nil {
		t.Fatalf("Restore of what Save wrote: %v", err)
	}
	return d.Refresh()
}

// TestWindowBefore1970 checks a window that reaches before 1970, whose
// buckets have negative numbers: 30000 days with the real clock, and an
// injected clock before 1970, crossing into it or not. Nothing panics,
// requests land in their buckets, and a save restores.
func TestWindowBefore1970(t *testing.T) {
	t.Run("30000 days", func(t *testing.T) {
		o := Options{BucketWidth: 24 * time.Hour, WindowBuckets: 30000}
		c, err := Open(o)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer c.Close()
		serveFaces(t, c, 5)
		s := c.Snapshot()
		if s.Requests != 6 || s.Window.Counts[len(s.Window.Counts)-1] != 6 || s.Window.Total != 6 {
			t.Errorf("Requests %d, last bucket %d, window %d; want 6", s.Requests, s.Window.Counts[len(s.Window.Counts)-1], s.Window.Total)
		}
		if !s.Window.Start.Before(time.Unix(0, 0)) || !s.Window.NoDataAt[0] {
			t.Errorf("Window.Start %v, NoDataAt[0] %v: want before 1970, no data", s.Window.Start, s.Window.NoDataAt[0])
		}
		r := saveRestore(t, c, o)
		if r.Requests != 6 || r.Window.Total != 6 {
			t.Errorf("restored: Requests %d, window %d; want 6", r.Requests, r.Window.Total)
		}
	})
	for _, at := range []time.Time{
		time.Date(1969, 12, 31, 23, 59, 0, 0, time.UTC),
		time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		t.Run(at.Format(time.RFC3339), func(t *testing.T) {
			clk := newFakeClock()
			clk.t = at
			o := Options{Now: clk.Now, WindowBuckets: 5}
			c, _ := newTestCollector(t, o)
			serveFaces(t, c, 3) // 4 requests at 23:59
			clk.Add(30 * time.Second)
			serveN(c, "GET /x", 500, 2)
			clk.Add(time.Minute) // 1970-01-01T00:00:30, or 1960 a minute later
			serveFaces(t, c, 1)  // 2 requests
			s := c.Snapshot()
			want := []uint64{0, 0, 0, 6, 2}
			if !slices.Equal(s.Window.Counts, want) || s.Requests != 8 || s.Status.ServerError != 2 {
				t.Errorf("Counts %v Requests %d 5xx %d, want %v 8 2", s.Window.Counts, s.Requests, s.Status.ServerError, want)
			}
			if s.Window.Errors[3] != 2 || s.Window.P50[3] == 0 || s.Recent.Requests != 8 {
				t.Errorf("bucket at %v: errors %d p50 %v, Recent %d; want 2, a p50, 8", at, s.Window.Errors[3], s.Window.P50[3], s.Recent.Requests)
			}
			if want := at.Add(-3 * time.Minute); !s.Window.Start.Equal(want) {
				t.Errorf("Window.Start %v, want %v", s.Window.Start, want)
			}
			if !slices.Equal(s.Window.NoDataAt, []bool{true, true, true, false, false}) {
				t.Errorf("NoDataAt %v", s.Window.NoDataAt)
			}
			r := saveRestore(t, c, o)
			if r.Requests != 8 {
				t.Errorf("restored: Requests %d, want 8", r.Requests)
			}
		})
	}
}
