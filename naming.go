package vitals

import (
	"context"
	"net/http"
	"reflect"
	"runtime/debug"
	"sync"
	"time"
	"unsafe"
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
//     http.TimeoutHandler's writer has no Unwrap, but the chain goes on
//     through the writer it wraps (timeoutInner): TimeoutHandler is in the
//     docs' own stacks, at any depth, so its requests are named from the
//     first, at no cost.
//   - Through the request's context, for another middleware that
//     substitutes a writer without Unwrap. The middleware cannot tell in
//     advance whether a request will need this, and a context value costs
//     allocations (a copy of the request, the context, the note: 3 in
//     BenchmarkRouteAdapters/fallback-routes), so it is scoped to the
//     middleware (the Middleware call) whose stack needs it: an adapter
//     that fails to find its record raises c.needNote; the next request of
//     a middleware to finish without a note takes it up and puts that
//     middleware on probation (notes on its next probeRequests
//     requests); a middleware one of whose notes an adapter used carries
//     them on every request from then on, one whose probation found no use
//     for them (the failure was elsewhere: an adapter served without the
//     middleware into a writer of its own) stops. Requests of a stack that
//     needed notes before its middleware carried them keep no pattern and
//     count as RouteUnmatched (a 2xx among them shows in
//     Snapshot.UnmatchedSuccess).
//
// An adapter marks the record when its handler begins (enter) and reports
// when it returns. A request whose adapter began and has not reported by
// the time the middleware finishes (TimeoutHandler gave up on it and
// answered 503) counts as RouteUnmatched: the route is not known, and the
// pattern of a mux outside the adapter alone would name a phantom route.
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
	open     int32  // adapters that began (enter) and have not reported
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

// expectNote reports whether the middleware about to wrap next should
// carry notes from the start: when next is http.TimeoutHandler, an adapter
// of c was made (as the usual expression, c.Middleware(http.TimeoutHandler(
// c.Routes(mux), ...)), makes it first), and timeoutInner cannot see
// through TimeoutHandler's writer (a net/http whose writer changed shape).
// Called by Middleware.
func (c *Collector) expectNote(next http.Handler) bool {
	return c.adapters.Load() && reflect.TypeOf(next) == timeoutHandlerType && timeoutWriter().t == nil
}

// timeoutWriterField is where http.TimeoutHandler's writer keeps the
// writer it wraps: its type (nil when not found) and the offset of the
// field.
type timeoutWriterField struct {
	t   reflect.Type
	off uintptr
}

// timeoutWriter finds, once, the type of the writer http.TimeoutHandler
// hands its handler and its field w, the ResponseWriter it wraps (net/http
// has kept both since TimeoutHandler was added; a test pins them). Serving
// one request through a TimeoutHandler shows the type; reflect finds the
// field, which must have type http.ResponseWriter, or nothing is used.
var timeoutWriter = sync.OnceValue(func() timeoutWriterField {
	var t reflect.Type
	h := http.TimeoutHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t = reflect.TypeOf(w)
	}), time.Minute, "")
	h.ServeHTTP(discardWriter{}, &http.Request{Method: http.MethodGet})
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return timeoutWriterField{}
	}
	f, ok := t.Elem().FieldByName("w")
	if !ok || f.Type != reflect.TypeFor[http.ResponseWriter]() {
		return timeoutWriterField{}
	}
	return timeoutWriterField{t, f.Offset}
})

// discardWriter is the writer timeoutWriter serves its request into.
type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) WriteHeader(int)             {}
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// timeoutInner returns the writer that w wraps when w is
// http.TimeoutHandler's writer, else nil. The field is set when the writer
// is made, before TimeoutHandler starts the handler's goroutine, and never
// written again, so reading it from that goroutine races with nothing.
func timeoutInner(w http.ResponseWriter) http.ResponseWriter {
	tw := timeoutWriter()
	if tw.t == nil || reflect.TypeOf(w) != tw.t {
		return nil
	}
	return *(*http.ResponseWriter)(unsafe.Add(reflect.ValueOf(w).UnsafePointer(), tw.off))
}

// withNote returns r carrying a new routeNote for cw in its context: the
// fallback path, taken only once an adapter needed it.
func (c *Collector) withNote(r *http.Request, cw *rw) *http.Request {
	cw.note = new(routeNote)
	return r.WithContext(context.WithValue(r.Context(), noteKey{c}, cw.note))
}

// enter marks the record of the request that an adapter's handler with
// writer w and request r begins: until it reports, the request's route is
// not known. Called by the adapters.
func (c *Collector) enter(w http.ResponseWriter, r *http.Request) {
	if cw, _ := c.recordOf(w); cw != nil {
		if cw.beginReport() {
			cw.rep.open++
			cw.endReport()
		}
		return
	}
	if n, _ := r.Context().Value(noteKey{c}).(*routeNote); n != nil {
		n.mu.Lock()
		n.rep.open++
		n.mu.Unlock()
	}
}

// report tells the record of the request that name is its route, as seen by
// a handler whose request is r. Called by the adapters.
func (c *Collector) report(w http.ResponseWriter, r *http.Request, name string) {
	path := pathOf(r)
	cw, end := c.recordOf(w)
	if cw != nil {
		if cw.beginReport() { // else the request is over: too late to count
			c.addReport(&cw.rep, name, path)
			cw.rep.open = max(cw.rep.open-1, 0)
			cw.endReport()
		}
		return
	}
	if n, _ := r.Context().Value(noteKey{c}).(*routeNote); n != nil {
		n.mu.Lock()
		c.addReport(&n.rep, name, path)
		n.rep.open = max(n.rep.open-1, 0)
		n.mu.Unlock()
		return
	}
	// No record in reach. If the writer chain ends at the server's own
	// writer, no middleware of c is above this handler (a Routes handler
	// served on its own): nothing to carry. Else a writer without Unwrap
	// may have hidden the record: a middleware of c should find out
	// whether its stack needs notes (learnNote).
	if !c.needNote.Load() && !fromServer(end) {
		c.needNote.Store(true)
	}
}

// probeRequests is how many requests of a middleware carry notes on
// probation, after an adapter of its collector failed to find its record.
const probeRequests = 256

// States of middleware.note besides the probation's count down.
const (
	noteOff = 0
	noteOn  = -1 // for good: the middleware's stack needs notes
)

// carryNote reports whether the middleware adds a note to this request's
// context: always once its stack needed one, on probation for the next
// probeRequests requests. Two atomic operations at most; one load when
// off.
func (m *middleware) carryNote() bool {
	s := m.note.Load()
	if s > 0 {
		m.note.CompareAndSwap(s, s-1) // lost to another request or to noteOn: fine
	}
	return s != noteOff
}

// learnNote learns, from a finished request of m, whether m's stack needs
// notes: for good once an adapter used this request's note; on probation
// when this request had no note and an adapter of c failed to find its
// record (most likely this request's own: the failing adapter raised
// needNote as it returned, just before this, on this goroutine; should
// another middleware take it up instead, the failing stack fails again
// and raises it again). Called by the middleware after settleRoute; one
// load on the usual paths.
func (c *Collector) learnNote(m *middleware, cw *rw) {
	if n := cw.note; n != nil {
		n.mu.Lock()
		used := n.rep.reported || n.rep.open > 0 || n.rep.self
		n.mu.Unlock()
		if used && m.note.Load() != noteOn {
			m.note.Store(noteOn)
		}
		return
	}
	if c.needNote.Load() && c.needNote.CompareAndSwap(true, false) {
		m.note.CompareAndSwap(noteOff, probeRequests)
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

// recordOf walks w's Unwrap chain (through http.TimeoutHandler's writer,
// see timeoutInner) down to the middleware's writer of c and returns it. When the chain holds none, it returns nil and the writer the
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
		u, ok := w.(unwrapper)
		if !ok {
			// TimeoutHandler's writer has no Unwrap; see through it.
			inner := timeoutInner(w)
			if inner == nil {
				return nil, w
			}
			w = inner
			continue
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
	open := cw.rep.open
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
		open += n.open
	}
	rep := &cw.rep
	if open > 0 {
		// An adapter began and did not report: TimeoutHandler gave up on
		// the request (or the adapter runs on past it). Its pattern is not
		// known, and an outer mux's alone would be a phantom route.
		return "", rep.self
	}
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
