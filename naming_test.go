package vitals

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// requestID is the usual request-copying middleware: it adds a value to the
// request's context.
func requestID(next http.Handler) http.Handler {
	type key struct{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key{}, "id-1")))
	})
}

// hideWriter hands the handler a ResponseWriter without Unwrap, as
// http.TimeoutHandler does, but synchronously.
func hideWriter(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(struct{ http.ResponseWriter }{w}, r)
	})
}

// itemsMux serves GET /items/{id} and POST /items.
func itemsMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.PathValue("id")) })
	mux.HandleFunc("POST /items", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	return mux
}

// serveAll starts a real server with h and sends each "METHOD /path" request
// to it, checking that every response arrives whole.
func serveAll(t *testing.T, h http.Handler, reqs ...string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, rq := range reqs {
		method, path, _ := strings.Cut(rq, " ")
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatalf("%s: %v", rq, err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatalf("%s: body: %v", rq, err)
		}
		resp.Body.Close()
	}
}

// routeStatus returns "route: requests 2xx 4xx" per route from a fresh
// snapshot, and the snapshot.
func routeStatus(c *Collector) (map[string]string, *Snapshot) {
	c.refresh()
	s := c.Snapshot()
	m := map[string]string{}
	for _, r := range s.Routes {
		m[r.Route] = fmt.Sprintf("%d %d %d", r.Requests, r.Status.Success, r.Status.ClientError)
	}
	return m, s
}

// The stacks of real applications: vitals outside, the mux inside, and in
// between middleware that copies the request, replaces the writer or
// strips a prefix for a nested mux.
func TestRoutesThroughMiddlewareStacks(t *testing.T) {
	reqs := []string{"GET /items/1", "GET /items/2", "POST /items", "DELETE /items/1", "GET /nope"}
	api := []string{"GET /api/items/1", "GET /api/items/2", "POST /api/items", "DELETE /api/items/1", "GET /api/nope", "GET /nope"}
	want := map[string]string{"GET /items/{id}": "2 2 0", "POST /items": "1 1 0", "unmatched": "2 0 2"}
	wantAPI := map[string]string{"GET /api/items/{id}": "2 2 0", "POST /api/items": "1 1 0", "unmatched": "3 0 3"}
	nested := func(c *Collector) *http.ServeMux {
		root := http.NewServeMux()
		root.Handle("/api/", http.StripPrefix("/api", c.Routes(itemsMux())))
		return root
	}
	for _, tc := range []struct {
		name  string
		stack func(c *Collector) http.Handler
		reqs  []string
		want  map[string]string
	}{
		{"direct", func(c *Collector) http.Handler { return c.Middleware(itemsMux()) }, reqs, want},
		{"direct with Routes", func(c *Collector) http.Handler { return c.Middleware(c.Routes(itemsMux())) }, reqs, want},
		{"WithContext", func(c *Collector) http.Handler { return c.Middleware(requestID(c.Routes(itemsMux()))) }, reqs, want},
		{"MaxBytesHandler", func(c *Collector) http.Handler {
			return c.Middleware(http.MaxBytesHandler(c.Routes(itemsMux()), 1<<20))
		}, reqs, want},
		{"StripPrefix nested", func(c *Collector) http.Handler { return c.Middleware(nested(c)) }, api, wantAPI},
		// A prefix stripped above every mux is no pattern: names stay the mux's.
		{"StripPrefix at the root", func(c *Collector) http.Handler {
			return c.Middleware(http.StripPrefix("/app", c.Routes(itemsMux())))
		}, []string{"GET /app/items/1", "GET /app/items/2", "POST /app/items", "DELETE /app/items/1", "GET /app/nope"}, want},
		{"StripPrefix nested behind WithContext", func(c *Collector) http.Handler {
			return c.Middleware(requestID(c.Routes(nested(c))))
		}, api, wantAPI},
		{"StripPrefix nested two levels", func(c *Collector) http.Handler {
			v1 := http.NewServeMux()
			v1.Handle("/v1/", http.StripPrefix("/v1", c.Routes(nested(c))))
			return c.Middleware(requestID(c.Routes(v1)))
		}, []string{"GET /v1/api/items/7", "POST /v1/api/items", "GET /v1/api/x", "GET /v1/x"},
			map[string]string{"GET /v1/api/items/{id}": "1 1 0", "POST /v1/api/items": "1 1 0", "unmatched": "2 0 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestCollector(t, Options{})
			serveAll(t, tc.stack(c), tc.reqs...)
			got, s := routeStatus(c)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("routes = %v, want %v", got, tc.want)
			}
			if s.UnmatchedSuccess != 0 || s.InFlight != 0 {
				t.Errorf("unmatched 2xx %d, in flight %d, want 0, 0", s.UnmatchedSuccess, s.InFlight)
			}
			if c.needNote.Load() || tc.stack(c).(*middleware).note.Load() != noteOff {
				t.Error("the context fallback was turned on, though every writer unwraps")
			}
		})
	}
}

// Behind http.TimeoutHandler, directly below the middleware or deeper, the
// adapter reaches the record through TimeoutHandler's writer: every
// request is named, the first included, and no note is carried.
func TestRoutesBehindTimeoutHandler(t *testing.T) {
	if timeoutWriter().t == nil {
		t.Fatal("TimeoutHandler's writer no longer keeps the writer it wraps in field w: the adapters fall back on the context")
	}
	reqs := []string{"GET /items/1", "GET /items/2", "POST /items", "DELETE /items/1", "GET /nope"}
	want := map[string]string{"GET /items/{id}": "2 2 0", "POST /items": "1 1 0", "unmatched": "2 0 2"}
	for _, tc := range []struct {
		name  string
		stack func(c *Collector) http.Handler
	}{
		{"directly", func(c *Collector) http.Handler {
			return c.Middleware(http.TimeoutHandler(c.Routes(itemsMux()), time.Minute, "timeout"))
		}},
		{"deeper", func(c *Collector) http.Handler {
			return c.Middleware(requestID(http.TimeoutHandler(c.Routes(itemsMux()), time.Minute, "timeout")))
		}},
	} {
		c, _ := newTestCollector(t, Options{})
		h := tc.stack(c)
		serveAll(t, h, reqs...)
		got, s := routeStatus(c)
		if fmt.Sprint(got) != fmt.Sprint(want) || s.UnmatchedSuccess != 0 {
			t.Errorf("%s: routes = %v, UnmatchedSuccess = %d; want %v, 0", tc.name, got, s.UnmatchedSuccess, want)
		}
		if c.needNote.Load() || h.(*middleware).note.Load() != noteOff {
			t.Errorf("%s: the context fallback is on", tc.name)
		}
	}
	// Without an adapter, TimeoutHandler alone costs nothing more.
	c, _ := newTestCollector(t, Options{})
	if m := c.Middleware(http.TimeoutHandler(itemsMux(), time.Minute, "")).(*middleware); m.note.Load() != noteOff {
		t.Error("the context path is on for a TimeoutHandler without adapters")
	}
}

// The new user's stack, a nested mux behind StripPrefix and TimeoutHandler
// under an outer mux, on a fresh collector: the first request is named like
// the rest, and a request TimeoutHandler gives up on counts as unmatched
// (a 503), never under the outer pattern, which is no route of its own.
func TestRoutesNestedBehindTimeoutHandlerNoPhantom(t *testing.T) {
	// In a bubble, TimeoutHandler's timer runs on the bubble's clock.
	synctest.Test(t, func(t *testing.T) {
		c, _ := newTestCollector(t, Options{})
		release := make(chan struct{})
		defer close(release)
		api := itemsMux()
		api.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
			<-release // past TimeoutHandler's deadline: it answers 503
		})
		root := http.NewServeMux()
		root.Handle("/api/v2/", http.StripPrefix("/api/v2", http.TimeoutHandler(c.Routes(api), time.Second, "timeout")))
		h := c.Middleware(root)
		for _, rq := range []string{"GET /api/v2/items/1", "GET /api/v2/items/2", "GET /api/v2/slow", "GET /api/v2/nope", "POST /api/v2/items"} {
			method, path, _ := strings.Cut(rq, " ")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
			if rq == "GET /api/v2/slow" && w.Code != http.StatusServiceUnavailable {
				t.Fatalf("%s: %d, want TimeoutHandler's 503", rq, w.Code)
			}
		}
		got, s := routeStatus(c)
		want := map[string]string{"GET /api/v2/items/{id}": "2 2 0", "POST /api/v2/items": "1 1 0", "unmatched": "2 0 1"}
		if fmt.Sprint(got) != fmt.Sprint(want) || s.UnmatchedSuccess != 0 || s.Status.ServerError != 1 || s.InFlight != 0 {
			t.Errorf("routes = %v, UnmatchedSuccess %d, 5xx %d, in flight %d; want %v, 0, 1 (the 503), 0",
				got, s.UnmatchedSuccess, s.Status.ServerError, s.InFlight, want)
		}
		if page := get(t, c.Handler(), "GET", "/").Body.String(); strings.Contains(page, `id="unmatched-success"`) {
			t.Error("the page warns of patterns vitals did not see, though the recipe was followed")
		}
	})
}

// A request the adapter reports into the context after TimeoutHandler gave
// up on it changes nothing that was counted, and races with nothing.
func TestRoutesTimedOutHandlerReportsLate(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	release, finished := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		<-release
	})
	inner := c.Routes(mux)
	h := c.Middleware(http.TimeoutHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(finished)
		inner.ServeHTTP(w, r)
	}), time.Millisecond, "timeout"))
	serveAll(t, h, "GET /slow")
	got, s := routeStatus(c)
	close(release)
	<-finished
	if fmt.Sprint(got) != fmt.Sprint(map[string]string{"unmatched": "1 0 0"}) || s.Status.ServerError != 1 || s.InFlight != 0 {
		t.Errorf("routes = %v, 5xx %d, in flight %d; want one 503, unmatched", got, s.Status.ServerError, s.InFlight)
	}
}

// Without the adapter, request-copying middleware hides every pattern: the
// snapshot, the JSON and the page say so and point to the fix.
func TestUnmatchedSuccessWarns(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	serveAll(t, c.Middleware(requestID(itemsMux())), "GET /items/1", "GET /items/2", "POST /items", "GET /nope")
	got, s := routeStatus(c)
	if fmt.Sprint(got) != fmt.Sprint(map[string]string{"unmatched": "4 3 1"}) || s.UnmatchedSuccess != 3 {
		t.Fatalf("routes = %v, UnmatchedSuccess = %d; want all unmatched, 3", got, s.UnmatchedSuccess)
	}
	if body := get(t, c.Handler(), "GET", "/?format=json").Body.String(); !strings.Contains(body, `"unmatched_success":3`) {
		t.Error("JSON lacks unmatched_success")
	}
	page := get(t, c.Handler(), "GET", "/").Body.String()
	if !strings.Contains(page, `id="unmatched-success"`) || !strings.Contains(page, "c.Routes(mux)") {
		t.Error("the page does not warn of successful responses counted as unmatched")
	}
	c2, _ := newTestCollector(t, Options{})
	serveAll(t, c2.Middleware(itemsMux()), "GET /items/1", "GET /nope")
	if _, s := routeStatus(c2); s.UnmatchedSuccess != 0 {
		t.Errorf("direct mux: UnmatchedSuccess = %d, want 0", s.UnmatchedSuccess)
	}
	if page := get(t, c2.Handler(), "GET", "/").Body.String(); strings.Contains(page, `id="unmatched-success"`) {
		t.Error("the page warns though nothing was lost")
	}
}

// The dashboard's polling and Prometheus' scrapes, served by the collector's
// own Handler through its middleware, are counted apart and change no other
// figure.
func TestSelfRequestsCountedApart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stack func(c *Collector, mux *http.ServeMux) http.Handler
	}{
		{"direct", func(c *Collector, mux *http.ServeMux) http.Handler { return c.Middleware(mux) }},
		{"behind WithContext", func(c *Collector, mux *http.ServeMux) http.Handler { return c.Middleware(requestID(mux)) }},
		{"behind a writer without Unwrap, fallback on", func(c *Collector, mux *http.ServeMux) http.Handler {
			return withNotes(c.Middleware(hideWriter(mux)))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestCollector(t, Options{})
			mux := itemsMux()
			mux.Handle("GET /metrics", c.Handler())
			serveAll(t, tc.stack(c, mux), "GET /items/1", "GET /metrics", "GET /metrics?format=json",
				"GET /metrics?format=prometheus", "GET /items/2")
			c.refresh()
			s := c.Snapshot()
			if s.SelfRequests != 3 || s.Requests != 2 || s.Window.Total != 2 || s.Status.Success != 2 || s.InFlight != 0 || s.Latency.Samples != 2 {
				t.Errorf("self %d, requests %d, window %d, 2xx %d, in flight %d, samples %d; want 3, 2, 2, 2, 0, 2",
					s.SelfRequests, s.Requests, s.Window.Total, s.Status.Success, s.InFlight, s.Latency.Samples)
			}
			for _, r := range s.Routes {
				if strings.Contains(r.Route, "metrics") {
					t.Errorf("route %q counts the collector's own requests", r.Route)
				}
			}
			if page := get(t, c.Handler(), "GET", "/").Body.String(); !strings.Contains(page, `id="self-requests"`) {
				t.Error("the page does not say that its own requests are counted apart")
			}
		})
	}
	// Another collector's Handler is ordinary traffic to this one.
	c, _ := newTestCollector(t, Options{})
	other, _ := newTestCollector(t, Options{})
	mux := http.NewServeMux()
	mux.Handle("GET /other", other.Handler())
	serveAll(t, c.Middleware(mux), "GET /other")
	if got, s := routeStatus(c); s.SelfRequests != 0 || got["GET /other"] != "1 1 0" {
		t.Errorf("another collector's handler: self %d, routes %v", s.SelfRequests, got)
	}
}

func TestRouteFunc(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	// No server here has an ErrorLog: the name function's panics are
	// logged to the log package.
	logs := new(syncBuffer)
	log.SetOutput(logs)
	defer log.SetOutput(os.Stderr)
	routeOf := map[string]string{"/a": "/a", "/b/1": "/b/{id}", "/b/2": "/b/{id}", "/boom": "/boom"}
	named := c.RouteFunc(func(r *http.Request) string {
		if r.URL.Path == "/panics" || r.URL.Path == "/both" {
			panic("route function bug")
		}
		return routeOf[r.URL.Path]
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/boom" || r.URL.Path == "/both" {
			panic(http.ErrAbortHandler)
		}
		if routeOf[r.URL.Path] == "" && r.URL.Path != "/panics" {
			http.NotFound(w, r)
		}
	}))
	h := c.Middleware(requestID(named))
	serveAll(t, h, "GET /a", "DELETE /a", "get /a", "GET /b/1", "GET /b/2", "GET /zzz", "GET /panics")
	// The handler's panic goes on unchanged, and the route is named; when
	// the name function panics too, its panic is contained and the
	// handler's still goes on.
	for _, path := range []string{"/boom", "/both"} {
		func() {
			defer func() {
				if p := recover(); p != http.ErrAbortHandler {
					t.Errorf("%s: panic = %v, want http.ErrAbortHandler", path, p)
				}
			}()
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
		}()
	}
	got, s := routeStatus(c)
	want := map[string]string{"DELETE /a": "1 1 0", "GET /a": "1 1 0", "/a": "1 1 0", "GET /b/{id}": "2 2 0", "GET /boom": "1 0 0", "unmatched": "3 1 1"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("routes = %v, want %v", got, want)
	}
	if s.InFlight != 0 || s.Requests != 9 {
		t.Errorf("in flight %d, requests %d; want 0, 9", s.InFlight, s.Requests)
	}
	// Each panic of the name function is logged once, with its stack.
	for _, path := range []string{"/panics", "/both"} {
		msg := "vitals: RouteFunc's name function panicked on GET " + path + ": route function bug\n"
		if n := strings.Count(logs.String(), msg); n != 1 {
			t.Errorf("%q logged %d times, want once:\n%s", msg, n, logs)
		}
	}
	if n := strings.Count(logs.String(), "runtime/debug.Stack("); n != 2 {
		t.Errorf("%d stacks logged, want 2:\n%s", n, logs)
	}
}

// The adapters add no allocation to a stack when they reach the record
// through the writer, and neither do joined and method names once seen:
// vitals costs each stack exactly its one writer per request (see rw).
func TestRoutesAllocationFree(t *testing.T) {
	nested := func(inner http.Handler) http.Handler {
		root := http.NewServeMux()
		root.Handle("/api/", http.StripPrefix("/api", inner))
		return root
	}
	c, _ := newTestCollector(t, Options{})
	for _, tc := range []struct {
		name, path  string
		bare, vital http.Handler
	}{
		{"direct", "/items/1", okMux(), c.Middleware(okMux())},
		{"Routes", "/items/1", okMux(), c.Middleware(c.Routes(okMux()))},
		{"WithContext", "/items/1", requestID(okMux()), c.Middleware(requestID(c.Routes(okMux())))},
		{"StripPrefix nested", "/api/items/1", nested(okMux()), c.Middleware(nested(c.Routes(okMux())))},
		{"RouteFunc", "/x/1", requestID(okHandler), c.Middleware(requestID(c.RouteFunc(func(*http.Request) string { return "/x/{id}" })(okHandler)))},
		{"TimeoutHandler deeper", "/items/1", requestID(http.TimeoutHandler(okMux(), time.Minute, "")),
			c.Middleware(requestID(http.TimeoutHandler(c.Routes(okMux()), time.Minute, "")))},
	} {
		allocs := func(h http.Handler) float64 {
			r := httptest.NewRequest("GET", tc.path, nil)
			w := &benchWriter{h: http.Header{}}
			h.ServeHTTP(w, r)
			return testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) })
		}
		if bare, vital := allocs(tc.bare), allocs(tc.vital); vital != bare+1 {
			t.Errorf("%s: %v allocations per request with vitals, %v without", tc.name, vital, bare)
		}
	}
	if routes := routeCounts(c); len(routes) != 3 || routes["GET /api/items/{id}"] == 0 || routes["GET /x/{id}"] == 0 {
		t.Errorf("routes = %v", routes)
	}
}

// okMux serves okHandler at GET /items/{id}, so that benchmarks count only
// what the mux and the middlewares allocate.
func okMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /items/{id}", okHandler)
	return mux
}

// BenchmarkRouteAdapters serves the stacks of TestRoutesThroughMiddlewareStacks
// bare (-bare) and with vitals: what vitals adds is the difference. The
// fallback is the context path that a writer without Unwrap (as
// http.TimeoutHandler's) turns on.
func BenchmarkRouteAdapters(b *testing.B) {
	stripped := func(c *Collector) http.Handler {
		root := http.NewServeMux()
		root.Handle("/api/", http.StripPrefix("/api", c.Routes(okMux())))
		return root
	}
	for _, bc := range []struct {
		name, path string
		stack      func(c *Collector) http.Handler
	}{
		{"direct-bare", "/items/1", func(*Collector) http.Handler { return okMux() }},
		{"direct", "/items/1", func(c *Collector) http.Handler { return c.Middleware(okMux()) }},
		{"withcontext-bare", "/items/1", func(c *Collector) http.Handler { return requestID(okMux()) }},
		{"withcontext-unmatched", "/items/1", func(c *Collector) http.Handler { return c.Middleware(requestID(okMux())) }},
		{"withcontext-routes", "/items/1", func(c *Collector) http.Handler { return c.Middleware(requestID(c.Routes(okMux()))) }},
		{"nested-stripprefix-bare", "/api/items/1", func(c *Collector) http.Handler {
			root := http.NewServeMux()
			root.Handle("/api/", http.StripPrefix("/api", okMux()))
			return root
		}},
		{"nested-stripprefix-routes", "/api/items/1", func(c *Collector) http.Handler { return c.Middleware(stripped(c)) }},
		{"timeouthandler-bare", "/items/1", func(c *Collector) http.Handler {
			return requestID(http.TimeoutHandler(okMux(), time.Minute, ""))
		}},
		{"timeouthandler-routes", "/items/1", func(c *Collector) http.Handler {
			return c.Middleware(requestID(http.TimeoutHandler(c.Routes(okMux()), time.Minute, "")))
		}},
		{"fallback-bare", "/items/1", func(c *Collector) http.Handler { return hideWriter(okMux()) }},
		{"fallback-routes", "/items/1", func(c *Collector) http.Handler {
			return withNotes(c.Middleware(hideWriter(c.Routes(okMux()))))
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := bc.stack(benchCollector(b))
			r := httptest.NewRequest("GET", bc.path, nil)
			w := &benchWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
		})
	}
}

// TestRoutesConcurrently runs every adapter path at once, behind a barrier,
// while the context fallback turns on mid-run and the name caches fill:
// under -race any unguarded access fails it, and every request is counted
// exactly once, under its route or (only on the stack that turned the
// fallback on, before it was on) as unmatched.
func TestRoutesConcurrently(t *testing.T) {
	const perG = 300
	c, _ := newTestCollector(t, Options{})
	nested := http.NewServeMux()
	nested.Handle("/api/", http.StripPrefix("/api", c.Routes(okMux())))
	copying := c.Middleware(requestID(c.Routes(nested)))
	// Not directly below the middleware: seen through all the same.
	timeout := c.Middleware(requestID(http.TimeoutHandler(c.Routes(okMux()), time.Minute, "")))
	named := c.Middleware(c.RouteFunc(func(r *http.Request) string { return r.URL.Path })(okHandler))
	self := http.NewServeMux()
	self.Handle("GET /metrics", c.Handler())
	selfH := c.Middleware(requestID(self))

	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 2 {
		for _, run := range []func(i int){
			func(int) { copying.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/items/1", nil)) },
			func(int) { timeout.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/items/1", nil)) },
			func(i int) {
				named.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", fmt.Sprintf("/t%d-%d", g, i%40), nil))
			},
			func(int) {
				selfH.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/metrics?format=json", nil))
			},
		} {
			wg.Go(func() {
				<-start
				for i := range perG {
					run(i)
				}
			})
		}
	}
	close(start)
	wg.Wait()
	c.refresh()
	s := c.Snapshot()
	got := map[string]uint64{}
	var sum, namedT uint64
	for _, r := range s.Routes {
		got[r.Route] = r.Requests
		sum += r.Requests
		if strings.HasPrefix(r.Route, "GET /t") {
			namedT += r.Requests
		}
	}
	lost := got[RouteUnmatched]
	if got["GET /api/items/{id}"] != 2*perG || namedT != 2*perG || got["GET /items/{id}"] != 2*perG || lost != 0 || c.needNote.Load() {
		t.Errorf("routes = %v", got)
	}
	if s.UnmatchedSuccess != lost || s.SelfRequests != 2*perG || s.Requests != 6*perG || sum != 6*perG || s.InFlight != 0 {
		t.Errorf("unmatched 2xx %d (lost %d), self %d, requests %d, sum %d, in flight %d", s.UnmatchedSuccess, lost, s.SelfRequests, s.Requests, sum, s.InFlight)
	}
	if n := len(s.Routes); n != 2+80+btoi(lost > 0) {
		t.Errorf("%d routes, want %d", n, 2+80+btoi(lost > 0))
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A handler hands its writer to a goroutine that outlives it and runs a
// mux wrapped with c.Routes there, while the middleware settles the route:
// the late report must not race the middleware (run with -race), and it
// counts for nothing once the request is over.
func TestLateRoutesReportDoesNotRace(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /late", func(w http.ResponseWriter, r *http.Request) {})
	inner := c.Routes(mux)
	var wg sync.WaitGroup
	var returned chan struct{}
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		done := returned
		go func() {
			defer wg.Done()
			// Races the handler's return: the report must not race the
			// middleware reading it.
			inner.ServeHTTP(w, r.Clone(r.Context()))
			// After the return: markSelf finds the writer retired.
			<-done
			c.Handler().ServeHTTP(w, r.Clone(r.Context()))
		}()
	}))
	for range 200 {
		returned = make(chan struct{})
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/late", nil))
		close(returned)
	}
	wg.Wait()
	s := c.Refresh()
	if s.Requests != 200 || s.InFlight != 0 {
		t.Errorf("requests %d, in flight %d; want 200, 0", s.Requests, s.InFlight)
	}
}

// A scrape through the middleware does not see itself in flight: an idle
// server reads 0 (an alert on requests stuck in flight must stay quiet).
func TestScrapeNotInFlight(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", c.Handler())
	h := c.Middleware(mux)
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics?format=prometheus", nil))
		if !strings.Contains(rec.Body.String(), "\nhttp_requests_in_flight 0\n") {
			t.Fatalf("an idle server's scrape says:\n%s", grepLines(rec.Body.String(), "in_flight"))
		}
	}
	if s := c.Refresh(); s.InFlight != 0 || s.SelfRequests != 3 {
		t.Errorf("in flight %d, self requests %d; want 0, 3", s.InFlight, s.SelfRequests)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}

// A handler's own redirect (303 after a POST) under unmatched is a lost
// route as much as a 200 is; the mux's own path-cleaning redirects (307)
// are not. A dashboard read touches no session.
func TestUnmatchedSuccessCountsRedirects(t *testing.T) {
	c, _ := newTestCollector(t, Options{SessionCookie: "sid"})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.Handle("GET /metrics", c.Handler())
	h := c.Middleware(requestID(mux)) // copies the request: patterns are lost
	serve := func(method, path string) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("Cookie", "sid=user-"+method+path) // a session per request
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := serve("POST", "/login"); code != http.StatusSeeOther {
		t.Fatalf("login: %d", code)
	}
	if code := serve("GET", "/a/../login"); code != http.StatusTemporaryRedirect {
		t.Fatalf("unclean path: %d, want the mux's 307", code)
	}
	s := c.Refresh()
	if s.UnmatchedSuccess != 1 {
		t.Errorf("UnmatchedSuccess = %d, want 1 (the 303, not the mux's 307)", s.UnmatchedSuccess)
	}
	before := s.SessionsActive
	serve("GET", "/metrics")
	if s := c.Refresh(); s.SelfRequests != 1 || s.SessionsActive != before {
		t.Errorf("self %d, sessions %d -> %d: a dashboard read touched a session", s.SelfRequests, before, s.SessionsActive)
	}
}

// A Routes handler served without the middleware (a second listener, a
// test) reaches the server's own writer: that is no reason to carry the
// record in every request's context from then on.
func TestRoutesWithoutMiddlewareKeepsFallbackOff(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	srv := httptest.NewServer(c.Routes(okMux()))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/items/1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c.needNote.Load() {
		t.Fatal("the context fallback turned on for a handler no middleware wraps")
	}
	// A writer without Unwrap in between still turns it on.
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.Routes(okMux()).ServeHTTP(struct{ http.ResponseWriter }{w}, r)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/items/1", nil))
	if m := h.(*middleware); m.note.Load() == noteOff {
		t.Fatal("the fallback stayed off behind a writer without Unwrap")
	}
}

// withNotes turns the context fallback on for good for h, a middleware.
func withNotes(h http.Handler) http.Handler {
	h.(*middleware).note.Store(noteOn)
	return h
}

func TestRealServerRoutePanicIsContained(t *testing.T) {
	c, _ := newTestCollector(t, Options{Route: func(r *http.Request) string {
		if r.URL.Path == "/fine" {
			return "fine"
		}
		panic("route table broken")
	}})
	srv, done, logs := serveLogged(t, c, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/handler-panics" {
			panic(http.ErrAbortHandler)
		}
		_, _ = io.WriteString(w, "ok")
	})
	for range 5 {
		if resp, body := getURL(t, srv.URL+"/x"); resp.StatusCode != 200 || body != "ok" {
			t.Errorf("got %d %q: the Route panic broke a good response", resp.StatusCode, body)
		}
		served(t, done)
	}
	// A new connection, so that the client does not retry the request.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := fresh.Get(srv.URL + "/handler-panics"); err == nil {
		resp.Body.Close()
		t.Errorf("the handler's panic was swallowed: got %d", resp.StatusCode)
	}
	served(t, done)
	getURL(t, srv.URL+"/fine")
	served(t, done)
	c.refresh()
	s := c.Snapshot()
	counts := map[string]uint64{}
	for _, r := range s.Routes {
		counts[r.Route] = r.Requests
	}
	if s.InFlight != 0 || s.Requests != 7 || counts[RouteUnmatched] != 6 || counts["fine"] != 1 {
		t.Errorf("InFlight %d Requests %d routes %v; want 0, 7, unmatched 6 and fine 1", s.InFlight, s.Requests, counts)
	}
	if got := strings.Count(logs.String(), "vitals: Options.Route panicked on GET /x: route table broken\n"); got != 5 {
		t.Errorf("%d Route panics logged, want 5:\n%s", got, logs)
	}
}

func TestRoutePanicLeavesHandlerPanicAlone(t *testing.T) {
	for _, routePanics := range []bool{false, true} {
		c, _ := newTestCollector(t, Options{Route: func(*http.Request) string {
			if routePanics {
				panic("route")
			}
			return "r"
		}})
		h := c.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("handler") }))
		var got any
		func() {
			defer func() { got = recover() }()
			r := httptest.NewRequest("GET", "/", nil)
			h.ServeHTTP(newTestInner(), r.WithContext(context.WithValue(r.Context(), http.ServerContextKey, &http.Server{ErrorLog: log.New(io.Discard, "", 0)})))
		}()
		if got != "handler" {
			t.Errorf("Route panics %v: recovered %v, want the handler's panic", routePanics, got)
		}
		c.refresh()
		if s := c.Snapshot(); s.InFlight != 0 || s.Status.ServerError != 1 {
			t.Errorf("Route panics %v: InFlight %d, 5xx %d", routePanics, s.InFlight, s.Status.ServerError)
		}
	}
}

// BenchmarkRouteOf is the naming of a request no adapter reported: by its
// ServeMux pattern (no route function: no defer), and by Options.Route
// (contained by userRoute's defer and recover).
func BenchmarkRouteOf(b *testing.B) {
	r := httptest.NewRequest("GET", "/items/1", nil)
	r.Pattern = "GET /items/{id}"
	for _, bc := range []struct {
		name  string
		route func(*http.Request) string
	}{{"pattern", nil}, {"route-func", func(r *http.Request) string { return r.Pattern }}} {
		b.Run(bc.name, func(b *testing.B) {
			c := New(Options{Route: bc.route})
			b.Cleanup(func() { c.Close() })
			b.ReportAllocs()
			for b.Loop() {
				if c.routeOf(r) == "" {
					b.Fatal("no route")
				}
			}
		})
	}
}

// One writer without Unwrap on one stack (or an adapter served without the
// middleware into a writer of its own) does not make the other stacks pay
// for the context fallback: it is scoped to the middleware whose stack
// needs it, and a middleware put on probation by a failure elsewhere stops
// carrying notes once the probation found no use for them.
func TestOddWriterFallbackScopedToItsStack(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	bare := requestID(okMux())
	plain := c.Middleware(requestID(c.Routes(okMux())))
	odd := c.Middleware(requestID(hideWriter(c.Routes(okMux()))))
	direct := c.Middleware(okMux())
	serve := func(h http.Handler, w http.ResponseWriter) {
		h.ServeHTTP(w, httptest.NewRequest("GET", "/items/1", nil))
	}
	allocs := func(h http.Handler) float64 {
		w := &benchWriter{h: http.Header{}}
		serve(h, w)
		return testing.AllocsPerRun(100, func() { serve(h, w) })
	}
	base := allocs(bare)
	serve(odd, httptest.NewRecorder()) // the odd writer, seen once: this request is lost
	if n := allocs(plain); n != base+1 {
		t.Errorf("plain stack after an odd writer: %v allocations per request, want %v", n, base+1)
	}
	serve(odd, httptest.NewRecorder()) // on probation: named, and on for good
	if m := odd.(*middleware); m.note.Load() != noteOn {
		t.Errorf("the odd stack's middleware: note state %d, want on", m.note.Load())
	}
	if n := allocs(odd); n != allocs(requestID(hideWriter(okMux())))+4 {
		t.Errorf("odd stack: %v allocations per request, want the writer and the note's 3", n)
	}
	if routes := routeCounts(c); routes[RouteUnmatched] != 1 {
		t.Errorf("routes = %v, want only the first odd request unmatched", routes)
	}

	// An adapter served without the middleware into a writer of its own:
	// the next middleware to finish a request without a report tries
	// notes, finds no use for them, and stops.
	c.Routes(okMux()).ServeHTTP(struct{ http.ResponseWriter }{httptest.NewRecorder()}, httptest.NewRequest("GET", "/items/1", nil))
	serve(direct, httptest.NewRecorder())
	if m := direct.(*middleware); m.note.Load() <= 0 {
		t.Fatalf("direct stack: note state %d, want on probation", m.note.Load())
	}
	for range probeRequests {
		serve(direct, httptest.NewRecorder())
	}
	if n, bareN := allocs(direct), allocs(okMux()); n != bareN+1 {
		t.Errorf("direct stack after its probation: %v allocations per request, want %v", n, bareN+1)
	}
	if n := allocs(plain); n != base+1 {
		t.Errorf("plain stack: %v allocations per request, want %v", n, base+1)
	}
}
