package vitals

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Routes behind request-copying middleware and nested muxes.
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
// The record lives in the middleware's writer (rw.rep), written by the
// request's own goroutine only, or in a routeNote.
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

// Routes returns h, usually an http.ServeMux, wrapped so that the pattern h
// matches names the route of the request that the collector's middleware
// records, wherever the middleware sits above it. Wrap a mux with it when
// the middleware does not wrap that mux directly:
//
//	srv.Handler = c.Middleware(requestID(c.Routes(mux)))          // any request-copying middleware
//	root.Handle("/api/", http.StripPrefix("/api", c.Routes(api))) // a nested mux: "GET /api/items/{id}"
//
// After h returns (or panics), Routes reports the Pattern that h set on its
// request: the joined pattern for a nested mux stripped of its prefix, and
// RouteUnmatched when h matched nothing (its 404s and 405s). A mux that the
// middleware wraps directly needs no Routes; wrapping it anyway changes
// nothing. A reported route takes precedence over Options.Route.
//
// It costs no allocation while the ResponseWriter it is given unwraps to the
// middleware's (see the comment at the top of naming.go). Behind a
// middleware that replaces the writer without an Unwrap method, such as
// http.TimeoutHandler, the middleware carries the record in the request's
// context as well, which costs 3 allocations per request: from the start
// when it wraps http.TimeoutHandler directly, else from the first time an
// adapter cannot find its record (the requests in flight then count as
// RouteUnmatched). The handler is safe for concurrent use.
func (c *Collector) Routes(h http.Handler) http.Handler {
	c.adapters.Store(true)
	return &patternReporter{c: c, next: h}
}

type patternReporter struct {
	c    *Collector
	next http.Handler
}

func (p *patternReporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer p.done(w, r)
	p.next.ServeHTTP(w, r)
}

// done reads r.Pattern once the mux has set it.
func (p *patternReporter) done(w http.ResponseWriter, r *http.Request) {
	p.c.report(w, r, r.Pattern)
}

// RouteFunc returns a middleware for use inside a router other than
// http.ServeMux, where the router's matched route is known: after the
// handler returns (or panics), name(r) gives the route template the router
// matched ("/items/{id}"; "" for none), and the route of the request is
// named like ServeMux's patterns, with the request's method: "GET
// /items/{id}" (a method other than the nine standard ones is left out,
// so clients cannot invent route names). Pair it with the collector's
// Middleware around the router, so that the router's 404s and 405s are
// counted too (as RouteUnmatched):
//
//	router.Use(c.RouteFunc(chiRoute)) // see the README for chi and gorilla/mux
//	srv.Handler = c.Middleware(router)
//
// A name function that panics is contained: the request counts as
// RouteUnmatched and the response stands. It finds the middleware's record
// as Routes does; the method and template are joined once per distinct
// pair and cached, so naming allocates nothing for up to 1024 pairs. The
// middleware value is built once per call of the function RouteFunc
// returns: a router that builds its middleware chain per request
// (gorilla/mux does) allocates it per request. The returned middleware is
// safe for concurrent use.
func (c *Collector) RouteFunc(name func(*http.Request) string) func(http.Handler) http.Handler {
	c.adapters.Store(true)
	return func(next http.Handler) http.Handler {
		return &funcReporter{c: c, name: name, next: next}
	}
}

type funcReporter struct {
	c    *Collector
	name func(*http.Request) string
	next http.Handler
}

func (f *funcReporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer f.done(w, r)
	f.next.ServeHTTP(w, r)
}

func (f *funcReporter) done(w http.ResponseWriter, r *http.Request) {
	f.c.report(w, r, f.c.methodRoute(r.Method, f.safeName(r)))
}

// safeName calls the user's name function, containing a panic of its own:
// the response was already served, and a panic here would only cut the
// connection. A panic of the handler, which may be unwinding while this
// runs, is not this recover's to take and goes on unchanged.
func (f *funcReporter) safeName(r *http.Request) (name string) {
	defer func() {
		if recover() != nil {
			name = ""
		}
	}()
	return f.name(r)
}

// report tells the record of the request that name is its route, as seen by
// a handler whose request is r.
func (c *Collector) report(w http.ResponseWriter, r *http.Request, name string) {
	path := pathOf(r)
	if cw := c.recordOf(w); cw != nil {
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
	if !c.needNote.Load() && !endsAtServer(w) {
		c.needNote.Store(true)
	}
}

// serverWriters are the types of the ResponseWriters that net/http's
// servers hand to the outermost handler. (Not httptest's recorder: a
// middleware may serve its handler into one, hiding the record.)
var serverWriters = map[string]bool{
	"*http.response":            true,
	"*http.http2responseWriter": true,
	"*http2.responseWriter":     true, // golang.org/x/net/http2
}

// endsAtServer reports whether w's Unwrap chain ends at a writer that
// a net/http server made: one no middleware wraps. Only on the rare
// path of a report that found no record.
func endsAtServer(w http.ResponseWriter) bool {
	for range maxUnwrap {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		if w = u.Unwrap(); w == nil {
			return false
		}
	}
	return serverWriters[reflect.TypeOf(w).String()]
}

// markSelf marks the request that w and r belong to as served by the
// collector's own Handler, and takes it out of the requests in flight at
// once, so that a scrape does not see itself in flight. It never turns the
// context path on: a Handler served without the middleware is normal.
func (c *Collector) markSelf(w http.ResponseWriter, r *http.Request) {
	if cw := c.recordOf(w); cw != nil {
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

// maxUnwrap bounds the walk down a ResponseWriter chain, against a cycle.
const maxUnwrap = 32

// recordOf finds the middleware's writer of c in w's Unwrap chain, or nil.
func (c *Collector) recordOf(w http.ResponseWriter) *rw {
	for range maxUnwrap {
		if x, ok := w.(interface{ record() *rw }); ok {
			if cw := x.record(); cw.c == c {
				return cw
			}
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		if w = u.Unwrap(); w == nil {
			return nil
		}
	}
	return nil
}

// withNote returns r carrying a new routeNote for cw in its context: the
// fallback path, taken only once an adapter needed it.
func (c *Collector) withNote(r *http.Request, cw *rw) *http.Request {
	cw.note = new(routeNote)
	return r.WithContext(context.WithValue(r.Context(), noteKey{c}, cw.note))
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
		return c.safeRouteOf(r), rep.self
	}
	if rep.name != "" && c.opts.Route == nil && r.Pattern != "" {
		// The mux the middleware wraps directly is the outermost level.
		c.addReport(rep, r.Pattern, pathOf(r))
	}
	return rep.name, rep.self
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

func pathOf(r *http.Request) string {
	if r.URL == nil {
		return ""
	}
	return r.URL.Path
}

// strippedSegments returns how many path segments were stripped from outer
// to give inner (http.StripPrefix("/api") strips one from "/api/items/1"):
// 0 when nothing was, or when inner is not a suffix of outer (a rewrite
// vitals cannot relate to the outer pattern).
func strippedSegments(outer, inner string) int {
	if len(inner) >= len(outer) || !strings.HasSuffix(outer, inner) {
		return 0
	}
	return strings.Count(outer[:len(outer)-len(inner)], "/")
}

// joinRoutes names a request that an outer pattern routed, with k path
// segments stripped, to an inner route: the outer pattern's first k
// segments prefix the inner path; the inner method wins, else the outer's;
// the outer host wins, else the inner's. With k == 0 the inner route is the
// whole name. Joins are cached (see nameCache), so a steady set of routes
// costs no allocation.
func (c *Collector) joinRoutes(outer string, k int, inner string) string {
	if k <= 0 {
		return inner
	}
	key := nameKey{a: outer, b: inner, n: k}
	if s, ok := c.joined.get(key); ok {
		return s
	}
	om, oh, op := splitPattern(outer)
	im, ih, ip := splitPattern(inner)
	prefix, found := op, false
	for i, seen := 0, 0; i < len(op); i++ {
		if op[i] == '/' {
			if seen == k {
				prefix, found = op[:i], true
				break
			}
			seen++
		}
	}
	if !found && !strings.HasSuffix(op, "...}") {
		// More was stripped than the outer pattern names (and it ends in
		// no {name...} wildcard, which takes any number of segments): a
		// level between them was not reported (a mux not wrapped with
		// Routes). Joining would invent a prefix; the outer pattern is what
		// is known.
		return c.joined.put(key, outer)
	}
	if strings.HasSuffix(prefix, "/") && strings.HasPrefix(ip, "/") {
		prefix = prefix[:len(prefix)-1]
	}
	method, host := im, oh
	if method == "" {
		method = om
	}
	if host == "" {
		host = ih
	}
	name := host + prefix + ip
	if method != "" {
		name = method + " " + name
	}
	return c.joined.put(key, name)
}

// splitPattern splits a ServeMux pattern, "[METHOD ][HOST]/[PATH]", into
// its parts, as ServeMux parses it.
func splitPattern(p string) (method, host, path string) {
	if i := strings.IndexAny(p, " \t"); i >= 0 {
		method, p = p[:i], strings.TrimLeft(p[i+1:], " \t")
	}
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return method, p[:i], p[i:]
	}
	return method, p, ""
}

// standardMethods are the methods RouteFunc names routes with, by
// methodIndex.
var standardMethods = [...]string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace,
}

// methodRoute names a route template with a request method, as ServeMux
// patterns read: "GET /items/{id}". An empty template stays empty
// (unmatched); a non-standard method is left out.
func (c *Collector) methodRoute(method, template string) string {
	i := methodIndex(method)
	if template == "" || i >= len(standardMethods) {
		return template
	}
	key := nameKey{a: standardMethods[i], b: template}
	if s, ok := c.named.get(key); ok {
		return s
	}
	return c.named.put(key, standardMethods[i]+" "+template)
}

// maxCachedNames caps a nameCache; names beyond it are built per request.
const maxCachedNames = 1024

// nameKey identifies a derived route name by what it is derived from.
type nameKey struct {
	a, b string
	n    int
}

// nameCache memoises derived route names, so that the request path finds a
// name it built before without allocating. Like routeTable, readers load an
// immutable map through an atomic pointer; a new name copies the map under
// mu. It holds at most maxCachedNames entries.
type nameCache struct {
	m    atomic.Pointer[map[nameKey]string] // nil until the first put; never modified once published
	full atomic.Bool                        // maxCachedNames reached: put takes no lock
	mu   sync.Mutex                         // serialises put
}

// maxCachedLen bounds what one cache entry holds: longer names (route
// table entries are cut to maxRouteLen anyway) are built per request.
const maxCachedLen = 4 * maxRouteLen

func (nc *nameCache) get(k nameKey) (string, bool) {
	if m := nc.m.Load(); m != nil {
		s, ok := (*m)[k]
		return s, ok
	}
	return "", false
}

// put stores name under k, unless the cache is full, and returns name.
func (nc *nameCache) put(k nameKey, name string) string {
	if nc.full.Load() || len(k.a)+len(k.b)+len(name) > maxCachedLen {
		return name
	}
	nc.mu.Lock()
	defer nc.mu.Unlock()
	var old map[nameKey]string
	if p := nc.m.Load(); p != nil {
		old = *p
	}
	if s, ok := old[k]; ok {
		return s
	}
	if len(old) >= maxCachedNames {
		nc.full.Store(true)
		return name
	}
	m := grown(old, 1)
	// Owned copies: the key must not keep a request's strings alive.
	m[nameKey{a: strings.Clone(k.a), b: strings.Clone(k.b), n: k.n}] = name
	nc.m.Store(&m)
	return name
}
