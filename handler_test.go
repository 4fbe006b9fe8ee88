package vitals

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
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
		Export: Export{Sent: 8, Failed: 1, LastError: "HTTP 503", LastSuccess: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
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
	// A traced request lends its trace to its bucket of the first route
	// (the 10 ms bucket of the default ones), at a fixed end.
	traced := httptest.NewRequest("GET", "/items/1", nil)
	traced.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	rec := c.routes.get(routes[0])
	i := rec.observe(c.slotNow(), 0, 200, 7*ms, 100, c.bounds)
	lendExemplar(rec, i, 7*ms, time.Date(2024, 12, 6, 5, 20, 0, 123000000, time.UTC).UnixNano(), traced)
	c.started.Add(8) // the seven above, finished, and one in flight
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

func fmtSscan(s string, n *uint64) (int, error) { return fmt.Sscan(s, n) }
