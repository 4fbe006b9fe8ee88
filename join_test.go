package vitals

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestJoinRoutes(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	for _, tc := range []struct {
		outer, outerPath, inner, innerPath, want string
	}{
		{"/api/", "/api/items/1", "GET /items/{id}", "/items/1", "GET /api/items/{id}"},
		{"GET /api/", "/api/items", "/items", "/items", "GET /api/items"},
		{"POST example.com/api/", "/api/x", "GET /x", "/x", "GET example.com/api/x"},
		{"/api/", "/api/", "/", "/", "/api/"},
		{"/v1/api/", "/v1/api/x", "/api/x", "/api/x", "/v1/api/x"}, // only /v1 stripped
		{"/t/{tenant}/", "/t/acme/items", "GET /items", "/items", "GET /t/{tenant}/items"},
		{"/api/", "/api/items", "GET /api/items", "/api/items", "GET /api/items"}, // nothing stripped
		{"/api/", "/api/items", "GET /other", "/other", "GET /other"},             // a rewrite: inner wins
		{"/{rest...}", "/a/b/c", "/c", "/c", "/{rest...}/c"},
	} {
		var rep routeReport
		c.addReport(&rep, tc.inner, tc.innerPath)
		c.addReport(&rep, tc.outer, tc.outerPath)
		if rep.name != tc.want {
			t.Errorf("%q at %s around %q at %s = %q, want %q", tc.outer, tc.outerPath, tc.inner, tc.innerPath, rep.name, tc.want)
		}
	}
	var rep routeReport
	c.addReport(&rep, "", "/x")
	c.addReport(&rep, "/api/", "/api/x")
	if rep.name != "" {
		t.Errorf("unmatched inside, matched outside = %q, want unmatched", rep.name)
	}
}

// A mux between two reported levels that is not wrapped with Routes: the
// name must not invent a prefix (/v1 and /v2 would merge); the outer
// pattern is what is known.
func TestJoinUnreportedLevel(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	items := http.NewServeMux()
	items.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {})
	mid := http.NewServeMux() // not wrapped
	mid.Handle("/v1/", http.StripPrefix("/v1", c.Routes(items)))
	root := http.NewServeMux()
	root.Handle("/api/", http.StripPrefix("/api", mid))
	h := c.Middleware(root)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/v1/items/1", nil))
	if routes := routeCounts(c); routes["/api/"] != 1 {
		t.Errorf("routes = %v, want the outer pattern /api/", routes)
	}
}

// The name caches hold no more than their cap, take no lock once full, and
// keep no name longer than maxCachedLen, whatever names a RouteFunc makes.
func TestNameCacheBounded(t *testing.T) {
	var nc nameCache
	long := strings.Repeat("x", 16<<10)
	if got := nc.put(nameKey{a: "GET", b: long}, "GET "+long); got != "GET "+long {
		t.Fatalf("put returned %q", got[:20])
	}
	if _, ok := nc.get(nameKey{a: "GET", b: long}); ok {
		t.Error("a 16 KiB name was cached")
	}
	for i := range maxCachedNames + 10 {
		nc.put(nameKey{a: "GET", b: strconv.Itoa(i)}, "GET "+strconv.Itoa(i))
	}
	if n := len(*nc.m.Load()); n != maxCachedNames || !nc.full.Load() {
		t.Fatalf("cache holds %d, full %v", n, nc.full.Load())
	}
	nc.mu.Lock() // a put must not wait for it now
	done := make(chan struct{})
	go func() { nc.put(nameKey{a: "GET", b: "new"}, "GET new"); close(done) }()
	<-done
	nc.mu.Unlock()
}
