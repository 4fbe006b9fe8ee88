package vitals

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
	"time"
)

// The dashboard is one self-contained page: no external resource, and its
// only inline style and script are fixed text whose hashes the page's
// Content-Security-Policy lists, so it works offline and under a strict
// policy. Every dynamic value goes through html/template's escaping. The
// script refetches the page every refresh interval and swaps in its <main>;
// without script, a meta refresh reloads the page.
var (
	//go:embed assets/dashboard.html
	dashboardHTML string
	//go:embed assets/dashboard.css
	dashboardCSS string
	//go:embed assets/dashboard.js
	dashboardJS string

	dashboardTmpl = template.Must(template.New("dashboard").Funcs(template.FuncMap{
		"dur":   formatDuration,
		"bytes": formatBytes,
		"count": formatCount,
	}).Parse(dashboardHTML))

	// dashboardCSP allows the page's own style and script by hash and the
	// script's fetch of the page itself; nothing else.
	dashboardCSP = "default-src 'none'; style-src '" + cspHash(dashboardCSS) + "'; script-src '" +
		cspHash(dashboardJS) + "'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

type pageView struct {
	CSS            template.CSS
	JS             template.JS
	Refresh        string
	RefreshSeconds int
	RefreshMillis  int64

	S                          *Snapshot
	Updated, Since, Uptime     string
	Requests, Rate, ErrorShare string
	BucketName                 string
	Window, Hist, Status       chart
	Routes                     []RouteStats // sorted as asked
	Sorts                      []sortLink
	firstBound                 time.Duration
}

// Est formats a percentile estimated from a histogram. Within the first
// bucket the histogram knows only that it is at most that bucket's bound,
// so that is what it shows.
func (v *pageView) Est(d time.Duration) string {
	if d > 0 && d <= v.firstBound {
		return "≤" + formatDuration(v.firstBound)
	}
	return formatDuration(d)
}

// sortLink is a column heading of the routes table that sorts by it.
type sortLink struct {
	Label, Href string
	Current     bool
}

// routeSorts are the orders of the routes table: ?sort=requests (the
// default), p99 or errors, each descending.
var routeSorts = []struct {
	key, label string
	less       func(a, b *RouteStats) int
}{
	{"requests", "Requests", func(a, b *RouteStats) int { return cmp.Compare(b.Requests, a.Requests) }},
	{"errors", "5xx", func(a, b *RouteStats) int { return cmp.Compare(b.Errors, a.Errors) }},
	{"p99", "p99", func(a, b *RouteStats) int { return cmp.Compare(b.P99, a.P99) }},
}

// chart is an SVG bar chart laid out in Go, so the page needs no script to
// draw it. Coordinates are in the SVG's viewBox units.
type chart struct {
	W, H, Base       float64
	Bars             []bar
	Max, First, Last string
}

type bar struct {
	X, Y, W, H             float64
	Title, Label, Value    string
	Class                  string
	LabelX, LabelY, ValueX float64
}

// renderPage executes the dashboard for snapshot s into buf, with the
// routes table sorted by sortKey (see routeSorts; unknown keys sort by
// requests).
func (c *Collector) renderPage(buf *bytes.Buffer, s *Snapshot, sortKey string) error {
	v := pageView{
		CSS:            template.CSS(dashboardCSS),
		JS:             template.JS(dashboardJS),
		Refresh:        c.opts.RefreshInterval.String(),
		RefreshSeconds: max(1, int(math.Round(c.opts.RefreshInterval.Seconds()))),
		RefreshMillis:  max(250, c.opts.RefreshInterval.Milliseconds()),
		S:              s,
		Updated:        s.Time.Format("15:04:05 MST"),
		Since:          s.Start.Format("2006-01-02 15:04 MST"),
		Uptime:         formatUptime(s.Uptime),
		Requests:       formatCount(s.Requests),
		BucketName:     bucketName(s.Window.BucketWidth),
		firstBound:     time.Duration(c.bounds[0]),
	}
	counts := s.Window.Counts
	if n := len(counts); n >= 2 {
		v.Rate = formatCount(counts[n-2]) + " in the last full " + v.BucketName
	} else if n == 1 {
		v.Rate = formatCount(counts[0]) + " this " + v.BucketName
	}
	total := s.Status.Informational + s.Status.Success + s.Status.Redirect + s.Status.ClientError + s.Status.ServerError + s.Status.Other
	v.ErrorShare = "0%"
	if total > 0 {
		v.ErrorShare = strconv.FormatFloat(100*float64(s.Status.ServerError)/float64(total), 'f', 1, 64) + "%"
	}
	v.Window = windowChart(s)
	v.Hist = c.histChart()
	v.Status = statusChart(s.Status)
	v.Routes = slices.Clone(s.Routes) // the snapshot is shared: sort a copy
	order := routeSorts[0]
	for _, o := range routeSorts {
		if o.key == sortKey {
			order = o
		}
	}
	slices.SortStableFunc(v.Routes, func(a, b RouteStats) int {
		if d := order.less(&a, &b); d != 0 {
			return d
		}
		return cmp.Compare(a.Route, b.Route)
	})
	for _, o := range routeSorts {
		v.Sorts = append(v.Sorts, sortLink{Label: o.label, Href: "?format=html&sort=" + o.key, Current: o.key == order.key})
	}
	return dashboardTmpl.Execute(buf, &v)
}

func windowChart(s *Snapshot) chart {
	counts := s.Window.Counts
	ch := chart{W: 640, H: 100, Base: 98}
	var peak uint64
	for _, n := range counts {
		peak = max(peak, n)
	}
	ch.Max = "peak " + formatCount(peak)
	slot := ch.W / float64(max(len(counts), 1))
	for i, n := range counts {
		h := 0.0
		if peak > 0 {
			h = (ch.Base - 2) * float64(n) / float64(peak)
		}
		at := s.Window.Start.Add(time.Duration(i) * s.Window.BucketWidth)
		ch.Bars = append(ch.Bars, bar{
			X: r1(float64(i)*slot + slot*0.1), Y: r1(ch.Base - h), W: r1(slot * 0.8), H: r1(h),
			Title: at.Format("15:04:05") + ": " + formatCount(n) + " requests",
		})
	}
	ch.First = s.Window.Start.Format("15:04")
	ch.Last = "now"
	return ch
}

func (c *Collector) histChart() chart {
	counts := make([]uint64, len(c.bounds)+1)
	one := make([]uint64, len(counts))
	for _, r := range c.routes.list() {
		r.loadHist(one)
		for i, n := range one {
			counts[i] += n
		}
	}
	ch := chart{W: 320, H: 150, Base: 128}
	var peak uint64
	for _, n := range counts {
		peak = max(peak, n)
	}
	slot := ch.W / float64(len(counts))
	for i, n := range counts {
		h := 0.0
		if peak > 0 {
			h = (ch.Base - 8) * float64(n) / float64(peak)
		}
		label := "+Inf"
		if i < len(c.opts.Buckets) {
			label = "≤" + formatDuration(time.Duration(c.opts.Buckets[i]*float64(time.Second)))
		}
		short := label
		if i%3 != 0 && len(counts) > 6 {
			short = "" // every other label, so they do not overlap
		}
		ch.Bars = append(ch.Bars, bar{
			X: r1(float64(i)*slot + slot*0.1), Y: r1(ch.Base - h), W: r1(slot * 0.8), H: r1(h),
			Title: label + ": " + formatCount(n) + " requests", Label: short, LabelX: r1(float64(i)*slot + slot*0.1), LabelY: ch.H - 5,
		})
	}
	return ch
}

func statusChart(st Status) chart {
	rows := []struct {
		label, class string
		n            uint64
	}{
		{"2xx", "s2", st.Success}, {"3xx", "s3", st.Redirect}, {"4xx", "s4", st.ClientError},
		{"5xx", "s5", st.ServerError}, {"1xx", "s1", st.Informational},
	}
	ch := chart{W: 320, H: float64(len(rows)) * 24}
	var peak uint64
	for _, r := range rows {
		peak = max(peak, r.n)
	}
	for i, r := range rows {
		w := 0.0
		if peak > 0 {
			w = 190 * float64(r.n) / float64(peak)
		}
		y := float64(i) * 24
		ch.Bars = append(ch.Bars, bar{
			X: 34, Y: y + 3, W: r1(math.Max(w, 1)), H: 18, Class: r.class,
			Label: r.label, LabelY: y + 16, Value: formatCount(r.n), ValueX: r1(40 + w),
			Title: r.label + ": " + formatCount(r.n),
		})
	}
	return ch
}

func r1(x float64) float64 { return math.Round(x*10) / 10 }

func bucketName(w time.Duration) string {
	switch w {
	case time.Second:
		return "second"
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	}
	return w.String()
}

// formatDuration writes d with three significant digits in a fitting unit.
func formatDuration(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	units := []struct {
		size time.Duration
		name string
	}{{time.Second, "s"}, {time.Millisecond, "ms"}, {time.Microsecond, "µs"}}
	for _, u := range units {
		if d >= u.size {
			return strconv.FormatFloat(float64(d)/float64(u.size), 'g', 3, 64) + u.name
		}
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}

func formatUptime(d time.Duration) string {
	d = d.Round(time.Second)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	if days > 0 {
		return fmt.Sprintf("%dd %dh", days, d/time.Hour)
	}
	return d.String()
}

func formatBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	f := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= unit
		if f < unit {
			return strconv.FormatFloat(f, 'f', 1, 64) + " " + u
		}
	}
	return strconv.FormatFloat(f, 'f', 0, 64) + " TiB"
}

// formatCount groups digits in threes: 1234567 is "1,234,567".
func formatCount(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	return string(b)
}
