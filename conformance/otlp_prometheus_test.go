package conformance

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vitalsgo/vitals"
)

// TestOTLPPrometheus3 pushes to the OTLP receiver of a real Prometheus 3
// (--web.enable-otlp-receiver, /api/v1/otlp/v1/metrics) and checks the
// percentiles histogram_quantile computes over the received native
// histograms against the exact percentiles of the durations served.
//
// It skips without the binary unless VITALS_REQUIRE_PROMETHEUS3=1.
func TestOTLPPrometheus3(t *testing.T) {
	bin, _ := prometheus3(t) // skips (or fails, when required) without it
	if testing.Short() {
		t.Skip("takes about 10 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	prom := runPrometheus3(ctx, t, bin)

	// The server: /work sleeps as long as its query says, behind the
	// middleware; an inner wrapper measures each request as the handler
	// saw it: the durations served.
	c := vitals.New(vitals.Options{OTLP: &vitals.OTLP{
		Endpoint: prom.url + "/api/v1/otlp/v1/metrics",
		Interval: time.Second,
		Resource: map[string]string{"service.name": "vitals-e2e", "service.instance.id": "e2e-1"},
	}})
	defer c.Close()
	var mu sync.Mutex
	var served []time.Duration
	work := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		start := time.Now()
		time.Sleep(d)
		w.WriteHeader(http.StatusOK)
		took := time.Since(start)
		mu.Lock()
		served = append(served, took)
		mu.Unlock()
	})
	mux := http.NewServeMux()
	mux.Handle("GET /work", work)
	h := c.Middleware(mux)

	// Durations spread evenly in log space from 2 ms to 400 ms, in a
	// shuffled order, 50 at a time: about a second of traffic.
	const n = 1000
	ds := make([]time.Duration, n)
	for i := range ds {
		ds[i] = time.Duration(2e6 * math.Pow(200, float64(i)/(n-1)))
	}
	for i := range ds { // a fixed permutation
		j := (i * 7919) % n
		ds[i], ds[j] = ds[j], ds[i]
	}
	var wg sync.WaitGroup
	jobs := make(chan time.Duration)
	for range 50 {
		wg.Go(func() {
			for d := range jobs {
				r, _ := http.NewRequest("GET", "/work?d="+d.String(), nil)
				h.ServeHTTP(discard{}, r)
			}
		})
	}
	for _, d := range ds {
		jobs <- d
	}
	close(jobs)
	wg.Wait()
	slices.Sort(served)

	// Close pushes the last figures.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	x := c.Snapshot().Export
	t.Logf("exports: %d sent, %d failed, last error %q", x.Sent, x.Failed, x.LastError)
	if x.Sent == 0 || x.Failed != 0 {
		t.Fatalf("Export %+v: Prometheus refused exports", x)
	}
	sel := `http_server_request_duration_seconds{http_route="GET /work",job="vitals-e2e",instance="e2e-1"}`
	prom.waitFor(ctx, t, "histogram_count("+sel+")", n)
	if got := prom.scalar(ctx, t, `sum({__name__=~"vitals_http_server_requests.*",http_route="GET /work",http_request_method="GET",http_response_status_code="200"})`); got != n {
		t.Errorf("vitals.http.server.requests in Prometheus: %v, want %d", got, n)
	}
	for _, q := range []float64{0.5, 0.9, 0.99} {
		exact := served[int(math.Ceil(q*n))-1] // nearest rank
		got := prom.scalar(ctx, t, fmt.Sprintf(`histogram_quantile(%g, %s)`, q, sel))
		relErr := got/exact.Seconds() - 1
		t.Logf("OTLP p%g: Prometheus 3 %.6f s, exact %.6f s, error %+.2f %%", q*100, got, exact.Seconds(), relErr*100)
		if math.Abs(relErr) > 0.05 {
			t.Errorf("p%g = %.6f s, exact %.6f s: off by %+.2f %%, over 5 %%", q*100, got, exact.Seconds(), relErr*100)
		}
	}
}

type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}

// runPrometheus3 runs a Prometheus 3 with its OTLP receiver on a free
// loopback port, scraping nothing; it is stopped when the test ends.
func runPrometheus3(ctx context.Context, t *testing.T, bin string) *promServer {
	t.Helper()
	return runPrometheusFlags(ctx, t, bin, "prometheus 3", "global:\n  evaluation_interval: 1s\n", nil, "--web.enable-otlp-receiver")
}
