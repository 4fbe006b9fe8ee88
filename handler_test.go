package vitals

import (
	"bytes"
	"encoding/json"
	"expvar"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func get(t *testing.T, h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandlerNegotiation(t *testing.T) {
	const (
		html = "text/html; charset=utf-8"
		js   = "application/json"
		prom = prometheusContentType
	)
	tests := []struct {
		name     string
		target   string
		accept   string
		wantCode int
		wantType string
	}{
		{"default is the page", "/metrics", "", 200, html},
		{"browser", "/metrics", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", 200, html},
		{"curl", "/metrics", "*/*", 200, html},
		{"json by accept", "/metrics", "application/json", 200, js},
		{"prometheus scrape", "/metrics", "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2", 200, prom},
		{"text/plain", "/metrics", "text/plain", 200, prom},
		{"q decides", "/metrics", "text/html;q=0.2, application/json;q=0.9", 200, js},
		{"none acceptable", "/metrics", "image/png, font/woff2", 406, "text/plain; charset=utf-8"},
		{"query wins over accept", "/metrics?format=prometheus", "application/json", 200, prom},
		{"format json", "/metrics?format=json", "", 200, js},
		{"format html", "/metrics?format=html", "application/json", 200, html},
		{"unknown format", "/metrics?format=xml", "", 400, "text/plain; charset=utf-8"},
		{"empty format", "/metrics?format=", "", 400, "text/plain; charset=utf-8"},
		// RFC 9110: q=0 means not acceptable.
		{"q=0 refuses json", "/metrics", "application/json;q=0", 406, "text/plain; charset=utf-8"},
		{"q=0 refuses json, wildcard takes the page", "/metrics", "application/json;q=0, */*", 200, html},
		{"q=0.000 refuses html", "/metrics", "text/html;q=0.000, */*;q=0.1", 200, js},
		{"q=0 on the wildcard", "/metrics", "*/*;q=0", 406, "text/plain; charset=utf-8"},
		{"specific beats wildcard of the same type", "/metrics", "text/*;q=0.5, text/html;q=0.1", 200, prom},
		{"specific q=0 beats wildcard", "/metrics", "*/*, text/html;q=0", 200, js},
		// Wildcards: */* and text/* prefer the page, application/* JSON.
		{"application wildcard", "/metrics", "application/*", 200, js},
		{"text wildcard", "/metrics", "text/*", 200, html},
		{"wildcard does not beat a named type", "/metrics", "*/*;q=0.9, application/json", 200, js},
		{"case-insensitive media type", "/metrics", "Application/JSON", 200, js},
		{"openmetrics alone", "/metrics", "application/openmetrics-text; version=1.0.0", 200, prom},
		{"client order breaks a tie", "/metrics", "application/json, text/html", 200, js},
		{"malformed q ignores the range", "/metrics", "application/json;q=2, text/plain;q=0.5", 200, prom},
		{"empty accept is absent", "/metrics", " , ", 200, html},
		{"format is case-insensitive", "/metrics?format=JSON", "", 200, js},
		{"format openmetrics", "/metrics?format=OpenMetrics", "", 200, prom},
		{"format Prometheus", "/metrics?format=Prometheus", "text/html", 200, prom},
	}
	c, _ := newTestCollector(t, Options{})
	h := c.Handler()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := get(t, h, "GET", tt.target, "Accept", tt.accept)
			if w.Code != tt.wantCode || w.Header().Get("Content-Type") != tt.wantType {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Header().Get("Content-Type"), tt.wantCode, tt.wantType)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q", cc)
			}
			if vary := w.Header().Get("Vary"); vary != "Accept" {
				t.Errorf("Vary = %q, want Accept", vary)
			}
			if tt.wantCode == 400 && !strings.Contains(w.Body.String(), "html, json, prometheus and openmetrics") {
				t.Errorf("400 body %q does not list the valid formats", w.Body)
			}
		})
	}
}

func TestHandlerMethods(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	h := c.Handler()
	for _, m := range []string{"POST", "PUT", "DELETE", "OPTIONS"} {
		w := get(t, h, m, "/metrics")
		if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d Allow=%q, want 405 GET, HEAD", m, w.Code, w.Header().Get("Allow"))
		}
	}
	for _, f := range []string{"html", "json", "prometheus"} {
		full := get(t, h, "GET", "/metrics?format="+f)
		head := get(t, h, "HEAD", "/metrics?format="+f)
		if head.Code != 200 || head.Body.Len() != 0 || head.Header().Get("Content-Length") == "" {
			t.Errorf("HEAD %s: %d, %d body bytes, Content-Length %q", f, head.Code, head.Body.Len(), head.Header().Get("Content-Length"))
		}
		if full.Header().Get("Content-Type") != head.Header().Get("Content-Type") {
			t.Errorf("HEAD and GET %s differ in Content-Type", f)
		}
	}
}

func TestHandlerHostileInput(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	h := c.Handler()
	const evil = "<script>alert(1)</script>"
	for _, target := range []string{
		"/metrics?format=" + urlEscape(evil),
		"/metrics/" + urlEscape(evil),
		"/metrics?x=" + urlEscape(evil) + "&format=html",
		"/metrics?format=json&format=" + urlEscape(evil),
		"/metrics?" + strings.Repeat("a=b&", 5000),
	} {
		w := get(t, h, "GET", target)
		if strings.Contains(w.Body.String(), "<script>alert") {
			t.Errorf("%.60s: the response reflects the input", target)
		}
	}
	// A huge Accept header is parsed without trouble.
	huge := strings.Repeat("application/x-nothing;q=0.1, ", 20000) + "application/json"
	if w := get(t, h, "GET", "/metrics", "Accept", huge); w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("huge Accept: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
}

func urlEscape(s string) string {
	r := strings.NewReplacer("<", "%3C", ">", "%3E", "(", "%28", ")", "%29", "/", "%2F")
	return r.Replace(s)
}

func TestJSONGolden(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)
	s := &Snapshot{
		Time: at, Start: at.Add(-90 * time.Second), Uptime: 90 * time.Second,
		Requests: 12, InFlight: 2, Connections: 3, SessionsActive: 4,
		Recent: Recent{Span: 5*time.Minute + 30*time.Second, Requests: 9, Errors: 1, Status: Status{Success: 8, ServerError: 1},
			P50: LatencyFloor, P90: 38 * time.Microsecond, P99: 1200 * time.Microsecond, P999: LatencyCeiling},
		Window: Window{Start: at.Add(-2 * time.Minute).Truncate(time.Minute), BucketWidth: time.Minute, Counts: []uint64{0, 4, 5}, Total: 9,
			Errors: []uint64{0, 0, 1}, P50: []time.Duration{0, time.Millisecond, 2 * time.Millisecond},
			P90: []time.Duration{0, 3 * time.Millisecond, 4 * time.Millisecond}, P99: []time.Duration{0, 5 * time.Millisecond, 480 * time.Millisecond},
			NoDataAt: []bool{true, false, false}, HeapBytes: []uint64{0, 1 << 20, 2 << 20}, Goroutines: []int{0, 8, 9}},
		Latency: Latency{Samples: 12, Mean: 15 * time.Millisecond, Min: time.Millisecond, Max: 250 * time.Millisecond,
			P50: 5 * time.Millisecond, P90: 20 * time.Millisecond, P99: 250 * time.Millisecond},
		Status:       Status{Informational: 1, Success: 7, Redirect: 1, ClientError: 2, ServerError: 1},
		BytesWritten: 4096, Aborted: 6,
		Routes: []RouteStats{{Route: "GET /items/{id}", Requests: 12, Errors: 1, Status: Status{Success: 11, ServerError: 1},
			Bytes: 4096, P50: 5 * time.Millisecond, P90: 20 * time.Millisecond, P99: 250 * time.Millisecond, P999: 480 * time.Millisecond,
			Recent: Recent{Span: 5*time.Minute + 30*time.Second, Requests: 9, Errors: 1, Status: Status{Success: 8, ServerError: 1},
				P50: 5 * time.Millisecond, P90: 20 * time.Millisecond, P99: 250 * time.Millisecond, P999: 480 * time.Millisecond}}},
		RoutesCapped: true,
		Runtime:      Runtime{Goroutines: 9, HeapBytes: 1 << 20, TotalBytes: 8 << 20, GCCycles: 3, GCPause: 1500 * time.Microsecond},

		UnmatchedSuccess: 6, SelfRequests: 7,
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "snapshot.golden.json", append(b, '\n'))
}

// promFixture returns a collector on a fake clock with known counts, and a
// snapshot with fixed runtime figures, so its Prometheus text is stable.
func promFixture(t *testing.T, o Options) (*Collector, *Snapshot) {
	c, _ := newTestCollector(t, o)
	ms := int64(time.Millisecond)
	routes := []string{"GET /items/{id}", "", `POST /say/"hi"\n`}
	for i, d := range []int64{ms / 2, 3 * ms, 3 * ms, 40 * ms, 2000 * ms, 20000 * ms} {
		c.routes.get(routes[i%3]).observe(c.slotNow(), methodIndex([]string{"GET", "POST", "BREW"}[i%3]), []int{200, 404, 200, 500, 200, 200}[i], d, 100, c.bounds)
	}
	c.started.Add(7) // the six above, finished, and one in flight
	c.aborted.Add(1) // the 500 above was cut short
	c.TouchSession("x")
	c.refresh()
	s := *c.Snapshot()
	s.Runtime = Runtime{Goroutines: 7, HeapBytes: 1000, TotalBytes: 5000, GCCycles: 2, GCPause: time.Millisecond}
	return c, &s
}

func TestPrometheusGolden(t *testing.T) {
	c, s := promFixture(t, Options{})
	golden(t, "prometheus.golden.txt", c.appendPrometheus(nil, s))

	c, s = promFixture(t, Options{Namespace: "shop", ConstLabels: map[string]string{"role": `web "a"\b`, "az": "eu-1\nx"}})
	golden(t, "prometheus_labels.golden.txt", c.appendPrometheus(nil, s))
}

func TestPrometheusSumEqualsRequests(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200 + len(r.URL.Path))
	}))
	for i := range 500 {
		h.ServeHTTP(newTestInner(), httptest.NewRequest([]string{"GET", "POST", "X"}[i%3], "/"+strings.Repeat("a", i%7), nil))
	}
	c.refresh()
	text := string(c.appendPrometheus(nil, c.Snapshot()))
	var sum, count uint64
	for _, line := range strings.Split(text, "\n") {
		var n uint64
		if strings.HasPrefix(line, "http_requests_total{") {
			_, _ = fmtSscan(line[strings.LastIndexByte(line, ' ')+1:], &n)
			sum += n
		}
		if strings.HasPrefix(line, "http_request_duration_seconds_count") {
			_, _ = fmtSscan(line[strings.LastIndexByte(line, ' ')+1:], &count)
		}
	}
	if want := c.Snapshot().Requests; sum != want || count != want {
		t.Errorf("sum of http_requests_total = %d, histogram count = %d, want %d", sum, count, want)
	}
}

// TestPromtoolCheckMetrics runs Prometheus' own linter over the output.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("VITALS_REQUIRE_PROMTOOL") != "" {
			t.Fatal("promtool not found, and VITALS_REQUIRE_PROMTOOL is set")
		}
		t.Skip("promtool not installed (Debian package prometheus); .ci/run installs it")
	}
	for _, o := range []Options{{}, {Namespace: "shop", ConstLabels: map[string]string{"role": `we"b`}}} {
		c, s := promFixture(t, o)
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(c.appendPrometheus(nil, s))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	}
}

func TestConstLabelsRejected(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts Options
		want string
	}{
		{"bad namespace", Options{Namespace: "my-app"}, "Namespace"},
		{"bad label name", Options{ConstLabels: map[string]string{"a-b": "x"}}, `"a-b"`},
		{"reserved prefix", Options{ConstLabels: map[string]string{"__name__": "x"}}, "reserved"},
		{"vitals' own label", Options{ConstLabels: map[string]string{"route": "x"}}, "vitals sets itself"},
		{"invalid utf-8", Options{ConstLabels: map[string]string{"a": "\xff"}}, "UTF-8"},
		{"empty name", Options{ConstLabels: map[string]string{"": "x"}}, "not a valid label name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open: %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestExpvar(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	c.IncrementRequests()
	c.refresh()
	var m map[string]any
	if err := json.Unmarshal([]byte(c.Var().String()), &m); err != nil {
		t.Fatal(err)
	}
	if m["requests"] != 1.0 {
		t.Errorf("expvar requests = %v", m["requests"])
	}
	var _ expvar.Var = c.Var()
}

func fmtSscan(s string, n *uint64) (int, error) { return fmt.Sscan(s, n) }

// FuzzNegotiate: whatever the query and Accept header, negotiation never
// panics and gives a valid answer, and the answer agrees with a plain
// reference reading of RFC 9110: a format it picks is acceptable (some
// media range admits one of its media types with q > 0) and no other offer
// has a higher quality; 406 only when no offer is acceptable.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{
		"", "*/*", "text/html", "application/json;q=0", "application/*",
		"text/*;q=0.5, text/html;q=0.1", "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
		"image/png", "*/*;q=0", "a/b;q=1.000, */json", ";q=0.5", "text/html;q=0.", "TEXT/HTML;Q=1",
	} {
		f.Add(s, "")
	}
	// What a Prometheus with native histograms sends: the protobuf offer,
	// which only an exact media type with its parameters selects.
	f.Add("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", "")
	f.Add("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", "format=prometheus")
	f.Add("", "format=JSON")
	f.Add("application/json", "format=openmetrics")
	f.Fuzz(func(t *testing.T, accept, query string) {
		r := &http.Request{URL: &url.URL{RawQuery: query}, Header: http.Header{}}
		for _, v := range strings.Split(accept, "\x00") {
			r.Header.Add("Accept", v)
		}
		f, result := negotiate(r)
		if f != formatHTML && f != formatJSON && f != formatPrometheus && f != formatProtobuf {
			t.Fatalf("format %d", f)
		}
		if r.URL.Query().Has("format") {
			if result == notAcceptable {
				t.Fatal("406 for a ?format request")
			}
			return
		}
		if result == unknownFormat {
			t.Fatal("400 without ?format")
		}
		q := referenceQualities(r.Header.Values("Accept"))
		if q == nil { // no media range at all
			if result != negotiated || f != formatHTML {
				t.Fatalf("without Accept: %d, %d; want the page", f, result)
			}
			return
		}
		best := -1
		for _, v := range q {
			best = max(best, v)
		}
		switch {
		case result == notAcceptable && best > 0:
			t.Fatalf("406 though an offer has q=%d: %v", best, q)
		case result == negotiated && best <= 0:
			t.Fatalf("format %d though no offer is acceptable: %v", f, q)
		case result == negotiated:
			got := -1
			for i, o := range offers {
				if o.f == f {
					got = max(got, q[i])
				}
			}
			if got != best {
				t.Fatalf("format %d has q=%d, the best offer q=%d: %v", f, got, best, q)
			}
		}
	})
}

// referenceQualities rates each offer, in thousandths (-1: not matched),
// the slow and obvious way; nil when Accept holds no media range.
func referenceQualities(values []string) []int {
	var ranges []string
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if media, _, _ := strings.Cut(part, ";"); strings.TrimSpace(media) != "" {
				ranges = append(ranges, part)
			}
		}
	}
	if ranges == nil {
		return nil
	}
	q := make([]int, len(offers))
	for i, o := range offers {
		q[i] = -1
		bestSpec := 0
		for _, part := range ranges {
			fields := strings.Split(part, ";")
			media := strings.ToLower(strings.TrimSpace(fields[0]))
			typ, sub, ok := strings.Cut(media, "/")
			if !ok || typ == "" || sub == "" || (typ == "*" && sub != "*") {
				continue
			}
			v := 1000
			valid := true
			for _, p := range fields[1:] {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.ToLower(strings.TrimSpace(k)) != "q" {
					continue
				}
				x, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
				val = strings.TrimSpace(val)
				if err != nil || x < 0 || x > 1 || len(val) > 5 || strings.ContainsAny(val, "eExXpP+-_infaINFA") || (len(val) > 1 && val[1] != '.') {
					valid = false
				}
				v = int(math.Round(x * 1000))
				break
			}
			if !valid {
				continue
			}
			spec := 0
			switch {
			case typ == o.typ && sub == o.sub:
				if o.params != nil && !o.params(strings.Join(fields[1:], ";")) {
					continue
				}
				spec = 3
			case o.params != nil:
				continue
			case typ == o.typ && sub == "*":
				spec = 2
			case typ == "*":
				spec = 1
			default:
				continue
			}
			if spec > bestSpec || (spec == bestSpec && v > q[i]) {
				bestSpec, q[i] = spec, v
			}
		}
	}
	return q
}

// TestNegotiateParamsRow: an offer with params is chosen only when named
// exactly with the parameters it needs, never through a wildcard.
func TestNegotiateParamsRow(t *testing.T) {
	saved := offers[len(offers)-1]
	defer func() { offers[len(offers)-1] = saved }()
	offers[len(offers)-1] = struct {
		typ, sub string
		f        format
		params   func(params string) bool
	}{"application", "x-test", formatJSON, func(p string) bool { return strings.Contains(p, "v=2") }}
	tests := []struct {
		accept string
		want   format
		result int
	}{
		{"application/x-test;v=2", formatJSON, negotiated},
		{"application/x-test;q=0.5;v=2, text/html;q=0.4", formatJSON, negotiated},
		{"application/x-test;v=1", formatHTML, notAcceptable},
		{"*/*, text/html;q=0, application/json;q=0, text/plain;q=0, application/openmetrics-text;q=0", formatHTML, notAcceptable},
	}
	for _, tt := range tests {
		if f, result := fromAccept([]string{tt.accept}); f != tt.want || result != tt.result {
			t.Errorf("%q: format %d result %d, want %d %d", tt.accept, f, result, tt.want, tt.result)
		}
	}
}
