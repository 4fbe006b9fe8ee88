package vitals

import (
	"context"
	"net/http"
	"reflect"
	"runtime/debug"
	"sync"
	"time"
)

// Route naming: the name a finished request is counted under. The
// middleware settles it (settleRoute) from what the adapters reported
// (adapters.go, joined by join.go), else from Options.Route or the pattern
// of the mux it wraps, and then counts the request in the route table
// (routes.go). The functions below come in the order a request meets them.
//
// Routes behind request-copying middleware and nested muxes:
//
// http.ServeMux names a route by setting Pattern on the *Request it is
// given. A middleware between vitals and the mux that copies the request
// (r.WithContext, http.TimeoutHandler, http.MaxBytesHandler,
// http.StripPrefix) makes the mux set Pattern on a copy that vitals never
// sees, and the mux has no hook to tell anyone else: the copy shares
// nothing with the original that the mux writes to, so no middleware can
// read the pattern from outside. So the pattern must be carried out from inside,
// by a handler that sees the mux's request: Collector.Routes (around a mux)
// and Collector.RouteFunc (inside another router). They find the request's
// record in one of two ways:
//
//   - Through the ResponseWriter: the middleware hands on a writer whose
//     Unwrap chain leads back to its record, and the middlewares above pass
//     the writer through unchanged (r.WithContext, MaxBytesHandler,
//     StripPrefix) or wrap it with an Unwrap method (as chi's
//     WrapResponseWriter does). Walking the chain costs a few type assertions
//     and no allocation, so this is the path that costs nothing.
//   - Through the request's context, for a middleware that substitutes a
//     writer without Unwrap (http.TimeoutHandler, which also runs the
//     handler on a goroutine of its own that can outlive the request). The
//     middleware cannot tell in advance whether a request will need this,
//     and a context value costs allocations (a copy of the request, the
//     context, the note: 3 in BenchmarkRouteAdapters/fallback-routes), so
//     it adds a note to the context only once an adapter has failed to
//     find its record; from then on, every request carries one. Requests
//     begun before that moment keep no pattern and count as RouteUnmatched
//     (a 2xx among them shows in Snapshot.UnmatchedSuccess). The one case
//     it can see coming, the middleware wrapping http.TimeoutHandler
//     directly while an adapter of the collector exists, turns the note on
//     from the start (expectNote), so the stack of the docs loses nothing.
//
// A record learns its route from every adapter it passes, innermost first;
// an outer mux's pattern becomes the prefix of an inner one's when the
// request was stripped on the way in, so that
// root.Handle("/api/", http.StripPrefix("/api", c.Routes(api))) names
// api's "GET /items/{id}" as "GET /api/items/{id}".

// routeReport is what the adapters tell a request's record about its route.
// The record lives in the middleware's writer (rw.rep, written only in
// the writer's reporting state: see rw), or in a routeNote.
type routeReport struct {
	name     string // route name so far, joined across nested muxes
	path     string // URL path as the outermost level that reported so far saw it
	reported bool   // an adapter reported: an empty name means no route matched
	self     bool   // the collector's own Handler served the request
}

// routeNote is the record of the context path: the adapter may write it
// from another goroutine (TimeoutHandler's), even after the middleware
// finished, so it has a lock. Only the fallback path allocates one.
type routeNote struct {
	mu  sync.Mutex
	rep routeReport // guarded by mu
}

// noteKey is the context key of a collector's routeNote.
type noteKey struct{ c *Collector }

// timeoutHandlerType is the type of the handler http.TimeoutHandler
// returns, which hands its handler a writer without Unwrap.
var timeoutHandlerType = reflect.TypeOf(http.TimeoutHandler(http.NotFoundHandler(), time.Second, ""))

// expectNote turns the context path on from the start when the middleware
// is about to wrap http.TimeoutHandler directly and an adapter of c was
// made (as the usual expression, c.Middleware(http.TimeoutHandler(
// c.Routes(mux), ...)), makes it first): otherwise the first requests
// would find out the hard way. Called by Middleware.
func (c *Collector) expectNote(next http.Handler) {
	if c.adapters.Load() && reflect.TypeOf(next) == timeoutHandlerType {
		c.needNote.Store(true)
	}
}

// withNote returns r carrying a new routeNote for cw in its context: the
// fallback path, taken only once an adapter needed it.
func (c *Collector) withNote(r *http.Request, cw *rw) *http.Request {
	cw.note = new(routeNote)
	return r.WithContext(context.WithValue(r.Context(), noteKey{c}, cw.note))
}

// report tells the record of the request that name is its route, as seen by
// a handler whose request is r. Called by the adapters.
func (c *Collector) report(w http.ResponseWriter, r *http.Request, name string) {
	path := pathOf(r)
	cw, end := c.recordOf(w)
	if cw != nil {
		if cw.beginReport() { // else the request is over: too late to count
			c.addReport(&cw.rep, name, path)
			cw.endReport()
		}
		return
	}
	if n, _ := r.Context().Value(noteKey{c}).(*routeNote); n != nil {
		n.mu.Lock()
		c.addReport(&n.rep, name, path)
		n.mu.Unlock()
		return
	}
	// No record in reach. If the writer chain ends at the server's own
	// writer, no middleware of c is above this handler (a Routes handler
	// served on its own): nothing to carry. Else a writer without Unwrap
	// hid the record: from now on the middleware carries one in the
	// context too.
	if !c.needNote.Load() && !fromServer(end) {
		c.needNote.Store(true)
	}
}

// markSelf marks the request that w and r belong to as served by the
// collector's own Handler, and takes it out of the requests in flight at
// once, so that a scrape does not see itself in flight. It never turns the
// context path on: a Handler served without the middleware is normal.
func (c *Collector) markSelf(w http.ResponseWriter, r *http.Request) {
	if cw, _ := c.recordOf(w); cw != nil {
		if cw.beginReport() {
			if !cw.rep.self {
				cw.rep.self, cw.selfOut = true, true
				c.started.Add(^uint64(0))
			}
			cw.endReport()
		}
		return
	}
	if n, _ := r.Context().Value(noteKey{c}).(*routeNote); n != nil {
		n.mu.Lock()
		n.rep.self = true
		n.mu.Unlock()
	}
}

// maxUnwrap bounds the walk down a ResponseWriter chain, against a cycle.
const maxUnwrap = 32

// recordOf walks w's Unwrap chain down to the middleware's writer of c and
// returns it. When the chain holds none, it returns nil and the writer the
// chain ends at: the last one reached, or nil when an Unwrap returned nil.
// The one walk down a writer chain; it costs a few type assertions and no
// allocation.
func (c *Collector) recordOf(w http.ResponseWriter) (cw *rw, end http.ResponseWriter) {
	for range maxUnwrap {
		if x, ok := w.(interface{ record() *rw }); ok {
			if cw := x.record(); cw.c == c {
				return cw, nil
			}
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil, w
		}
		if w = u.Unwrap(); w == nil {
			return nil, nil
		}
	}
	return nil, w
}

// serverWriters are the types of the ResponseWriters that net/http's
// servers hand to the outermost handler. (Not httptest's recorder: a
// middleware may serve its handler into one, hiding the record.)
var serverWriters = map[string]bool{
	"*http.response":            true,
	"*http.http2responseWriter": true,
	"*http2.responseWriter":     true, // golang.org/x/net/http2
}

// fromServer reports whether w, the end of a writer chain (recordOf), is a
// writer that a net/http server made: one no middleware wraps. Only on the
// rare path of a report that found no record.
func fromServer(w http.ResponseWriter) bool {
	return w != nil && serverWriters[reflect.TypeOf(w).String()]
}

// settleRoute returns the route name of a finished request and whether the
// collector's own Handler served it. r is the request the middleware handed
// on. Called by the middleware only.
func (c *Collector) settleRoute(cw *rw, r *http.Request) (route string, self bool) {
	if cw.note != nil {
		// What the note learned comes from farther inside than the writer
		// chain reached, so it is the inner part of the name.
		cw.note.mu.Lock()
		n := cw.note.rep
		cw.note.mu.Unlock()
		if n.reported {
			inner := n
			if cw.rep.reported {
				c.addReport(&inner, cw.rep.name, cw.rep.path)
			}
			cw.rep.name, cw.rep.path, cw.rep.reported = inner.name, inner.path, true
		}
		cw.rep.self = cw.rep.self || n.self
	}
	rep := &cw.rep
	if !rep.reported {
		return c.routeOf(r), rep.self
	}
	if rep.name != "" && c.opts.Route == nil && r.Pattern != "" {
		// The mux the middleware wraps directly is the outermost level.
		c.addReport(rep, r.Pattern, pathOf(r))
	}
	return rep.name, rep.self
}

// routeOf returns the route name of a finished request that no adapter
// reported: what Options.Route says, else the pattern the ServeMux
// matched. Without Options.Route no code of the user's runs, so no
// panic needs containing and the request pays for no defer.
func (c *Collector) routeOf(r *http.Request) string {
	if c.opts.Route == nil {
		return r.Pattern
	}
	return userRoute("Options.Route", c.opts.Route, r)
}

// userRoute returns route(r), where route is a function of the user's that
// names routes: Options.Route, or the name function given to RouteFunc
// (what names it in the log). It contains a panic of route's own: the
// route is "" (the request counts as RouteUnmatched), and the panic is
// logged once, with its stack, where net/http logs a handler's (serverLogf),
// and goes no further. The route is named after the handler answered, so
// letting the panic continue would only turn a good response into a broken
// connection, and would skip the middleware's bookkeeping (the request
// would stay in flight forever). A panic of the handler itself, underway
// while this runs, is not touched: recover only stops a panic raised below
// it. Routes needs no containment: it names a route by the Pattern the mux
// set, calling no code of the user's.
func userRoute(what string, route func(*http.Request) string, r *http.Request) (name string) {
	defer func() {
		if v := recover(); v != nil {
			name = ""
			serverLogf(r, "vitals: %s panicked on %s %s: %v\n%s", what, r.Method, pathOf(r), v, debug.Stack())
		}
	}()
	return route(r)
}

// addReport adds what one level (an adapter, or the middleware's own mux)
// saw to rep. Levels report innermost first. An inner level that matched
// nothing makes the request unmatched whatever the outer ones matched; an
// outer level's name becomes the prefix of the inner one's when the request
// was stripped of a prefix between them.
func (c *Collector) addReport(rep *routeReport, name, path string) {
	switch {
	case !rep.reported:
		rep.name, rep.path, rep.reported = name, path, true
	case rep.name == "" || name == "":
		// Unmatched inside stays unmatched; a level without a name adds none.
	default:
		rep.name = c.joinRoutes(name, strippedSegments(path, rep.path), rep.name)
		rep.path = path
	}
}

// pathOf returns r's URL path, or "" when the handler cleared r.URL.
func pathOf(r *http.Request) string {
	if r.URL == nil {
		return ""
	}
	return r.URL.Path
}
