package conformance

import (
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/vitalsgo/vitals"
)

// otlpReceiver is an OTLP/HTTP endpoint that decodes every export with
// the official types, failing the test on anything it cannot read.
type otlpReceiver struct {
	t    testing.TB
	mu   sync.Mutex
	reqs []*colmetricspb.ExportMetricsServiceRequest
}

func (rc *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method != "POST" || r.URL.Path != "/v1/metrics":
		rc.t.Errorf("export: %s %s", r.Method, r.URL.Path)
	case r.Header.Get("Content-Type") != "application/x-protobuf" || r.Header.Get("Content-Encoding") != "gzip":
		rc.t.Errorf("export: Content-Type %q, Content-Encoding %q", r.Header.Get("Content-Type"), r.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		rc.t.Errorf("export: %v", err)
		w.WriteHeader(400)
		return
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		rc.t.Errorf("export: %v", err)
	}
	req := new(colmetricspb.ExportMetricsServiceRequest)
	if err := proto.Unmarshal(body, req); err != nil {
		rc.t.Errorf("export: the official types cannot decode it: %v", err)
		w.WriteHeader(400)
		return
	}
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, req)
	rc.mu.Unlock()
	resp, _ := proto.Marshal(&colmetricspb.ExportMetricsServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(resp)
}

func (rc *otlpReceiver) last() *colmetricspb.ExportMetricsServiceRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.reqs) == 0 {
		return nil
	}
	return rc.reqs[len(rc.reqs)-1]
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = fmt.Sprint(v.IntValue)
		default:
			m[kv.GetKey()] = fmt.Sprintf("?%T", v)
		}
	}
	return m
}

// TestOTLPMatchesPrometheus decodes an export with the official OTLP
// types and compares it point by point with the Prometheus protobuf face
// of the same moment: every histogram bucket for bucket (with the offset
// one lower), every request count, every gauge.
func TestOTLPMatchesPrometheus(t *testing.T) {
	rc := &otlpReceiver{t: t}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	c := vitals.New(vitals.Options{OTLP: &vitals.OTLP{
		Endpoint: srv.URL + "/v1/metrics", Interval: time.Hour,
		Resource: map[string]string{"service.name": "shop", "service.instance.id": "a1"},
	}})
	defer c.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /fast", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("POST /slow/{id}", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(len(r.PathValue("id"))) * time.Millisecond)
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("GET /fail", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusServiceUnavailable) })
	h := c.Middleware(mux)
	for i := range 60 {
		for _, r := range []*http.Request{
			httptest.NewRequest("GET", "/fast", nil),
			httptest.NewRequest("POST", "/slow/"+strings.Repeat("x", 1+i%4), nil),
			httptest.NewRequest("GET", "/fail", nil),
			httptest.NewRequest("PUT", "/fast", nil),  // 405
			httptest.NewRequest("BREW", "/nope", nil), // unmatched, 404, an unknown method
		} {
			h.ServeHTTP(httptest.NewRecorder(), r)
		}
	}

	// The Prometheus face, then the export of the same figures (Close's).
	c.Refresh()
	body, _ := scrape(t, c.Handler(), acceptNative)
	fams := map[string]*dto.MetricFamily{}
	for _, f := range decodeProto(t, body) {
		fams[f.GetName()] = f
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	req := rc.last()
	if req == nil {
		t.Fatal("no export received")
	}
	if x := c.Snapshot().Export; x.Sent == 0 || x.Failed != 0 {
		t.Errorf("Export %+v", x)
	}

	if len(req.GetResourceMetrics()) != 1 || len(req.GetResourceMetrics()[0].GetScopeMetrics()) != 1 {
		t.Fatalf("want one resource and one scope: %v", req)
	}
	rm := req.GetResourceMetrics()[0]
	if got := attrs(rm.GetResource().GetAttributes()); got["service.name"] != "shop" || got["service.instance.id"] != "a1" {
		t.Errorf("resource %v", got)
	}
	sm := rm.GetScopeMetrics()[0]
	if sm.GetScope().GetName() != "github.com/vitalsgo/vitals" || sm.GetScope().GetVersion() == "" {
		t.Errorf("scope %v", sm.GetScope())
	}
	metrics := map[string]*metricspb.Metric{}
	for _, m := range sm.GetMetrics() {
		metrics[m.GetName()] = m
	}
	start := uint64(fams["process_start_time_seconds"].GetMetric()[0].GetGauge().GetValue() * 1e9)

	// The histograms, bucket for bucket.
	dur := metrics["http.server.request.duration"]
	if dur.GetUnit() != "s" || dur.GetExponentialHistogram().GetAggregationTemporality() != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE {
		t.Fatalf("http.server.request.duration: %v", dur)
	}
	otlpHists := map[string]*metricspb.ExponentialHistogramDataPoint{}
	for _, p := range dur.GetExponentialHistogram().GetDataPoints() {
		otlpHists[attrs(p.GetAttributes())["http.route"]] = p
		if d := int64(p.GetStartTimeUnixNano() - start); d < -1000 || d > 1000 {
			t.Errorf("start_time_unix_nano %d, the process started at %d", p.GetStartTimeUnixNano(), start)
		}
	}
	promHists := fams["http_request_duration_seconds"].GetMetric()
	if len(promHists) != len(otlpHists) || len(promHists) != 4 {
		t.Errorf("%d histograms in Prometheus, %d in OTLP; want 4 (unmatched too)", len(promHists), len(otlpHists))
	}
	for _, m := range promHists {
		route := labelsOf(m)["route"]
		ph, op := m.GetHistogram(), otlpHists[route]
		if op == nil {
			t.Errorf("route %q: no OTLP histogram", route)
			continue
		}
		if op.GetCount() != ph.GetSampleCount() || op.GetSum() != ph.GetSampleSum() ||
			op.GetScale() != ph.GetSchema() || op.GetZeroCount() != ph.GetZeroCount() || op.GetZeroThreshold() != ph.GetZeroThreshold() {
			t.Errorf("route %q: OTLP count %d sum %v scale %d zero %d/%v, Prometheus %d %v %d %d/%v", route,
				op.GetCount(), op.GetSum(), op.GetScale(), op.GetZeroCount(), op.GetZeroThreshold(),
				ph.GetSampleCount(), ph.GetSampleSum(), ph.GetSchema(), ph.GetZeroCount(), ph.GetZeroThreshold())
		}
		// Prometheus: spans of indexes, deltas of counts; bucket i covers
		// (b^(i-1), b^i]. OTLP: dense counts from offset; bucket i covers
		// (b^i, b^(i+1)]: the same bucket is OTLP's index + 1.
		want := map[int32]uint64{}
		var idx int32
		var cnt int64
		di := 0
		for _, sp := range ph.GetPositiveSpan() {
			idx += sp.GetOffset()
			for range sp.GetLength() {
				cnt += ph.GetPositiveDelta()[di]
				di++
				want[idx] = uint64(cnt)
				idx++
			}
		}
		got := map[int32]uint64{}
		pos := op.GetPositive()
		for i, n := range pos.GetBucketCounts() {
			if n != 0 {
				got[pos.GetOffset()+int32(i)+1] = n
			}
		}
		if len(op.GetNegative().GetBucketCounts()) != 0 {
			t.Errorf("route %q: negative buckets", route)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("route %q: OTLP buckets (as native indexes) %v, Prometheus %v", route, got, want)
		}
	}

	// The request counts, by route, method and status code.
	reqs := metrics["vitals.http.server.requests"].GetSum()
	if !reqs.GetIsMonotonic() || reqs.GetAggregationTemporality() != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE {
		t.Errorf("vitals.http.server.requests: %v", reqs)
	}
	otlpReqs := map[string]int64{}
	for _, p := range reqs.GetDataPoints() {
		a := attrs(p.GetAttributes())
		otlpReqs[a["http.route"]+" "+a["http.request.method"]+" "+a["http.response.status_code"]] = p.GetAsInt()
	}
	promReqs := map[string]int64{}
	for _, m := range fams["http_requests_total"].GetMetric() {
		l := labelsOf(m)
		method := strings.ToUpper(l["method"])
		if method == "UNKNOWN" {
			method = "_OTHER"
		}
		promReqs[l["route"]+" "+method+" "+l["code"]] = int64(m.GetCounter().GetValue())
	}
	if fmt.Sprint(otlpReqs) != fmt.Sprint(promReqs) || len(promReqs) != 5 {
		t.Errorf("requests: OTLP %v\nPrometheus %v", otlpReqs, promReqs)
	}

	// The single figures.
	for otlpName, promName := range map[string]string{
		"http.server.active_requests":            "http_requests_in_flight",
		"vitals.http.server.response.body.bytes": "http_response_size_bytes_total",
		"vitals.http.server.responses.aborted":   "http_responses_aborted_total",
		"vitals.http.server.connections":         "http_connections_open",
		"vitals.sessions.active":                 "http_sessions_active",
	} {
		m := metrics[otlpName]
		var pts []*metricspb.NumberDataPoint
		if m.GetSum() != nil {
			pts = m.GetSum().GetDataPoints()
		} else {
			pts = m.GetGauge().GetDataPoints()
		}
		pm := fams[promName].GetMetric()
		if len(pts) != 1 || len(pm) != 1 {
			t.Errorf("%s: %d points, %s %d series", otlpName, len(pts), promName, len(pm))
			continue
		}
		want := pm[0].GetGauge().GetValue() + pm[0].GetCounter().GetValue()
		if float64(pts[0].GetAsInt()) != want {
			t.Errorf("%s = %d, %s = %v", otlpName, pts[0].GetAsInt(), promName, want)
		}
	}
	if got := otlpReqs["GET /fast GET 200"]; got != 60 {
		t.Errorf("GET /fast: %d requests, want 60", got)
	}
	if math.IsNaN(otlpHists["POST /slow/{id}"].GetSum()) {
		t.Error("NaN sum")
	}
}

func labelsOf(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}
