package conformance

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/vitalsgo/vitals"
)

// prometheus3 returns the prometheus and promtool binaries of Prometheus
// 3.16: in the directory VITALS_PROMETHEUS3 names, else in the user's
// cache (~/.cache/vitals/prom3/bin, where .ci/run builds them). The test
// skips without them unless VITALS_REQUIRE_PROMETHEUS3=1, as in CI.
func prometheus3(t *testing.T) (prom, promtool string) {
	t.Helper()
	dir := os.Getenv("VITALS_PROMETHEUS3")
	if dir == "" {
		if cache, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(cache, "vitals", "prom3", "bin")
		}
	}
	prom, promtool = filepath.Join(dir, "prometheus"), filepath.Join(dir, "promtool")
	for _, f := range []string{prom, promtool} {
		if _, err := os.Stat(f); err != nil {
			if os.Getenv("VITALS_REQUIRE_PROMETHEUS3") == "1" {
				t.Fatalf("Prometheus 3.16 not found (%v), and VITALS_REQUIRE_PROMETHEUS3=1", err)
			}
			t.Skipf("Prometheus 3.16 not found (%v): .ci/run builds it, or set VITALS_PROMETHEUS3 to the directory of its prometheus and promtool", err)
		}
	}
	return prom, promtool
}

// TestPrometheus3 scrapes a test server with three Prometheus 3.16: its
// default config (OpenMetrics negotiated, classic buckets and _created
// parsed), scrape_native_histograms: true (protobuf, native histograms),
// and created-timestamp-zero-ingestion (the start timestamps stored as a
// zero before a series' first sample). Each must scrape without error; the
// percentiles each computes are compared with the exact ones; a route
// whose first 500 requests arrive between two scrapes must be counted
// whole; the rules and every dashboard query must work.
func TestPrometheus3(t *testing.T) {
	bin, _ := prometheus3(t)
	if testing.Short() {
		t.Skip("takes about 30 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()

	c := vitals.New(vitals.Options{})
	defer c.Close()
	var mu sync.Mutex
	var served []time.Duration
	answered := map[string]string{} // metrics path: Content-Type of the last scrape
	mux := http.NewServeMux()
	mux.Handle("GET /work", c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		start := time.Now()
		time.Sleep(d)
		w.WriteHeader(http.StatusOK)
		took := time.Since(start)
		if r.URL.Query().Get("warmup") == "" {
			mu.Lock()
			served = append(served, took)
			mu.Unlock()
		}
	})))
	mux.Handle("GET /fresh", c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	// The scrapes of the start-timestamp Prometheus wait while the new
	// route's first requests are sent, so that they all fall between two.
	var burst sync.RWMutex
	mux.Handle("GET /metrics/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics/start" {
			burst.RLock()
			defer burst.RUnlock()
		}
		c.Handler().ServeHTTP(w, r)
		mu.Lock()
		answered[r.URL.Path] = w.Header().Get("Content-Type")
		mu.Unlock()
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	target := ln.Addr().String()
	get := func(path string) {
		resp, err := http.Get("http://" + target + path)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
	}
	get("/work?d=1ms&warmup=1") // the route exists before the first scrape

	rules, err := filepath.Abs("../deploy/prometheus/vitals.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	config := func(path, interval, job string) string {
		return fmt.Sprintf(`global:
  scrape_interval: %s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: vitals
    metrics_path: %s
    static_configs:
      - targets: [%q]
%s`, interval, rules, path, target, job)
	}
	classic := runPrometheusFlags(ctx, t, bin, "3.16 default", config("/metrics/default", "1s", ""), nil)
	native := runPrometheusFlags(ctx, t, bin, "3.16 native", config("/metrics/native", "1s", "    scrape_native_histograms: true\n"), nil)
	// Scrapes 2 s apart, for the 500 first requests to fall between two
	// (and a scrape that comes during them waits: see burst).
	started := runPrometheusFlags(ctx, t, bin, "3.16 start timestamps", config("/metrics/start", "2s", ""), nil,
		"--enable-feature=created-timestamp-zero-ingestion")
	all := []*promServer{classic, native, started}
	for _, p := range all {
		p.waitFor(ctx, t, `up{job="vitals"} == 1`, 1)
		p.checkTargets(ctx, t)
	}
	mu.Lock()
	for path, want := range map[string]string{
		"/metrics/default": "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
		"/metrics/native":  "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
		"/metrics/start":   "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
	} {
		if answered[path] != want {
			t.Errorf("%s answered %q, want %q", path, answered[path], want)
		}
	}
	mu.Unlock()

	// The first requests of a new route, between two scrapes.
	startMs := c.Snapshot().Start.UnixMilli()
	started.nextScrape(ctx, t)
	burst.Lock()
	var wg sync.WaitGroup
	jobs := make(chan string)
	for range 25 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for path := range jobs {
				get(path)
			}
		}()
	}
	for range 500 {
		jobs <- "/fresh"
	}
	close(jobs)
	wg.Wait()
	burst.Unlock()
	fresh := `{route=~".*fresh"}`
	for _, p := range all {
		p.waitFor(ctx, t, `sum(http_requests_total`+fresh+`)`, 500)
	}
	for _, name := range []string{"http_requests_total", "http_request_duration_seconds_count"} {
		samples := started.rawSamples(ctx, t, name+fresh+"[10m]")
		if len(samples) < 2 || samples[0] != [2]float64{float64(startMs), 0} || samples[len(samples)-1][1] != 500 {
			t.Errorf("%s: the samples stored are %v, want 0 at the start (%d ms) then 500", name, samples, startMs)
		}
		for _, s := range samples {
			if s[1] != 0 && s[1] != 500 {
				t.Errorf("%s: a sample of %g: the 500 requests were not all between two scrapes (%v)", name, s[1], samples)
			}
		}
		t.Logf("%s of the new route, stored by 3.16 with start timestamps: %v", name, samples)
		t.Logf("%s of the new route, stored by 3.16 without: %v", name, classic.rawSamples(ctx, t, name+fresh+"[10m]"))
	}
	inc := started.scalar(ctx, t, `sum(increase(http_requests_total`+fresh+`[1m]))`)
	t.Logf("increase() over 1m of the new route: %g with start timestamps (the traffic was 500), %v without",
		inc, classic.query(ctx, t, `sum(increase(http_requests_total`+fresh+`[1m]))`))
	if inc < 500 {
		t.Errorf("increase() of the new route with start timestamps is %g, under the 500 requests", inc)
	}
	// Without start-timestamp ingestion, 3.16 stores OpenMetrics' _created
	// as series of their own (so does 2.42): they hold the start.
	if got := classic.scalar(ctx, t, `max(http_requests_created`+fresh+`)`); got != float64(startMs)/1e3 && math.Abs(got-float64(c.Snapshot().Start.UnixNano())/1e9) > 1e-6 {
		t.Errorf("http_requests_created = %v, want the start %v", got, c.Snapshot().Start)
	}

	// Latency: durations spread evenly in log space from 2 ms to 400 ms.
	const n = 1000
	ds := make([]time.Duration, n)
	for i := range ds {
		ds[i] = time.Duration(2e6 * math.Pow(200, float64(i)/(n-1)))
	}
	for i := range ds {
		j := (i * 7919) % n
		ds[i], ds[j] = ds[j], ds[i]
	}
	jobs = make(chan string)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for path := range jobs {
				get(path)
			}
		}()
	}
	for _, d := range ds {
		jobs <- "/work?d=" + d.String()
	}
	close(jobs)
	wg.Wait()
	slices.Sort(served)
	if len(served) != n {
		t.Fatalf("%d requests served, want %d", len(served), n)
	}
	work := `{route=~".*work"}`
	native.waitFor(ctx, t, `histogram_count(sum(http_request_duration_seconds`+work+`))`, n+1)
	classic.waitFor(ctx, t, `sum(http_request_duration_seconds_count`+work+`)`, n+1)
	if got := native.query(ctx, t, `count(http_request_duration_seconds_bucket)`); len(got) != 0 {
		t.Errorf("the native Prometheus has classic bucket series: the histogram was not read as native")
	}
	for _, q := range []float64{0.5, 0.9, 0.99} {
		exact := served[int(math.Ceil(q*n))-1].Seconds() // nearest rank
		got := native.scalar(ctx, t, fmt.Sprintf(`histogram_quantile(%g, sum(rate(http_request_duration_seconds%s[1m])))`, q, work))
		t.Logf("3.16 native  p%g: %.6f s, exact %.6f s, error %+.2f %%", q*100, got, exact, (got/exact-1)*100)
		if math.Abs(got/exact-1) > 0.05 {
			t.Errorf("native p%g = %.6f s, exact %.6f s: off by more than 5 %%", q*100, got, exact)
		}
		got = classic.scalar(ctx, t, fmt.Sprintf(`histogram_quantile(%g, sum by (le) (rate(http_request_duration_seconds_bucket%s[1m])))`, q, work))
		lo, hi := bucketAround(vitals.DefaultBuckets, exact)
		t.Logf("3.16 classic p%g: %.6f s, exact %.6f s, error %+.2f %%, bucket (%g, %g]", q*100, got, exact, (got/exact-1)*100, lo, hi)
		if got < lo || got > hi {
			t.Errorf("classic p%g = %.6f s, outside the bucket (%g, %g] of the exact %.6f s", q*100, got, lo, hi, exact)
		}
	}

	for _, p := range []*promServer{classic, native} {
		p.checkRules(ctx, t)
		p.checkDashboard(ctx, t, "../deploy/grafana/vitals-dashboard.json", time.Second, time.Time{})
	}
	for _, p := range all {
		p.checkTargets(ctx, t)
	}
}

// checkTargets checks that every target scraped without error.
func (p *promServer) checkTargets(ctx context.Context, t *testing.T) {
	t.Helper()
	var data struct {
		ActiveTargets []struct {
			ScrapeURL string `json:"scrapeUrl"`
			Health    string `json:"health"`
			LastError string `json:"lastError"`
		} `json:"activeTargets"`
	}
	if err := p.api(ctx, t, "/api/v1/targets", &data); err != nil {
		t.Fatal(err)
	}
	for _, tg := range data.ActiveTargets {
		if tg.Health != "up" || tg.LastError != "" {
			t.Errorf("prometheus (%s): %s: %s, %q", p.name, tg.ScrapeURL, tg.Health, tg.LastError)
		}
	}
}

// nextScrape waits until the target has been scraped once more.
func (p *promServer) nextScrape(ctx context.Context, t *testing.T) {
	t.Helper()
	last := func() string {
		var data struct {
			ActiveTargets []struct {
				LastScrape string `json:"lastScrape"`
			} `json:"activeTargets"`
		}
		if err := p.api(ctx, t, "/api/v1/targets", &data); err != nil || len(data.ActiveTargets) != 1 {
			t.Fatalf("prometheus (%s): targets %v, %v", p.name, data, err)
		}
		return data.ActiveTargets[0].LastScrape
	}
	was := last()
	for last() == was {
		select {
		case <-ctx.Done():
			t.Fatalf("prometheus (%s): no scrape after %s", p.name, was)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// rawSamples returns the samples Prometheus stored for a range selector
// that matches one series: [timestamp in ms, value].
func (p *promServer) rawSamples(ctx context.Context, t *testing.T, expr string) [][2]float64 {
	t.Helper()
	var data struct {
		Result []rangeSeries `json:"result"`
	}
	if err := p.api(ctx, t, "/api/v1/query?query="+url.QueryEscape(expr), &data); err != nil {
		t.Fatalf("prometheus (%s): %s: %v", p.name, expr, err)
	}
	if len(data.Result) != 1 {
		t.Fatalf("prometheus (%s): %s: %d series, want 1", p.name, expr, len(data.Result))
	}
	var out [][2]float64
	for _, v := range data.Result[0].Values {
		ts, _ := v[0].(float64)
		s, _ := v[1].(string)
		f, _ := strconv.ParseFloat(s, 64)
		out = append(out, [2]float64{math.Round(ts * 1e3), f})
	}
	return out
}

// TestPromtool3CheckMetrics runs promtool check metrics of 3.16 over every
// face: the text 0.0.4; OpenMetrics, where promtool, which reads the text
// 0.0.4 only, may only say that the _total and _created samples of a
// family named without them have no help text; and the protobuf, decoded
// by Prometheus' decoder and written as text by expfmt.
func TestPromtool3CheckMetrics(t *testing.T) {
	_, promtool := prometheus3(t)
	c, h := routed(t, vitals.Options{Namespace: "shop", ConstLabels: map[string]string{"role": `we"b`}})
	for i := range 50 {
		serve(h, []string{"GET", "POST"}[i%2], []string{"a", "b/{id}"}[i%2], []int{200, 404, 500}[i%3])
	}
	_ = c.Close()
	check := func(face string, body []byte) {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		out, err := cmd.CombinedOutput()
		for line := range strings.Lines(string(out)) {
			name, problem, _ := strings.Cut(strings.TrimSpace(line), " ")
			if face == "openmetrics" && problem == "no help text" && (strings.HasSuffix(name, "_total") || strings.HasSuffix(name, "_created")) {
				continue
			}
			t.Errorf("%s: promtool check metrics: %s", face, line)
		}
		if err != nil && face != "openmetrics" {
			t.Errorf("%s: promtool check metrics: %v", face, err)
		}
	}
	text, _ := scrape(t, c.Handler(), "text/plain;version=0.0.4")
	check("text", text)
	r := httptest.NewRequest("GET", "/metrics", nil)
	r.Header.Set("Accept", acceptProm3)
	w := httptest.NewRecorder()
	c.Handler().ServeHTTP(w, r)
	if !strings.HasSuffix(w.Body.String(), "\n# EOF\n") {
		t.Fatalf("not OpenMetrics: %q", w.Header().Get("Content-Type"))
	}
	check("openmetrics", w.Body.Bytes())
	pb, _ := scrape(t, c.Handler(), acceptProm3Native)
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range decodeProto(t, pb) {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	check("protobuf", buf.Bytes())
}

// TestRulesOnPrometheus3: promtool check rules and promtool test rules of
// 3.16 pass on deploy/prometheus; the rules' and the dashboard's le
// matchers are written as 3.x normalises le values ("1.0", not "1");
// their range selectors span at least 4 scrapes at the slowest interval
// the rules are made for (1 minute): 3.x's ranges are left-open.
func TestRulesOnPrometheus3(t *testing.T) {
	_, promtool := prometheus3(t)
	for _, args := range [][]string{{"check", "rules", "vitals.rules.yml"}, {"test", "rules", "vitals.rules_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "../deploy/prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	leMatcher := regexp.MustCompile(`\ble\s*(=|!=)\s*\\?"([^"\\]*)`)
	rangeSel := regexp.MustCompile(`\[(\d+)([smhd])\]`)
	units := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}
	for _, f := range []string{"../deploy/prometheus/vitals.rules.yml", "../deploy/grafana/vitals-dashboard.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range leMatcher.FindAllStringSubmatch(string(b), -1) {
			v, err := strconv.ParseFloat(m[2], 64)
			if err == nil && !strings.ContainsAny(m[2], ".eI") && !math.IsInf(v, 0) {
				t.Errorf("%s: %s: 3.x reads le=%q as %q", f, m[0], m[2], m[2]+".0")
			}
		}
		ranges := 0
		for _, m := range rangeSel.FindAllStringSubmatch(string(b), -1) {
			k, _ := strconv.Atoi(m[1])
			if d := time.Duration(k) * units[m[2]]; d < 4*time.Minute {
				t.Errorf("%s: range %s is under 4 scrapes of 1 minute", f, m[0])
			}
			ranges++
		}
		t.Logf("%s: %d literal range selectors, all of 4 minutes or more", f, ranges)
	}
}

// TestPrometheus242OpenMetrics: Debian's Prometheus 2.42 with a scrape
// config that does not ask for ?format= gets OpenMetrics, parses it
// without error, and, having no start-timestamp ingestion, stores the
// _created samples as series of their own (README says so).
func TestPrometheus242OpenMetrics(t *testing.T) {
	bin := prometheus242(t)
	if testing.Short() {
		t.Skip("takes a few seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := vitals.New(vitals.Options{})
	defer c.Close()
	var mu sync.Mutex
	var answered string
	mux := http.NewServeMux()
	mux.Handle("GET /work", c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	mux.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.Handler().ServeHTTP(w, r)
		mu.Lock()
		answered = w.Header().Get("Content-Type")
		mu.Unlock()
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	for range 3 {
		resp, err := http.Get("http://" + ln.Addr().String() + "/work")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	p := runPrometheusFlags(ctx, t, bin, "2.42 openmetrics", fmt.Sprintf(`global:
  scrape_interval: 1s
scrape_configs:
  - job_name: vitals
    static_configs:
      - targets: [%q]
`, ln.Addr().String()), nil)
	p.waitFor(ctx, t, `up{job="vitals"} == 1`, 1)
	p.waitFor(ctx, t, `sum(http_requests_total{route=~".*work"})`, 3)
	p.checkTargets(ctx, t)
	mu.Lock()
	if answered != "application/openmetrics-text; version=1.0.0; charset=utf-8" {
		t.Errorf("answered %q, want OpenMetrics 1.0.0", answered)
	}
	mu.Unlock()
	start := float64(c.Snapshot().Start.UnixNano()) / 1e9
	for _, name := range []string{"http_requests_created", "http_request_duration_seconds_created"} {
		if got := p.scalar(ctx, t, `max(`+name+`{route=~".*work"})`); math.Abs(got-start) > 1e-3 {
			t.Errorf("%s = %v, want the start %v", name, got, start)
		}
	}
}
