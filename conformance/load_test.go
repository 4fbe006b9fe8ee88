package conformance

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/vitalsgo/vitals"
)

// TestHistogramsConsistentUnderLoad scrapes both faces over and over while
// goroutines send requests of varied durations to several routes, decodes
// every scrape with Prometheus' own decoders, and checks that every
// histogram is consistent in itself: classic buckets cumulative and
// within the count (the text's +Inf bucket equal to it), native buckets
// and zero bucket adding up to it. A request that finishes while a scrape
// reads its route must not be in one part of a histogram and not in
// another. It runs once with minute buckets and once with buckets of 20
// ms, whose time slices expire, and are drained, while scrapes read them.
func TestHistogramsConsistentUnderLoad(t *testing.T) {
	run := 3 * time.Second
	if testing.Short() {
		run = 500 * time.Millisecond
	}
	for _, o := range []vitals.Options{
		{},
		{BucketWidth: 20 * time.Millisecond, RefreshInterval: 5 * time.Millisecond, WindowBuckets: 10},
	} {
		t.Run(fmt.Sprint(o.BucketWidth), func(t *testing.T) {
			loadAndScrape(t, o, run)
		})
	}
}

func loadAndScrape(t *testing.T, o vitals.Options, run time.Duration) {
	o.Route = func(r *http.Request) string { return r.Header.Get("X-Route") }
	c, err := vitals.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, _ := time.ParseDuration(r.Header.Get("X-Sleep")); d > 0 {
			time.Sleep(d)
		}
		code, _ := strconv.Atoi(r.Header.Get("X-Code"))
		w.WriteHeader(code)
	}))

	// Most goroutines send instant requests, so that many finish during
	// each scrape; the others sleep long enough to reach the upper
	// classic buckets.
	sleeps := []time.Duration{0, 0, 0, 0, 0, 0, 50 * time.Microsecond, 2 * time.Millisecond, 30 * time.Millisecond, 300 * time.Millisecond}
	routes := []string{"GET /a", "GET /b/{id}", "POST /c", "", "GET /d"}
	stop := make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	for g := range 10 {
		wg.Go(func() {
			for i := g; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := httptest.NewRequest("GET", "/", nil)
				r.Header.Set("X-Route", routes[i%len(routes)])
				r.Header.Set("X-Sleep", sleeps[g].String())
				r.Header.Set("X-Code", strconv.Itoa([]int{200, 404, 500}[i%3]))
				h.ServeHTTP(httptest.NewRecorder(), r)
				sent.Add(1)
			}
		})
	}
	defer wg.Wait()
	defer close(stop)

	metrics := c.Handler()
	scrapes, histograms := 0, 0
	for end := time.Now().Add(run); time.Now().Before(end); scrapes++ {
		accept := acceptNative
		if scrapes%2 == 1 {
			accept = acceptClassic
		}
		body, format := scrape(t, metrics, accept)
		var fams []*dto.MetricFamily
		face := "protobuf"
		switch format.FormatType() {
		case expfmt.TypeProtoDelim:
			fams = decodeProto(t, body)
		case expfmt.TypeTextPlain:
			face = "text"
			for _, f := range decodeText(t, body) {
				fams = append(fams, f)
			}
		default:
			t.Fatalf("format %q", format)
		}
		for _, f := range fams {
			if f.GetType() != dto.MetricType_HISTOGRAM {
				continue
			}
			for _, m := range f.GetMetric() {
				histograms++
				if err := consistent(m.GetHistogram()); err != nil {
					t.Fatalf("scrape %d (%s), %s%s: %v", scrapes, face, f.GetName(), m.GetLabel(), err)
				}
			}
		}
	}
	t.Logf("%d scrapes, %d histograms checked, %d requests", scrapes, histograms, sent.Load())
	if sent.Load() == 0 || histograms == 0 {
		t.Fatal("no load, or no histograms")
	}
}

// consistent checks one decoded histogram: its classic buckets ascending,
// cumulative and at most the count, a +Inf bucket (the text writes one)
// equal to the count, and native buckets, when present, that add up with
// the zero bucket to the count.
func consistent(h *dto.Histogram) error {
	count := h.GetSampleCount()
	prevBound, prev := math.Inf(-1), uint64(0)
	for _, b := range h.GetBucket() {
		le, n := b.GetUpperBound(), b.GetCumulativeCount()
		switch {
		case le <= prevBound:
			return fmt.Errorf("bucket le=%v after le=%v", le, prevBound)
		case n < prev:
			return fmt.Errorf("classic bucket le=%v holds %d, below the %d of the bucket before", le, n, prev)
		case n > count:
			return fmt.Errorf("classic bucket le=%v holds %d, above sample_count %d", le, n, count)
		case math.IsInf(le, 1) && n != count:
			return fmt.Errorf("+Inf bucket holds %d, sample_count %d", n, count)
		}
		prevBound, prev = le, n
	}
	if h.Schema == nil {
		return nil
	}
	total, n := h.GetZeroCount(), int64(0)
	for _, d := range h.GetPositiveDelta() {
		n += d
		if n < 0 {
			return fmt.Errorf("a native bucket of %d", n)
		}
		total += uint64(n)
	}
	if len(h.GetNegativeDelta()) != 0 {
		return fmt.Errorf("%d negative native buckets", len(h.GetNegativeDelta()))
	}
	if total != count {
		return fmt.Errorf("native buckets and zero bucket hold %d, sample_count %d", total, count)
	}
	return nil
}
