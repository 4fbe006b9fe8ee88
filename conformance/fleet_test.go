package conformance

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vitalsgo/vitals"
)

// TestFleetConfig runs the Prometheus config of the README's "Running a
// fleet" verbatim but for its three targets, which become three test
// instances under steady traffic (its rule file is
// deploy/prometheus/vitals.rules.yml, copied next to it), at the README's
// scrape interval of 15 s and at 60 s, each with and without native
// histograms: four real Prometheus servers that scrape side by side. Each
// must scrape every instance, evaluate every rule without error, hold
// VitalsHighLatency pending for the slow route only, and give every query
// of the Grafana dashboard data without a gap from the second scrape on,
// with $__rate_interval substituted as Grafana does (see grafanaExpr), on
// a data source whose Scrape interval setting is left unset and on one set
// to the real interval.
//
// At 60 s the test waits for the fifth scrape: about 5 minutes.
func TestFleetConfig(t *testing.T) {
	bin := prometheus242(t)
	if testing.Short() {
		t.Skip("takes about 5 minutes")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)

	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile("../deploy/prometheus/vitals.rules.yml")
	if err != nil {
		t.Fatal(err)
	}

	// Three instances, each with its own collector, served requests from
	// the start: the work route at durations from 1 ms to 64 ms, one
	// request in ten to a route that fails with a 500, and, on the side,
	// a slow route that takes 600 ms, over the latency objective of 0.5 s.
	var targets []string
	for range 3 {
		targets = append(targets, strconv.Quote(fleetInstance(t)))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, target := range targets {
		target, _ := strconv.Unquote(target)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for {
				if resp, err := http.Get("http://" + target + "/slow"); err == nil {
					resp.Body.Close()
				}
				select {
				case <-stop:
					return
				case <-time.After(400 * time.Millisecond):
				}
			}
		}()
		go func() {
			defer wg.Done()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				path := fmt.Sprintf("/work?d=%dms", 1<<(i%7))
				if i%10 == 9 {
					path = "/fail"
				}
				if resp, err := http.Get("http://" + target + path); err == nil {
					resp.Body.Close()
				}
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
	}
	t.Cleanup(func() { close(stop); wg.Wait() })

	config := readmeConfig(t, string(readme))
	config = replaceOnce(t, config, `"web1:8080", "web2:8080", "web3:8080"`, strings.Join(targets, ", "))

	// The four servers start together and scrape side by side; the
	// subtests then check them in turn (whatever -parallel allows), the
	// ones at 60 s once they have scraped five times.
	type variant struct {
		name     string
		interval time.Duration
		native   bool
		p        *promServer
	}
	var variants []variant
	for _, interval := range []time.Duration{15 * time.Second, 60 * time.Second} {
		for _, native := range []bool{true, false} {
			v := variant{
				name:     fmt.Sprintf("%ds %s", int(interval.Seconds()), map[bool]string{true: "native", false: "classic"}[native]),
				interval: interval,
				native:   native,
			}
			config := replaceOnce(t, config, "scrape_interval: 15s", fmt.Sprintf("scrape_interval: %ds", int(interval.Seconds())))
			v.p = runPrometheus(ctx, t, bin, v.name, config, map[string][]byte{"vitals.rules.yml": rules}, native)
			variants = append(variants, v)
		}
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			p := v.p
			p.waitAtLeast(ctx, t, `min(count_over_time(up{job="web"}[1h])) and count(up{job="web"}) == 3`, 5)
			from := p.secondScrape(ctx, t)
			if got := p.scalar(ctx, t, `min(min_over_time(up{job="web"}[1h]))`); got != 1 {
				t.Errorf("prometheus (%s): a scrape failed", p.name)
			}
			if got := p.query(ctx, t, `count(http_request_duration_seconds_bucket)`); v.native && len(got) != 0 {
				t.Errorf("prometheus (%s) has classic bucket series: the histogram was not read as native", p.name)
			}
			p.checkRules(ctx, t)
			p.checkLatencyAlert(ctx, t, v.native)
			for _, ds := range []time.Duration{0, v.interval} {
				p.checkDashboard(ctx, t, "../deploy/grafana/vitals-dashboard.json", ds, from)
			}
			t.Logf("prometheus (%s): the dashboard drawn from the second scrape of every instance, %s, to %s",
				p.name, from.Format(time.TimeOnly), time.Now().Format(time.TimeOnly))
		})
	}
}

// secondScrape returns the time of the second scrape of the instance
// scraped last, a second after it: from then on every rate() window of 4
// minutes holds two samples or more.
func (p *promServer) secondScrape(ctx context.Context, t *testing.T) time.Time {
	t.Helper()
	var data struct {
		Result []rangeSeries `json:"result"`
	}
	expr := `up{job="web"}[1h]`
	if err := p.api(ctx, t, "/api/v1/query?query="+url.QueryEscape(expr), &data); err != nil {
		t.Fatalf("prometheus (%s): %s: %v", p.name, expr, err)
	}
	var second float64
	for _, s := range data.Result {
		if len(s.Values) < 2 {
			t.Fatalf("prometheus (%s): %s: %d samples for %v", p.name, expr, len(s.Values), s.Metric)
		}
		ts, _ := s.Values[1][0].(float64)
		second = max(second, ts)
	}
	return time.UnixMilli(int64(second * 1e3)).Add(time.Second)
}

// fleetInstance starts a test server with a collector of its own and
// returns its address.
func fleetInstance(t *testing.T) string {
	c := vitals.New(vitals.Options{})
	t.Cleanup(func() { c.Close() })
	mux := http.NewServeMux()
	mux.Handle("GET /work", c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		time.Sleep(d)
	})))
	mux.Handle("GET /slow", c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(600 * time.Millisecond)
	})))
	mux.Handle("GET /fail", c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "failed", http.StatusInternalServerError)
	})))
	mux.Handle("GET /metrics", c.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// readmeConfig returns the README's Prometheus config: the yaml block that
// starts with "# prometheus.yml".
func readmeConfig(t *testing.T, readme string) string {
	t.Helper()
	_, block, ok := strings.Cut(readme, "```yaml\n# prometheus.yml")
	if !ok {
		t.Fatal("README.md: no ```yaml block starting with # prometheus.yml")
	}
	block, _, ok = strings.Cut(block, "```")
	if !ok {
		t.Fatal("README.md: the prometheus.yml block does not end")
	}
	return "# prometheus.yml" + block
}

// replaceOnce replaces old, which must occur once in s, with new.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("%q occurs %d times in the config, want once:\n%s", old, n, s)
	}
	return strings.Replace(s, old, new, 1)
}

// waitAtLeast polls expr, once a second, until it returns one sample of
// value want or more.
func (p *promServer) waitAtLeast(ctx context.Context, t *testing.T, expr string, want float64) {
	t.Helper()
	for {
		r := p.query(ctx, t, expr)
		if len(r) == 1 {
			s, _ := r[0].Value[1].(string)
			if v, err := strconv.ParseFloat(s, 64); err == nil && v >= want {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("prometheus (%s): %s never reached %g (last %v)", p.name, expr, want, r)
		case <-time.After(time.Second):
		}
	}
}

// checkLatencyAlert checks that VitalsHighLatency is active (pending, for
// its 10 minutes are not up) for the slow route only, and that its
// description adds what classic buckets can promise where, and only where,
// the p99 comes from them.
func (p *promServer) checkLatencyAlert(ctx context.Context, t *testing.T, native bool) {
	t.Helper()
	var data struct {
		Alerts []struct {
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
			State       string            `json:"state"`
		} `json:"alerts"`
	}
	for {
		if err := p.api(ctx, t, "/api/v1/alerts", &data); err != nil {
			t.Fatal(err)
		}
		var routes []string
		for _, a := range data.Alerts {
			if a.Labels["alertname"] != "VitalsHighLatency" {
				continue
			}
			routes = append(routes, a.Labels["route"])
			d := a.Annotations["description"]
			t.Logf("prometheus (%s): %s %s: %s", p.name, a.State, a.Labels["alertname"], d)
			if classic := strings.Contains(d, "From classic buckets"); classic == native {
				t.Errorf("prometheus (%s): the description says classic buckets %v, want %v: %s", p.name, classic, !native, d)
			}
		}
		if len(routes) > 0 {
			if len(routes) != 1 || routes[0] != "GET /slow" {
				t.Errorf("prometheus (%s): VitalsHighLatency active for %q, want GET /slow only", p.name, routes)
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("prometheus (%s): VitalsHighLatency never active: %+v", p.name, data)
		case <-time.After(time.Second):
		}
	}
}
