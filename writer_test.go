package vitals

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testInner is a ResponseWriter that records what reaches it; the
// generated inner* types add optional interfaces on top of it.
type testInner struct {
	header http.Header
	codes  []int
	body   bytes.Buffer
	calls  []string
}

func newTestInner() *testInner { return &testInner{header: make(http.Header)} }

func (w *testInner) Header() http.Header  { return w.header }
func (w *testInner) WriteHeader(code int) { w.codes = append(w.codes, code) }
func (w *testInner) Write(p []byte) (int, error) {
	return w.body.Write(p)
}
func (w *testInner) flush() { w.calls = append(w.calls, "flush") }
func (w *testInner) hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.calls = append(w.calls, "hijack")
	return nil, nil, nil
}
func (w *testInner) readFrom(src io.Reader) (int64, error) {
	w.calls = append(w.calls, "readFrom")
	return w.body.ReadFrom(src)
}
func (w *testInner) push(string, *http.PushOptions) error {
	w.calls = append(w.calls, "push")
	return nil
}
func (w *testInner) closeNotify() <-chan bool {
	w.calls = append(w.calls, "closeNotify")
	return nil
}

func TestWrapperHasExactlyInnerInterfaces(t *testing.T) {
	inners := innerWriters(newTestInner())
	if len(inners) != 32 {
		t.Fatalf("%d inner writers, want 32", len(inners))
	}
	for mask, inner := range inners {
		if got := features(inner); got != mask {
			t.Fatalf("inner writer %d has features %b", mask, got)
		}
		cw := &rw{w: inner}
		w := cw.wrap(inner)
		if got := features(w); got != mask {
			t.Errorf("%T wrapping %T: features %05b, want %05b", w, inner, got, mask)
		}
		// Grouped with Flush, and always present: see gen_writer.go.
		if _, ok := w.(interface{ FlushError() error }); ok != (mask&hasFlusher != 0) {
			t.Errorf("%T: has FlushError %v, want it with Flush", w, ok)
		}
		if _, ok := w.(io.StringWriter); !ok {
			t.Errorf("%T: no WriteString", w)
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok || u.Unwrap() != inner {
			t.Errorf("%T: Unwrap does not return the inner writer", w)
		}
	}
}

func TestWrapperForwardsOptionalCalls(t *testing.T) {
	base := newTestInner()
	all := innerWriters(base)[hasFlusher|hasHijacker|hasReaderFrom|hasPusher|hasCloseNotifier]
	cw := &rw{w: all}
	w := cw.wrap(all)
	w.(http.Flusher).Flush()
	if err := w.(interface{ FlushError() error }).FlushError(); err != nil {
		t.Errorf("FlushError over a plain Flush = %v, want nil", err)
	}
	_, _, _ = w.(http.Hijacker).Hijack()
	n, err := w.(io.ReaderFrom).ReadFrom(strings.NewReader("abc"))
	_ = w.(http.Pusher).Push("/x", nil)
	_ = w.(closeNotifier).CloseNotify()
	want := []string{"flush", "flush", "hijack", "readFrom", "push", "closeNotify"}
	if fmt.Sprint(base.calls) != fmt.Sprint(want) {
		t.Errorf("inner calls = %v, want %v", base.calls, want)
	}
	if n != 3 || err != nil || cw.bytes != 3 || cw.status != http.StatusOK {
		t.Errorf("ReadFrom: n=%d err=%v, recorded bytes=%d status=%d", n, err, cw.bytes, cw.status)
	}
}

func TestRealServerHijackWebsocketStyle(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	srv, done := serve(t, c, func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		line, _ := brw.ReadString('\n')
		_, _ = brw.WriteString("echo: " + line)
		_ = brw.Flush()
	})
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade response %v, %v", resp, err)
	}
	_, _ = io.WriteString(conn, "ping\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo: ping\n" {
		t.Fatalf("echo = %q, %v", line, err)
	}
	served(t, done)
	if got := codeCounts(c); got["get 101"] != 1 {
		t.Errorf("counts = %v, want get 101", got)
	}
}

func TestRealServerSSEFlush(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	release := make(chan struct{})
	srv, done := serve(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release // the client must see the first event before the handler ends
		_, _ = io.WriteString(w, "data: second\n\n")
	})
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event %q, %v", line, err)
	}
	close(release)
	rest, _ := io.ReadAll(br)
	if string(rest) != "\ndata: second\n\n" {
		t.Errorf("rest = %q", rest)
	}
	served(t, done)
	c.refresh()
	if got := c.Snapshot().BytesWritten; got != 27 || codeCounts(c)["get 200"] != 1 {
		t.Errorf("BytesWritten = %d, counts %v; want 27 and get 200", got, codeCounts(c))
	}
}

func TestRealServerResponseController(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	srv, done := serve(t, c, func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("SetWriteDeadline: %v", err)
		}
		if err := rc.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("SetReadDeadline: %v", err)
		}
		if err := rc.EnableFullDuplex(); err != nil {
			t.Errorf("EnableFullDuplex: %v", err)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	served(t, done)
	if got := codeCounts(c); got["get 204"] != 1 {
		t.Errorf("counts = %v, want get 204", got)
	}
}

func TestRealServerServeFileUsesReaderFrom(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	path := filepath.Join(t.TempDir(), "big.bin")
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	srv, done := serve(t, c, func(w http.ResponseWriter, r *http.Request) {
		// http.ServeFile copies with io.Copy, which hands the file to the
		// writer's ReadFrom: net/http's own ReadFrom uses sendfile.
		u, _ := w.(interface{ Unwrap() http.ResponseWriter })
		if _, ok := w.(io.ReaderFrom); !ok || u == nil {
			t.Error("writer lost io.ReaderFrom or Unwrap")
		} else if _, ok := u.Unwrap().(io.ReaderFrom); !ok {
			t.Error("inner writer is not an io.ReaderFrom")
		}
		http.ServeFile(w, r, path)
	})
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(body, data) {
		t.Fatalf("body: %d bytes, want %d identical", len(body), len(data))
	}
	served(t, done)
	c.refresh()
	if got := codeCounts(c); got["get 200"] != 1 {
		t.Errorf("counts = %v, want get 200", got)
	}
	if got := c.Snapshot().BytesWritten; got != uint64(len(data)) {
		t.Errorf("BytesWritten = %d, want %d", got, len(data))
	}
}

func TestRealServerHTTP2KeepsPusher(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	var got int
	srv := httptest.NewUnstartedServer(c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = features(w)
		_, _ = io.WriteString(w, r.Proto)
	})))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	client.Transport.(*http.Transport).ForceAttemptHTTP2 = true
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "HTTP/2.0" {
		t.Skipf("served over %s, not HTTP/2", body)
	}
	if got != hasFlusher|hasPusher|hasCloseNotifier {
		t.Errorf("HTTP/2 writer features %05b, want Flusher|Pusher|CloseNotifier", got)
	}
}

func TestRealServerLateWriteNeverReachesAnotherResponse(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	bRunning := make(chan struct{})
	lateDone := make(chan struct{})
	var (
		lateHeader            http.Header
		lateN                 int
		lateErr, lateFlushErr error
		latePanic             any
	)
	srv, done := serve(t, c, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/a" {
			_, _ = io.WriteString(w, "body of A")
			// A goroutine that outlives the handler: it writes once request
			// B is being served, which may reuse A's writer.
			go func() {
				defer close(lateDone)
				defer func() { latePanic = recover() }()
				<-bRunning
				lateHeader = w.Header()
				lateHeader.Set("X-Leak", "secret-of-A")
				w.WriteHeader(http.StatusTeapot)
				lateN, lateErr = w.Write([]byte("secret-of-A"))
				_, _ = io.WriteString(w, "secret-of-A")
				w.(http.Flusher).Flush()
				lateFlushErr = http.NewResponseController(w).Flush()
			}()
			return
		}
		close(bRunning)
		<-lateDone
		_, _ = io.WriteString(w, "body of B")
	})
	if _, body := getURL(t, srv.URL+"/a"); body != "body of A" {
		t.Fatalf("A's body %q", body)
	}
	served(t, done)
	resp, body := getURL(t, srv.URL+"/b")
	served(t, done)
	if latePanic != nil {
		t.Fatalf("a late use of the writer panicked: %v", latePanic)
	}
	if body != "body of B" || resp.StatusCode != 200 || resp.Header.Get("X-Leak") != "" {
		t.Errorf("B got status %d, X-Leak %q, body %q: A's late writes reached it", resp.StatusCode, resp.Header.Get("X-Leak"), body)
	}
	if lateHeader == nil || lateN != 0 || !errors.Is(lateErr, errLate) || !errors.Is(lateFlushErr, errLate) {
		t.Errorf("late Header %v, Write = %d, %v, Flush = %v; want a header, 0 and errLate twice", lateHeader, lateN, lateErr, lateFlushErr)
	}
	c.refresh()
	if got := codeCounts(c); got["get 200"] != 2 || len(got) != 1 {
		t.Errorf("counts = %v, want get 200: 2", got)
	}
}

func TestWriterRetiredAfterHandler(t *testing.T) {
	for mask := range innerWriters(newTestInner()) {
		base := newTestInner()
		inner := innerWriters(base)[mask]
		var w http.ResponseWriter
		c, _ := newTestCollector(t, Options{})
		c.Middleware(http.HandlerFunc(func(hw http.ResponseWriter, _ *http.Request) { w = hw })).
			ServeHTTP(inner, httptest.NewRequest("GET", "/", nil))
		if w.Header() == nil {
			t.Errorf("%T: late Header is nil", w)
		}
		w.Header().Set("X", "y")
		w.WriteHeader(500)
		if n, err := w.Write([]byte("late")); n != 0 || !errors.Is(err, errLate) {
			t.Errorf("%T: late Write = %d, %v", w, n, err)
		}
		if n, err := io.WriteString(w, "late"); n != 0 || !errors.Is(err, errLate) {
			t.Errorf("%T: late WriteString = %d, %v", w, n, err)
		}
		rc := http.NewResponseController(w)
		if err := rc.Flush(); !errors.Is(err, errLate) {
			t.Errorf("%T: late ResponseController.Flush = %v", w, err)
		}
		if _, _, err := rc.Hijack(); err == nil {
			t.Errorf("%T: late Hijack succeeded", w)
		}
		if err := rc.SetWriteDeadline(time.Now()); !errors.Is(err, errLate) {
			t.Errorf("%T: late SetWriteDeadline = %v", w, err)
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		if rf, ok := w.(io.ReaderFrom); ok {
			if n, err := rf.ReadFrom(strings.NewReader("late")); n != 0 || !errors.Is(err, errLate) {
				t.Errorf("%T: late ReadFrom = %d, %v", w, n, err)
			}
		}
		if p, ok := w.(http.Pusher); ok {
			if err := p.Push("/x", nil); !errors.Is(err, errLate) {
				t.Errorf("%T: late Push = %v", w, err)
			}
		}
		if cn, ok := w.(closeNotifier); ok {
			select {
			case <-cn.CloseNotify():
			default:
				t.Errorf("%T: late CloseNotify channel is open", w)
			}
		}
		if len(base.calls) != 0 || len(base.codes) != 0 || base.body.Len() != 0 || len(base.header) != 0 {
			t.Errorf("%T: late calls reached the inner writer: calls %v codes %v body %q header %v", w, base.calls, base.codes, base.body.String(), base.header)
		}
	}
}

// flushErrInner is a writer whose FlushError fails, as net/http's does
// once the client is gone.
type flushErrInner struct {
	*testInner
	err error
}

func (w *flushErrInner) Flush()            { _ = w.FlushError() }
func (w *flushErrInner) FlushError() error { return w.err }

func TestResponseControllerFlushReturnsInnerError(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	want := errors.New("client gone")
	var got error
	c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		got = http.NewResponseController(w).Flush()
	})).ServeHTTP(&flushErrInner{newTestInner(), want}, httptest.NewRequest("GET", "/", nil))
	if got != want {
		t.Errorf("ResponseController.Flush = %v, want %v", got, want)
	}
}

func TestRealServerFlushErrorWhenClientLeaves(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	clientGone := make(chan struct{})
	var flushErr error
	srv, done := serve(t, c, func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_, _ = io.WriteString(w, "data: first\n\n")
		if err := rc.Flush(); err != nil {
			t.Errorf("first Flush: %v", err)
		}
		<-clientGone
		event := []byte("data: " + strings.Repeat("x", 4096) + "\n\n")
		for range 10000 { // the client's socket is closed: writes fail well before
			_, _ = w.Write(event)
			if flushErr = rc.Flush(); flushErr != nil {
				return
			}
		}
	})
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // closes the connection: the body was not read to its end
	close(clientGone)
	served(t, done)
	if flushErr == nil {
		t.Error("ResponseController.Flush never reported that the client left")
	}
}

// stringInner is a writer with WriteString, as net/http's are.
type stringInner struct {
	*testInner
	n int
}

func (w *stringInner) WriteString(s string) (int, error) { w.n += len(s); return len(s), nil }

func TestWriteStringForwardedWithoutAllocating(t *testing.T) {
	inner := &stringInner{testInner: newTestInner()}
	cw := &rw{w: inner}
	w := cw.wrap(inner)
	s := strings.Repeat("x", 1000)
	allocs := testing.AllocsPerRun(100, func() { _, _ = io.WriteString(w, s) })
	if allocs != 0 || inner.n != 101*len(s) || inner.body.Len() != 0 || cw.bytes != int64(inner.n) || cw.status != 200 {
		t.Errorf("io.WriteString: %v allocs, inner WriteString got %d bytes, Write %d; recorded %d bytes, status %d",
			allocs, inner.n, inner.body.Len(), cw.bytes, cw.status)
	}
	// Without WriteString inside, it is a Write, as io.WriteString makes it.
	base := newTestInner()
	cw = &rw{w: base}
	if n, err := io.WriteString(cw.wrap(base), "abc"); n != 3 || err != nil || base.body.String() != "abc" || cw.bytes != 3 {
		t.Errorf("WriteString over Write: %d, %v, body %q, recorded %d", n, err, base.body.String(), cw.bytes)
	}
}

// optionalInterfaces names the optional interfaces w has, of those that
// net/http's writers offer.
func optionalInterfaces(w http.ResponseWriter) []string {
	var got []string
	for name, ok := range map[string]bool{
		"Flusher":       is[http.Flusher](w),
		"FlushError":    is[interface{ FlushError() error }](w),
		"Hijacker":      is[http.Hijacker](w),
		"ReaderFrom":    is[io.ReaderFrom](w),
		"StringWriter":  is[io.StringWriter](w),
		"Pusher":        is[http.Pusher](w),
		"CloseNotifier": is[closeNotifier](w),
	} {
		if ok {
			got = append(got, name)
		}
	}
	slices.Sort(got)
	return got
}

func is[T any](w http.ResponseWriter) bool { _, ok := w.(T); return ok }

func TestRealServerWrapperOffersWhatNetHTTPOffers(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprint("HTTP/2 ", h2), func(t *testing.T) {
			c, _ := newTestCollector(t, Options{})
			var inner, outer []string
			var proto string
			mw := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				outer, proto = optionalInterfaces(w), r.Proto
			}))
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				inner = optionalInterfaces(w)
				mw.ServeHTTP(w, r)
			}))
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			defer srv.Close()
			resp, err := srv.Client().Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if h2 != (proto == "HTTP/2.0") {
				t.Fatalf("served over %s", proto)
			}
			if fmt.Sprint(inner) != fmt.Sprint(outer) {
				t.Errorf("%s: net/http's writer has %v, the middleware's %v", proto, inner, outer)
			}
		})
	}
}

// failingReader fails at once, like an upstream that is down.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("upstream down") }

func TestRealServerReadFromFailureThenError(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	srv, done := serve(t, c, func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(io.ReaderFrom); !ok {
			t.Error("no ReadFrom")
		}
		w.Header().Set("Content-Type", "text/plain")
		if _, err := io.Copy(w, failingReader{}); err != nil {
			http.Error(w, "bad gateway", http.StatusBadGateway)
		}
	})
	resp, _ := getURL(t, srv.URL)
	served(t, done)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("client got %d", resp.StatusCode)
	}
	c.refresh()
	if got := codeCounts(c); got["get 502"] != 1 || len(got) != 1 {
		t.Errorf("counts = %v, want get 502 as the client saw", got)
	}
}

func TestReadFromRecordsStatusOnlyOnceWritten(t *testing.T) {
	for _, tt := range []struct {
		name       string
		src        io.Reader
		wantStatus int
	}{
		{"failing", failingReader{}, 0},
		{"empty", strings.NewReader(""), 0},
		{"bytes", strings.NewReader("abc"), 200},
	} {
		base := newTestInner()
		inner := innerWriters(base)[hasReaderFrom]
		cw := &rw{w: inner}
		_, _ = cw.wrap(inner).(io.ReaderFrom).ReadFrom(tt.src)
		if cw.status != tt.wantStatus {
			t.Errorf("%s: status %d, want %d", tt.name, cw.status, tt.wantStatus)
		}
	}
}

func TestRealServerMisuseBlamesTheHandler(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string // the log line's start, before " from "
	}{
		{"second WriteHeader", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(201)
			w.WriteHeader(500) // blamed: second WriteHeader
		}, "http: superfluous response.WriteHeader call"},
		{"http.Error after Write", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "partial")
			http.Error(w, "oops", 500) // blamed: http.Error after Write
		}, "http: superfluous response.WriteHeader call"},
		{"WriteHeader after Hijack", func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := http.NewResponseController(w).Hijack()
			defer conn.Close()
			w.WriteHeader(200) // blamed: WriteHeader after Hijack
		}, "http: response.WriteHeader on hijacked connection"},
		{"Write after Hijack", func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := http.NewResponseController(w).Hijack()
			defer conn.Close()
			if _, err := w.Write([]byte("x")); err != http.ErrHijacked { // blamed: Write after Hijack
				t.Errorf("Write after Hijack: %v, want http.ErrHijacked", err)
			}
		}, "http: response.Write on hijacked connection"},
	}
	src, err := os.ReadFile("writer_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := 1 + bytes.Count(src[:bytes.Index(src, []byte("// blamed: "+tt.name+"\n"))], []byte("\n"))
			c, _ := newTestCollector(t, Options{})
			srv, done, logs := serveLogged(t, c, tt.handler)
			if resp, err := http.Get(srv.URL); err == nil {
				resp.Body.Close()
			}
			served(t, done)
			want := fmt.Sprintf("%s from %s (writer_test.go:%d)\n", tt.want, funcName(tt.handler), line)
			if got := logs.String(); got != want {
				t.Errorf("server log:\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// funcName is the name runtime frames give f.
func funcName(f any) string { return runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name() }

func TestRealServerFlushAfterHijackRefused(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	var flushErr error
	srv, done := serve(t, c, func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		w.(http.Flusher).Flush() // net/http's own writer panics here
		flushErr = http.NewResponseController(w).Flush()
	})
	if resp, err := http.Get(srv.URL); err == nil {
		resp.Body.Close()
	}
	served(t, done)
	c.refresh()
	if s := c.Snapshot(); flushErr != http.ErrHijacked || s.Aborted != 0 || codeCounts(c)["get 101"] != 1 {
		t.Errorf("Flush after Hijack = %v, Aborted %d, counts %v; want http.ErrHijacked, 0, get 101", flushErr, s.Aborted, codeCounts(c))
	}
}

func TestRealServerTimeoutHandlerMisuseBlamesTheHandler(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	logs := new(syncBuffer)
	done := make(chan struct{}, 1)
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		w.WriteHeader(201)
		w.WriteHeader(500) // blamed: behind TimeoutHandler
	}))
	srv := httptest.NewUnstartedServer(http.TimeoutHandler(h, time.Minute, "timeout"))
	srv.Config.ErrorLog = log.New(logs, "", 0)
	srv.Start()
	defer srv.Close()
	if resp, _ := getURL(t, srv.URL); resp.StatusCode != 201 {
		t.Errorf("status %d", resp.StatusCode)
	}
	served(t, done)
	src, err := os.ReadFile("writer_test.go")
	if err != nil {
		t.Fatal(err)
	}
	line := 1 + bytes.Count(src[:bytes.Index(src, []byte("// blamed: behind TimeoutHandler\n"))], []byte("\n"))
	if want := fmt.Sprintf("writer_test.go:%d)\n", line); !strings.HasPrefix(logs.String(), "http: superfluous response.WriteHeader call from ") || !strings.HasSuffix(logs.String(), want) {
		t.Errorf("server log %q, want the superfluous WriteHeader blamed on %s", logs, want)
	}
}

// The wrapper is chosen once per inner writer type: featuresOf agrees with
// features for every combination, cached or not (32 types: more than the
// cache holds), the cache stays bounded, and a cached type costs no
// allocation.
func TestFeaturesCachedPerType(t *testing.T) {
	featureCache.Store(nil)
	defer featureCache.Store(nil)
	inners := innerWriters(newTestInner())
	for range 2 {
		for mask, inner := range inners {
			if got := featuresOf(inner); got != mask {
				t.Fatalf("featuresOf(%T) = %05b, want %05b", inner, got, mask)
			}
		}
	}
	if n := len(*featureCache.Load()); n != maxFeatureTypes {
		t.Errorf("cache holds %d types, want %d", n, maxFeatureTypes)
	}
	for i, e := range *featureCache.Load() {
		if e.t != reflect.TypeOf(inners[i]) || e.f != i {
			t.Errorf("entry %d: %v %05b, want %T %05b", i, e.t, e.f, inners[i], i)
		}
	}
	cached, uncached := inners[3], inners[31]
	if n := testing.AllocsPerRun(100, func() { featuresOf(cached); featuresOf(uncached) }); n != 0 {
		t.Errorf("featuresOf allocates %v times", n)
	}
}

// Requests adding writer types at once each get the right wrapper, and
// the cache ends up with each type once, at most maxFeatureTypes.
func TestFeaturesCacheConcurrent(t *testing.T) {
	featureCache.Store(nil)
	defer featureCache.Store(nil)
	inners := innerWriters(newTestInner())[:maxFeatureTypes]
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range 8 {
		wg.Go(func() {
			<-start
			for i := range 100 {
				mask := (g + i) % len(inners)
				if got := featuresOf(inners[mask]); got != mask {
					t.Errorf("featuresOf(%T) = %05b, want %05b", inners[mask], got, mask)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	seen := map[reflect.Type]bool{}
	for _, e := range *featureCache.Load() {
		if seen[e.t] {
			t.Errorf("%v cached twice", e.t)
		}
		seen[e.t] = true
	}
}

// BenchmarkWrapperChoice is the cost of choosing the wrapper type for a
// request served by net/http's HTTP/1 writer (Flusher, Hijacker,
// ReaderFrom, CloseNotifier): asking the writer for its interfaces, as
// each request once did (features), against looking its type up
// (featuresOf, what wrap does).
func BenchmarkWrapperChoice(b *testing.B) {
	inner := innerWriters(newTestInner())[hasFlusher|hasHijacker|hasReaderFrom|hasCloseNotifier]
	for _, bc := range []struct {
		name string
		f    func(http.ResponseWriter) int
	}{{"asserted", features}, {"per-type", featuresOf}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n += bc.f(inner)
			}
			if n == 0 {
				b.Fatal("no features")
			}
		})
	}
}

// accessLog is an access-log middleware of the usual kind: its writer has
// Unwrap, for http.ResponseController, and none of the optional interfaces.
type accessLog struct {
	http.ResponseWriter
	status int
}

func (w *accessLog) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}
func (w *accessLog) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serveBehindAccessLog serves h through the middleware with accessLog
// outside it, on a real server.
func serveBehindAccessLog(t *testing.T, c *Collector, h http.HandlerFunc) (*httptest.Server, <-chan struct{}) {
	t.Helper()
	done := make(chan struct{}, 16)
	mw := c.Middleware(h)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		mw.ServeHTTP(&accessLog{ResponseWriter: w}, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, done
}

// With a writer outside the middleware that has Unwrap but no Flush, the
// controller's flush still goes through the middleware's writer, which
// records the 200 it sends: the 500 written after it is superfluous, the
// client gets 200 and so does the count.
func TestRealServerControllerFlushPastOuterWrapperCountsWhatClientGot(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	srv, done := serveBehindAccessLog(t, c, func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(http.Flusher); !ok {
			t.Error("the writer has no Flush, though the server's writer below the access log has")
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		w.WriteHeader(http.StatusInternalServerError)
	})
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	served(t, done)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("client got %d, want 200", resp.StatusCode)
	}
	if got := codeCounts(c); got["get 200"] != 1 || len(got) != 1 {
		t.Errorf("counts = %v, want get 200 only: what the client got", got)
	}
}

// A hijack through the controller past an outer writer without Hijack is
// counted as a direct one: 101.
func TestRealServerControllerHijackPastOuterWrapper(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	srv, done := serveBehindAccessLog(t, c, func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		if _, err := w.Write([]byte("x")); !errors.Is(err, http.ErrHijacked) {
			t.Errorf("Write after Hijack: %v, want ErrHijacked", err)
		}
	})
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade response %v, %v", resp, err)
	}
	served(t, done)
	if got := codeCounts(c); got["get 101"] != 1 || len(got) != 1 {
		t.Errorf("counts = %v, want get 101 only", got)
	}
}

// The wrapper offers Flush and Hijack when the controller would find them
// down the inner writer's Unwrap chain, and nothing else that the inner
// writer itself lacks; flushing and hijacking through it reach the writer
// that has them, and the wrapper's choice costs no allocation.
func TestWrapperOffersWhatTheControllerFindsBelow(t *testing.T) {
	base := newTestInner()
	all := innerWriters(base)[hasFlusher|hasHijacker|hasReaderFrom|hasPusher|hasCloseNotifier]
	outer := &accessLog{ResponseWriter: all}
	cw := &rw{w: outer, r: httptest.NewRequest("GET", "/", nil)}
	w := cw.wrap(outer)
	if got := features(w); got != hasFlusher|hasHijacker {
		t.Fatalf("%T: features %05b, want Flusher|Hijacker", w, got)
	}
	w.(http.Flusher).Flush()
	if _, _, err := w.(http.Hijacker).Hijack(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(base.calls) != "[flush hijack]" || cw.status != http.StatusOK || !cw.hijacked {
		t.Errorf("inner calls %v, status %d, hijacked %v", base.calls, cw.status, cw.hijacked)
	}
	// Nothing below: nothing offered. A cycle ends the walk.
	if got := featuresOf(&accessLog{ResponseWriter: newTestInner()}); got != 0 {
		t.Errorf("features over a plain writer %05b, want 0", got)
	}
	loop := &accessLog{}
	loop.ResponseWriter = loop
	if got := featuresOf(loop); got != 0 {
		t.Errorf("features of a cycle %05b, want 0", got)
	}
	if n := testing.AllocsPerRun(100, func() { featuresOf(outer) }); n != 0 {
		t.Errorf("featuresOf allocates %v times", n)
	}
	fw := &rw{w: &accessLog{ResponseWriter: flushOnly{newTestInner()}}}
	if n := testing.AllocsPerRun(100, func() { fw.flush() }); n != 0 {
		t.Errorf("a flush through the chain allocates %v times", n)
	}
}

// flushOnly is a writer with a Flush that records nothing.
type flushOnly struct{ http.ResponseWriter }

func (flushOnly) Flush() {}
