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
	"strings"
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

// codeCounts returns the middleware's counts by "method code", summed
// over routes.
func codeCounts(c *Collector) map[string]uint64 {
	m := map[string]uint64{}
	for _, r := range c.routes.list() {
		r.forEachCode(func(method, code int, n uint64) {
			m[fmt.Sprintf("%s %d", methodNames[method], code)] += n
		})
	}
	return m
}

func TestWrapperHasExactlyInnerInterfaces(t *testing.T) {
	for mask, inner := range innerWriters(newTestInner()) {
		if got := features(inner); got != mask {
			t.Fatalf("inner writer %d has features %b", mask, got)
		}
		cw := &rw{w: inner}
		w := cw.wrap(inner)
		if got := features(w); got != mask {
			t.Errorf("%T wrapping %T: features %04b, want %04b", w, inner, got, mask)
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok || u.Unwrap() != inner {
			t.Errorf("%T: Unwrap does not return the inner writer", w)
		}
	}
}

func TestWrapperForwardsOptionalCalls(t *testing.T) {
	base := newTestInner()
	all := innerWriters(base)[hasFlusher|hasHijacker|hasReaderFrom|hasPusher]
	cw := &rw{w: all}
	w := cw.wrap(all)
	w.(http.Flusher).Flush()
	_, _, _ = w.(http.Hijacker).Hijack()
	n, err := w.(io.ReaderFrom).ReadFrom(strings.NewReader("abc"))
	_ = w.(http.Pusher).Push("/x", nil)
	want := []string{"flush", "hijack", "readFrom", "push"}
	if fmt.Sprint(base.calls) != fmt.Sprint(want) {
		t.Errorf("inner calls = %v, want %v", base.calls, want)
	}
	if n != 3 || err != nil || cw.bytes != 3 || cw.status != http.StatusOK {
		t.Errorf("ReadFrom: n=%d err=%v, recorded bytes=%d status=%d", n, err, cw.bytes, cw.status)
	}
}

func TestMiddlewareStatusCapture(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		handler   func(w http.ResponseWriter, r *http.Request)
		wantKey   string // "method code" counted
		wantBytes uint64
		wantCodes []int // WriteHeader calls reaching the inner writer
	}{
		{"explicit code", "GET", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(404)
		}, "get 404", 0, []int{404}},
		{"implicit 200 on write", "POST", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("hello"))
		}, "post 200", 5, nil},
		{"nothing written", "GET", func(http.ResponseWriter, *http.Request) {}, "get 200", 0, nil},
		{"first code wins", "PUT", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(201)
			w.WriteHeader(500)
			_, _ = w.Write([]byte("x"))
		}, "put 201", 1, []int{201, 500}},
		{"write then code", "GET", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("ab"))
			w.WriteHeader(503)
		}, "get 200", 2, []int{503}},
		{"1xx is not final", "GET", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(103)
			w.WriteHeader(100)
			w.WriteHeader(202)
		}, "get 202", 0, []int{103, 100, 202}},
		{"101 is final", "GET", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(101)
		}, "get 101", 0, []int{101}},
		{"flush means 200", "GET", func(w http.ResponseWriter, _ *http.Request) {
			http.NewResponseController(w).Flush()
			w.WriteHeader(500)
		}, "get 200", 0, []int{500}},
		{"unknown method", "BREW", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(418)
		}, "unknown 418", 0, []int{418}},
		{"lower-case method is not GET", "get", func(http.ResponseWriter, *http.Request) {}, "unknown 200", 0, nil},
		{"code above 599", "GET", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(799)
		}, "get 799", 0, []int{799}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCollector(t, Options{})
			inner := innerWriters(newTestInner())[hasFlusher]
			r := httptest.NewRequest(tt.method, "/", nil)
			c.Middleware(http.HandlerFunc(tt.handler)).ServeHTTP(inner, r)
			c.refresh()
			got := codeCounts(c)
			if len(got) != 1 || got[tt.wantKey] != 1 {
				t.Errorf("counts = %v, want {%s: 1}", got, tt.wantKey)
			}
			s := c.Snapshot()
			if s.Requests != 1 || s.InFlight != 0 || s.Latency.Samples != 1 {
				t.Errorf("Requests %d InFlight %d Samples %d, want 1 0 1", s.Requests, s.InFlight, s.Latency.Samples)
			}
			if s.BytesWritten != tt.wantBytes {
				t.Errorf("BytesWritten = %d, want %d", s.BytesWritten, tt.wantBytes)
			}
			base := inner.(*innerF).testInner
			if fmt.Sprint(base.codes) != fmt.Sprint(tt.wantCodes) {
				t.Errorf("inner WriteHeader calls %v, want %v", base.codes, tt.wantCodes)
			}
		})
	}
}

func TestMiddlewarePanicIsCountedAndRaised(t *testing.T) {
	for _, v := range []any{"boom", http.ErrAbortHandler, errors.New("custom")} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			c, _ := newTestCollector(t, Options{})
			h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(200) // a panic after the header still counts as 500
				panic(v)
			}))
			var got any
			func() {
				defer func() { got = recover() }()
				h.ServeHTTP(innerWriters(newTestInner())[0], httptest.NewRequest("GET", "/", nil))
			}()
			if got != v {
				t.Fatalf("recovered %v, want the handler's own panic value %v", got, v)
			}
			c.refresh()
			if cc := codeCounts(c); cc["get 500"] != 1 || len(cc) != 1 {
				t.Errorf("counts = %v, want {get 500: 1}", cc)
			}
			if s := c.Snapshot(); s.InFlight != 0 || s.Requests != 1 || s.Status.ServerError != 1 {
				t.Errorf("InFlight %d Requests %d 5xx %d", s.InFlight, s.Requests, s.Status.ServerError)
			}
		})
	}
}

func TestMiddlewareSessionCookie(t *testing.T) {
	c, _ := newTestCollector(t, Options{SessionCookie: "sid"})
	h := c.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, cookie := range []string{
		"sid=one", "a=b; sid=two", `sid="three"`, "sid=one", // one repeats
		"other=x", "sid=", "", "sidx=nope", "a=1;sid=four",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		h.ServeHTTP(newTestInner(), r)
	}
	c.refresh()
	if got := c.Snapshot().SessionsActive; got != 4 {
		t.Errorf("SessionsActive = %d, want 4 (one, two, three, four)", got)
	}
}

// serve runs h behind the middleware on a real server. The returned
// channel receives once the middleware has finished each request (recorded
// it), so tests wait for that instead of sleeping.
func serve(t *testing.T, c *Collector, h http.HandlerFunc) (*httptest.Server, <-chan struct{}) {
	t.Helper()
	done := make(chan struct{}, 16)
	mw := c.Middleware(h)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		mw.ServeHTTP(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, done
}

// served waits until the server has finished one request.
func served(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not finish the request")
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
	if got != hasFlusher|hasPusher {
		t.Errorf("HTTP/2 writer features %04b, want Flusher|Pusher", got)
	}
}

func TestRealServerPanic(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	srv, done := serve(t, c, func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	})
	if resp, err := http.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Fatalf("aborted handler answered %d", resp.StatusCode)
	}
	served(t, done)
	c.refresh()
	if s := c.Snapshot(); s.InFlight != 0 || codeCounts(c)["get 500"] != 1 {
		t.Errorf("InFlight = %d, counts %v; want 0 and get 500", s.InFlight, codeCounts(c))
	}
}
