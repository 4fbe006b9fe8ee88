package conformance

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/gorilla/mux"

	"github.com/vitalsgo/vitals"
)

// newCollector returns a collector whose refresh goroutine does not tick
// during a test (one refresh per one-minute bucket, the longest allowed);
// the test reads it with snapshot.
func newCollector(t *testing.T, o vitals.Options) *vitals.Collector {
	t.Helper()
	o.RefreshInterval = 30 * time.Second
	c := vitals.New(o)
	t.Cleanup(func() { c.Close() })
	return c
}

// snapshot publishes and returns a fresh snapshot (Close publishes one; a
// closed collector still records, so tests may go on after it).
func snapshot(c *vitals.Collector) *vitals.Snapshot {
	c.Close()
	return c.Snapshot()
}

// routes returns "requests 2xx 4xx 5xx" per route.
func routes(s *vitals.Snapshot) map[string]string {
	m := map[string]string{}
	for _, r := range s.Routes {
		m[r.Route] = fmt.Sprintf("%d %d %d %d", r.Requests, r.Status.Success, r.Status.ClientError, r.Status.ServerError)
	}
	return m
}

// send starts a real server with h and sends each "METHOD /path" request,
// returning the status codes the client saw (0 where the connection broke).
func send(t *testing.T, h http.Handler, reqs ...string) []int {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	var codes []int
	for _, rq := range reqs {
		method, path, _ := strings.Cut(rq, " ")
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			codes = append(codes, 0)
			continue
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Errorf("%s: body: %v", rq, err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	return codes
}

// requestID is the usual request-copying middleware.
func requestID(next http.Handler) http.Handler {
	type key struct{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key{}, "id")))
	})
}

func ok(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }

func chiRoutes(r chi.Router) {
	r.Get("/items/{id}", ok)
	r.Delete("/items/{id}", ok)
	r.Post("/boom", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	r.Route("/api", func(r chi.Router) {
		r.Get("/users/{id}", ok)
	})
}

func gorillaRoutes(r *mux.Router) {
	r.HandleFunc("/items/{id}", ok).Methods("GET", "DELETE")
	r.HandleFunc("/boom", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }).Methods("POST")
	api := r.PathPrefix("/api").Subrouter()
	api.HandleFunc("/users/{id}", ok).Methods("GET")
}

// The requests each router test sends, and what the client must see.
var (
	routerReqs  = []string{"GET /items/1", "GET /items/2", "DELETE /items/1", "POST /items/1", "GET /nope", "GET /api/users/7", "POST /boom"}
	routerCodes = "[200 200 200 405 404 200 0]" // the handler's panic aborts its response
	routerWant  = map[string]string{
		"GET /items/{id}":     "2 2 0 0",
		"DELETE /items/{id}":  "1 1 0 0",
		"GET /api/users/{id}": "1 1 0 0",
		"POST /boom":          "1 0 0 1",
		"unmatched":           "2 0 2 0", // the 404 and the 405
	}
)

// checkRouter checks what the collector counted from routerReqs.
func checkRouter(t *testing.T, c *vitals.Collector, codes []int) {
	t.Helper()
	if fmt.Sprint(codes) != routerCodes {
		t.Errorf("client saw %v, want %s", codes, routerCodes)
	}
	s := snapshot(c)
	if got := routes(s); fmt.Sprint(got) != fmt.Sprint(routerWant) {
		t.Errorf("routes = %v\nwant     %v", got, routerWant)
	}
	if s.Requests != uint64(len(routerReqs)) || s.InFlight != 0 || s.UnmatchedSuccess != 0 {
		t.Errorf("requests %d, in flight %d, unmatched 2xx %d; want %d, 0, 0", s.Requests, s.InFlight, s.UnmatchedSuccess, len(routerReqs))
	}
}

func TestChi(t *testing.T) {
	t.Run("recipe", func(t *testing.T) {
		c := newCollector(t, vitals.Options{})
		checkRouter(t, c, send(t, chiHandler(c, chiRoutes), routerReqs...))
	})
	t.Run("request-copying middleware outside the router", func(t *testing.T) {
		c := newCollector(t, vitals.Options{})
		router := chi.NewRouter()
		router.Use(c.RouteFunc(chiRoute))
		chiRoutes(router)
		checkRouter(t, c, send(t, c.Middleware(requestID(router)), routerReqs...))
	})
	t.Run("chi's middleware before RouteFunc", func(t *testing.T) {
		c := newCollector(t, vitals.Options{})
		router := chi.NewRouter()
		// RequestID copies the request; WrapResponseWriter (as Logger
		// uses it) wraps the writer, with Unwrap.
		router.Use(middleware.RequestID, func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				next.ServeHTTP(middleware.NewWrapResponseWriter(w, r.ProtoMajor), r)
			})
		})
		router.Use(c.RouteFunc(chiRoute))
		chiRoutes(router)
		checkRouter(t, c, send(t, c.Middleware(router), routerReqs...))
	})
	t.Run("mounted sub-router", func(t *testing.T) {
		c := newCollector(t, vitals.Options{})
		sub := chi.NewRouter()
		sub.Get("/items/{id}", ok)
		h := chiHandler(c, func(r chi.Router) { r.Mount("/v1", sub) })
		send(t, h, "GET /v1/items/1", "POST /v1/items/1", "GET /v1/nope")
		// chi names what reaches a mounted router and matches nothing
		// there by the mount's pattern: a bounded name, chi's own.
		want := map[string]string{"GET /v1/items/{id}": "1 1 0 0", "GET /v1/*": "1 0 1 0", "POST /v1/*": "1 0 1 0"}
		if got := routes(snapshot(c)); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("routes = %v, want %v", got, want)
		}
	})
}

func TestGorilla(t *testing.T) {
	t.Run("recipe", func(t *testing.T) {
		c := newCollector(t, vitals.Options{})
		checkRouter(t, c, send(t, gorillaHandler(c, gorillaRoutes), routerReqs...))
	})
	t.Run("request-copying middleware outside the router", func(t *testing.T) {
		c := newCollector(t, vitals.Options{})
		router := mux.NewRouter()
		router.Use(c.RouteFunc(gorillaRoute))
		gorillaRoutes(router)
		checkRouter(t, c, send(t, c.Middleware(requestID(router)), routerReqs...))
	})
	t.Run("custom NotFoundHandler", func(t *testing.T) {
		c := newCollector(t, vitals.Options{})
		h := gorillaHandler(c, func(r *mux.Router) {
			r.HandleFunc("/items/{id}", ok)
			// Outside the matched routes: no middleware, no current route.
			r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusNotFound)
				io.WriteString(w, gorillaRoute(r)+"not here")
			})
		})
		codes := send(t, h, "GET /items/1", "GET /nope")
		want := map[string]string{"GET /items/{id}": "1 1 0 0", "unmatched": "1 0 1 0"}
		if got := routes(snapshot(c)); fmt.Sprint(codes) != "[200 404]" || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("client saw %v, routes = %v; want [200 404], %v", codes, got, want)
		}
	})
}

// The recipes' name functions return "" and do not panic where there is no
// current route: outside the router, or on a request no router has seen.
func TestRecipesWithoutRoute(t *testing.T) {
	r := httptest.NewRequest("GET", "/x", nil)
	if got := chiRoute(r); got != "" {
		t.Errorf("chiRoute outside chi = %q, want empty", got)
	}
	if got := gorillaRoute(r); got != "" {
		t.Errorf("gorillaRoute outside gorilla = %q, want empty", got)
	}
}

// A RouteFunc name function that panics is contained: the client gets its
// whole response and the request counts once, as unmatched.
func TestPanickingRouteFunc(t *testing.T) {
	bad := func(*http.Request) string { panic("route function bug") }
	for name, h := range map[string]func(c *vitals.Collector) http.Handler{
		"chi": func(c *vitals.Collector) http.Handler {
			router := chi.NewRouter()
			router.Use(c.RouteFunc(bad))
			router.Get("/items/{id}", ok)
			return c.Middleware(router)
		},
		"gorilla": func(c *vitals.Collector) http.Handler {
			router := mux.NewRouter()
			router.Use(c.RouteFunc(bad))
			router.HandleFunc("/items/{id}", ok)
			return c.Middleware(router)
		},
	} {
		t.Run(name, func(t *testing.T) {
			c := newCollector(t, vitals.Options{})
			codes := send(t, h(c), "GET /items/1", "GET /items/2")
			s := snapshot(c)
			if fmt.Sprint(codes) != "[200 200]" || s.Requests != 2 || s.InFlight != 0 || routes(s)["unmatched"] != "2 2 0 0" {
				t.Errorf("client saw %v; requests %d, in flight %d, routes %v", codes, s.Requests, s.InFlight, routes(s))
			}
		})
	}
}

// An Options.Route function that panics, with the middleware inside the
// router (chi's Use) and outside it (gorilla, where mux.CurrentRoute is
// nil): the request still counts once and in-flight returns to zero.
func TestPanickingRouteOption(t *testing.T) {
	bad := vitals.Options{Route: func(r *http.Request) string {
		t, _ := mux.CurrentRoute(r).GetPathTemplate() // the old recipe: nil outside the router
		return t
	}}
	for name, h := range map[string]func(c *vitals.Collector) http.Handler{
		"chi inside": func(c *vitals.Collector) http.Handler {
			router := chi.NewRouter()
			router.Use(c.Middleware)
			router.Get("/items/{id}", ok)
			return router
		},
		"gorilla outside": func(c *vitals.Collector) http.Handler {
			router := mux.NewRouter()
			router.HandleFunc("/items/{id}", ok)
			return c.Middleware(router)
		},
	} {
		t.Run(name, func(t *testing.T) {
			c := newCollector(t, bad)
			send(t, h(c), "GET /items/1", "GET /nope")
			if s := snapshot(c); s.Requests != 2 || s.InFlight != 0 {
				t.Errorf("requests %d, in flight %d; want 2, 0", s.Requests, s.InFlight)
			}
		})
	}
}

// The README shows the recipes exactly as tested: every declaration of
// recipes_test.go, doc comment included.
func TestReadmeShowsRecipes(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("recipes_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "recipes_test.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok {
			continue
		}
		start := fd.Pos()
		if fd.Doc != nil {
			start = fd.Doc.Pos()
		}
		code := string(src[fset.Position(start).Offset:fset.Position(fd.End()).Offset])
		if !strings.Contains(string(readme), code) {
			t.Errorf("README.md lacks %s as tested:\n%s", fd.Name.Name, code)
		}
		n++
	}
	if n != 4 {
		t.Errorf("%d recipe functions, want 4", n)
	}
}
