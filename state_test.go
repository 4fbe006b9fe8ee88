package vitals

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Tests of Save and Restore: a round trip, and what Restore reads.

// loadedCollector records a known mix of requests on a fake clock.
func loadedCollector(t *testing.T, o Options) (*Collector, *fakeClock) {
	t.Helper()
	c, clk := newTestCollector(t, o)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /a/{id}", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("hello")) })
	mux.HandleFunc("POST /b", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	h := c.Middleware(mux)
	for i := range 30 {
		h.ServeHTTP(newTestInner(), httptest.NewRequest([]string{"GET", "POST", "GET"}[i%3], []string{"/a/1", "/b", "/nope"}[i%3], nil))
		c.RecordDuration(time.Duration(i) * time.Millisecond)
		if i%10 == 9 {
			clk.Add(time.Minute)
			c.refresh()
		}
	}
	c.IncrementRequests()
	c.refresh()
	return c, clk
}

// carried returns the parts of a snapshot that a restore must carry: the
// since-start figures (not Recent and Latency, this process's only).
func carried(s *Snapshot) string {
	routes := make([]string, len(s.Routes))
	for i, r := range s.Routes {
		routes[i] = fmt.Sprintf("%s %d %d %+v %d p50=%v p90=%v p99=%v p999=%v",
			r.Route, r.Requests, r.Errors, r.Status, r.Bytes, r.P50, r.P90, r.P99, r.P999)
	}
	w := s.Window
	return fmt.Sprintf("requests=%d window=%v errors=%v p50=%v p90=%v p99=%v status=%+v bytes=%d routes=%v start=%d",
		s.Requests, w.Counts, w.Errors, w.P50, w.P90, w.P99, s.Status, s.BytesWritten, routes, s.Start.UnixNano())
}

// stateBytes returns a valid state file's bytes.
func stateBytes(t *testing.T) []byte {
	t.Helper()
	a, _ := loadedCollector(t, Options{})
	var buf bytes.Buffer
	if err := a.Save(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// allocatedBy returns the bytes allocated while f runs.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestStateRoundTrip(t *testing.T) {
	a, clk := loadedCollector(t, Options{WindowBuckets: 5})
	var buf bytes.Buffer
	if err := a.Save(&buf); err != nil {
		t.Fatal(err)
	}
	b, _ := newTestCollector(t, Options{WindowBuckets: 5, Now: clk.Now})
	if err := b.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	b.refresh()
	if got, want := carried(b.Snapshot()), carried(a.Snapshot()); got != want {
		t.Errorf("restored:\n%s\nwant:\n%s", got, want)
	}
	// The Prometheus counters start from zero in each process: what was
	// restored is in the snapshot, not in them.
	pb := string(b.appendPrometheus(nil, b.Snapshot()))
	if strings.Contains(pb, "http_requests_total{") || strings.Contains(pb, "http_request_duration_seconds_bucket{") ||
		!strings.Contains(pb, "http_response_size_bytes_total 0\n") {
		t.Errorf("restored counts reach the Prometheus counters:\n%s", pb)
	}
}

// TestRestoreReaders: Restore reads a state from a reader that does not
// say its size, and refuses an endless one after 64 MiB.
func TestRestoreReaders(t *testing.T) {
	good := stateBytes(t)
	c, _ := newTestCollector(t, Options{})
	if err := c.Restore(io.MultiReader(bytes.NewReader(good[:7]), bytes.NewReader(good[7:]))); err != nil {
		t.Errorf("Restore from a reader of unknown size: %v", err)
	}
	endless := &countingReader{}
	if err := c.Restore(endless); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Restore of an endless reader: %v", err)
	}
	if endless.n > maxStateSize+1 {
		t.Errorf("Restore read %d bytes of an endless reader", endless.n)
	}
}

// countingReader is an endless reader of zeros that counts what it gives.
type countingReader struct{ n int64 }

func (r *countingReader) Read(p []byte) (int, error) {
	clear(p)
	r.n += int64(len(p))
	return len(p), nil
}
