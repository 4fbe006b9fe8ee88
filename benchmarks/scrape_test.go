package benchmarks

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vitalsgo/vitals"
)

// The scrape of 100 busy routes: each answered 200 requests with five
// status codes and three methods, in durations spread evenly in log space
// from 1 µs to 200 µs (about 240 native buckets each).
const (
	scrapeRoutes   = 100
	scrapeRequests = 200
)

func scrapeDuration(i int) time.Duration {
	return time.Duration(1e3 * math.Pow(200, float64(i%scrapeRequests)/(scrapeRequests-1)))
}

var (
	scrapeCodes   = []int{200, 201, 304, 404, 500}
	scrapeMethods = []string{"GET", "POST", "DELETE"}
)

func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}

// scrapeVitals returns the handler of a collector that served the busy
// routes through its middleware.
func scrapeVitals(b *testing.B) http.Handler {
	c := vitals.New(vitals.Options{Route: func(r *http.Request) string { return r.Header.Get("X-Route") }})
	b.Cleanup(func() { c.Close() })
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := strconv.Atoi(r.Header.Get("X-D"))
		spin(time.Duration(d))
		code, _ := strconv.Atoi(r.Header.Get("X-Code"))
		w.WriteHeader(code)
		_, _ = w.Write(body)
	}))
	for route := range scrapeRoutes {
		for i := range scrapeRequests {
			r := httptest.NewRequest(scrapeMethods[i%3], "/", nil)
			r.Header.Set("X-Route", fmt.Sprintf("GET /route/%d/{id}", route))
			r.Header.Set("X-D", strconv.Itoa(int(scrapeDuration(i))))
			r.Header.Set("X-Code", strconv.Itoa(scrapeCodes[i%5]))
			h.ServeHTTP(&writer{h: http.Header{}}, r)
		}
	}
	return c.Handler()
}

// scrapePromhttp returns promhttp's handler for a registry with the same
// families, series and observations: a counter vector by route, code and
// method, a histogram vector by route with the same classic buckets and
// native buckets of the same schema (5), and the gauges and summary of
// vitals' exposition.
func scrapePromhttp(b *testing.B) http.Handler {
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total", Help: "Requests served through the middleware, by route, status code and method."}, []string{"route", "code", "method"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "http_request_duration_seconds", Help: "Time to serve a request through the middleware, by route.",
		Buckets:                         vitals.DefaultBuckets,
		NativeHistogramBucketFactor:     1.022, // schema 5
		NativeHistogramZeroThreshold:    0x1p-20,
		NativeHistogramMaxBucketNumber:  0,
		NativeHistogramMinResetDuration: 0,
	}, []string{"route"})
	bytes := prometheus.NewCounter(prometheus.CounterOpts{Name: "http_response_size_bytes_total", Help: "Response body bytes written through the middleware."})
	reg.MustRegister(requests, duration, bytes)
	for _, g := range []string{"http_requests_in_flight", "http_connections_open", "http_sessions_active", "process_start_time_seconds", "go_goroutines", "go_memstats_heap_alloc_bytes", "go_memstats_sys_bytes"} {
		gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: g, Help: g})
		gauge.Set(1)
		reg.MustRegister(gauge)
	}
	gc := prometheus.NewSummary(prometheus.SummaryOpts{Name: "go_gc_duration_seconds", Help: "GC pauses."})
	gc.Observe(0.001)
	reg.MustRegister(gc)
	for route := range scrapeRoutes {
		name := fmt.Sprintf("GET /route/%d/{id}", route)
		for i := range scrapeRequests {
			requests.WithLabelValues(name, strconv.Itoa(scrapeCodes[i%5]), scrapeMethods[i%3]).Inc()
			duration.WithLabelValues(name).Observe(scrapeDuration(i).Seconds())
			bytes.Add(2)
		}
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// BenchmarkScrape serves one scrape of the 100 busy routes as text and as
// protobuf, plain and gzipped, by vitals and by promhttp. bytes/scrape is
// the size of the answer as sent.
func BenchmarkScrape(b *testing.B) {
	handlers := []struct {
		name string
		h    http.Handler
	}{{"vitals", scrapeVitals(b)}, {"promhttp", scrapePromhttp(b)}}
	formats := []struct{ name, accept string }{
		{"text", "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"},
		{"protobuf", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,text/plain;version=0.0.4;q=0.5"},
	}
	for _, f := range formats {
		for _, enc := range []string{"plain", "gzip"} {
			for _, lib := range handlers {
				b.Run(f.name+"-"+enc+"/"+lib.name, func(b *testing.B) {
					r := httptest.NewRequest("GET", "/metrics?format=prometheus", nil)
					r.Header.Set("Accept", f.accept)
					if enc == "gzip" {
						r.Header.Set("Accept-Encoding", "gzip")
					}
					w := &writer{h: http.Header{}}
					b.ReportAllocs()
					for b.Loop() {
						clear(w.h)
						w.n = 0
						lib.h.ServeHTTP(w, r)
					}
					if got := w.h.Get("Content-Encoding"); (got == "gzip") != (enc == "gzip") {
						b.Fatalf("Content-Encoding %q", got)
					}
					b.ReportMetric(float64(w.n), "bytes/scrape")
				})
			}
		}
	}
}
