package vitals

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

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
			samples := 1
			if tt.wantKey == "get 101" {
				samples = 0 // a stream: in no latency figure
			}
			if s.Requests != 1 || s.InFlight != 0 || s.Latency.Samples != samples {
				t.Errorf("Requests %d InFlight %d Samples %d, want 1 0 %d", s.Requests, s.InFlight, s.Latency.Samples, samples)
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
	tests := []struct {
		name        string
		before      func(w http.ResponseWriter) // what the handler sends before it panics
		wantKey     string
		wantAborted uint64
	}{
		{"before anything was sent", func(http.ResponseWriter) {}, "get 500", 0},
		{"after a 1xx", func(w http.ResponseWriter) { w.WriteHeader(103) }, "get 500", 0},
		{"after WriteHeader", func(w http.ResponseWriter) { w.WriteHeader(200) }, "get 200", 1},
		{"after a 404", func(w http.ResponseWriter) { w.WriteHeader(404) }, "get 404", 1},
		{"after Write", func(w http.ResponseWriter) { _, _ = w.Write([]byte("x")) }, "get 200", 1},
		{"after Flush", func(w http.ResponseWriter) { w.(http.Flusher).Flush() }, "get 200", 1},
		{"after a code net/http refuses", func(w http.ResponseWriter) { w.WriteHeader(42) }, "get 500", 0},
	}
	for _, tt := range tests {
		for _, v := range []any{"boom", http.ErrAbortHandler, errors.New("custom")} {
			t.Run(fmt.Sprint(tt.name, "/", v), func(t *testing.T) {
				c, _ := newTestCollector(t, Options{})
				h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					tt.before(w)
					panic(v)
				}))
				var got any
				func() {
					defer func() { got = recover() }()
					h.ServeHTTP(innerWriters(newTestInner())[hasFlusher], httptest.NewRequest("GET", "/", nil))
				}()
				if got != v {
					t.Fatalf("recovered %v, want the handler's own panic value %v", got, v)
				}
				c.refresh()
				if cc := codeCounts(c); cc[tt.wantKey] != 1 || len(cc) != 1 {
					t.Errorf("counts = %v, want {%s: 1}", cc, tt.wantKey)
				}
				if s := c.Snapshot(); s.InFlight != 0 || s.Requests != 1 || s.Aborted != tt.wantAborted {
					t.Errorf("InFlight %d Requests %d Aborted %d, want 0 1 %d", s.InFlight, s.Requests, s.Aborted, tt.wantAborted)
				}
			})
		}
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

// syncBuffer is a bytes.Buffer safe for a server's ErrorLog and a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// serveLogged is serve with the server's ErrorLog kept in the returned
// buffer.
func serveLogged(t *testing.T, c *Collector, h http.HandlerFunc) (*httptest.Server, <-chan struct{}, *syncBuffer) {
	t.Helper()
	srv, done := serve(t, c, h)
	logs := new(syncBuffer)
	srv.Config.ErrorLog = log.New(logs, "", 0)
	return srv, done, logs
}

func getURL(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func TestRealServerReverseProxyAbortCountsWhatClientSaw(t *testing.T) {
	// The upstream promises 100 bytes, sends 10 and hangs up: the proxy
	// has sent 200 and the first bytes, then panics with ErrAbortHandler.
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = io.WriteString(w, "0123456789")
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer upstream.Close()
	target, _ := url.Parse(upstream.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	c, _ := newTestCollector(t, Options{})
	srv, done := serve(t, c, proxy.ServeHTTP)
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, readErr := io.ReadAll(resp.Body)
	resp.Body.Close()
	served(t, done)
	if resp.StatusCode != 200 || readErr == nil {
		t.Fatalf("client got %d, body error %v; want 200 and a cut body", resp.StatusCode, readErr)
	}
	c.refresh()
	s := c.Snapshot()
	if got := codeCounts(c); got["get 200"] != 1 || len(got) != 1 || s.Aborted != 1 || s.Status.ServerError != 0 {
		t.Errorf("counts = %v, Aborted %d, 5xx %d; want get 200, 1 aborted, no 5xx", got, s.Aborted, s.Status.ServerError)
	}
	if b := c.appendPrometheus(nil, s); !bytes.Contains(b, []byte("\nhttp_responses_aborted_total 1\n")) {
		t.Errorf("Prometheus text lacks the aborted count:\n%s", b)
	}
	if page := get(t, c.Handler(), "GET", "/metrics").Body.String(); !strings.Contains(page, "1 cut short after sending, since this process started") {
		t.Errorf("the page does not show the aborted response:\n%s", page)
	}
	if js := get(t, c.Handler(), "GET", "/metrics?format=json").Body.String(); !strings.Contains(js, `"aborted":1,`) {
		t.Errorf("JSON lacks the aborted count: %s", js)
	}
}
