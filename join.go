package vitals

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Route names derived from what the adapters report: the patterns of
// nested muxes joined into one (joinRoutes), RouteFunc's method and
// template (methodRoute), and the caches that keep them, so that a steady
// set of routes is named without allocating.

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

// methodRoute names a route template with a request method, as ServeMux
// patterns read: "GET /items/{id}". An empty template stays empty
// (unmatched); a non-standard method is left out.
func (c *Collector) methodRoute(method, template string) string {
	i := methodIndex(method)
	if template == "" || i == methodUnknown {
		return template
	}
	key := nameKey{a: methods[i], b: template}
	if s, ok := c.named.get(key); ok {
		return s
	}
	return c.named.put(key, methods[i]+" "+template)
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
