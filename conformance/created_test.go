package conformance

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/vitalsgo/vitals"
)

// What Prometheus 3.16 sends by default, and with scrape_native_histograms
// (or created-timestamp-zero-ingestion, which puts protobuf first too).
const (
	acceptProm3       = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.7,application/openmetrics-text;version=0.0.1;q=0.6,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.3"
	acceptProm3Native = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7," + acceptProm3
)

// TestStartTimestamps decodes the protobuf face with Prometheus' decoder:
// every counter and histogram carries created_timestamp, the collector's
// start to the nanosecond; gauges and the summary carry none. The
// OpenMetrics face has the same start in every _created sample, and the
// text 0.0.4 none.
func TestStartTimestamps(t *testing.T) {
	start := time.Date(2026, 12, 6, 6, 0, 0, 123456789, time.UTC)
	now := start
	c, h := routed(t, vitals.Options{Now: func() time.Time { return now }})
	now = start.Add(time.Minute)
	for i := range 20 {
		serve(h, "GET", []string{"a", "b"}[i%2], []int{200, 500}[i%3/2])
	}
	_ = c.Close()

	body, f := scrape(t, c.Handler(), acceptProm3Native)
	if f.FormatType() != expfmt.TypeProtoDelim {
		t.Fatalf("format %q, want protobuf", f)
	}
	var counters, histograms int
	for _, mf := range decodeProto(t, body) {
		for _, m := range mf.GetMetric() {
			var ts interface{ AsTime() time.Time }
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				counters++
				if ct := m.GetCounter().GetCreatedTimestamp(); ct != nil {
					ts = ct
				}
			case dto.MetricType_HISTOGRAM:
				histograms++
				if ct := m.GetHistogram().GetCreatedTimestamp(); ct != nil {
					ts = ct
				}
			default:
				if m.GetSummary().GetCreatedTimestamp() != nil {
					t.Errorf("%s: a start timestamp on a %v", mf.GetName(), mf.GetType())
				}
				continue
			}
			if ts == nil {
				t.Errorf("%s %v: no created_timestamp", mf.GetName(), m.GetLabel())
			} else if got := ts.AsTime(); !got.Equal(start) {
				t.Errorf("%s %v: created_timestamp %v, want %v", mf.GetName(), m.GetLabel(), got, start)
			}
		}
	}
	if counters < 4 || histograms != 2 {
		t.Errorf("%d counter and %d histogram series, want 4 or more and 2", counters, histograms)
	}

	r := httptest.NewRequest("GET", "/metrics", nil)
	r.Header.Set("Accept", acceptProm3)
	w := httptest.NewRecorder()
	c.Handler().ServeHTTP(w, r)
	if ct := w.Header().Get("Content-Type"); ct != "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	want := " " + strconv.FormatFloat(float64(start.UnixNano())/1e9, 'f', -1, 64) + "\n"
	created := 0
	for line := range strings.Lines(w.Body.String()) {
		if strings.Contains(line, "_created") {
			created++
			if !strings.HasSuffix(line, want) {
				t.Errorf("%q, want the start%s", line, want)
			}
		}
	}
	if created != counters+histograms {
		t.Errorf("%d _created samples in OpenMetrics, want one per counter and histogram series (%d)", created, counters+histograms)
	}
	text, _ := scrape(t, c.Handler(), "text/plain;version=0.0.4")
	if strings.Contains(string(text), "_created") {
		t.Error("the text 0.0.4 has _created")
	}
}
