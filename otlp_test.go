package vitals

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// receiver is an OTLP endpoint in the test's hands, as an HTTP transport:
// it answers each export with the next of answers (then 200), or never
// (hang), and keeps the gunzipped bodies and when they came.
type receiver struct {
	mu          sync.Mutex
	answers     []func(w http.ResponseWriter)
	hang        bool
	bodies      [][]byte
	times       []time.Time
	headers     []http.Header
	inFlight    int
	maxInFlight int
}

func (rc *receiver) RoundTrip(req *http.Request) (*http.Response, error) {
	rc.mu.Lock()
	rc.inFlight++
	rc.maxInFlight = max(rc.maxInFlight, rc.inFlight)
	hang := rc.hang
	rc.mu.Unlock()
	defer func() {
		rc.mu.Lock()
		rc.inFlight--
		rc.mu.Unlock()
	}()
	if hang {
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	zr, err := gzip.NewReader(req.Body)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	w := httptest.NewRecorder()
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, body)
	rc.times = append(rc.times, time.Now())
	rc.headers = append(rc.headers, req.Header.Clone())
	var answer func(http.ResponseWriter)
	if len(rc.answers) > 0 {
		answer, rc.answers = rc.answers[0], rc.answers[1:]
	}
	rc.mu.Unlock()
	if answer != nil {
		answer(w)
	} else {
		w.WriteHeader(http.StatusOK)
	}
	return w.Result(), nil
}

// inFlightMax returns the most exports that were in flight at once.
func (rc *receiver) inFlightMax() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.maxInFlight
}

func (rc *receiver) header(i int) http.Header {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.headers[i]
}

// logs collects what a collector reports through OnError.
type logs struct {
	mu  sync.Mutex
	got []string
}

func (l *logs) add(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, err.Error())
}

func (l *logs) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.got...)
}

func (rc *receiver) got() (bodies [][]byte, times []time.Time) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([][]byte(nil), rc.bodies...), append([]time.Time(nil), rc.times...)
}

func status(code int, retryAfter string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
	}
}

// otlpPoint is one data point of a decoded export.
type otlpPoint struct {
	attrs  map[string]string
	value  int64   // a number point's as_int
	count  uint64  // a histogram's
	sum    float64 // a histogram's
	scale  int64
	zero   uint64
	offset int64
	counts []uint64
}

// decodeExport decodes the metrics of an export request with
// protoField's reader: metric name to points.
func decodeExport(t *testing.T, body []byte) (map[string][]otlpPoint, map[string]string) {
	t.Helper()
	out := map[string][]otlpPoint{}
	res := map[string]string{}
	rm := all(body, otlpRequestResourceMetrics)
	if len(rm) != 1 {
		t.Fatalf("%d resource metrics, want 1", len(rm))
	}
	r, _ := protoField(rm[0], otlpRMResource)
	for _, kv := range all(r, otlpResourceAttrs) {
		k, v := decodeAttr(kv)
		res[k] = v
	}
	sm, _ := protoField(rm[0], otlpRMScopeMetrics)
	for _, m := range all(sm, otlpSMMetrics) {
		name, _ := protoField(m, otlpMetricName)
		for _, kind := range []uint64{otlpMetricGauge, otlpMetricSum, otlpMetricExpHist} {
			data, ok := protoField(m, kind)
			if !ok {
				continue
			}
			for _, dp := range all(data, otlpDataPoints) {
				p := otlpPoint{attrs: map[string]string{}}
				attrField := uint64(otlpNumberAttrs)
				if kind == otlpMetricExpHist {
					attrField = otlpExpAttrs
					f, _ := protoField(dp, otlpExpCount)
					p.count = leUint(f)
					f, _ = protoField(dp, otlpExpSum)
					p.sum = math.Float64frombits(leUint(f))
					f, _ = protoField(dp, otlpExpScale)
					v, _ := readVarint(f)
					p.scale = int64(v>>1) ^ -int64(v&1)
					f, _ = protoField(dp, otlpExpZeroCount)
					p.zero = leUint(f)
					pos, _ := protoField(dp, otlpExpPositive)
					f, _ = protoField(pos, otlpBucketOffset)
					v, _ = readVarint(f)
					p.offset = int64(v>>1) ^ -int64(v&1)
					packed, _ := protoField(pos, otlpBucketCounts)
					for len(packed) > 0 {
						v, n := readVarint(packed)
						p.counts = append(p.counts, v)
						packed = packed[n:]
					}
				} else {
					f, _ := protoField(dp, otlpNumberInt)
					p.value = int64(leUint(f))
				}
				for _, kv := range all(dp, attrField) {
					k, v := decodeAttr(kv)
					p.attrs[k] = v
				}
				out[string(name)] = append(out[string(name)], p)
			}
		}
	}
	return out, res
}

// all returns every occurrence of field num in b.
func all(b []byte, num uint64) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		tag, n := readVarint(b)
		if n == 0 || tag&7 != wireBytes {
			// skip a scalar field
			if n == 0 {
				return out
			}
			b = b[n:]
			switch tag & 7 {
			case wireVarint:
				_, m := readVarint(b)
				b = b[m:]
			case wireFixed64:
				b = b[8:]
			default:
				return out
			}
			continue
		}
		l, m := readVarint(b[n:])
		v := b[n+m : n+m+int(l)]
		b = b[n+m+int(l):]
		if tag>>3 == num {
			out = append(out, v)
		}
	}
	return out
}

func leUint(b []byte) uint64 {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func decodeAttr(kv []byte) (string, string) {
	k, _ := protoField(kv, otlpKVKey)
	av, _ := protoField(kv, otlpKVValue)
	if s, ok := protoField(av, otlpValueString); ok {
		return string(k), string(s)
	}
	i, _ := protoField(av, otlpValueInt)
	v, _ := readVarint(i)
	return string(k), strconv.FormatInt(int64(v), 10)
}

// serveOTLP sends n requests to route through c's middleware; each takes d
// by the bubble's clock.
func serveOTLP(c *Collector, route string, n int, code int, d time.Duration) {
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(d)
		w.WriteHeader(code)
	}))
	for range n {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", route, nil))
	}
}

// requestsOf sums vitals.http.server.requests for route.
func requestsOf(pts map[string][]otlpPoint, route string) int64 {
	var n int64
	for _, p := range pts["vitals.http.server.requests"] {
		if p.attrs["http.route"] == route {
			n += p.value
		}
	}
	return n
}

func TestOTLPEncode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := &receiver{}
		c := New(Options{OTLP: &OTLP{Endpoint: "http://receiver/v1/metrics", Interval: time.Minute, transport: rc,
			Resource: map[string]string{"deployment.environment.name": "test"}, Headers: map[string]string{"Authorization": "Bearer x"}}})
		defer c.Close()
		mux := http.NewServeMux()
		mux.Handle("GET /a", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(3 * time.Millisecond) }))
		h := c.Middleware(mux)
		for range 5 {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/a", nil))
		}
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("BREW", "/a", nil))
		time.Sleep(time.Minute + time.Millisecond)
		bodies, _ := rc.got()
		if len(bodies) != 1 {
			t.Fatalf("%d exports after one interval, want 1", len(bodies))
		}
		if got := rc.header(0).Get("Authorization"); got != "Bearer x" {
			t.Errorf("Authorization %q", got)
		}
		if got := rc.header(0).Get("Content-Type"); got != "application/x-protobuf" {
			t.Errorf("Content-Type %q", got)
		}
		pts, res := decodeExport(t, bodies[0])
		if res["service.name"] == "" || res["deployment.environment.name"] != "test" {
			t.Errorf("resource %v", res)
		}
		hs := pts["http.server.request.duration"]
		if len(hs) != 2 { // GET /a, and BREW, which the mux refuses (405)
			t.Fatalf("histograms %+v", hs)
		}
		a := hs[0]
		if a.attrs["http.route"] != "GET /a" || a.count != 5 || a.scale != 5 || len(a.counts) != 1 || a.counts[0] != 5 {
			t.Errorf("GET /a: %+v", a)
		}
		// 3 ms: native index ceil(32*log2(0.003)) = -268; OTel's offset is
		// one less.
		if want := int64(math.Ceil(32*math.Log2(0.003))) - 1; a.offset != want {
			t.Errorf("offset %d, want %d", a.offset, want)
		}
		if math.Abs(a.sum-0.015) > 1e-9 {
			t.Errorf("sum %v, want 0.015", a.sum)
		}
		var methods []string
		for _, p := range pts["vitals.http.server.requests"] {
			methods = append(methods, p.attrs["http.request.method"]+" "+p.attrs["http.response.status_code"])
		}
		if got := strings.Join(methods, ","); got != "GET 200,_OTHER 405" {
			t.Errorf("requests by method and status: %s", got)
		}
		if len(pts["http.server.active_requests"]) != 1 || len(pts["vitals.sessions.active"]) != 1 {
			t.Errorf("gauges missing: %v", pts)
		}
		c.Close()
		if x := c.Snapshot().Export; x.Sent != 2 || x.Failed != 0 || x.LastError != "" || x.LastSuccess.IsZero() {
			t.Errorf("Export %+v, want 2 sent", x)
		}
	})
}

// TestOTLPOutage: a receiver that answers 503, with and without
// Retry-After, then 200, gets every point once the outage ends; the
// retries come after Retry-After, or after a backoff with jitter.
func TestOTLPOutage(t *testing.T) {
	for _, retryAfter := range []string{"", "7", "0"} {
		t.Run("Retry-After="+retryAfter, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rc := &receiver{answers: []func(http.ResponseWriter){status(http.StatusServiceUnavailable, retryAfter), status(http.StatusServiceUnavailable, retryAfter), status(http.StatusTooManyRequests, retryAfter)}}
				var logged logs
				start := time.Now()
				c := New(Options{OTLP: &OTLP{Endpoint: "http://receiver/v1/metrics", Interval: time.Minute, transport: rc},
					OnError: logged.add})
				defer c.Close()
				serveOTLP(c, "/x", 10, 200, time.Millisecond)
				time.Sleep(time.Minute + 30*time.Second)
				bodies, times := rc.got()
				if len(bodies) != 4 {
					t.Fatalf("%d attempts, want 4 (3 refused, then accepted)", len(bodies))
				}
				for i := 1; i < 4; i++ {
					wait := times[i].Sub(times[i-1])
					switch {
					case retryAfter == "7" && wait != 7*time.Second:
						t.Errorf("retry %d after %v, want the 7 s of Retry-After", i, wait)
					case retryAfter == "0" && wait != otlpBackoffMin:
						t.Errorf("retry %d after %v, want %v: Retry-After 0 makes no busy loop", i, wait, otlpBackoffMin)
					case retryAfter == "":
						base := otlpBackoffMin << (i - 1)
						if wait < base/2 || wait >= base*3/2 {
							t.Errorf("retry %d after %v, want %v ± half (jitter)", i, wait, base)
						}
					}
				}
				if times[0].Sub(start) != time.Minute {
					t.Errorf("first export after %v", times[0].Sub(start))
				}
				pts, _ := decodeExport(t, bodies[3])
				if n := requestsOf(pts, RouteUnmatched); n != 10 {
					t.Errorf("%d requests after the outage, want 10", n)
				}
				if h := pts["http.server.request.duration"]; len(h) != 1 || h[0].count != 10 {
					t.Errorf("histogram after the outage: %+v", h)
				}
				if l := logged.all(); len(l) != 0 {
					t.Errorf("retried refusals logged: %q", l)
				}
				if x := c.Refresh().Export; x.Sent != 1 || x.Failed != 0 {
					t.Errorf("Export %+v", x)
				}
				c.Close()
			})
		})
	}
}

// TestOTLPRejected: another 4xx is not retried, and logged once with the
// receiver's message; a partial success is logged.
func TestOTLPRejected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rpcStatus := func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/x-protobuf")
			w.WriteHeader(400)
			b := appendUintField(nil, 1, 3)
			w.Write(appendStringField(b, 2, "", "metric name is bad"))
		}
		partial := func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/x-protobuf")
			ps := appendUintField(nil, 1, 2)
			ps = appendStringField(ps, 2, "", "2 points too old")
			w.Write(appendBytesField(nil, 1, ps))
		}
		rc := &receiver{answers: []func(http.ResponseWriter){rpcStatus, rpcStatus, partial}}
		var logged logs
		c := New(Options{OTLP: &OTLP{Endpoint: "http://receiver/v1/metrics", Interval: time.Minute, transport: rc},
			OnError: logged.add})
		defer c.Close()
		time.Sleep(3*time.Minute + time.Second)
		bodies, times := rc.got()
		if len(bodies) != 3 || times[1].Sub(times[0]) != time.Minute {
			t.Fatalf("%d exports at %v: want one a minute, no retry", len(bodies), times)
		}
		if l := logged.all(); len(l) != 2 || !strings.Contains(l[0], "HTTP 400: metric name is bad") || !strings.Contains(l[1], "2 data points rejected: 2 points too old") {
			t.Errorf("logged %q", l)
		}
		x := c.Refresh().Export
		if x.Sent != 1 || x.Failed != 2 || x.LastError != "" {
			t.Errorf("Export %+v", x)
		}
		c.Close()
	})
}

// TestOTLPHung: an endpoint that never answers costs one export at a time,
// each ended by the timeout, and Close returns within its deadline, with
// the goroutine stopped.
func TestOTLPHung(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := &receiver{hang: true}
		var logged logs
		c := New(Options{OTLP: &OTLP{Endpoint: "http://receiver/v1/metrics", Interval: time.Minute, transport: rc}, OnError: logged.add})
		defer c.Close()
		time.Sleep(10*time.Minute + time.Second)
		if n := rc.inFlightMax(); n != 1 {
			t.Errorf("%d exports in flight at once", n)
		}
		x := c.Refresh().Export
		// Nine exports ended, each before the next was due; the tenth runs.
		if x.Sent != 0 || x.Failed != 9 || !strings.Contains(x.LastError, "deadline") {
			t.Errorf("Export %+v, want 9 failed", x)
		}
		start := time.Now()
		c.Close()
		if d := time.Since(start); d > otlpCloseTimeout {
			t.Errorf("Close took %v, over %v", d, otlpCloseTimeout)
		}
		select {
		case <-c.exp.exited:
		default:
			t.Error("the exporter's goroutine still runs after Close")
		}
		if l := logged.all(); len(l) != 1 {
			t.Errorf("logged %q, want the first failure only", l)
		}
		if x := c.Snapshot().Export; x.Failed != 11 {
			t.Errorf("Failed %d after Close, want 11 (the export Close cut short, and its last one)", x.Failed)
		}
	})
}

// TestOTLPClose: Close makes a last export with the final figures, and
// stops the goroutine.
func TestOTLPClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := &receiver{}
		c := New(Options{OTLP: &OTLP{Endpoint: "http://receiver/v1/metrics", Interval: time.Hour, transport: rc}})
		defer c.Close()
		serveOTLP(c, "/x", 3, 500, 0)
		c.Close()
		bodies, _ := rc.got()
		if len(bodies) != 1 {
			t.Fatalf("%d exports, want Close's one", len(bodies))
		}
		pts, _ := decodeExport(t, bodies[0])
		if n := requestsOf(pts, RouteUnmatched); n != 3 {
			t.Errorf("%d requests in the last export, want 3", n)
		}
		<-c.exp.exited
		if c.Snapshot().Export.Sent != 1 {
			t.Errorf("Export %+v", c.Snapshot().Export)
		}
	})
}

// TestOTLPRequestPathAllocs: with an endpoint that never answers, a
// request allocates what it does without a push.
func TestOTLPRequestPathAllocs(t *testing.T) {
	measure := func(o *OTLP) float64 {
		c := New(Options{OTLP: o, OnError: func(error) {}})
		defer c.Close()
		h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		r := httptest.NewRequest("GET", "/", nil)
		w := &benchWriter{h: http.Header{}}
		return testing.AllocsPerRun(2000, func() { h.ServeHTTP(w, r) })
	}
	base := measure(nil)
	hung := measure(&OTLP{Endpoint: "http://receiver/v1/metrics", Interval: 10 * time.Millisecond, transport: &receiver{hang: true}})
	if hung != base {
		t.Errorf("a request allocates %v times with a hung endpoint, %v without", hung, base)
	}
}

func TestResolveOTLP(t *testing.T) {
	type want struct {
		off      bool
		endpoint string
		interval time.Duration
		header   string // the X-Key header
		service  string
		warn     bool
	}
	opts := &OTLP{Endpoint: "http://opts:4318/v1/metrics", Interval: 5 * time.Second, Headers: map[string]string{"X-Key": "opts"}, Resource: map[string]string{"service.name": "opts"}}
	for _, tc := range []struct {
		name string
		o    *OTLP
		env  map[string]string
		want want
	}{
		{"nil, no env", nil, nil, want{off: true}},
		{"nil, headers only", nil, map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "X-Key=env"}, want{off: true}},
		{"nil, endpoint", nil, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318/"},
			want{endpoint: "http://env:4318/v1/metrics", interval: time.Minute, service: executableName()}},
		{"nil, metrics endpoint wins, as is", nil, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://m:443/custom"},
			want{endpoint: "https://m:443/custom", interval: time.Minute, service: executableName()}},
		{"nil, everything from env", nil, map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318", "OTEL_EXPORTER_OTLP_HEADERS": "X-Key=env,X-Other=1",
			"OTEL_EXPORTER_OTLP_METRICS_HEADERS": "X-Key=metrics%20env", "OTEL_SERVICE_NAME": "svc",
			"OTEL_RESOURCE_ATTRIBUTES": "service.name=attr,team=a", "OTEL_METRIC_EXPORT_INTERVAL": "15000"},
			want{endpoint: "http://env:4318/v1/metrics", interval: 15 * time.Second, header: "metrics env", service: "svc"}},
		{"options only", &OTLP{}, nil, want{endpoint: defaultOTLPEndpoint, interval: time.Minute, service: executableName()}},
		{"options win over env", opts, map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318", "OTEL_EXPORTER_OTLP_HEADERS": "X-Key=env",
			"OTEL_SERVICE_NAME": "svc", "OTEL_METRIC_EXPORT_INTERVAL": "15000"},
			want{endpoint: "http://opts:4318/v1/metrics", interval: 5 * time.Second, header: "opts", service: "opts"}},
		{"empty options fields take env", &OTLP{}, map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://m/v1/metrics", "OTEL_SERVICE_NAME": "svc"},
			want{endpoint: "http://m/v1/metrics", interval: time.Minute, service: "svc"}},
		{"SDK disabled beats options", opts, map[string]string{"OTEL_SDK_DISABLED": "TRUE"}, want{off: true}},
		{"SDK disabled beats env", nil, map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://env"}, want{off: true}},
		{"SDK disabled=false", nil, map[string]string{"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://env"},
			want{endpoint: "http://env/v1/metrics", interval: time.Minute, service: executableName()}},
		{"metrics exporter none", opts, map[string]string{"OTEL_METRICS_EXPORTER": "none"}, want{off: true}},
		{"metrics exporter prometheus", nil, map[string]string{"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://env"}, want{off: true}},
		{"metrics exporter lists otlp", nil, map[string]string{"OTEL_METRICS_EXPORTER": "console, otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://env"},
			want{endpoint: "http://env/v1/metrics", interval: time.Minute, service: executableName()}},
		{"bad env endpoint", nil, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "env:4318"}, want{off: true, warn: true}},
		{"bad env values ignored", nil, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env", "OTEL_METRIC_EXPORT_INTERVAL": "1m", "OTEL_EXPORTER_OTLP_HEADERS": "novalue,X-Key=ok"},
			want{endpoint: "http://env/v1/metrics", interval: time.Minute, header: "ok", service: executableName(), warn: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, warnings, err := resolveOTLP(tc.o, func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if (len(warnings) > 0) != tc.want.warn {
				t.Errorf("warnings %v", warnings)
			}
			if cfg == nil {
				if !tc.want.off {
					t.Fatal("off, want on")
				}
				return
			}
			if tc.want.off {
				t.Fatalf("on (%s), want off", cfg.endpoint)
			}
			res := map[string]string{}
			for i := 0; i < len(cfg.resource); i += 2 {
				res[cfg.resource[i]] = cfg.resource[i+1]
			}
			got := want{endpoint: cfg.endpoint, interval: cfg.interval, header: cfg.header.Get("X-Key"), service: res["service.name"], warn: tc.want.warn}
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
			if cfg.header.Get("Content-Encoding") != "gzip" {
				t.Errorf("headers %v", cfg.header)
			}
		})
	}
}

func TestOTLPBadOptions(t *testing.T) {
	for _, o := range []*OTLP{
		{Endpoint: "collector:4318"},
		{Endpoint: "ftp://collector/v1/metrics"},
		{Interval: time.Millisecond},
		{Interval: -time.Second},
		{Headers: map[string]string{"Bad Name": "x"}},
		{Headers: map[string]string{"X": "a\nb"}},
		{Resource: map[string]string{"": "x"}},
	} {
		if _, err := Open(Options{OTLP: o}); err == nil || !strings.Contains(err.Error(), "OTLP") {
			t.Errorf("%+v: err %v", o, err)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": -1, "7": 7 * time.Second, "-1": -1, "soon": -1, "0": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
}

func TestOTLPNetworkErrorRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		tr := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if calls.Add(1) < 3 {
				return nil, errors.New("connection refused")
			}
			return &http.Response{StatusCode: 200, Body: io.NopCloser(bytes.NewReader(nil)), Header: http.Header{}}, nil
		})
		c := New(Options{OTLP: &OTLP{Endpoint: "http://receiver/v1/metrics", Interval: time.Minute, transport: tr}})
		defer c.Close()
		time.Sleep(time.Minute + 10*time.Second)
		if x := c.Refresh().Export; calls.Load() != 3 || x.Sent != 1 || x.Failed != 0 {
			t.Errorf("%d calls, Export %+v", calls.Load(), x)
		}
		c.Close()
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestOTLPShown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := &receiver{answers: []func(http.ResponseWriter){status(http.StatusBadRequest, "")}}
		c := New(Options{OTLP: &OTLP{Endpoint: "http://user:secret@receiver/v1/metrics?k=v", Interval: time.Minute, transport: rc}, OnError: func(error) {}})
		defer c.Close()
		time.Sleep(time.Minute + time.Second)
		s := c.Refresh()
		line := c.exportLine(s)
		if !strings.Contains(line, "http://receiver/v1/metrics") || strings.Contains(line, "secret") || !strings.Contains(line, "HTTP 400") {
			t.Errorf("line %q", line)
		}
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/metrics", nil)
		r.Header.Set("Accept", "text/html")
		c.Handler().ServeHTTP(w, r)
		if !strings.Contains(w.Body.String(), `id="otlp-export"`) {
			t.Error("the page has no line on the push")
		}
		j, _ := s.MarshalJSON()
		if !strings.Contains(string(j), `"export":{"sent":0,"failed":1,"last_error":"HTTP 400","last_success":null}`) {
			t.Errorf("json: %s", j)
		}
		c.Close()
	})
}

// BenchmarkOTLPExport is one export of 100 busy routes (fullCollector):
// "encode" reads the figures, encodes and gzips them; "post" adds the
// HTTP request to a receiver that accepts it at once. cpu-ns/op is the
// process's CPU time per export, which other load on the box does not
// inflate as it does ns/op.
func BenchmarkOTLPExport(b *testing.B) {
	c := fullCollector(b)
	ok := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		_, _ = io.Copy(io.Discard, r.Body)
		return &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}}, nil
	})
	cfg, _, err := resolveOTLP(&OTLP{Endpoint: "http://receiver/v1/metrics", transport: ok}, func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	e := &exporter{c: c, cfg: cfg, client: &http.Client{Transport: ok}, enc: newOTLPEncoder(c.start, cfg.resource)}
	e.zw, _ = gzip.NewWriterLevel(nil, gzip.BestSpeed)
	e.ctx, e.cancel = context.WithCancel(context.Background())
	defer e.cancel()
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		var n int
		cpu := processCPU()
		for b.Loop() {
			body := e.enc.encode(c, c.Snapshot(), time.Now())
			e.body.Reset()
			e.zw.Reset(&e.body)
			_, _ = e.zw.Write(body)
			_ = e.zw.Close()
			n = len(body)
		}
		b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(n), "bytes")
		b.ReportMetric(float64(e.body.Len()), "gzipped-bytes")
	})
	b.Run("post", func(b *testing.B) {
		b.ReportAllocs()
		cpu := processCPU()
		for b.Loop() {
			e.export(e.ctx)
		}
		b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		if e.sent.Load() == 0 {
			b.Fatal("nothing sent")
		}
	})
}

// BenchmarkMiddlewareOTLPHung is BenchmarkMiddleware's request, in
// parallel, without a push and with a push every 50 ms to a real TCP
// endpoint that accepts connections and never answers: the request path
// must not notice. heap-B is the live heap after the run (after GC), and
// exports the exports that failed meanwhile.
func BenchmarkMiddlewareOTLPHung(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() { // accept, hold, never answer
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	for _, name := range []string{"no-push", "hung-push"} {
		b.Run(name, func(b *testing.B) {
			var o *OTLP
			if name == "hung-push" {
				o = &OTLP{Endpoint: "http://" + ln.Addr().String() + "/v1/metrics", Interval: 50 * time.Millisecond}
			}
			c := New(Options{OTLP: o, OnError: func(error) {}})
			h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := httptest.NewRequest("GET", "/", nil)
				w := &benchWriter{h: http.Header{}}
				for pb.Next() {
					h.ServeHTTP(w, r)
				}
			})
			b.StopTimer() // Close waits for the last export, up to its deadline
			b.ReportMetric(float64(heapInUse()), "heap-B")
			b.ReportMetric(float64(c.Refresh().Export.Failed), "exports")
			c.Close()
		})
	}
}

// TestOTLPFromEnvironment: with Options.OTLP nil, the environment alone
// turns the push on and configures it; Close's last export shows it.
func TestOTLPFromEnvironment(t *testing.T) {
	var mu sync.Mutex
	var got []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Clone(context.Background()))
		mu.Unlock()
	}))
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL+"/otlp/")
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "X-Scope-OrgID=tenant%201")
	t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "3600000")
	c := New(Options{})
	if c.exp == nil {
		t.Fatal("no push with OTEL_EXPORTER_OTLP_ENDPOINT set")
	}
	c.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].URL.Path != "/otlp/v1/metrics" || got[0].Header.Get("X-Scope-OrgID") != "tenant 1" {
		t.Fatalf("exports %v", got)
	}
	if x := c.Snapshot().Export; x.Sent != 1 {
		t.Errorf("Export %+v", x)
	}

	t.Setenv("OTEL_SDK_DISABLED", "true")
	c = New(Options{OTLP: &OTLP{Endpoint: srv.URL + "/v1/metrics"}})
	defer c.Close()
	if c.exp != nil {
		t.Error("a push with OTEL_SDK_DISABLED=true")
	}
}

// TestOTLPSecretsNotShown: an endpoint's user info and query (an API key,
// say) appear neither in Export.LastError, nor on the page, nor in the
// errors logged, even when the request fails before any answer (Go's
// url.Error keeps the query).
func TestOTLPSecretsNotShown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("connection refused") })
		var mu sync.Mutex
		var logged []string
		c := New(Options{
			OTLP:    &OTLP{Endpoint: "http://user:hunter2@receiver/v1/metrics?api_key=SECRET", Interval: time.Minute, transport: tr},
			OnError: func(err error) { mu.Lock(); logged = append(logged, err.Error()); mu.Unlock() },
		})
		defer c.Close()
		time.Sleep(2*time.Minute + time.Second) // the first export, retried until its deadline, failed
		s := c.Refresh()
		if s.Export.Failed == 0 {
			t.Fatalf("no failed export: %+v", s.Export)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, text := range append([]string{"LastError: " + s.Export.LastError, "page: " + c.exportLine(s)}, logged...) {
			if strings.Contains(text, "hunter2") || strings.Contains(text, "SECRET") {
				t.Errorf("a secret of the endpoint shown: %s", text)
			}
		}
	})
}

// TestOTLPProtocolWarned: a protocol other than http/protobuf named in the
// environment is reported, as vitals pushes OTLP/HTTP only.
func TestOTLPProtocolWarned(t *testing.T) {
	for _, name := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"} {
		env := map[string]string{name: "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}
		cfg, warnings, err := resolveOTLP(nil, func(k string) string { return env[k] })
		if err != nil || cfg == nil {
			t.Fatalf("%s: cfg %v, err %v", name, cfg, err)
		}
		if len(warnings) != 1 || !strings.Contains(warnings[0].Error(), "http/protobuf only") {
			t.Errorf("%s=grpc: warnings %v, want one saying vitals pushes http/protobuf only", name, warnings)
		}
	}
	env := map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
	if _, warnings, _ := resolveOTLP(nil, func(k string) string { return env[k] }); len(warnings) != 0 {
		t.Errorf("http/protobuf: warnings %v, want none", warnings)
	}
}

// TestOTLPSignalEndpoint: v1/metrics joins the base endpoint's path, its
// query kept, whatever slashes end the path.
func TestOTLPSignalEndpoint(t *testing.T) {
	for base, want := range map[string]string{
		"http://c:4318":          "http://c:4318/v1/metrics",
		"http://c:4318/":         "http://c:4318/v1/metrics",
		"http://c:4318?tenant=a": "http://c:4318/v1/metrics?tenant=a",
		"http://c:4318/otlp//":   "http://c:4318/otlp/v1/metrics",
		"https://m:443/otlp":     "https://m:443/otlp/v1/metrics",
	} {
		env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": base}
		cfg, _, err := resolveOTLP(nil, func(k string) string { return env[k] })
		if err != nil || cfg == nil {
			t.Fatalf("%s: cfg %v, err %v", base, cfg, err)
		}
		if cfg.endpoint != want {
			t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT=%s: endpoint %s, want %s", base, cfg.endpoint, want)
		}
	}
}
