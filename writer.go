package vitals

import (
	"bufio"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"path"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
)

//go:generate go run gen_writer.go

// The ResponseWriter the middleware hands to the handler (rw): what it
// records (the final status, the body bytes), how it is retired when the
// handler returns, the misuse it logs as net/http would, and which of the
// generated wrapper types of writer_gen.go fits an inner writer.

// rw is the ResponseWriter that the middleware hands to the handler: it
// captures the final status and the body bytes, and shields the server
// from a handler that keeps using it after returning.
//
// The handler never sees *rw itself but one of the 32 named types of
// writer_gen.go, all with rw's layout, each with the methods of one
// combination of optional interfaces; wrap picks the one that matches the
// inner writer. Converting between them is free, and a pointer in an
// interface does not allocate.
//
// Each request gets a new rw, its one allocation (BenchmarkMiddleware). A
// pooled one cannot be made safe: the handler holds a pointer to it, so a
// late Write from a goroutine of request A (a contract violation, but a
// common bug) would land in request B's response once B reused it. Instead
// the middleware retires the writer when the handler returns, and every
// later call gets errLate, an empty header or nothing, never reaching the
// inner writer, which belongs to a finished response (net/http's own pools
// its buffers). The writer is garbage once the handler lets go of it.
//
// Before retirement only the handler's goroutine may use rw, as net/http's
// rules for a ResponseWriter already require; state alone is read by late
// callers and is atomic. The route adapters (adapters.go) may find the
// record from another goroutine (a handler that runs its inner handler on
// a goroutine of its own); they write rep only after moving state from
// rwOpen to rwReporting, and retire waits for them, so rep is never written
// once the middleware reads it.
type rw struct {
	w        http.ResponseWriter // immutable: the inner writer
	r        *http.Request       // immutable: names the server whose log misuse is reported to
	status   int                 // first final status written; 0 until then
	bytes    int64               // body bytes written
	hijacked bool                // the handler took over the connection
	stream   bool                // a stream (see Snapshot.Streams): counted in Collector.streamsOpen until retired
	state    atomic.Int32        // rwOpen, rwReporting or rwRetired (once the handler returned)

	// The route as the adapters report it (naming.go), which find this
	// record through the writers' Unwrap chain, on the request's goroutine.
	c    *Collector
	rep  routeReport
	note *routeNote // the context's record, when the fallback is on
	// selfOut: the Handler that marked this request as its own took it
	// out of started at once (written in state rwReporting).
	selfOut bool
}

// States of an rw.
const (
	rwOpen      int32 = iota // the handler runs
	rwReporting              // an adapter is writing rep
	rwRetired                // the handler returned: late calls reach nothing
)

// retired reports whether the handler has returned.
func (w *rw) retired() bool { return w.state.Load() == rwRetired }

// beginReport lets an adapter write rep, or reports false when the writer
// is already retired: the report came too late to count. endReport ends it.
func (w *rw) beginReport() bool {
	for !w.state.CompareAndSwap(rwOpen, rwReporting) {
		if w.state.Load() == rwRetired {
			return false
		}
		runtime.Gosched() // another adapter is writing rep
	}
	return true
}

func (w *rw) endReport() { w.state.Store(rwOpen) }

// errLate is what a writer used after its handler returned answers.
var errLate = errors.New("vitals: ResponseWriter used after its handler returned")

// closedChan is what CloseNotify answers once the handler returned: the
// response is over.
var closedChan = func() chan bool { c := make(chan bool); close(c); return c }()

// closeNotifier is http.CloseNotifier, which is deprecated but still
// implemented by net/http's writers, so the wrapper keeps it.
type closeNotifier interface{ CloseNotify() <-chan bool }

type flushErrorer interface{ FlushError() error }

// unwrapper is a ResponseWriter that http.ResponseController looks past.
type unwrapper interface{ Unwrap() http.ResponseWriter }

// retire ends the writer's life when the handler has returned (finished)
// or panicked, and returns the status to count: the status the client was
// sent, 200 when the handler wrote nothing (net/http then sends 200), or
// 500 when it panicked before anything was sent (net/http then closes the
// connection without a response). aborted reports a panic after the
// status was sent: the response was cut short.
func (w *rw) retire(finished bool) (status int, aborted bool) {
	for !w.state.CompareAndSwap(rwOpen, rwRetired) {
		runtime.Gosched() // an adapter on another goroutine is writing rep
	}
	status = w.status
	switch {
	case status == 0 && finished:
		status = http.StatusOK
	case status == 0:
		status = http.StatusInternalServerError
	case !finished:
		aborted = true
	}
	if status < 100 || status > 999 {
		// Only a writer other than net/http's takes such a code; what its
		// client saw is anyone's guess.
		status, aborted = http.StatusInternalServerError, false
	}
	return status, aborted
}

func (w *rw) Header() http.Header {
	if w.retired() {
		return http.Header{} // what is set there goes nowhere
	}
	return w.w.Header()
}

func (w *rw) WriteHeader(code int) {
	if w.retired() {
		return
	}
	if w.status != 0 && w.misuseLogged() {
		// net/http would ignore this call and log it, naming its caller:
		// here that would be this method, so log it here naming the
		// handler's.
		what := "superfluous response.WriteHeader call"
		if w.hijacked {
			what = "response.WriteHeader on hijacked connection"
		}
		w.logMisuse(what)
		return
	}
	w.w.WriteHeader(code) // panics for a code outside 100..999, before it is recorded
	// 1xx responses other than 101 are informational (103 Early Hints):
	// net/http sends them and the handler goes on to the final status.
	if w.status == 0 && (code < 100 || code > 199 || code == http.StatusSwitchingProtocols) {
		w.setStatus(code)
	}
}

func (w *rw) Write(p []byte) (int, error) {
	if w.retired() {
		return 0, errLate
	}
	if w.hijacked && w.misuseLogged() {
		return w.writeHijacked(len(p))
	}
	if w.status == 0 {
		w.setStatus(http.StatusOK)
	}
	n, err := w.w.Write(p)
	w.bytes += int64(n)
	return n, err
}

// WriteString forwards to the inner writer's WriteString, so that
// io.WriteString does not copy the string, or converts and writes, as
// io.WriteString would.
func (w *rw) WriteString(s string) (int, error) {
	sw, ok := w.w.(io.StringWriter)
	if !ok {
		return w.Write([]byte(s))
	}
	if w.retired() {
		return 0, errLate
	}
	if w.hijacked && w.misuseLogged() {
		return w.writeHijacked(len(s))
	}
	if w.status == 0 {
		w.setStatus(http.StatusOK)
	}
	n, err := sw.WriteString(s)
	w.bytes += int64(n)
	return n, err
}

// setStatus records the first final status, as the header is written: a
// 101 or a Content-Type of text/event-stream makes the response a stream.
func (w *rw) setStatus(code int) {
	w.status = code
	if code == http.StatusSwitchingProtocols || isEventStream(w.w.Header()) {
		w.markStream()
	}
}

// markStream counts the response as an open stream, once: the handler
// wrote an event stream's header, a 101, or hijacked the connection.
func (w *rw) markStream() {
	if !w.stream && w.c != nil {
		w.stream = true
		w.c.streamsOpen.Add(1)
	}
}

// isEventStream reports whether h declares server-sent events. One map
// lookup, no allocation.
func isEventStream(h http.Header) bool {
	v := h["Content-Type"]
	if len(v) == 0 {
		return false
	}
	t := v[0]
	if i := strings.IndexByte(t, ';'); i >= 0 {
		t = t[:i]
	}
	return strings.EqualFold(strings.TrimSpace(t), "text/event-stream")
}

// writeHijacked answers a write after Hijack as net/http's writer does,
// naming the handler in the log.
func (w *rw) writeHijacked(n int) (int, error) {
	if n > 0 {
		w.logMisuse("response.Write on hijacked connection")
	}
	return 0, http.ErrHijacked
}

// unwrap returns the inner writer for http.ResponseController, or, once
// the handler returned, a writer that refuses everything.
func (w *rw) unwrap() http.ResponseWriter {
	if w.retired() {
		return retired{}
	}
	return w.w
}

// flush and flushError refuse once the handler has hijacked the
// connection: it is the handler's now (net/http's own writer panics).
// Otherwise they record the status the flush sends and flush as
// http.ResponseController would from the inner writer: the first FlushError
// or Flush down its Unwrap chain. So a flush that a wrapper without Flush
// would have let the controller take past the middleware is recorded too.
func (w *rw) flush() { _ = w.flushError() }

func (w *rw) flushError() error {
	if w.retired() {
		return errLate
	}
	if w.hijacked {
		return http.ErrHijacked
	}
	if w.status == 0 {
		w.setStatus(http.StatusOK)
	}
	return http.NewResponseController(w.w).Flush()
}

// hijack takes the connection as http.ResponseController would from the
// inner writer (the first Hijack down its Unwrap chain), recording it.
func (w *rw) hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.retired() {
		return nil, nil, errLate
	}
	conn, brw, err := http.NewResponseController(w.w).Hijack()
	if err == nil {
		w.hijacked = true
		if w.status == 0 {
			// The handler now speaks to the connection itself; the usual
			// case is a websocket, which answers 101 Switching Protocols.
			w.status = http.StatusSwitchingProtocols
		}
		w.markStream()
	}
	return conn, brw, err
}

// readFrom forwards to the inner ReadFrom. It records status 200 only
// once bytes were written: net/http's ReadFrom writes nothing, headers
// included, until the source yields its first bytes, so a handler whose
// upstream fails at once can still answer 502.
func (w *rw) readFrom(src io.Reader) (int64, error) {
	if w.retired() {
		return 0, errLate
	}
	n, err := w.w.(io.ReaderFrom).ReadFrom(src)
	if n > 0 && w.status == 0 {
		w.setStatus(http.StatusOK)
	}
	w.bytes += n
	return n, err
}

func (w *rw) push(target string, opts *http.PushOptions) error {
	if w.retired() {
		return errLate
	}
	return w.w.(http.Pusher).Push(target, opts)
}

func (w *rw) closeNotify() <-chan bool {
	if w.retired() {
		return closedChan
	}
	return w.w.(closeNotifier).CloseNotify()
}

// misuseLogged reports whether the inner writer is one of net/http's that
// logs a superfluous WriteHeader, or a write after Hijack, naming the
// caller: the wrapper then does it in its place, so the log names the
// handler rather than the wrapper. Other writers get the call as it came.
// Only called on those mistakes, never on the way of a correct handler.
func (w *rw) misuseLogged() bool {
	switch reflect.TypeOf(w.w).String() {
	case "*http.response", "*http.timeoutWriter":
		return true
	}
	return false
}

// logMisuse logs "http: <what> from <caller> (<file>:<line>)" where
// net/http would: to the server's ErrorLog, else the log package.
func (w *rw) logMisuse(what string) {
	f := handlerFrame()
	serverLogf(w.r, "http: %s from %s (%s:%d)", what, f.Function, path.Base(f.File), f.Line)
}

// wrapperFuncs prefixes the function names of the wrapper's methods:
// "github.com/vitalsgo/vitals.(*rw" covers (*rw), (*rwF) and the rest.
var wrapperFuncs = reflect.TypeFor[rw]().PkgPath() + ".(*rw"

// handlerFrame returns the frame that called the wrapper, skipping the
// wrapper's methods and net/http's functions (http.Error, say) as
// net/http's own relevantCaller skips its own.
func handlerFrame() runtime.Frame {
	var pcs [16]uintptr
	n := runtime.Callers(2, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !more || !strings.HasPrefix(f.Function, "net/http.") && !strings.HasPrefix(f.Function, wrapperFuncs) {
			return f
		}
	}
}

// serverLogf logs to the ErrorLog of the server serving r, else to the log
// package, as net/http does.
func serverLogf(r *http.Request, format string, args ...any) {
	if s, _ := r.Context().Value(http.ServerContextKey).(*http.Server); s != nil && s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}

// retired is what Unwrap returns once the handler returned, so that
// http.ResponseController's late calls fail too instead of reaching a
// finished response's writer.
type retired struct{}

func (retired) Header() http.Header                          { return http.Header{} }
func (retired) WriteHeader(int)                              {}
func (retired) Write([]byte) (int, error)                    { return 0, errLate }
func (retired) FlushError() error                            { return errLate }
func (retired) Hijack() (net.Conn, *bufio.ReadWriter, error) { return nil, nil, errLate }
func (retired) SetReadDeadline(time.Time) error              { return errLate }
func (retired) SetWriteDeadline(time.Time) error             { return errLate }
func (retired) EnableFullDuplex() error                      { return errLate }
