package vitals

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"html/template"
	"math"
	"net/url"
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
// it covers, and the charts arrive as coordinates. This file holds the page
// model, its policy, the two starts and the status table; the live cards
// are in page_cards.go, the live scatter and the slowest requests in
// page_live.go, the hour chart in page_chart.go, the runtime figures in
// page_runtime.go, the routes table in page_routes.go and the formatters
// in format.go.
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

// cspHash is the Content-Security-Policy source that allows inline text s.
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

	Updated string
	Process string   // this process's start and uptime
	Counted string   // since when the collector counts (Snapshot.Start), and why
	Since   string   // the same, short, for a column head or a tab: "since 13:19"
	Notes   []string // things the owner should know, shown above the figures

	Live        string // what the live figures cover: "last 10 s"
	Recent      string // what the recent figures cover: "last 5 min"
	RecentShort string // the same without "(since this process started)", for a column head
	Cards       []card // the "now" cards, in order
	Totals      []fact // totals since counting started: secondary, one line

	Scatter scatter   // each request of the last minute
	Slowest []slowRow // the slowest requests of the recent window

	Hour    hourChart
	Status  []statusRow
	Runtime []runtimeRow
	Routes  routesView

	// Lines that appear only when they have something to say.
	Aborted   string // responses cut short after their status was sent
	Unmatched string // successful responses whose route was not seen: a warning
	Self      string // the dashboard's and scrapes' own requests, counted apart
	Export    string // the OTLP push, when there is one
}

// fact is one since-start total: "1,234 requests".
type fact struct {
	Value, Label string
	Bad          bool
}

// renderPage executes the dashboard for snapshot s into buf. The query
// picks the routes table's view: ?range=start shows the figures since
// counting started instead of the recent ones, and ?sort= orders it (see
// routeSorts).
func (c *Collector) renderPage(buf *bytes.Buffer, s *Snapshot, q url.Values) error {
	pts := c.livePoints(nil, s.Time.Add(-scatterSpan))
	full := len(pts) >= c.opts.LiveRequests // the ring wrapped within the minute
	return c.renderPageOf(buf, s, q, livePointsUpTo(pts, s.Time), full)
}

// livePointsUpTo returns pts (oldest first) without those that ended
// after now: the ring is read after the snapshot was taken.
func livePointsUpTo(pts []livePoint, now time.Time) []livePoint {
	for len(pts) > 0 && pts[len(pts)-1].End.After(now) {
		pts = pts[:len(pts)-1]
	}
	return pts
}

// renderPageOf is renderPage with the ring's requests of the last minute,
// pts, oldest first, streams left out, none after s.Time; full says that
// the ring held only requests of the last minute.
func (c *Collector) renderPageOf(buf *bytes.Buffer, s *Snapshot, q url.Values, pts []livePoint, full bool) error {
	v := pageView{
		CSS:            template.CSS(dashboardCSS),
		JS:             template.JS(dashboardJS),
		Refresh:        c.opts.RefreshInterval.String(),
		RefreshSeconds: max(1, int(math.Round(c.opts.RefreshInterval.Seconds()))),
		RefreshMillis:  max(250, c.opts.RefreshInterval.Milliseconds()),
		Updated:        s.Time.Format("15:04:05 MST"),
		Live:           "last " + formatSpan(c.opts.LiveWindow),
		Recent:         recentLabel(s),
		RecentShort:    strings.TrimSuffix(recentLabel(s), " (since this process started)"),
	}
	v.Process, v.Counted, v.Since = startLabels(s)
	var lastEnd time.Time
	if n := len(pts); n > 0 {
		lastEnd = pts[n-1].End
	}
	v.Cards = nowCards(s, v.RecentShort, c.opts.LiveWindow, lastEnd, c.opts.SessionTTL)
	wrapped := full || s.Live.Span > 0 && s.Live.Span < c.opts.LiveWindow
	v.Scatter = newScatter(pts, s.Time, c.opts.LiveWindow, wrapped)
	v.Slowest = slowestRows(s)
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
	v.Export = c.exportLine(s)
	v.Hour = newHourChart(s)
	v.Status = statusRows(s, v.Recent != "")
	v.Runtime = runtimeRows(s)
	v.Routes = newRoutesView(s, v.Recent, v.Since, q)
	return dashboardTmpl.Execute(buf, &v)
}

// recentLabel says what Snapshot.Recent covers: "last 5 min", or, right
// after start, "last 42 s (since this process started)". It is "" when the snapshot
// has no recent figures.
func recentLabel(s *Snapshot) string {
	span := s.Recent.Span
	if span <= 0 {
		return ""
	}
	l := "last " + formatSpan(span)
	if s.Uptime > 0 && span+time.Second >= s.Uptime {
		l += " (since this process started)"
	}
	return l
}

// startLabels names the two starts apart: this process's, with its
// uptime, and the start of counting (Snapshot.Start), which a state file
// restored from an earlier process may put before it. since is the short
// form for a column head or a tab.
func startLabels(s *Snapshot) (process, counted, since string) {
	procStart := s.Time.Add(-s.Uptime)
	short := "15:04"
	if s.Start.Format("2006-01-02") != s.Time.Format("2006-01-02") {
		short = "Jan 2 15:04"
	}
	since = "since " + s.Start.Format(short)
	counted = "counting since " + s.Start.Format("2006-01-02 15:04 MST")
	if procStart.Sub(s.Start) > time.Second {
		process = "this process up " + formatUptime(s.Uptime) + ", since " + procStart.Format("2006-01-02 15:04 MST")
		counted += " (restored from the state file)"
	} else {
		process = "up " + formatUptime(s.Uptime)
		counted += ", when this process started"
	}
	return process, counted, since
}

// statusTotal is the number of responses counted in st.
func statusTotal(st Status) uint64 {
	return st.Informational + st.Success + st.Redirect + st.ClientError + st.ServerError + st.Other
}

// statusRow is one status class: the recent count with a bar, and the
// since-start count. Without recent figures, the recent count is "—".
type statusRow struct {
	Label, Class  string
	Recent, Total string
	W             float64 // bar width, 0 to 100
}

// statusRows are the rows of the status table, the usual classes first.
func statusRows(s *Snapshot, hasRecent bool) []statusRow {
	rec, tot := s.Recent.Status, s.Status
	type class struct {
		label, class string
		r, t         uint64
	}
	rows := []class{
		{"1xx", "s1", rec.Informational, tot.Informational},
		{"2xx", "s2", rec.Success, tot.Success}, {"3xx", "s3", rec.Redirect, tot.Redirect},
		{"4xx", "s4", rec.ClientError, tot.ClientError}, {"5xx", "s5", rec.ServerError, tot.ServerError},
	}
	if rec.Other+tot.Other > 0 {
		rows = append(rows, class{"other", "s1", rec.Other, tot.Other})
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
