package vitals

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestStreamsRealServer serves a server-sent event stream, a
// websocket-style upgrade (101 and hijack) and a hijack through
// http.ResponseController through a real server: each counts as a
// stream, open while it is open (and not in flight), then in requests,
// status and http_requests_total, in no latency figure.
func TestStreamsRealServer(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		io.WriteString(w, "data: hello\n\n")
		http.NewResponseController(w).Flush()
		<-release
	})
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		<-release
	})
	mux.HandleFunc("GET /rc", func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
		brw.Flush()
		<-release
	})
	mux.HandleFunc("GET /fast", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mw := c.Middleware(mux)
	ended := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mw.ServeHTTP(w, r)
		ended <- r.URL.Path
	}))
	defer srv.Close()

	open := func(path string) (*bufio.Reader, net.Conn) {
		t.Helper()
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		br := bufio.NewReader(conn)
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		t.Logf("%s: %s", path, strings.TrimSpace(line))
		if path == "/events" { // up to the first event
			for !strings.HasPrefix(line, "data: hello") {
				if line, err = br.ReadString('\n'); err != nil {
					t.Fatalf("%s: %v", path, err)
				}
			}
		}
		return br, conn
	}
	var conns []net.Conn
	for i, path := range []string{"/events", "/ws", "/rc"} {
		_, conn := open(path)
		conns = append(conns, conn)
		s := c.Refresh()
		if s.Streams.Open != int64(i+1) || s.InFlight != 0 {
			t.Errorf("with %s open: Streams %+v, InFlight %d; want %d open, none in flight", path, s.Streams, s.InFlight, i+1)
		}
	}
	resp, err := http.Get(srv.URL + "/fast")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	<-ended
	close(release)
	for range 3 {
		<-ended
	}
	for _, conn := range conns {
		conn.Close()
	}

	s := c.Refresh()
	if s.Streams != (Streams{Open: 0, Total: 3}) || s.InFlight != 0 {
		t.Errorf("Streams %+v, InFlight %d; want 3 ended, none open or in flight", s.Streams, s.InFlight)
	}
	if s.Requests != 4 || s.Recent.Requests != 4 || s.Live.Requests != 4 {
		t.Errorf("Requests %d, Recent %d, Live %d; want 4 (streams included)", s.Requests, s.Recent.Requests, s.Live.Requests)
	}
	if s.Status.Informational != 2 || s.Status.Success != 2 {
		t.Errorf("Status %+v, want two 101s and two 200s", s.Status)
	}
	if s.Latency.Samples != 1 || s.Live.Samples != 1 || len(s.Slowest) != 1 || s.Slowest[0].Route != "GET /fast" {
		t.Errorf("latency samples %d, live samples %d, slowest %+v: want the one request that is not a stream", s.Latency.Samples, s.Live.Samples, s.Slowest)
	}
	for _, rs := range s.Routes {
		stream := rs.Route != "GET /fast"
		if stream && (rs.Requests != 1 || rs.Streams != 1 || rs.P50 != 0 || rs.Recent.P99 != 0) {
			t.Errorf("route %+v: want one stream, no percentiles", rs)
		}
	}
	text := string(c.appendPrometheus(nil, s))
	for _, want := range []string{
		`http_streams_open 0`,
		`http_streams_total{route="GET /events"} 1`,
		`http_streams_total{route="GET /ws"} 1`,
		`http_streams_total{route="GET /rc"} 1`,
		`http_requests_total{route="GET /events",code="200",method="get"} 1`,
		`http_request_duration_seconds_count{route="GET /fast"} 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("exposition lacks %s", want)
		}
	}
	if strings.Contains(text, `http_request_duration_seconds_count{route="GET /events"}`) {
		t.Error("a stream has a duration series")
	}
}
