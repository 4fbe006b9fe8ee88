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
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The dashboard is one self-contained page: no external resource, and its
// only inline style and script are fixed text whose hashes the page's
// Content-Security-Policy lists, so it works offline and under a strict
// policy. Every dynamic value goes through html/template's escaping. The
// script refetches the page every refresh interval and swaps in its <main>;
// without script, a meta refresh reloads the page.
//
// The page is laid out in Go (pageView) and the template only places what
// it is given: every figure arrives formatted, with the words that say what
// it covers, and the charts arrive as coordinates.
var (
	//go:embed assets/dashboard.html
	dashboardHTML string
	//go:embed assets/dashboard.css
	dashboardCSS string
	//go:embed assets/dashboard.js
	dashboardJS string

	dashboardTmpl = template.Must(template.New("dashboard").Parse(dashboardHTML))

	// dashboardCSP allows the page's own style and script by hash and the
	// script's fetch of the page itself; nothing else.
	dashboardCSP = "default-src 'none'; style-src '" + cspHash(dashboardCSS) + "'; script-src '" +
		cspHash(dashboardJS) + "'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// pageView is everything the template shows, formatted.
type pageView struct {
	CSS            template.CSS
	JS             template.JS
	Refresh        string
	RefreshSeconds int
	RefreshMillis  int64

	Updated, Uptime, Since string
	Notes                  []string // things the owner should know, shown above the figures

	Recent      string // what the "now" figures cover: "last 5 min"
	RecentShort string // the same without "(all since start)", for a column head
	Cards       []card // the "now" cards, in order
	Totals      []fact // since-start totals: secondary, one line

	Hour    hourChart
	Status  []statusRow
	Runtime []runtimeRow
	Routes  routesView

	// Lines that appear only when they have something to say.
	Aborted   string // responses cut short after their status was sent
	Unmatched string // successful responses whose route was not seen: a warning
	Self      string // the dashboard's and scrapes' own requests, counted apart
}

// card is one figure of the top grid. To show another figure, append a
// card in renderPage; the template needs no change.
type card struct {
	Label, Value string
	Note         string // what the figure covers, and its context
	Bad          bool   // drawn as an alarm
}

// fact is one since-start total: "1,234 requests".
type fact struct {
	Value, Label string
	Bad          bool
}

// renderPage executes the dashboard for snapshot s into buf. The query
// picks the routes table's view: ?range=start shows since-start figures
// instead of the recent ones, and ?sort= orders it (see routeSorts).
func (c *Collector) renderPage(buf *bytes.Buffer, s *Snapshot, q url.Values) error {
	v := pageView{
		CSS:            template.CSS(dashboardCSS),
		JS:             template.JS(dashboardJS),
		Refresh:        c.opts.RefreshInterval.String(),
		RefreshSeconds: max(1, int(math.Round(c.opts.RefreshInterval.Seconds()))),
		RefreshMillis:  max(250, c.opts.RefreshInterval.Milliseconds()),
		Updated:        s.Time.Format("15:04:05 MST"),
		Uptime:         formatUptime(s.Uptime),
		Since:          s.Start.Format("2006-01-02 15:04 MST"),
		Recent:         recentLabel(s),
		RecentShort:    strings.TrimSuffix(recentLabel(s), " (all since start)"),
	}
	v.Cards = nowCards(s, v.Recent, c.opts.SessionTTL)
	v.Totals = []fact{
		{Value: formatCount(s.Requests), Label: "requests"},
		{Value: formatCount(s.Status.ServerError), Label: "5xx (" + formatShare(s.Status.ServerError, statusTotal(s.Status)) + ")", Bad: s.Status.ServerError > 0},
		{Value: formatBytes(s.BytesWritten), Label: "written"},
	}
	if s.RoutesCapped {
		v.Notes = append(v.Notes, "The cap on distinct routes (MaxRoutes) was reached: routes seen since then count under “other”.")
	}
	if s.Aborted > 0 {
		v.Aborted = formatCount(s.Aborted) + " cut short after sending, since this process started: a handler panicked after the status went out (counted with that status, not as 5xx)."
	}
	if s.UnmatchedSuccess > 0 {
		v.Unmatched = formatCount(s.UnmatchedSuccess) + " successful responses (2xx, 3xx) since this process started count as “unmatched”: their route was not seen. " +
			"A middleware between vitals and the mux copies the request: wrap the mux with c.Routes(mux); for other routers use c.RouteFunc (see the README, “Routes”)."
	}
	if s.SelfRequests > 0 {
		v.Self = "This dashboard’s refreshes and scrapes (" + formatCount(s.SelfRequests) + " since this process started) are counted apart, in none of these figures."
	}
	v.Hour = newHourChart(s)
	v.Status = statusRows(s, v.Recent != "")
	v.Runtime = runtimeRows(s)
	v.Routes = newRoutesView(s, v.Recent, q)
	return dashboardTmpl.Execute(buf, &v)
}

// recentLabel says what Snapshot.Recent covers: "last 5 min", or, right
// after start, "last 42 s (all since start)". It is "" when the snapshot
// has no recent figures.
func recentLabel(s *Snapshot) string {
	span := s.Recent.Span
	if span <= 0 {
		return ""
	}
	l := "last " + formatSpan(span)
	if s.Uptime > 0 && span+time.Second >= s.Uptime {
		l += " (all since start)"
	}
	return l
}

// nowCards are the cards that lead the page: what the server does now.
func nowCards(s *Snapshot, recent string, ttl time.Duration) []card {
	r := &s.Recent
	var cards []card
	if recent == "" {
		const none = "no recent figures yet"
		cards = append(cards,
			card{Label: "Requests", Value: "—", Note: none},
			card{Label: "Server errors (5xx)", Value: "—", Note: none},
			card{Label: "Latency p50", Value: "—", Note: none},
			card{Label: "Latency p99", Value: "—", Note: none})
	} else {
		cards = append(cards, card{Label: "Requests", Value: formatRate(r.Requests, r.Span),
			Note: formatCount(r.Requests) + " in the " + recent})
		errs := card{Label: "Server errors (5xx)", Value: "—", Note: "no requests in the " + recent}
		if r.Requests > 0 {
			errs.Value = formatShare(r.Errors, r.Requests)
			errs.Note = formatCount(r.Errors) + " of " + formatCount(r.Requests) + " · " + recent
			errs.Bad = r.Errors > 0
		}
		p50 := card{Label: "Latency p50", Value: "—", Note: "no requests in the " + recent}
		p99 := card{Label: "Latency p99", Value: "—", Note: p50.Note}
		if r.Requests > 0 {
			p50.Value, p50.Note = latencyText(r.P50), "p90 "+latencyText(r.P90)+" · "+recent
			p99.Value, p99.Note = latencyText(r.P99), "p99.9 "+latencyText(r.P999)+" · "+recent
		}
		cards = append(cards, errs, p50, p99)
	}
	cards = append(cards, card{Label: "In flight", Value: formatCount(uint64(max(s.InFlight, 0))),
		Note: "now · " + formatCount(uint64(max(s.Connections, 0))) + " open connections"})
	sess := card{Label: "Active sessions", Value: strconv.Itoa(s.SessionsActive), Note: "seen in the last " + formatSpan(ttl)}
	return append(cards, sess)
}

// Latency figures that vitals cannot know are shown as bounds.
//
// The collector reports a percentile that fell into its histogram's zero
// bucket as exactly LatencyFloor (954ns) and one above its top as exactly
// LatencyCeiling (68m16s); no estimate ever equals either. latencyBound is
// the one place the page turns them into bounds: "< 1µs" (true, as the
// value is at most 954ns) and "> 1.1h".

// bound says how a latency figure relates to the truth.
type bound int8

const (
	boundExact bound = iota // the figure is the percentile
	boundBelow              // the percentile is below the figure
	boundAbove              // the percentile is above the figure
)

// latencyBound returns how to show percentile d of a population that has
// requests: the figure, and whether it is a bound.
func latencyBound(d time.Duration) (time.Duration, bound) {
	switch {
	case d <= LatencyFloor:
		return time.Microsecond, boundBelow
	case d >= LatencyCeiling:
		return LatencyCeiling, boundAbove
	}
	return d, boundExact
}

// latencyText formats percentile d of a population that has requests.
func latencyText(d time.Duration) string {
	return formatLatency(latencyBound(d))
}

// formatLatency formats a latency figure, as a bound where b says it is
// one: "38µs", "< 1µs", "> 1h".
func formatLatency(d time.Duration, b bound) string {
	switch b {
	case boundBelow:
		return "< " + formatDuration(d)
	case boundAbove:
		return "> " + formatDuration(d)
	}
	return formatDuration(d)
}

// durationUnits are the units formatDuration writes, smallest first, each
// with the value at which the next one takes over.
var durationUnits = []struct {
	size time.Duration
	name string
	next float64
}{
	{time.Nanosecond, "ns", 1000},
	{time.Microsecond, "µs", 1000},
	{time.Millisecond, "ms", 1000},
	{time.Second, "s", 60},
	{time.Minute, "min", 60},
	{time.Hour, "h", math.Inf(1)},
}

// formatDuration writes d as a person reads it: in the largest unit that
// keeps the number at least 1, with one decimal below 10 and none above:
// "850ns", "38µs", "1.2ms", "480ms", "2.5s", "1.5min". Zero is "0".
func formatDuration(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	i := 0
	for i+1 < len(durationUnits) && d >= durationUnits[i+1].size {
		i++
	}
	for {
		u := durationUnits[i]
		v := roundFigure(float64(d) / float64(u.size))
		if v >= u.next && i+1 < len(durationUnits) {
			i++ // 999.7µs rounds to 1000µs: that is 1ms
			continue
		}
		return formatFigure(v) + u.name
	}
}

// roundFigure rounds v to one decimal below 10 and to a whole number above.
func roundFigure(v float64) float64 {
	if v < 10 {
		return math.Round(v*10) / 10
	}
	return math.Round(v)
}

// formatFigure writes a value rounded by roundFigure, without a trailing
// ".0", and with digits grouped from 1,000 up.
func formatFigure(v float64) string {
	if v >= 1000 {
		return formatCount(uint64(v))
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// formatSpan writes the length of a time window: "5 min", "42 s", "1 h",
// "2 min 30 s".
func formatSpan(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Second {
		return "0 s"
	}
	h, m, sec := d/time.Hour, d%time.Hour/time.Minute, d%time.Minute/time.Second
	var parts []string
	if h > 0 {
		parts = append(parts, strconv.FormatInt(int64(h), 10)+" h")
	}
	if m > 0 {
		parts = append(parts, strconv.FormatInt(int64(m), 10)+" min")
	}
	if sec > 0 && h == 0 {
		parts = append(parts, strconv.FormatInt(int64(sec), 10)+" s")
	}
	return strings.Join(parts, " ")
}

// formatRate writes n requests over span as a rate: "1,250/s", "12/s",
// "1.2/s", and per minute below one a second: "36/min", "0.4/min".
func formatRate(n uint64, span time.Duration) string {
	if span <= 0 {
		return "—"
	}
	if n == 0 {
		return "0/s"
	}
	perSec := float64(n) / span.Seconds()
	if perSec >= 1 {
		return formatFigure(roundFigure(perSec)) + "/s"
	}
	perMin := perSec * 60
	if perMin >= 1 {
		return formatFigure(roundFigure(perMin)) + "/min"
	}
	// Two significant digits: 0.25/min, 0.0069/min.
	scale := math.Pow(10, 1-math.Floor(math.Log10(perMin)))
	return strconv.FormatFloat(math.Round(perMin*scale)/scale, 'f', -1, 64) + "/min"
}

// formatShare writes n of total as a percentage: "0%", "< 0.1%", "1.5%",
// "12%", "100%".
func formatShare(n, total uint64) string {
	if n == 0 || total == 0 {
		return "0%"
	}
	p := 100 * float64(n) / float64(total)
	switch {
	case p < 0.1:
		return "< 0.1%"
	case n < total && p > 99.9:
		return "> 99.9%"
	}
	return formatFigure(roundFigure(p)) + "%"
}

func statusTotal(st Status) uint64 {
	return st.Informational + st.Success + st.Redirect + st.ClientError + st.ServerError + st.Other
}

// hourChart is the window of the recent past, one column per bucket, in
// rows that share the time axis: requests, 5xx and latency. Each row is an
// SVG whose viewBox is one unit per bucket wide and 100 high, stretched to
// the page's width, so its labels are HTML and stay readable on a phone.
type hourChart struct {
	Title   string
	N       int // buckets
	Rows    []chartRow
	Ticks   [3]string // under the rows: oldest, middle and "now"
	NoData  string    // legend text for the no-data region, "" when none
	Partial string    // legend text for the partial bucket, "" when none
	Latency bool      // the legend shows the latency lines
	Hits    []hit     // one column over all rows per bucket
}

type chartRow struct {
	Heading string
	Class   string   // of the SVG: the row's height
	Axis    []string // labels spread evenly from top to bottom
	Grid    []float64
	NoData  []band  // the no-data regions
	Partial float64 // x of the partial bucket, -1 when none
	Bars    []line
	Lines   []line
	W       int
}

type line struct{ D, Class string }

// band is a run of buckets from X, W wide.
type band struct{ X, W int }

// hit is a column that shows a bucket's figures on hover.
type hit struct {
	X     int
	Title string
}

// maxChartBuckets caps the buckets the page draws: a longer window
// (WindowBuckets allows 100,000) is shown by its most recent buckets, so
// the page stays small.
const maxChartBuckets = 720

// shownWindow returns the part of w that the page draws: its last
// maxChartBuckets buckets, with the aligned figures cut to match.
func shownWindow(w *Window) *Window {
	n := len(w.Counts)
	cut := n - maxChartBuckets
	if cut <= 0 {
		return w
	}
	v := *w
	v.Start = w.Start.Add(time.Duration(cut) * w.BucketWidth)
	v.Counts = w.Counts[cut:]
	v.Errors = tail(w.Errors, n, cut)
	v.P50, v.P90, v.P99 = tail(w.P50, n, cut), tail(w.P90, n, cut), tail(w.P99, n, cut)
	v.HeapBytes, v.Goroutines = tail(w.HeapBytes, n, cut), tail(w.Goroutines, n, cut)
	v.NoDataAt = tail(w.NoDataAt, n, cut)
	v.Total = 0
	for _, c := range v.Counts {
		v.Total += c
	}
	return &v
}

// tail returns xs without its first cut values if it is aligned with n
// buckets, else nil.
func tail[T any](xs []T, n, cut int) []T {
	if len(xs) != n {
		return nil
	}
	return xs[cut:]
}

func newHourChart(s *Snapshot) hourChart {
	w := shownWindow(&s.Window)
	n := len(w.Counts)
	ch := hourChart{N: n, Title: "Last " + windowSpan(w) + ", per " + bucketName(w.BucketWidth)}
	if n == 0 {
		return ch
	}
	// The buckets without data (NoDataAt): the leading ones, which end
	// before counting started (Snapshot.Start), and a restart's after them.
	nd := make([]bool, n)
	noData := 0
	for i := range nd {
		nd[i] = len(w.NoDataAt) == n && w.NoDataAt[i]
		if nd[i] && noData == i && !w.Start.Add(time.Duration(i+1)*w.BucketWidth).After(s.Start) {
			noData++
		}
	}
	var bands []band
	for i := 0; i < n; i++ {
		if !nd[i] {
			continue
		}
		j := i
		for j < n && nd[j] {
			j++
		}
		bands = append(bands, band{X: i, W: j - i})
		i = j
	}
	at := func(i int) time.Time { return w.Start.Add(time.Duration(i) * w.BucketWidth) }
	layout := "15:04"
	switch {
	case time.Duration(n)*w.BucketWidth > 24*time.Hour:
		layout = "Jan 2 15:04"
	case w.BucketWidth%time.Minute != 0:
		layout = "15:04:05"
	}
	ch.Ticks = [3]string{at(0).Format(layout), at(0).Add(time.Duration(n) * w.BucketWidth / 2).Format(layout), "now"}
	var why []string
	for _, b := range bands {
		if b.X < noData {
			why = append(why, "before counting started at "+s.Start.Format(layout))
		} else {
			why = append(why, "not counting "+at(b.X).Format(layout)+"–"+at(b.X+b.W).Format(layout))
		}
	}
	if len(why) > 0 {
		ch.NoData = "no data: " + strings.Join(why, "; ")
	}
	partial := -1.0
	if elapsed := s.Time.Sub(at(n - 1)); elapsed >= 0 && elapsed < w.BucketWidth {
		partial = float64(n - 1)
		ch.Partial = "this " + bucketName(w.BucketWidth) + " so far (" + formatSpan(elapsed) + ")"
	}
	errs := aligned(w.Errors, n)
	p50, p90, p99 := aligned(w.P50, n), aligned(w.P90, n), aligned(w.P99, n)

	// Each bucket's figures, on hover.
	ch.Hits = make([]hit, n)
	for i := range n {
		t := at(i).Format(layout) + "–" + at(i+1).Format(layout)
		switch {
		case i < noData:
			t += ": no data (before counting started)"
		case nd[i]:
			t += ": no data (not counting: the process was down)"
		default:
			t += ": " + formatCount(w.Counts[i]) + " requests"
			if errs != nil {
				t += ", " + formatCount(errs[i]) + " 5xx"
			}
			if p50 != nil && p90 != nil && p99 != nil && w.Counts[i] > 0 {
				t += ", p50 " + latencyText(p50[i]) + ", p90 " + latencyText(p90[i]) + ", p99 " + latencyText(p99[i])
			}
			if float64(i) == partial {
				t += " (so far)"
			}
		}
		ch.Hits[i] = hit{X: i, Title: t}
	}
	newRow := func(heading, class string) chartRow {
		return chartRow{Heading: heading, Class: class, NoData: bands, Partial: partial, W: n}
	}

	req := newRow("Requests per "+bucketName(w.BucketWidth), "tall")
	req.Bars, req.Axis = countBars(w.Counts, nd, partial, "b")
	ch.Rows = append(ch.Rows, req)
	if errs != nil {
		e := newRow("5xx per "+bucketName(w.BucketWidth), "short")
		e.Bars, e.Axis = countBars(errs, nd, partial, "e")
		var sum uint64
		for _, x := range errs {
			sum += x
		}
		if sum == 0 {
			e.Heading += ": none"
		}
		ch.Rows = append(ch.Rows, e)
	}
	if p50 != nil && p99 != nil {
		l := newRow("Latency p50 and p99 per "+bucketName(w.BucketWidth)+" (log scale)", "tall")
		l.Lines, l.Grid, l.Axis = latencyLines(w.Counts, p50, p99)
		if l.Lines == nil {
			l.Heading = "Latency per " + bucketName(w.BucketWidth) + ": no requests"
		}
		ch.Latency = l.Lines != nil
		ch.Rows = append(ch.Rows, l)
	}
	return ch
}

// windowSpan names the time the window covers: "hour", "2 h", "10 min".
func windowSpan(w *Window) string {
	d := time.Duration(len(w.Counts)) * w.BucketWidth
	if d == time.Hour {
		return "hour"
	}
	return formatSpan(d)
}

// aligned returns xs if it has one value per bucket, else nil: a figure
// the snapshot does not carry is left out rather than drawn as zero.
func aligned[T any](xs []T, n int) []T {
	if len(xs) != n {
		return nil
	}
	return xs
}

// countBars draws counts as bars scaled to their peak, skipping the
// no-data buckets, and returns them with the axis labels. The bars are one
// path (the partial bucket's another), so the page stays small.
func countBars(counts []uint64, nd []bool, partial float64, class string) ([]line, []string) {
	var peak uint64
	for i, c := range counts {
		if !nd[i] {
			peak = max(peak, c)
		}
	}
	var full, part strings.Builder
	for i := range counts {
		if counts[i] == 0 || nd[i] {
			continue
		}
		sb := &full
		if float64(i) == partial {
			sb = &part
		}
		fmt.Fprintf(sb, "M%g 100V%gh.76V100z", float64(i)+0.12, r2(100-96*float64(counts[i])/float64(peak)))
	}
	var bars []line
	if full.Len() > 0 {
		bars = append(bars, line{D: full.String(), Class: class})
	}
	if part.Len() > 0 {
		bars = append(bars, line{D: part.String(), Class: class + " part"})
	}
	return bars, []string{formatCount(peak), "0"}
}

// latencyLines draws p50 and p99 per bucket as steps on a log scale whose
// grid lines are whole decades, leaving gaps at buckets without requests.
func latencyLines(counts []uint64, p50, p99 []time.Duration) ([]line, []float64, []string) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, c := range counts {
		if c == 0 {
			continue
		}
		for _, d := range []time.Duration{p50[i], p99[i]} {
			d, _ = latencyBound(d)
			lo, hi = min(lo, float64(d)), max(hi, float64(d))
		}
	}
	if math.IsInf(lo, 1) {
		return nil, nil, nil
	}
	a, b := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if b <= a {
		b = a + 1
	}
	y := func(d time.Duration) float64 {
		d, _ = latencyBound(d)
		return r2(97 - 94*(math.Log10(float64(d))-a)/(b-a))
	}
	step := 1 // label every decade, or every other one when there are many
	if b-a > 4 {
		step = 2
	}
	var grid []float64
	var axis []string
	for k := b; k >= a; k-- {
		grid = append(grid, r2(97-94*(k-a)/(b-a)))
		label := ""
		if int(b-k)%step == 0 {
			label = formatDuration(time.Duration(math.Pow(10, k)))
		}
		axis = append(axis, label)
	}
	steps := func(ps []time.Duration) string {
		var sb strings.Builder
		open := false
		for i, c := range counts {
			if c == 0 {
				open = false
				continue
			}
			yy := y(ps[i])
			if open {
				fmt.Fprintf(&sb, "V%gH%d", yy, i+1)
			} else {
				fmt.Fprintf(&sb, "M%d %gH%d", i, yy, i+1)
			}
			open = true
		}
		return sb.String()
	}
	return []line{{D: steps(p99), Class: "p99"}, {D: steps(p50), Class: "p50"}}, grid, axis
}

// statusRow is one status class: the recent count with a bar, and the
// since-start count. Without recent figures, the recent count is "—".
type statusRow struct {
	Label, Class  string
	Recent, Total string
	W             float64 // bar width, 0 to 100
}

func statusRows(s *Snapshot, hasRecent bool) []statusRow {
	rec, tot := s.Recent.Status, s.Status
	type class struct {
		label, class string
		r, t         uint64
	}
	rows := []class{
		{"2xx", "s2", rec.Success, tot.Success}, {"3xx", "s3", rec.Redirect, tot.Redirect},
		{"4xx", "s4", rec.ClientError, tot.ClientError}, {"5xx", "s5", rec.ServerError, tot.ServerError},
		{"1xx", "s1", rec.Informational, tot.Informational},
	}
	if rec.Other+tot.Other > 0 {
		rows = append(rows, class{"6xx+", "s1", rec.Other, tot.Other})
	}
	var peak uint64
	for _, r := range rows {
		peak = max(peak, r.r)
	}
	out := make([]statusRow, len(rows))
	for i, r := range rows {
		out[i] = statusRow{Label: r.label, Class: r.class, Recent: "—", Total: formatCount(r.t)}
		if hasRecent {
			out[i].Recent = formatCount(r.r)
		}
		if peak > 0 {
			out[i].W = r2(100 * float64(r.r) / float64(peak))
		}
	}
	return out
}

// runtimeRow is a runtime figure now, with its history over the window
// when the snapshot has one.
type runtimeRow struct {
	Label, Value, Note string
	Spark              *spark
}

type spark struct {
	W     int
	D     string
	Range string // "1.2 MiB – 3.4 MiB over the last hour"
}

func runtimeRows(s *Snapshot) []runtimeRow {
	w := shownWindow(&s.Window)
	n := len(w.Counts)
	over := "over the last " + windowSpan(w)
	gor := runtimeRow{Label: "Goroutines", Value: formatCount(uint64(max(s.Runtime.Goroutines, 0))), Note: "now"}
	if g := aligned(w.Goroutines, n); g != nil {
		vals := make([]float64, n)
		for i, x := range g {
			vals[i] = float64(x)
		}
		gor.Spark = newSpark(vals, func(v float64) string { return formatCount(uint64(v)) }, over)
	}
	heap := runtimeRow{Label: "Heap", Value: formatBytes(s.Runtime.HeapBytes), Note: "now · " + formatBytes(s.Runtime.TotalBytes) + " mapped"}
	if h := aligned(w.HeapBytes, n); h != nil {
		vals := make([]float64, n)
		for i, x := range h {
			vals[i] = float64(x)
		}
		heap.Spark = newSpark(vals, func(v float64) string { return formatBytes(uint64(v)) }, over)
	}
	gc := runtimeRow{Label: "GC cycles", Value: formatCount(s.Runtime.GCCycles),
		Note: formatDuration(s.Runtime.GCPause) + " paused · since this process started"}
	return []runtimeRow{gor, heap, gc}
}

// newSpark draws vals (0 where none was sampled) as steps scaled between
// their least and greatest value, or returns nil when none was sampled.
func newSpark(vals []float64, format func(float64) string, over string) *spark {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if v > 0 {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if math.IsInf(lo, 1) {
		return nil
	}
	y := func(v float64) float64 {
		if hi == lo {
			return 50
		}
		return r2(92 - 84*(v-lo)/(hi-lo))
	}
	var sb strings.Builder
	open := false
	for i, v := range vals {
		if v <= 0 {
			open = false
			continue
		}
		if open {
			fmt.Fprintf(&sb, "V%gH%d", y(v), i+1)
		} else {
			fmt.Fprintf(&sb, "M%d %gH%d", i, y(v), i+1)
		}
		open = true
	}
	r := format(lo) + " – " + format(hi) + " " + over
	if hi == lo {
		r = "steady at " + format(lo) + " " + over
	}
	return &spark{W: len(vals), D: sb.String(), Range: r}
}

// routesView is the routes table, in one of its two ranges.
type routesView struct {
	Recent bool   // the recent figures, else since start
	Covers string // what the figures cover
	Ranges []link
	Sorts  []link
	Rows   []routeRow
}

// link is a choice of the table's view; the current one is not a link.
type link struct {
	Label, Href string
	Current     bool
}

type routeRow struct {
	Route                      []string // the name cut after each "/", where it may wrap
	Requests, Errors, Client   string
	P50, P90, P99, P999, Bytes string
	HasErrors, Idle            bool
}

// routeFigures are the figures of one route in the range shown.
type routeFigures struct {
	requests, errors, client uint64
	p50, p90, p99, p999      time.Duration
}

func figuresOf(rs *RouteStats, recent bool) routeFigures {
	if recent {
		r := &rs.Recent
		return routeFigures{r.Requests, r.Errors, r.Status.ClientError, r.P50, r.P90, r.P99, r.P999}
	}
	return routeFigures{rs.Requests, rs.Errors, rs.Status.ClientError, rs.P50, rs.P90, rs.P99, rs.P999}
}

// routeSorts are the orders of the routes table: ?sort=requests (the
// default), errors or p99, each descending, by the figures shown.
var routeSorts = []struct {
	key, label string
	less       func(a, b *routeFigures) int
}{
	{"requests", "Requests", func(a, b *routeFigures) int { return cmp.Compare(b.requests, a.requests) }},
	{"errors", "5xx", func(a, b *routeFigures) int { return cmp.Compare(b.errors, a.errors) }},
	{"p99", "p99", func(a, b *routeFigures) int { return cmp.Compare(b.p99, a.p99) }},
}

func newRoutesView(s *Snapshot, recent string, q url.Values) routesView {
	v := routesView{Recent: q.Get("range") != "start"}
	if v.Recent {
		v.Covers = "Figures of the " + recent + ", per route."
		if recent == "" {
			v.Covers = "No recent figures yet."
		}
	} else {
		v.Covers = "Figures since " + s.Start.Format("2006-01-02 15:04 MST") + ", per route."
	}
	order := routeSorts[0]
	for _, o := range routeSorts {
		if o.key == q.Get("sort") {
			order = o
		}
	}
	href := func(rng, sort string) string {
		u := url.Values{"format": {"html"}}
		if rng == "start" {
			u.Set("range", rng)
		}
		if sort != routeSorts[0].key {
			u.Set("sort", sort)
		}
		return "?" + u.Encode()
	}
	rng := "recent"
	if !v.Recent {
		rng = "start"
	}
	recentName := "Last " + strings.TrimPrefix(recent, "last ")
	if recent == "" {
		recentName = "Recent"
	}
	v.Ranges = []link{
		{Label: recentName, Href: href("recent", order.key), Current: v.Recent},
		{Label: "Since start", Href: href("start", order.key), Current: !v.Recent},
	}
	for _, o := range routeSorts {
		v.Sorts = append(v.Sorts, link{Label: o.label, Href: href(rng, o.key), Current: o.key == order.key})
	}

	type entry struct {
		rs *RouteStats
		f  routeFigures
	}
	entries := make([]entry, len(s.Routes))
	for i := range s.Routes {
		entries[i] = entry{&s.Routes[i], figuresOf(&s.Routes[i], v.Recent)}
	}
	slices.SortStableFunc(entries, func(a, b entry) int {
		if d := order.less(&a.f, &b.f); d != 0 {
			return d
		}
		return cmp.Compare(a.rs.Route, b.rs.Route)
	})
	for _, e := range entries {
		f := e.f
		row := routeRow{Route: strings.SplitAfter(e.rs.Route, "/"), Requests: formatCount(f.requests), Errors: formatCount(f.errors),
			Client: formatCount(f.client), Bytes: formatBytes(e.rs.Bytes), HasErrors: f.errors > 0, Idle: f.requests == 0}
		if v.Recent && e.rs.Recent.Span <= 0 {
			row.Requests, row.Errors, row.Client = "—", "—", "—" // not known, rather than zero
		}
		row.P50, row.P90, row.P99, row.P999 = "—", "—", "—", "—"
		if f.requests > 0 {
			row.P50, row.P90, row.P99, row.P999 = latencyText(f.p50), latencyText(f.p90), latencyText(f.p99), latencyText(f.p999)
		}
		v.Rows = append(v.Rows, row)
	}
	return v
}

func r2(x float64) float64 { return math.Round(x*100) / 100 }

func bucketName(w time.Duration) string {
	switch w {
	case time.Second:
		return "second"
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	}
	return formatSpan(w)
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
