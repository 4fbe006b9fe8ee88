package vitals

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// The route table: route names to their counters, read without a lock on
// the request path, and the routes' since-start figures for the snapshot.
// How a request's route is named is in naming.go.

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
	// maxRouteLen caps a route name; longer names are cut to it, on a
	// rune boundary.
	maxRouteLen = 200
)

// routeTable maps route names to their counters.
//
// The request path reads an immutable map through an atomic pointer: no
// lock, no allocation. A route seen for the first time is added under mu
// by copying the map and publishing the copy, so writers of new routes
// serialise among themselves and never disturb readers. The routes of a
// restored state are added in one batch, with one copy (addRestored), and
// counted apart: at most MaxRoutes routes first seen by this process, plus
// at most MaxRoutes more restored ones, plus unmatched and other, so copies
// stay small and rare, and a state's routes (stale, or crafted) never take
// the slots of the routes this process serves.
//
// Routes are keyed by the name as shown (shownName: valid UTF-8, cut on a
// rune boundary), so that names differing only in invalid bytes or past
// the cap are one route and one set of series. So that the request path
// need not check every name, a name that is shown differently is also
// entered as an alias of its route, up to MaxRoutes aliases of at most
// maxAliasLen bytes; past that, such a name is fixed into a stack buffer
// on each request, which costs time but no allocation.
type routeTable struct {
	m      atomic.Pointer[map[string]*recorder] // never nil; never modified once published
	capped atomic.Bool                          // MaxRoutes was reached
	// restoredCapped: MaxRoutes restored routes were reached, and a
	// restored route counts under RouteOther. Apart from capped, which
	// sends new routes there.
	restoredCapped atomic.Bool
	aliasFull      atomic.Bool // no more aliases are added
	unmatched      *recorder   // immutable: the counters of RouteUnmatched
	other          *recorder   // immutable: the counters of RouteOther
	max            int         // immutable
	bounds         int         // immutable: histogram bounds
	slices         int         // immutable: time slices per route
	mu             sync.Mutex  // serialises add and guards the counts below
	routes         int         // routes added by add, unmatched and other not included
	restored       int         // routes added by addRestored
	aliases        int         // alias keys in the map
}

// maxAliasLen bounds the names kept as aliases.
const maxAliasLen = 4 * maxRouteLen

func newRouteTable(max, bounds, slices int) *routeTable {
	t := &routeTable{
		max: max, bounds: bounds, slices: slices,
		unmatched: newRecorder(RouteUnmatched, bounds, slices),
		other:     newRecorder(RouteOther, bounds, slices),
	}
	m := map[string]*recorder{RouteUnmatched: t.unmatched, RouteOther: t.other}
	t.m.Store(&m)
	return t
}

// get returns the counters of route name ("" is RouteUnmatched). Safe for
// concurrent use; allocation-free once the route exists, whatever the
// name holds.
func (t *routeTable) get(name string) *recorder {
	if name == "" {
		return t.unmatched
	}
	if s := (*t.m.Load())[name]; s != nil {
		return s // a shown name, or an alias
	}
	return t.getSlow(name)
}

// getSlow is get for a name that is not a key of the table: a new route,
// or a name shown differently from how it is written.
func (t *routeTable) getSlow(name string) *recorder {
	var buf [maxRouteLen]byte
	shown, fixed := shownName(name, buf[:0])
	var s *recorder
	if fixed == nil {
		s = (*t.m.Load())[shown]
	} else {
		s = (*t.m.Load())[string(fixed)] // a lookup: the conversion does not allocate
	}
	switch {
	case s == nil && t.capped.Load():
		return t.other
	case s != nil && (shown == name || t.aliasFull.Load() || len(name) > maxAliasLen):
		return s
	}
	if fixed != nil {
		shown = string(fixed)
	}
	return t.add(shown, name)
}

// add enters the route shown, unless the table has it, and name as its
// alias when they differ, unless the aliases are full.
func (t *routeTable) add(shown, name string) *recorder {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.m.Load()
	if s := old[name]; s != nil {
		return s // added while this goroutine waited
	}
	s := old[shown]
	newRoute := s == nil
	if newRoute && t.routes >= t.max {
		t.capped.Store(true)
		return t.other
	}
	alias := name != shown && len(name) <= maxAliasLen && t.aliases < t.max
	if !alias && !newRoute {
		t.aliasFull.Store(t.aliases >= t.max)
		return s
	}
	m := grown(old, 2)
	// Keys are owned copies, so the map does not keep a caller's larger
	// string alive.
	if newRoute {
		key := strings.Clone(shown)
		s = newRecorder(key, t.bounds, t.slices)
		m[key] = s
		t.routes++
	}
	if alias {
		m[strings.Clone(name)] = s
		t.aliases++
	}
	t.m.Store(&m)
	return s
}

// grown returns a copy of m with room for extra more entries: the copy of a
// copy-on-write map (routeTable.m, nameCache.m), which writers fill and then
// publish whole while readers keep the old one.
func grown[K comparable, V any](m map[K]V, extra int) map[K]V {
	c := make(map[K]V, len(m)+extra)
	for k, v := range m {
		c[k] = v
	}
	return c
}

// shownName returns name as it is shown and keyed: valid UTF-8 (each run
// of invalid bytes replaced by U+FFFD, as strings.ToValidUTF8 does) and cut
// on a rune boundary to at most maxRouteLen bytes. When name is valid it
// returns the shown name as a prefix of name and nil; otherwise it writes
// the shown name into buf, which has room for maxRouteLen bytes, and
// returns it there.
func shownName(name string, buf []byte) (string, []byte) {
	if len(name) <= maxRouteLen {
		if utf8.ValidString(name) {
			return name, nil // the common case
		}
	} else {
		cut := maxRouteLen
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		if utf8.ValidString(name[:cut]) {
			return name[:cut], nil // valid, cut on a rune boundary
		}
	}
	out, fixed, bad := 0, false, false
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		if r == utf8.RuneError && size == 1 {
			if !bad {
				if out+len(string(utf8.RuneError)) > maxRouteLen {
					break
				}
				if !fixed {
					buf, fixed = append(buf[:0], name[:i]...), true
				}
				buf = utf8.AppendRune(buf, utf8.RuneError)
				out = len(buf)
			}
			bad = true
			i++
			continue
		}
		bad = false
		if out+size > maxRouteLen {
			break
		}
		if fixed {
			buf = append(buf, name[i:i+size]...)
		}
		out += size
		i += size
	}
	if fixed {
		return "", buf
	}
	return name[:out], nil
}

// list returns every route's counters, sorted by name.
func (t *routeTable) list() []*recorder {
	m := *t.m.Load()
	out := make([]*recorder, 0, len(m))
	for k, s := range m {
		if k == s.name { // not an alias
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b *recorder) int { return cmp.Compare(a.name, b.name) })
	return out
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
	// Streams counts this route's streams (responses that stay open: see
	// Snapshot.Streams) that ended since this collector was created: they
	// are counted in Requests and Status, in none of the latency figures
	// ("streams"). A stream's route is settled when it ends, so the open
	// ones are counted for all routes together, in Snapshot.Streams.Open.
	Streams uint64
}

// routeStats fills in the since-start figures of s into rs: counts from
// the atomics plus what was restored, the status classes from own (this
// process's, by summarise), percentiles from base and rec together (the
// route's since-start high-resolution histogram), and adds the status
// classes to cl. Called with c.mu held.
func (c *Collector) routeStats(s *recorder, rs *RouteStats, base, rec *histCopy, own [numClasses]uint64, cl *[numClasses]uint64) {
	rs.Route = s.name
	rs.Bytes = s.bytes.Load()
	rs.Requests = s.loadHist(c.hist)
	rs.Streams = s.streams.Load()
	rs.Requests += rs.Streams // not in the histogram
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
	quantilesOf(base, rec, recentQuantiles[:], q[:])
	rs.P50, rs.P90, rs.P99, rs.P999 = q[0], q[1], q[2], q[3]
}

func statusOf(cl [numClasses]uint64) Status {
	st := Status{Informational: cl[0], Success: cl[1], Redirect: cl[2], ClientError: cl[3], ServerError: cl[class5xx]}
	for _, n := range cl[5:] {
		st.Other += n
	}
	return st
}
