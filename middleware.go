package vitals

import (
	"net/http"
	"sync/atomic"
	"time"
)

// The middleware: what it does around each request, in order. The writer
// it hands to the handler is in writer.go, route naming in naming.go, the
// counters in routes.go and recorder.go.

// Middleware returns a handler that serves each request with next and
// records it: in flight while it runs, then its status, body bytes,
// duration, method and route (see Options.Route). It also touches the
// session named by Options.SessionCookie when the request carries that
// cookie, without a lock (BenchmarkSession). It allocates one small
// writer per request (BenchmarkMiddleware).
//
// The ResponseWriter that next sees has exactly the optional interfaces of
// the one the server passed in (http.Flusher with FlushError,
// http.Hijacker, io.ReaderFrom, http.Pusher, http.CloseNotifier), plus
// io.StringWriter and Unwrap, so http.ResponseController, websockets,
// server-sent events and sendfile work as without the middleware. "Has"
// means for Flush and Hijack what it means to http.ResponseController:
// the writer passed in has the method, or a writer down its Unwrap chain
// does (a wrapper of the server's writer with Unwrap but no Flush); then
// next's writer has it, and a flush or hijack through the controller is
// recorded before it reaches the writer that has it. The controller's
// deadlines and EnableFullDuplex, which send nothing, it finds through
// Unwrap.
//
// As net/http requires, next must not use it after ServeHTTP returns; if it
// does anyway (a goroutine writing late), the writer no longer reaches the
// response: writes fail with an error, headers and flushes go nowhere. (A
// write that overlaps the return itself is a data race on the writer that
// no wrapper can make safe, as with plain net/http; it still never reaches
// another request's response, as each request has a writer of its own.)
//
// The status counted is the one the client was sent. A handler that
// panics before sending anything is counted with status 500 (net/http
// then closes the connection without a response). One that panics after
// sending its status (http.ErrAbortHandler from httputil.ReverseProxy when
// the client left mid-body, say) is counted with that status and in
// Snapshot.Aborted. Either way the panic continues unchanged, so the
// server behaves exactly as it would without the middleware.
//
// Requests served by the collector's own Handler through it are counted
// apart, in Snapshot.SelfRequests only. Behind middleware that copies the
// request, or for routers other than http.ServeMux, see Collector.Routes
// and Collector.RouteFunc.
func (c *Collector) Middleware(next http.Handler) http.Handler {
	m := &middleware{c: c, next: next}
	if c.expectNote(next) { // naming.go
		m.note.Store(noteOn)
	}
	return m
}

type middleware struct {
	c    *Collector
	next http.Handler
	// note says whether requests carry the context fallback's note:
	// noteOff, noteOn, or the probation's requests left (naming.go).
	note atomic.Int32
}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := m.c
	c.started.Add(1)
	start := time.Since(c.base)
	cw := &rw{w: w, r: r, c: c}
	if m.carryNote() {
		// An adapter below could not reach its record through the
		// writer: carry it in the context too (naming.go). Off by
		// default.
		r = c.withNote(r, cw)
	}
	finished := false
	defer func() {
		end := time.Since(c.base)
		d := end - start
		// From here the handler's writer is retired; status is what the
		// client saw.
		status, aborted := cw.retire(finished)
		if aborted {
			c.aborted.Add(1)
		}
		if cw.stream {
			c.streamsOpen.Add(-1) // it ends: counted below, by route
		}
		route, self := c.settleRoute(cw, r) // naming.go
		c.learnNote(m, cw)
		if self {
			// The collector's own Handler (dashboard, scrapes) is counted
			// apart, out of the figures it shows. It adds to no histogram,
			// so taking it back from started keeps started minus the
			// histograms' total the requests in flight.
			if !cw.selfOut {
				c.started.Add(^uint64(0))
			}
			c.selfRequests.Add(1)
		} else {
			// The route's counters (routes.go, recorder.go), in the time
			// slice of the request's end (window.go).
			wall := c.wallAt(end)
			slot, rec, method := c.slotOfWall(wall), c.routes.get(route), methodIndex(r.Method)
			if cw.stream {
				// Counted in requests and status, in no latency figure.
				rec.observeStream(slot, method, status, cw.bytes)
				c.streamsTotal.Add(1)
			} else {
				i := rec.observe(slot, method, status, int64(d), cw.bytes, c.bounds)
				lendExemplar(rec, i, int64(d), wall, r) // exemplar.go: a header lookup by one request a route every 10 ms
			}
			c.recordLive(rec, slot, wall, int64(d), status, method, cw.stream, r) // live.go
			if c.opts.SessionCookie != "" {                                       // not for the dashboard's own reads
				if id, ok := cookieValue(r.Header, c.opts.SessionCookie); ok {
					c.TouchSession(id)
				}
			}
		}
	}()
	m.next.ServeHTTP(cw.wrap(w), r)
	finished = true
}
