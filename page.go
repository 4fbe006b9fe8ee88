package vitals

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"html/template"
	"math"
	"net/url"
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
// it covers, and the charts arrive as coordinates. This file holds the page
// model, its policy, the cards and the status table; the charts are in
// page_chart.go, the routes table in page_routes.go and the formatters in
// format.go.
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
