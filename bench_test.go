package vitals

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// benchWriter is a ResponseWriter that allocates nothing, so the
// allocations reported are the middleware's own.
type benchWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(code int)        { w.status = code }
func (w *benchWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

var okBody = []byte("ok")

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(okBody)
})

func benchCollector(b *testing.B) *Collector {
	c := New(Options{})
	b.Cleanup(func() { c.Close() })
	return c
}

func newBenchRequest(b *testing.B) *http.Request {
	r, err := http.NewRequest("GET", "http://localhost/bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// floorMiddleware is the least any middleware recording vitals' figures
// can cost: two monotonic clock reads and the atomic writes of the design
// (in flight up and down, requests, window, histogram bucket, duration sum,
// ring index and slot), with no ResponseWriter wrapper and so no status.
func floorMiddleware(_ *Collector, next http.Handler) http.Handler {
	base := time.Now()
	var requests, window, bucket, sum, idx atomic.Uint64
	var inFlight atomic.Int64
	var ring [ringSize]atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		start := time.Since(base)
		next.ServeHTTP(w, r)
		d := time.Since(base) - start
		inFlight.Add(-1)
		requests.Add(1)
		window.Add(1)
		bucket.Add(1)
		sum.Add(uint64(d))
		ring[idx.Add(1)%ringSize].Store(int64(d))
	})
}

// BenchmarkMiddleware serves a trivial handler bare and behind the
// middleware; the difference is the middleware's cost per request.
func BenchmarkMiddleware(b *testing.B) {
	for _, bc := range []struct {
		name string
		wrap func(*Collector, http.Handler) http.Handler
	}{
		{"bare", func(_ *Collector, h http.Handler) http.Handler { return h }},
		{"floor", floorMiddleware},
		{"vitals", (*Collector).Middleware},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := bc.wrap(benchCollector(b), okHandler)
			r := newBenchRequest(b)
			w := &benchWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
		})
		if bc.name == "vitals" {
			// A request with a traceparent lends it to its bucket's
			// exemplar (exemplar.go): a parse and a seqlock write, and no
			// allocation once the route's slots exist.
			b.Run("vitals-traceparent", func(b *testing.B) {
				h := bc.wrap(benchCollector(b), okHandler)
				r := newBenchRequest(b)
				r.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
				w := &benchWriter{h: http.Header{}}
				b.ReportAllocs()
				for b.Loop() {
					h.ServeHTTP(w, r)
				}
			})
		}
		b.Run(bc.name+"-parallel", func(b *testing.B) {
			h := bc.wrap(benchCollector(b), okHandler)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := newBenchRequest(b)
				w := &benchWriter{h: http.Header{}}
				for pb.Next() {
					h.ServeHTTP(w, r)
				}
			})
		})
	}
}

func BenchmarkIncrementRequests(b *testing.B) {
	b.Run("atomic-baseline", func(b *testing.B) {
		var n atomic.Uint64
		b.ReportAllocs()
		for b.Loop() {
			n.Add(1)
		}
	})
	b.Run("vitals", func(b *testing.B) {
		c := benchCollector(b)
		b.ReportAllocs()
		for b.Loop() {
			c.IncrementRequests()
		}
	})
	b.Run("atomic-baseline-parallel", func(b *testing.B) {
		var n atomic.Uint64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				n.Add(1)
			}
		})
	})
	b.Run("vitals-parallel", func(b *testing.B) {
		c := benchCollector(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.IncrementRequests()
			}
		})
	})
}

func BenchmarkRecordDuration(b *testing.B) {
	c := benchCollector(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.RecordDuration(time.Duration(i&1023) * time.Microsecond)
		i++
	}
}

func BenchmarkSnapshot(b *testing.B) {
	c := benchCollector(b)
	b.ReportAllocs()
	var s *Snapshot
	for b.Loop() {
		s = c.Snapshot()
	}
	if s == nil {
		b.Fatal("nil snapshot")
	}
}

// BenchmarkRefresh is one rebuild of the snapshot with a full duration
// ring, a full window and 100 busy routes (see fullCollector): the budget
// is 1 ms.
func BenchmarkRefresh(b *testing.B) {
	c := fullCollector(b)
	b.ReportAllocs()
	for b.Loop() {
		c.refresh()
	}
}

// BenchmarkNew reports in B/op the memory a new Collector with default
// options holds (it keeps everything it allocates).
func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		c := New(Options{})
		c.Close()
	}
}

// BenchmarkAddRoutes reports in B/op the memory 100 routes add, each
// answering GET 200 and 404 and POST 201, the first time they are seen.
func BenchmarkAddRoutes(b *testing.B) {
	names := make([]string, DefaultMaxRoutes)
	for i := range names {
		names[i] = fmt.Sprintf("GET /route/%d/{id}", i)
	}
	b.ReportAllocs()
	for b.Loop() {
		t := newRouteTable(DefaultMaxRoutes, len(DefaultBuckets), slicesFor(DefaultRecentWindow, DefaultBucketWidth))
		for _, n := range names {
			s := t.get(n)
			s.observe(0, 0, 200, 0, 0, nil)
			s.observe(0, 0, 404, 0, 0, nil)
			s.observe(0, 2, 201, 0, 0, nil)
		}
	}
}

// BenchmarkRoutes serves requests spread over n ServeMux routes, bare and
// behind the middleware, so the cost of per-route counting shows as the
// difference from BenchmarkMiddleware (one route, unmatched).
func BenchmarkRoutes(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		mux := http.NewServeMux()
		reqs := make([]*http.Request, n)
		for i := range n {
			mux.HandleFunc(fmt.Sprintf("GET /r%d/{id}", i), okHandler)
			r, err := http.NewRequest("GET", fmt.Sprintf("http://localhost/r%d/42", i), nil)
			if err != nil {
				b.Fatal(err)
			}
			reqs[i] = r
		}
		for _, wrapped := range []bool{false, true} {
			name := fmt.Sprintf("bare-mux-%d", n)
			var h http.Handler = mux
			if wrapped {
				name = fmt.Sprintf("vitals-mux-%d", n)
				h = benchCollector(b).Middleware(mux)
			}
			b.Run(name, func(b *testing.B) {
				w := &benchWriter{h: http.Header{}}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					h.ServeHTTP(w, reqs[i%n])
					i++
				}
			})
		}
	}
}

// fullCollector returns a collector with a full duration ring, a full
// window and 100 routes that each answered several status codes: the
// largest state a default collector saves.
func fullCollector(b *testing.B) *Collector {
	c := benchCollector(b)
	for i := range ringSize {
		c.RecordDuration(time.Duration(i) * time.Microsecond)
	}
	for i := range c.win.buckets {
		c.win.bucket(c.win.prepared - 1 - int64(i)).requests = uint64(1000 + i)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for r := range DefaultMaxRoutes {
		s := c.routes.get(fmt.Sprintf("GET /route/%d/{id}", r))
		for i, code := range []int{200, 201, 304, 404, 500} {
			s.observe(c.slotNow(), i%3, code, int64(r*i)*int64(time.Millisecond), 1000, c.bounds)
		}
		// Busy: every live time slice and the retired total hold
		// durations spread over three decades (about 10 octaves).
		for slot := range s.slices {
			for range 200 {
				d := int64(float64(time.Millisecond) * math.Exp(1.5*rng.NormFloat64()))
				s.observe(slot, 0, 200, d, 1000, c.bounds)
			}
		}
		c.mu.Lock() // retired is the refresh goroutine's
		for range 200 {
			s.retired.add(histIndex(int64(float64(time.Millisecond)*math.Exp(1.5*rng.NormFloat64())))-histMinIndex, 1)
		}
		c.mu.Unlock()
	}
	return c
}

// BenchmarkSave is one save of a full collector to a state file: encode,
// write, fsync, rename and directory fsync. bytes/file is the file's size.
func BenchmarkSave(b *testing.B) {
	c := fullCollector(b)
	c.opts.StateFile = filepath.Join(b.TempDir(), "vitals.state")
	b.ReportAllocs()
	for b.Loop() {
		if err := c.saveFile(); err != nil {
			b.Fatal(err)
		}
	}
	fi, err := os.Stat(c.opts.StateFile)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size()), "bytes/file")
}

// BenchmarkSaveEncode is the in-memory part of a save: capturing the state
// with atomic loads and encoding it.
func BenchmarkSaveEncode(b *testing.B) {
	c := fullCollector(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Save(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSession is the middleware with Options.SessionCookie set, for
// requests that carry the cookie: the cookie is found without allocating
// and the session added to a lock-free sketch. Compare with
// BenchmarkMiddleware/vitals.
func BenchmarkSession(b *testing.B) {
	c := New(Options{SessionCookie: "sid"})
	b.Cleanup(func() { c.Close() })
	h := c.Middleware(okHandler)
	b.Run("serial", func(b *testing.B) {
		r := newBenchRequest(b)
		r.Header.Set("Cookie", "theme=dark; sid=3f2a9c81d07e4b55a1c2e6f0b9d8c7a4")
		w := &benchWriter{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, r)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		var n atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := newBenchRequest(b)
			r.Header.Set("Cookie", fmt.Sprintf("sid=session-%d", n.Add(1)))
			w := &benchWriter{h: http.Header{}}
			for pb.Next() {
				h.ServeHTTP(w, r)
			}
		})
	})
}

// BenchmarkScrape serves the Prometheus exposition of a full collector
// (100 busy routes, see fullCollector) as text, protobuf and OpenMetrics,
// plain and gzipped (the budget: OpenMetrics within 1.2 times the text). bytes/scrape is the size of the answer.
func BenchmarkScrape(b *testing.B) {
	c := fullCollector(b)
	h := c.Handler()
	for _, f := range []struct{ name, accept string }{
		{"text", "text/plain;version=0.0.4"},
		{"protobuf", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"},
		{"openmetrics", "application/openmetrics-text;version=1.0.0"},
	} {
		for _, enc := range []string{"plain", "gzip"} {
			b.Run(f.name+"-"+enc, func(b *testing.B) {
				r := newBenchRequest(b)
				r.Header.Set("Accept", f.accept)
				if enc == "gzip" {
					r.Header.Set("Accept-Encoding", "gzip")
				}
				w := &benchWriter{h: http.Header{}}
				b.ReportAllocs()
				for b.Loop() {
					clear(w.h)
					w.n = 0
					h.ServeHTTP(w, r)
				}
				b.ReportMetric(float64(w.n), "bytes/scrape")
			})
		}
	}
}

// BenchmarkScrapeOpenMetricsVsText serves the full collector's text and
// OpenMetrics faces in turn, in each iteration, as Prometheus asks for
// them (gzipped) and plain, and reports each face's time per scrape and
// their ratio: measured side by side, the ratio holds on a busy machine
// where two separate benchmarks drift apart. The budget is 1.2.
func BenchmarkScrapeOpenMetricsVsText(b *testing.B) {
	c := fullCollector(b)
	h := c.Handler()
	for _, enc := range []string{"plain", "gzip", "gzip-exemplars"} {
		b.Run(enc, func(b *testing.B) {
			if enc == "gzip-exemplars" {
				// Every classic bucket of every route holds an exemplar
				// (the text shows none).
				for _, rec := range c.routes.list() {
					p := rec.exemplarSlots()
					for i := range p.s {
						p.s[i].put(traceID{1, 2, 3}, spanID{4, 5}, int64(i+1)*int64(time.Millisecond), 1733462400123000000)
					}
				}
			}
			faces := [2]*http.Request{newBenchRequest(b), newBenchRequest(b)}
			faces[0].Header.Set("Accept", "text/plain;version=0.0.4")
			faces[1].Header.Set("Accept", "application/openmetrics-text;version=1.0.0")
			for _, r := range faces {
				if enc != "plain" {
					r.Header.Set("Accept-Encoding", "gzip")
				}
			}
			w := &benchWriter{h: http.Header{}}
			var took [2]time.Duration
			for b.Loop() {
				for i, r := range faces {
					clear(w.h)
					w.n = 0
					start := time.Now()
					h.ServeHTTP(w, r)
					took[i] += time.Since(start)
				}
			}
			b.ReportMetric(float64(took[0].Nanoseconds())/float64(b.N), "text-ns/scrape")
			b.ReportMetric(float64(took[1].Nanoseconds())/float64(b.N), "om-ns/scrape")
			b.ReportMetric(float64(took[1])/float64(took[0]), "om/text")
		})
	}
}
