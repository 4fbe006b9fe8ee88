package vitals

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

//go:generate go run gen_wrappers.go

// Middleware returns a handler that serves each request with next and
// records it: in flight while it runs, then its status, body bytes,
// duration, method and route (see Options.Route). It also touches the
// session named by Options.SessionCookie when the request carries that
// cookie, without a lock (BenchmarkSession).
//
// The ResponseWriter that next sees has exactly the optional interfaces of
// the one the server passed in (http.Flusher, http.Hijacker, io.ReaderFrom,
// http.Pusher) plus Unwrap, so http.ResponseController, websockets,
// server-sent events and sendfile work as without the middleware. As
// net/http requires, next must not use it after ServeHTTP returns: it is
// recycled for later requests.
//
// A handler that panics is counted with status 500 and the panic continues
// unchanged (http.ErrAbortHandler included), so the server behaves exactly
// as it would without the middleware.
func (c *Collector) Middleware(next http.Handler) http.Handler {
	return &middleware{c: c, next: next}
}

type middleware struct {
	c    *Collector
	next http.Handler
}

var writerPool = sync.Pool{New: func() any { return new(rw) }}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := m.c
	if c.opts.SessionCookie != "" {
		if id, ok := cookieValue(r.Header, c.opts.SessionCookie); ok {
			c.TouchSession(id)
		}
	}
	c.started.Add(1)
	start := time.Since(c.base)
	cw := writerPool.Get().(*rw)
	cw.w = w
	finished := false
	defer func() {
		d := time.Since(c.base) - start
		status := cw.status
		if !finished {
			status = http.StatusInternalServerError
		} else if status == 0 {
			status = http.StatusOK
		}
		if status < 100 || status > 999 {
			status = http.StatusInternalServerError
		}
		c.win.add(1)
		c.ring.record(d)
		c.routes.get(c.routeOf(r)).observe(methodIndex(r.Method), status, int64(d), cw.bytes, c.bounds)
		*cw = rw{}
		writerPool.Put(cw)
	}()
	m.next.ServeHTTP(cw.wrap(w), r)
	finished = true
}

// cookieValue returns the value of the named cookie as net/http's
// Request.Cookie would, without allocating (Request.Cookie parses every
// cookie into new values): the first cookie of that name whose value is
// valid, unquoted. It reports false when there is none or its value is
// empty. One difference, tested by TestCookieValueLimit: net/http ignores
// every cookie of a request that carries more than 3000 (GODEBUG
// httpcookiemaxnum); cookieValue does not count them. FuzzCookieValue
// compares the two.
func cookieValue(h http.Header, name string) (string, bool) {
	for _, line := range h["Cookie"] {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			k, v, _ := strings.Cut(trimASCIISpace(part), "=")
			if trimASCIISpace(k) != name {
				continue
			}
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if !validCookieValue(v) {
				continue // net/http skips it and reads on
			}
			return v, v != ""
		}
	}
	return "", false
}

// rw is the state behind the ResponseWriter that the middleware hands to
// the handler: it captures the final status and the body bytes. Only the
// request's own goroutine touches it, as net/http's rules for a
// ResponseWriter already require.
//
// The handler never sees *rw itself but one of the sixteen named types of
// wrappers_gen.go, all with rw's layout, each with the methods of one
// combination of optional interfaces; wrap picks the one that matches the
// inner writer. Converting between them is free, and a pointer in an
// interface does not allocate, so the wrapper costs no allocation beyond
// the pool.
type rw struct {
	w      http.ResponseWriter
	status int   // first final status written; 0 until then
	bytes  int64 // body bytes written
}

// Optional interface bits, as used by wrappers_gen.go.
const (
	hasFlusher = 1 << iota
	hasHijacker
	hasReaderFrom
	hasPusher
)

func (w *rw) Header() http.Header { return w.w.Header() }

func (w *rw) WriteHeader(code int) {
	// 1xx responses other than 101 are informational (103 Early Hints):
	// net/http sends them and the handler goes on to the final status.
	if w.status == 0 && (code < 100 || code > 199 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.w.WriteHeader(code)
}

func (w *rw) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.w.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *rw) flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.w.(http.Flusher).Flush()
}

func (w *rw) hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := w.w.(http.Hijacker).Hijack()
	if err == nil && w.status == 0 {
		// The handler now speaks to the connection itself; the usual case
		// is a websocket, which answers 101 Switching Protocols.
		w.status = http.StatusSwitchingProtocols
	}
	return conn, brw, err
}

func (w *rw) readFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.w.(io.ReaderFrom).ReadFrom(src)
	w.bytes += n
	return n, err
}

func (w *rw) push(target string, opts *http.PushOptions) error {
	return w.w.(http.Pusher).Push(target, opts)
}

// features returns the optional interface bits that inner has.
func features(inner http.ResponseWriter) int {
	f := 0
	if _, ok := inner.(http.Flusher); ok {
		f |= hasFlusher
	}
	if _, ok := inner.(http.Hijacker); ok {
		f |= hasHijacker
	}
	if _, ok := inner.(io.ReaderFrom); ok {
		f |= hasReaderFrom
	}
	if _, ok := inner.(http.Pusher); ok {
		f |= hasPusher
	}
	return f
}
