package vitals

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Route names that vitals assigns itself.
const (
	// RouteUnmatched is the route of requests that matched no pattern (the
	// mux's 404s and redirects, scanners' random paths).
	RouteUnmatched = "unmatched"
	// RouteOther is the route of requests to routes first seen after
	// Options.MaxRoutes distinct routes were already counted.
	RouteOther = "other"
)

const (
	// DefaultMaxRoutes is the cap on distinct routes when
	// Options.MaxRoutes is zero.
	DefaultMaxRoutes = 100
	// maxRouteLen caps a route name; longer names are cut to it.
	maxRouteLen = 200
)

// routeTable maps route names to their counters.
//
// The request path reads an immutable map through an atomic pointer: no
// lock, no allocation. A route seen for the first time is added under mu
// by copying the map and publishing the copy, so writers of new routes
// serialise among themselves and never disturb readers. There are at most
// MaxRoutes+2 routes (the cap, plus unmatched and other), so copies stay
// small and rare.
type routeTable struct {
	m         atomic.Pointer[map[string]*stats] // never nil; never modified once published
	capped    atomic.Bool                       // MaxRoutes was reached
	unmatched *stats                            // immutable: the counters of RouteUnmatched
	other     *stats                            // immutable: the counters of RouteOther
	max       int                               // immutable
	bounds    int                               // immutable: histogram bounds
	slices    int                               // immutable: time slices per route
	mu        sync.Mutex                        // serialises add
}

func newRouteTable(max, bounds, slices int) *routeTable {
	t := &routeTable{
		max: max, bounds: bounds, slices: slices,
		unmatched: newStats(RouteUnmatched, bounds, slices),
		other:     newStats(RouteOther, bounds, slices),
	}
	m := map[string]*stats{RouteUnmatched: t.unmatched, RouteOther: t.other}
	t.m.Store(&m)
	return t
}

// get returns the counters of route name ("" is RouteUnmatched). Safe for
// concurrent use; allocation-free once the route exists.
func (t *routeTable) get(name string) *stats {
	if name == "" {
		return t.unmatched
	}
	if len(name) > maxRouteLen {
		name = name[:maxRouteLen]
	}
	if s := (*t.m.Load())[name]; s != nil {
		return s
	}
	if t.capped.Load() {
		return t.other
	}
	return t.add(name)
}

func (t *routeTable) add(name string) *stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.m.Load()
	if s := old[name]; s != nil {
		return s // added while this goroutine waited
	}
	if len(old)-2 >= t.max {
		t.capped.Store(true)
		return t.other
	}
	m := make(map[string]*stats, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	// The key is an owned copy, so the map does not keep a caller's larger
	// string alive; the shown name is valid UTF-8 (a cut may split a rune).
	key := strings.Clone(name)
	s := newStats(strings.ToValidUTF8(key, "\uFFFD"), t.bounds, t.slices)
	m[key] = s
	t.m.Store(&m)
	return s
}

// list returns every route's counters, sorted by name.
func (t *routeTable) list() []*stats {
	m := *t.m.Load()
	out := make([]*stats, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *stats) int { return cmp.Compare(a.name, b.name) })
	return out
}

// routeOf returns the route name of a finished request: the pattern the
// ServeMux matched, or what Options.Route says.
func (c *Collector) routeOf(r *http.Request) string {
	if c.opts.Route != nil {
		return c.opts.Route(r)
	}
	return r.Pattern
}

// RouteStats are the figures of one route: since Snapshot.Start (restored
// from the state file, if any, plus this process), and Recent.
type RouteStats struct {
	Route    string // the pattern, RouteUnmatched or RouteOther ("route")
	Requests uint64 // ("requests")
	Errors   uint64 // responses with status 5xx ("errors")
	Status   Status // responses by status class ("status")
	Bytes    uint64 // response body bytes ("bytes")
	// Latency percentiles since start from the high-resolution histogram,
	// within ±1.1 % of the exact ones (see LatencyFloor for the bounds):
	// ("p50_seconds", "p90_seconds", "p99_seconds", "p999_seconds").
	P50, P90, P99 time.Duration
	P999          time.Duration
	// Recent has this route's figures of the last Options.RecentWindow
	// ("recent").
	Recent Recent
}

// routeStats fills in the since-start figures of s into rs: counts from
// the atomics plus what was restored, percentiles from all (the route's
// since-start high-resolution histogram), and adds the status classes to
// cl. Called with c.mu held.
func (c *Collector) routeStats(s *stats, rs *RouteStats, all *histCopy, cl *[numClasses]uint64) {
	var own [numClasses]uint64
	s.classTotals(&own)
	rs.Route = s.name
	rs.Bytes = s.bytes.Load()
	rs.Requests = s.loadHist(c.hist)
	if r := s.restored; r != nil {
		r.forEachCode(func(_, code int, n uint64) {
			own[code/100-1] += n
		})
		rs.Bytes += r.bytes
		rs.Requests += sum(r.hist)
	}
	for i, n := range own {
		cl[i] += n
	}
	rs.Status = statusOf(own)
	rs.Errors = rs.Status.ServerError
	var q [4]time.Duration
	all.quantiles(recentQuantiles[:], q[:])
	rs.P50, rs.P90, rs.P99, rs.P999 = q[0], q[1], q[2], q[3]
}

func statusOf(cl [numClasses]uint64) Status {
	st := Status{Informational: cl[0], Success: cl[1], Redirect: cl[2], ClientError: cl[3], ServerError: cl[4]}
	for _, n := range cl[5:] {
		st.Other += n
	}
	return st
}
