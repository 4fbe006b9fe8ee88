package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vitalsgo/vitals"
)

// prometheus242 returns the path of Debian's Prometheus 2.42, or skips the
// test without it (fails it when VITALS_REQUIRE_PROMETHEUS is set, as in
// CI).
func prometheus242(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("VITALS_REQUIRE_PROMETHEUS") != "" {
			t.Fatal("prometheus not found, and VITALS_REQUIRE_PROMETHEUS is set")
		}
		t.Skip("prometheus not installed (Debian package prometheus); .ci/run installs it")
	}
	return bin
}

// TestRealPrometheus scrapes a test server with a real Prometheus, once
// with native histograms and once without, and checks the latency
// percentiles Prometheus computes against the exact percentiles of the
// durations served. Both servers also load deploy/prometheus/vitals.rules.yml
// (every rule must evaluate without error) and run every query of the
// Grafana dashboard (each must parse and return data).
//
// It needs the prometheus binary (Debian package prometheus, 2.42); it
// skips without it unless VITALS_REQUIRE_PROMETHEUS is set, as in CI.
func TestRealPrometheus(t *testing.T) {
	bin := prometheus242(t)
	if testing.Short() {
		t.Skip("takes about 20 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// The server: /work sleeps as long as its query says, behind the
	// middleware; /metrics is outside it, so only /work is counted. An
	// inner wrapper measures each request as the handler saw it: the
	// durations served.
	c := vitals.New(vitals.Options{})
	defer c.Close()
	var mu sync.Mutex
	var served []time.Duration
	work := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	})
	mux := http.NewServeMux()
	mux.Handle("GET /work", c.Middleware(work))
	mux.Handle("GET /metrics", c.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	target := ln.Addr().String()
	get := func(q string) {
		resp, err := http.Get("http://" + target + "/work?" + q)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
	}
	// The route's series exist from its first request: one before the
	// first scrape, so that rate() sees every later request.
	get("d=1ms&warmup=1")

	rules, err := filepath.Abs("../deploy/prometheus/vitals.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	native := startPrometheus(ctx, t, bin, target, rules, true)
	classic := startPrometheus(ctx, t, bin, target, rules, false)
	for _, p := range []*promServer{native, classic} {
		p.waitFor(ctx, t, `up{job="vitals"} == 1`, 1)
	}

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
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range jobs {
				get("d=" + d.String())
			}
		}()
	}
	for _, d := range ds {
		jobs <- d
	}
	close(jobs)
	wg.Wait()
	slices.Sort(served)
	if len(served) != n {
		t.Fatalf("%d requests served, want %d", len(served), n)
	}

	// Wait until each Prometheus has scraped every request.
	native.waitFor(ctx, t, `histogram_count(sum(http_request_duration_seconds))`, n+1)
	classic.waitFor(ctx, t, `sum(http_request_duration_seconds_count)`, n+1)
	if got := native.query(ctx, t, `count(http_request_duration_seconds_bucket)`); len(got) != 0 {
		t.Errorf("the native Prometheus has classic bucket series: the histogram was not read as native")
	}

	for _, q := range []float64{0.5, 0.9, 0.99} {
		exact := served[int(math.Ceil(q*n))-1] // nearest rank
		expr := fmt.Sprintf(`histogram_quantile(%g, sum(rate(http_request_duration_seconds[1m])))`, q)
		got := native.scalar(ctx, t, expr)
		relErr := got/exact.Seconds() - 1
		t.Logf("native  p%g: Prometheus %.6f s, exact %.6f s, error %+.2f %%", q*100, got, exact.Seconds(), relErr*100)
		if math.Abs(relErr) > 0.05 {
			t.Errorf("native p%g = %.6f s, exact %.6f s: off by %+.2f %%, over 5 %%", q*100, got, exact.Seconds(), relErr*100)
		}

		// Classic buckets: histogram_quantile interpolates linearly within
		// the bucket that holds the rank, so all it can promise is that
		// bucket: the answer lies between the bounds around the exact
		// percentile.
		expr = fmt.Sprintf(`histogram_quantile(%g, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))`, q)
		got = classic.scalar(ctx, t, expr)
		lo, hi := bucketAround(vitals.DefaultBuckets, exact.Seconds())
		t.Logf("classic p%g: Prometheus %.6f s, exact %.6f s, error %+.2f %%, bucket (%g, %g]", q*100, got, exact.Seconds(), (got/exact.Seconds()-1)*100, lo, hi)
		if got < lo || got > hi {
			t.Errorf("classic p%g = %.6f s, outside the bucket (%g, %g] of the exact %.6f s", q*100, got, lo, hi, exact.Seconds())
		}
	}

	for _, p := range []*promServer{native, classic} {
		p.checkRules(ctx, t)
		p.checkDashboard(ctx, t, "../deploy/grafana/vitals-dashboard.json", time.Second, time.Time{})
	}
}

// bucketAround returns the bounds of the classic bucket that holds v.
func bucketAround(bounds []float64, v float64) (lo, hi float64) {
	hi = math.Inf(1)
	for _, b := range bounds {
		if v <= b {
			hi = b
			break
		}
		lo = b
	}
	return lo, hi
}

type promServer struct {
	name string
	url  string
}

// startPrometheus runs prometheus on a free loopback port with a
// temporary data directory, scraping target every second; it is stopped
// when the test ends.
func startPrometheus(ctx context.Context, t *testing.T, bin, target, rules string, native bool) *promServer {
	t.Helper()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: vitals
    metrics_path: /metrics
    params: { format: [prometheus] }
    static_configs:
      - targets: [%q]
`, rules, target)
	name := "classic"
	if native {
		name = "native"
	}
	return runPrometheus(ctx, t, bin, name, config, nil, native)
}

// runPrometheus runs prometheus with the given config on a free loopback
// port, in a temporary directory that holds the config, the files given
// (by name: a rule file named relatively in the config is read from
// there) and the data; it is stopped when the test ends.
func runPrometheus(ctx context.Context, t *testing.T, bin, name, config string, files map[string][]byte, native bool) *promServer {
	t.Helper()
	var flags []string
	if native {
		flags = append(flags, "--enable-feature=native-histograms")
	}
	return runPrometheusFlags(ctx, t, bin, name, config, files, flags...)
}

// runPrometheusFlags is runPrometheus with the command-line flags given
// beside the config, data and listen address.
func runPrometheusFlags(ctx context.Context, t *testing.T, bin, name, config string, files map[string][]byte, flags ...string) *promServer {
	t.Helper()
	dir := t.TempDir()
	files = maps.Clone(files)
	if files == nil {
		files = map[string][]byte{}
	}
	files["prometheus.yml"] = []byte(config)
	for f, b := range files {
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args := []string{
		"--config.file=" + filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
	}
	cmd := exec.Command(bin, append(args, flags...)...)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("prometheus (%s) log:\n%s", name, log.String())
		}
	})
	p := &promServer{name: name, url: "http://" + addr}
	for {
		resp, err := http.Get(p.url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("prometheus (%s) not ready: %v\n%s", name, err, log.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// api gets a Prometheus HTTP API path and decodes its data into v.
func (p *promServer) api(ctx context.Context, t *testing.T, path string, v any) error {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", p.url+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return err
	}
	if body.Status != "success" {
		return fmt.Errorf("%s: %s", path, body.Error)
	}
	return json.Unmarshal(body.Data, v)
}

// query runs an instant query and returns its vector.
func (p *promServer) query(ctx context.Context, t *testing.T, expr string) []sample {
	t.Helper()
	var data struct {
		ResultType string   `json:"resultType"`
		Result     []sample `json:"result"`
	}
	if err := p.api(ctx, t, "/api/v1/query?query="+url.QueryEscape(expr), &data); err != nil {
		t.Fatalf("prometheus (%s): %s: %v", p.name, expr, err)
	}
	if data.ResultType != "vector" {
		t.Fatalf("prometheus (%s): %s: a %s, want a vector", p.name, expr, data.ResultType)
	}
	return data.Result
}

type rangeSeries struct {
	Metric map[string]string `json:"metric"`
	Values [][2]any          `json:"values"`
}

// queryRange runs a range query and returns its matrix.
func (p *promServer) queryRange(ctx context.Context, t *testing.T, expr string, start, end time.Time, step time.Duration) []rangeSeries {
	t.Helper()
	var data struct {
		ResultType string        `json:"resultType"`
		Result     []rangeSeries `json:"result"`
	}
	q := url.Values{
		"query": {expr},
		"start": {strconv.FormatFloat(float64(start.UnixMilli())/1e3, 'f', 3, 64)},
		"end":   {strconv.FormatFloat(float64(end.UnixMilli())/1e3, 'f', 3, 64)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	}
	if err := p.api(ctx, t, "/api/v1/query_range?"+q.Encode(), &data); err != nil {
		t.Fatalf("prometheus (%s): %s: %v", p.name, expr, err)
	}
	if data.ResultType != "matrix" {
		t.Fatalf("prometheus (%s): %s: a %s, want a matrix", p.name, expr, data.ResultType)
	}
	return data.Result
}

// scalar runs a query that must return one sample, and returns its value.
func (p *promServer) scalar(ctx context.Context, t *testing.T, expr string) float64 {
	t.Helper()
	r := p.query(ctx, t, expr)
	if len(r) != 1 {
		t.Fatalf("prometheus (%s): %s: %d samples, want 1", p.name, expr, len(r))
	}
	s, _ := r[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("prometheus (%s): %s: value %v", p.name, expr, r[0].Value[1])
	}
	return v
}

// waitFor polls expr until it returns one sample of value want.
func (p *promServer) waitFor(ctx context.Context, t *testing.T, expr string, want float64) {
	t.Helper()
	for {
		r := p.query(ctx, t, expr)
		if len(r) == 1 {
			if s, _ := r[0].Value[1].(string); s == strconv.FormatFloat(want, 'f', -1, 64) {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("prometheus (%s): %s never became %g (last %v)", p.name, expr, want, r)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// checkRules waits until every rule of the loaded file has been evaluated
// and checks that none failed.
func (p *promServer) checkRules(ctx context.Context, t *testing.T) {
	t.Helper()
	type rule struct {
		Name      string `json:"name"`
		Health    string `json:"health"`
		LastError string `json:"lastError"`
		Type      string `json:"type"`
	}
	var data struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []rule `json:"rules"`
		} `json:"groups"`
	}
	for {
		if err := p.api(ctx, t, "/api/v1/rules", &data); err != nil {
			t.Fatal(err)
		}
		var all []rule
		for _, g := range data.Groups {
			all = append(all, g.Rules...)
		}
		pending := slices.ContainsFunc(all, func(r rule) bool { return r.Health == "unknown" })
		if len(all) > 0 && !pending {
			for _, r := range all {
				if r.Health != "ok" || r.LastError != "" {
					t.Errorf("prometheus (%s): rule %s: health %s, %s", p.name, r.Name, r.Health, r.LastError)
				}
			}
			// Every recording rule has data: its metric names are the ones
			// vitals exposes.
			for _, r := range all {
				if r.Type == "recording" && len(p.query(ctx, t, r.Name)) == 0 {
					t.Errorf("prometheus (%s): recording rule %s has no data", p.name, r.Name)
				}
			}
			t.Logf("prometheus (%s): %d rules evaluated without error", p.name, len(all))
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("prometheus (%s): rules not evaluated: %+v", p.name, data)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// checkDashboard runs every query of the Grafana dashboard with its
// variables set to all jobs and instances, and $__rate_interval as Grafana
// substitutes it on a data source whose Scrape interval setting is
// dsScrape (see grafanaExpr): each must parse and return data now, and,
// where from is not zero, draw a line without a gap from then to now (a
// range query at a step of 15 s, finer than Grafana's).
func (p *promServer) checkDashboard(ctx context.Context, t *testing.T, path string, dsScrape time.Duration, from time.Time) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr     string `json:"expr"`
				Interval string `json:"interval"` // Min step
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	r := strings.NewReplacer("$job", ".+", "$instance", ".+")
	queries := 0
	end := time.Now()
	for _, panel := range dash.Panels {
		for _, target := range panel.Targets {
			queries++
			expr := r.Replace(grafanaExpr(t, target.Expr, target.Interval, dsScrape))
			if len(p.query(ctx, t, expr)) == 0 {
				t.Errorf("prometheus (%s): dashboard panel %q: no data for %s", p.name, panel.Title, expr)
			}
			if from.IsZero() {
				continue
			}
			const step = 15 * time.Second
			steps := int(end.Sub(from)/step) + 1
			drawn := map[float64]bool{}
			for _, s := range p.queryRange(ctx, t, expr, from, end, step) {
				for _, v := range s.Values {
					ts, _ := v[0].(float64)
					drawn[ts] = true
				}
			}
			if len(drawn) != steps {
				t.Errorf("prometheus (%s): dashboard panel %q: data at %d of the %d steps of 15 s from %s to %s for %s",
					p.name, panel.Title, len(drawn), steps, from.Format(time.TimeOnly), end.Format(time.TimeOnly), expr)
			}
		}
	}
	// The variables' label_values(selector, label) queries, as Grafana runs
	// them: the label's values among the series the selector matches.
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		args, ok := strings.CutPrefix(v.Definition, "label_values(")
		if !ok {
			t.Errorf("variable %s: %q is not label_values()", v.Name, v.Definition)
			continue
		}
		args = strings.TrimSuffix(args, ")")
		i := strings.LastIndexByte(args, ',')
		sel, label := r.Replace(strings.TrimSpace(args[:i])), strings.TrimSpace(args[i+1:])
		var values []string
		if err := p.api(ctx, t, "/api/v1/label/"+label+"/values?match[]="+url.QueryEscape(sel), &values); err != nil || len(values) == 0 {
			t.Errorf("prometheus (%s): variable %s: values %v, %v", p.name, v.Name, values, err)
		}
		queries++
	}
	if queries < 10 {
		t.Errorf("%d dashboard queries found, want every panel's", queries)
	}
	if !t.Failed() {
		t.Logf("prometheus (%s): %d dashboard queries return data", p.name, queries)
	}
}

// grafanaExpr returns a dashboard query with $__rate_interval replaced as
// Grafana replaces it (pkg/promlib/models/query.go: calculateRateInterval,
// InterpolateVariables) for a query whose Min step is minStep ("" where
// unset) on a data source whose Scrape interval setting is dsScrape (0
// where unset):
//
//	$__rate_interval = max($__interval + s, 4 * s)
//
// where s is the query's Min step where set, else the data source's Scrape
// interval, else 15 s; and $__interval is the panel's time range divided
// by its width in points, which Grafana keeps at or above the data
// source's Scrape interval. The test takes $__interval at that floor (or
// at 15 s where the setting is unset), the shortest it can be: a short
// time range on a wide panel. The duration is written as Grafana writes it
// (Go's time.Duration.String, such as 4m0s).
//
// The dashboard's rate() queries have a Min step of 1m, so that
// $__rate_interval is at least 4m whatever the data source's setting:
// four scrapes or more at any scrape interval up to 60 s.
func grafanaExpr(t *testing.T, expr, minStep string, dsScrape time.Duration) string {
	t.Helper()
	interval := dsScrape
	if interval == 0 {
		interval = 15 * time.Second
	}
	s := interval
	if minStep != "" {
		d, err := time.ParseDuration(minStep)
		if err != nil {
			t.Fatalf("Min step %q: %v", minStep, err)
		}
		s = d
	}
	rate := max(interval+s, 4*s)
	return strings.NewReplacer("$__rate_interval", rate.String(), "${__rate_interval}", rate.String()).Replace(expr)
}
