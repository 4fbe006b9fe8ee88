package conformance

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/vitalsgo/vitals"
)

// exemplarBuckets are the classic buckets of the exemplar tests, wide
// apart so that a request's sleep lands in a known one.
var exemplarBuckets = []float64{0.005, 0.05, 0.5, 5}

// tracedCase is one traced request: its ids and how long it sleeps.
type tracedCase struct {
	trace, span string
	sleep       time.Duration
	le          string // the bucket it falls into, as 3.16 names it
}

var tracedCases = []tracedCase{
	{"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 0, "0.005"},
	{"0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", 20 * time.Millisecond, "0.05"},
	{"5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", 200 * time.Millisecond, "0.5"},
}

// exemplarServer returns a collector with exemplarBuckets and a handler
// that serves /work?d= through its middleware and /metrics through its
// Handler.
func exemplarServer(t testing.TB) (*vitals.Collector, http.Handler) {
	c := vitals.New(vitals.Options{Buckets: exemplarBuckets})
	t.Cleanup(func() { c.Close() })
	mux := http.NewServeMux()
	mux.Handle("GET /work", c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		time.Sleep(d)
	})))
	mux.Handle("GET /metrics", c.Handler())
	return c, mux
}

// sendTraced sends each traced case, and an untraced request, through h.
func sendTraced(h http.Handler) {
	for _, tc := range tracedCases {
		r := httptest.NewRequest("GET", "/work?d="+tc.sleep.String(), nil)
		r.Header.Set("Traceparent", "00-"+tc.trace+"-"+tc.span+"-01")
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/work?d=1ms", nil))
}

// inBucket reports whether v falls in the classic bucket whose upper
// bound is le.
func inBucket(v, le float64) bool {
	lo := 0.0
	for _, b := range exemplarBuckets {
		if b < le {
			lo = b
		}
	}
	return v > lo && v <= le
}

// TestExemplarProtobuf decodes the protobuf face with the official
// decoder: each traced request's trace and span id on the classic bucket
// its duration fell into (Bucket.exemplar, with value and timestamp), and
// in the native histogram's exemplars.
func TestExemplarProtobuf(t *testing.T) {
	_, h := exemplarServer(t)
	before := time.Now()
	sendTraced(h)
	after := time.Now()
	body, _ := scrape(t, h, acceptNative)
	var hist *dto.Histogram
	for _, mf := range decodeProto(t, body) {
		if mf.GetName() == "http_request_duration_seconds" {
			hist = mf.GetMetric()[0].GetHistogram()
		}
	}
	if hist == nil {
		t.Fatal("no http_request_duration_seconds")
	}
	check := func(where string, e *dto.Exemplar, le float64) string {
		labels := map[string]string{}
		for _, l := range e.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		ts := e.GetTimestamp().AsTime()
		if ts.Before(before.Add(-time.Millisecond)) || ts.After(after.Add(time.Millisecond)) {
			t.Errorf("%s: exemplar time %v outside the requests' %v..%v", where, ts, before, after)
		}
		if le != 0 && !inBucket(e.GetValue(), le) {
			t.Errorf("%s: exemplar value %v outside its bucket le=%v", where, e.GetValue(), le)
		}
		for _, tc := range tracedCases {
			if labels["trace_id"] == tc.trace {
				if labels["span_id"] != tc.span || len(labels) != 2 {
					t.Errorf("%s: labels %v, want trace_id %s and span_id %s", where, labels, tc.trace, tc.span)
				}
				return tc.trace
			}
		}
		t.Errorf("%s: an exemplar of a trace not sent: %v", where, labels)
		return ""
	}
	classic := map[string]bool{}
	for _, b := range hist.GetBucket() {
		if e := b.GetExemplar(); e != nil {
			classic[check(fmt.Sprintf("bucket le=%v", b.GetUpperBound()), e, b.GetUpperBound())] = true
		}
	}
	native := map[string]bool{}
	for _, e := range hist.GetExemplars() {
		native[check("native", e, 0)] = true
	}
	for _, tc := range tracedCases {
		if !classic[tc.trace] || !native[tc.trace] {
			t.Errorf("trace %s: on a classic bucket %v, in the native exemplars %v", tc.trace, classic[tc.trace], native[tc.trace])
		}
	}
	if len(hist.GetBucket()) != len(exemplarBuckets) {
		t.Errorf("%d classic buckets, want %d (no +Inf without an exemplar there)", len(hist.GetBucket()), len(exemplarBuckets))
	}
	text, _ := scrape(t, h, "text/plain;version=0.0.4")
	if strings.Contains(string(text), "trace_id") {
		t.Error("the text 0.0.4 carries exemplars")
	}
}

// TestExemplarsPrometheus3 scrapes a test server with two Prometheus 3.16
// with --enable-feature=exemplar-storage, one with its default config
// (OpenMetrics, classic buckets), one with scrape_native_histograms: true
// (protobuf, native histograms), and Debian's 2.42 by default
// (OpenMetrics) where it is installed: /api/v1/query_exemplars returns the
// trace ids the test sent, on the classic buckets their durations fell
// into, and on the native histogram.
func TestExemplarsPrometheus3(t *testing.T) {
	bin, _ := prometheus3(t)
	if testing.Short() {
		t.Skip("takes about 10 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	_, h := exemplarServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	config := func(job string) string {
		return fmt.Sprintf(`global:
  scrape_interval: 1s
scrape_configs:
  - job_name: vitals
    static_configs:
      - targets: [%q]
%s`, ln.Addr().String(), job)
	}
	classic := runPrometheusFlags(ctx, t, bin, "3.16 exemplars", config(""), nil, "--enable-feature=exemplar-storage")
	native := runPrometheusFlags(ctx, t, bin, "3.16 native exemplars", config("    scrape_native_histograms: true\n"), nil, "--enable-feature=exemplar-storage")
	all := []*promServer{classic, native}
	var old *promServer
	if bin242, err := exec.LookPath("prometheus"); err == nil {
		old = runPrometheusFlags(ctx, t, bin242, "2.42 exemplars", config(""), nil, "--enable-feature=exemplar-storage")
		all = append(all, old)
	} else if os.Getenv("VITALS_REQUIRE_PROMETHEUS") != "" {
		t.Fatal("prometheus not found, and VITALS_REQUIRE_PROMETHEUS is set")
	}
	for _, p := range all {
		p.waitFor(ctx, t, `up{job="vitals"} == 1`, 1)
	}
	start := time.Now().Add(-time.Minute)
	sendTraced(h)
	for _, p := range all {
		p.nextScrape(ctx, t)
		p.nextScrape(ctx, t)
		p.checkTargets(ctx, t)
	}

	type stored struct {
		SeriesLabels map[string]string `json:"seriesLabels"`
		Exemplars    []struct {
			Labels map[string]string `json:"labels"`
			Value  string            `json:"value"`
		} `json:"exemplars"`
	}
	exemplars := func(p *promServer, expr string) map[string]string { // trace id: le of its series ("" for none)
		var data []stored
		path := fmt.Sprintf("/api/v1/query_exemplars?query=%s&start=%d&end=%d", url.QueryEscape(expr), start.Unix(), time.Now().Add(time.Minute).Unix())
		if err := p.api(ctx, t, path, &data); err != nil {
			t.Fatalf("prometheus (%s): %v", p.name, err)
		}
		got := map[string]string{}
		for _, s := range data {
			for _, e := range s.Exemplars {
				v, _ := strconv.ParseFloat(e.Value, 64)
				le := s.SeriesLabels["le"]
				if le != "" {
					bound, _ := strconv.ParseFloat(le, 64)
					if !inBucket(v, bound) {
						t.Errorf("prometheus (%s): exemplar %v of value %v on the bucket le=%s", p.name, e.Labels, v, le)
					}
				}
				got[e.Labels["trace_id"]] = le
				t.Logf("prometheus (%s): %v value %v on %v", p.name, e.Labels, v, s.SeriesLabels)
			}
		}
		return got
	}
	onClassic := exemplars(classic, `http_request_duration_seconds_bucket`)
	onNative := exemplars(native, `http_request_duration_seconds{route="GET /work"}`)
	var onOld map[string]string
	if old != nil {
		onOld = exemplars(old, `http_request_duration_seconds_bucket`)
	}
	for _, tc := range tracedCases {
		if le, ok := onClassic[tc.trace]; !ok || le != tc.le {
			t.Errorf("3.16 default: trace %s stored on %q, want the bucket le=%s (%v)", tc.trace, le, tc.le, onClassic)
		}
		if le, ok := onOld[tc.trace]; old != nil && (!ok || le != tc.le) {
			t.Errorf("2.42: trace %s stored on %q, want the bucket le=%s (%v)", tc.trace, le, tc.le, onOld)
		}
		if _, ok := onNative[tc.trace]; !ok {
			t.Errorf("3.16 native: trace %s not stored on the native histogram (%v)", tc.trace, onNative)
		}
	}
}

// TestExemplarInfBucket: an exemplar of the +Inf bucket comes in the
// protobuf on an explicit +Inf bucket holding the count, as client_golang
// writes it.
func TestExemplarInfBucket(t *testing.T) {
	c := vitals.New(vitals.Options{Buckets: []float64{0.0005}})
	t.Cleanup(func() { c.Close() })
	h := c.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { time.Sleep(2 * time.Millisecond) }))
	r := httptest.NewRequest("GET", "/slow", nil)
	r.Header.Set("Traceparent", "00-"+tracedCases[0].trace+"-"+tracedCases[0].span+"-01")
	h.ServeHTTP(httptest.NewRecorder(), r)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/slow", nil))
	body, _ := scrape(t, c.Handler(), acceptNative)
	for _, mf := range decodeProto(t, body) {
		if mf.GetName() != "http_request_duration_seconds" {
			continue
		}
		hist := mf.GetMetric()[0].GetHistogram()
		bs := hist.GetBucket()
		if len(bs) != 2 || !math.IsInf(bs[1].GetUpperBound(), 1) || bs[1].GetCumulativeCount() != hist.GetSampleCount() {
			t.Fatalf("buckets %v, want 0.0005 and +Inf holding the count %d", bs, hist.GetSampleCount())
		}
		e := bs[1].GetExemplar()
		if e == nil || e.GetLabel()[0].GetValue() != tracedCases[0].trace || e.GetValue() <= 0.0005 {
			t.Errorf("+Inf exemplar %v", e)
		}
		return
	}
	t.Fatal("no http_request_duration_seconds")
}
