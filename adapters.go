package vitals

import "net/http"

// The route adapters, Collector.Routes and Collector.RouteFunc: handlers
// placed inside the middleware's stack that report the route they see to
// the request's record (naming.go).

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
// middleware's, or is http.TimeoutHandler's, which it sees through (see the
// comment at the top of naming.go). A request that TimeoutHandler gives up
// on counts as RouteUnmatched: its pattern is not known when it answers
// 503. Behind another middleware that replaces the writer without an Unwrap
// method, the middleware above carries the record in the request's context
// as well, which costs 3 allocations per request, from the first time an
// adapter below it cannot find its record (that request counts as
// RouteUnmatched); other middlewares of the collector do not pay for it.
// The handler is safe for concurrent use.
func (c *Collector) Routes(h http.Handler) http.Handler {
	c.adapters.Store(true)
	return &reporter{c: c, next: h}
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
// A name function that panics is contained as Options.Route is: the panic
// is logged once, with its stack (to the server's ErrorLog, else the log
// package), the request counts as RouteUnmatched and the response stands.
// It finds the middleware's record as Routes does; the method and template
// are joined once per distinct pair and cached, so naming allocates
// nothing for up to 1024 pairs. The middleware value is built once per
// call of the function RouteFunc returns: a router that builds its
// middleware chain per request (gorilla/mux does) allocates it per
// request. The returned middleware is safe for concurrent use.
func (c *Collector) RouteFunc(name func(*http.Request) string) func(http.Handler) http.Handler {
	c.adapters.Store(true)
	return func(next http.Handler) http.Handler {
		return &reporter{c: c, name: name, next: next}
	}
}

// reporter is the handler of both adapters: once next has returned (or
// while it panics), it reports the request's route to its record.
type reporter struct {
	c    *Collector
	name func(*http.Request) string // RouteFunc's name function; nil for Routes
	next http.Handler
}

func (p *reporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.c.enter(w, r)
	defer p.done(w, r)
	p.next.ServeHTTP(w, r)
}

// done reports the Pattern the mux set on r (Routes), or the route that
// RouteFunc's name function gives, with the method (userRoute contains a
// panic of the function's).
func (p *reporter) done(w http.ResponseWriter, r *http.Request) {
	route := r.Pattern
	if p.name != nil {
		route = p.c.methodRoute(r.Method, userRoute("RouteFunc's name function", p.name, r))
	}
	p.c.report(w, r, route)
}
