package vitals

import (
	"cmp"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The page's routes table: each route's figures in the range chosen
// (?range=), in the order chosen (?sort=), with the links between views.

// routesView is the routes table, in one of its two ranges.
type routesView struct {
	Recent bool   // the recent figures, else since start
	Covers string // what the figures cover
	Ranges []link
	Heads  []head
	Rows   []routeRow
}

// head is a column head of the routes table: a link where the table can
// be sorted by it, hidden on a phone where Opt.
type head struct {
	link
	Sort, Opt bool
}

// link is a choice of the table's view; the current one is not a link.
type link struct {
	Label, Href string
	Current     bool
}

// routeRow is one route of the table, formatted.
type routeRow struct {
	Route                      []string // the name cut after each "/", where it may wrap
	Requests, Errors, Client   string
	P50, P90, P99, P999, Bytes string
	HasErrors, Idle            bool
	// Streams is set for a route that answers with streams: its stream
	// count, shown instead of its percentiles (StreamsOpen stays empty:
	// open streams are known for all routes together only).
	Streams, StreamsOpen, StreamsTitle string
}

// routeFigures are the figures of one route in the range shown.
type routeFigures struct {
	requests, errors, client uint64
	p50, p90, p99, p999      time.Duration
}

// figuresOf returns the figures of rs in the range shown: recent, else
// since start.
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

// newRoutesView lays out the routes table of s for query q: its range,
// its order, and the links to the other views.
func newRoutesView(s *Snapshot, recent, since string, q url.Values) routesView {
	v := routesView{Recent: q.Get("range") != "start"}
	if v.Recent {
		v.Covers = "Figures of the " + recent + ", per route."
		if recent == "" {
			v.Covers = "No recent figures yet."
		}
	} else {
		v.Covers = "Figures counted since " + s.Start.Format("2006-01-02 15:04 MST") + ", per route."
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
	recentName := "Last " + strings.TrimPrefix(strings.TrimSuffix(recent, " (since this process started)"), "last ")
	if recent == "" {
		recentName = "Recent"
	}
	v.Ranges = []link{
		{Label: recentName, Href: href("recent", order.key), Current: v.Recent},
		{Label: "S" + since[1:], Href: href("start", order.key), Current: !v.Recent},
	}
	sortHead := func(key string) head {
		for _, o := range routeSorts {
			if o.key == key {
				return head{link: link{Label: o.label, Href: href(rng, o.key), Current: o.key == order.key}, Sort: true}
			}
		}
		return head{link: link{Label: key}}
	}
	v.Heads = []head{sortHead("requests"), sortHead("errors"), {link: link{Label: "p50"}}, {link: link{Label: "p90"}, Opt: true},
		sortHead("p99"), {link: link{Label: "p99.9"}, Opt: true}, {link: link{Label: "4xx"}, Opt: true}}
	if !v.Recent {
		v.Heads = append(v.Heads, head{link: link{Label: "Bytes"}, Opt: true})
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
		if n := e.rs.Streams; n > 0 {
			// A stream's route is known when it ends: the open ones are
			// counted for all routes together (the in-flight card).
			row.Streams = formatCount(n) + " streams"
			row.StreamsTitle = "Streams (server-sent events, websockets, hijacked connections) have no latency: " +
				formatCount(n) + " ended since this process started; the open ones are counted for all routes together"
			row.P999 = ""
		}
		v.Rows = append(v.Rows, row)
	}
	return v
}
