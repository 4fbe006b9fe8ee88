package benchmarks

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vitalsgo/vitals"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// writer is a ResponseWriter that allocates nothing, so reported
// allocations belong to the middleware.
type writer struct {
	h      http.Header
	status int
	n      int
}

func (w *writer) Header() http.Header         { return w.h }
func (w *writer) WriteHeader(code int)        { w.status = code }
func (w *writer) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

var body = []byte("ok")

// handler is the trivial handler every middleware wraps: 200 and 2 bytes.
var handler http.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
})

func newVitals(tb testing.TB) *vitals.Collector {
	c := vitals.New(vitals.Options{})
	tb.Cleanup(func() { c.Close() })
	return c
}

func newOtel(tb testing.TB) *sdkmetric.MeterProvider {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tb.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return mp
}

// middlewares: each wraps next as its documentation shows.
var middlewares = []struct {
	name string
	wrap func(testing.TB, http.Handler) http.Handler
}{
	{"bare", func(_ testing.TB, next http.Handler) http.Handler { return next }},
	{"floor", floor},
	{"vitals", func(tb testing.TB, next http.Handler) http.Handler { return newVitals(tb).Middleware(next) }},
	{"victoriametrics", func(_ testing.TB, next http.Handler) http.Handler {
		s := vm.NewSet()
		requests := s.NewCounter(`http_requests_total{path="/bench"}`)
		duration := s.NewHistogram(`http_request_duration_seconds{path="/bench"}`)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			next.ServeHTTP(w, r)
			requests.Inc()
			duration.UpdateDuration(start)
		})
	}},
	{"promhttp", func(_ testing.TB, next http.Handler) http.Handler {
		reg := prometheus.NewRegistry()
		inFlight := prometheus.NewGauge(prometheus.GaugeOpts{Name: "in_flight", Help: "h"})
		duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "duration_seconds", Help: "h"}, []string{"code", "method"})
		count := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "requests_total", Help: "h"}, []string{"code", "method"})
		reg.MustRegister(inFlight, duration, count)
		return promhttp.InstrumentHandlerInFlight(inFlight,
			promhttp.InstrumentHandlerDuration(duration, promhttp.InstrumentHandlerCounter(count, next)))
	}},
	{"otelhttp", func(tb testing.TB, next http.Handler) http.Handler {
		return otelhttp.NewHandler(next, "bench", otelhttp.WithMeterProvider(newOtel(tb)),
			otelhttp.WithTracerProvider(tracenoop.NewTracerProvider()))
	}},
}

// floor is what no middleware recording vitals' figures can undercut: two
// monotonic clock reads and eight atomic writes, with no ResponseWriter
// wrapper (so no status code).
func floor(_ testing.TB, next http.Handler) http.Handler {
	base := time.Now()
	var requests, window, bucket, sum, idx atomic.Uint64
	var inFlight atomic.Int64
	var ring [4096]atomic.Int64
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
		ring[idx.Add(1)%4096].Store(int64(d))
	})
}

// BenchmarkMiddleware serves the trivial handler through each middleware.
// A middleware's overhead is its time minus bare's.
func BenchmarkMiddleware(b *testing.B) {
	for _, m := range middlewares {
		b.Run(m.name, func(b *testing.B) {
			h := m.wrap(b, handler)
			r, _ := http.NewRequest("GET", "http://localhost/bench", nil)
			w := &writer{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
			if w.status != 200 {
				b.Fatalf("status %d", w.status)
			}
		})
	}
}

// BenchmarkCounter increments one request counter.
func BenchmarkCounter(b *testing.B) {
	b.Run("atomic", func(b *testing.B) {
		var n atomic.Uint64
		for b.Loop() {
			n.Add(1)
		}
	})
	b.Run("vitals", func(b *testing.B) {
		c := newVitals(b)
		for b.Loop() {
			c.IncrementRequests()
		}
	})
	b.Run("prometheus", func(b *testing.B) {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "c", Help: "h"})
		for b.Loop() {
			c.Inc()
		}
	})
	b.Run("victoriametrics", func(b *testing.B) {
		c := vm.NewSet().NewCounter("c")
		for b.Loop() {
			c.Inc()
		}
	})
}

var durations = func() (d [64]time.Duration) {
	v := 50 * time.Microsecond
	for i := range d {
		d[i] = v
		v = v * 23 / 20
	}
	return d
}()

// BenchmarkObserve records one request duration.
func BenchmarkObserve(b *testing.B) {
	b.Run("vitals", func(b *testing.B) {
		c := newVitals(b)
		i := 0
		for b.Loop() {
			c.RecordDuration(durations[i&63])
			i++
		}
	})
	b.Run("prometheus", func(b *testing.B) {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h", Help: "h"})
		i := 0
		for b.Loop() {
			h.Observe(durations[i&63].Seconds())
			i++
		}
	})
	b.Run("victoriametrics", func(b *testing.B) {
		h := vm.NewSet().NewHistogram("h")
		i := 0
		for b.Loop() {
			h.Update(durations[i&63].Seconds())
			i++
		}
	})
}

// BenchmarkSnapshot reads the collector's figures.
func BenchmarkSnapshot(b *testing.B) {
	b.Run("atomic-pointer", func(b *testing.B) {
		var p atomic.Pointer[int]
		p.Store(new(int))
		for b.Loop() {
			_ = p.Load()
		}
	})
	b.Run("vitals", func(b *testing.B) {
		c := newVitals(b)
		for b.Loop() {
			_ = c.Snapshot()
		}
	})
}
