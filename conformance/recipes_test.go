package conformance

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/mux"

	"github.com/vitalsgo/vitals"
)

// The router recipes of the README, verbatim: TestReadmeShowsRecipes checks
// that the README holds each of the declarations in this file exactly, and
// the other tests serve real requests through them.

// chiRoute names a chi route by the pattern chi matched ("" for none, and
// outside a chi router).
func chiRoute(r *http.Request) string {
	return chi.RouteContext(r.Context()).RoutePattern()
}

// chiHandler wires vitals to a chi router: the collector's middleware goes
// outside the router, so that it counts every request, and RouteFunc goes
// inside, where chi knows the route.
func chiHandler(c *vitals.Collector, routes func(chi.Router)) http.Handler {
	router := chi.NewRouter()
	router.Use(c.RouteFunc(chiRoute)) // before any route
	routes(router)
	return c.Middleware(router)
}

// gorillaRoute names a gorilla/mux route by its path template ("" for none,
// and outside the router, where mux.CurrentRoute is nil).
func gorillaRoute(r *http.Request) string {
	if route := mux.CurrentRoute(r); route != nil {
		if t, err := route.GetPathTemplate(); err == nil {
			return t
		}
	}
	return ""
}

// gorillaHandler wires vitals to a gorilla/mux router. gorilla runs the
// router's middleware for matched routes only, so the collector's
// middleware goes outside, where it also sees the 404s and 405s.
func gorillaHandler(c *vitals.Collector, routes func(*mux.Router)) http.Handler {
	router := mux.NewRouter()
	router.Use(c.RouteFunc(gorillaRoute))
	routes(router)
	return c.Middleware(router)
}
