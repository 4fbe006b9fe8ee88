package vitals

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestAllPathsConcurrently is the test the project was founded on, widened:
// every exported method and the refresh, rotation and session count run at
// once, behind a barrier, while readers take snapshots, encode them and
// serve the handler. Under -race any bare access to a shared field fails
// it; afterwards the counts must be exact.
func TestAllPathsConcurrently(t *testing.T) {
	const (
		writers = 8
		perG    = 2000
	)
	clk := newFakeClock()
	c, err := Open(Options{
		RefreshInterval: time.Millisecond, // the real ticker, running fast
		BucketWidth:     time.Minute,
		WindowBuckets:   5,
		SessionCookie:   "sid",
		Now:             clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	codes := []int{200, 201, 302, 404, 500}
	body := []byte("hello")
	mux := http.NewServeMux() // one route per status code: GET /0 to GET /4
	for k, code := range codes {
		mux.HandleFunc(fmt.Sprintf("GET /%d", k), func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			_, _ = w.Write(body)
		})
	}
	mw := c.Middleware(mux)
	handler := c.Handler()

	// A saved state of 100 requests, restored while everything runs.
	donor := New(Options{RefreshInterval: 30 * time.Second})
	for range 100 {
		donor.IncrementRequests()
	}
	donor.Close()
	var saved bytes.Buffer
	if err := donor.Save(&saved); err != nil {
		t.Fatal(err)
	}

	start := make(chan struct{})
	stop := make(chan struct{})
	var work, background sync.WaitGroup

	for g := range writers {
		work.Go(func() {
			<-start
			for i := range perG {
				r := httptest.NewRequest("GET", fmt.Sprintf("/%d", i%len(codes)), nil)
				r.Header.Set("Cookie", fmt.Sprintf("sid=s%d", i%100))
				mw.ServeHTTP(newTestInner(), r)
			}
		})
		work.Go(func() {
			<-start
			for i := range perG {
				c.IncrementRequests()
				c.RecordDuration(time.Duration(i) * time.Microsecond)
				c.ConnOpen()
				c.ConnClose()
				c.ConnState(nil, http.StateNew)
				c.ConnState(nil, http.StateClosed)
				c.TouchSession(fmt.Sprint(g, i))
			}
		})
	}
	// Rotation: the clock jumps a bucket at a time while a goroutine
	// refreshes by hand beside the ticker.
	background.Go(func() {
		<-start
		for {
			select {
			case <-stop:
				return
			default:
			}
			clk.Add(time.Minute)
			c.refresh()
		}
	})
	// Persistence and expvar beside the readers.
	work.Go(func() {
		<-start
		if err := c.Restore(&saved); err != nil {
			t.Errorf("Restore: %v", err)
		}
		for range 50 {
			if err := c.Save(io.Discard); err != nil {
				t.Errorf("Save: %v", err)
			}
			_ = c.Var().String()
		}
	})
	// Readers.
	for k := range 2 {
		background.Go(func() {
			<-start
			var last uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := c.Snapshot()
				if s.Requests < last {
					t.Errorf("Requests went backwards: %d after %d", s.Requests, last)
					return
				}
				last = s.Requests
				if _, err := json.Marshal(s); err != nil {
					t.Errorf("json: %v", err)
					return
				}
				rec := httptest.NewRecorder()
				req := httptest.NewRequest("GET", "/metrics", nil)
				if k == 1 { // the protobuf face, gzipped, reads every route's native histogram
					req.Header.Set("Accept", protobufContentType)
					req.Header.Set("Accept-Encoding", "gzip")
				}
				handler.ServeHTTP(rec, req)
				if rec.Code != 200 {
					t.Errorf("handler answered %d", rec.Code)
					return
				}
				_, _ = io.Copy(io.Discard, rec.Body)
			}
		})
	}

	close(start)
	work.Wait()
	close(stop)
	background.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	s := c.Snapshot()
	const served = writers * perG
	if want := uint64(2*served + 100); s.Requests != want {
		t.Errorf("Requests = %d, want %d", s.Requests, want)
	}
	if s.InFlight != 0 || s.Connections != 0 {
		t.Errorf("InFlight %d, Connections %d; want 0 and 0", s.InFlight, s.Connections)
	}
	// Time slices drained while requests were being recorded lost
	// nothing: each route's high-resolution histogram (retired plus live
	// slices) holds exactly its requests, and RecordDuration's all of its.
	c.mu.Lock()
	counts := make([]uint64, len(c.bounds)+1)
	for _, r := range append(c.routes.list(), c.manual) {
		var h histCopy
		r.sinceStart(&h)
		want := r.loadHist(counts)
		if r == c.manual {
			want = served
		}
		if got := h.total(); got != want {
			t.Errorf("route %q: %d durations in the high-resolution histogram, want %d", r.name, got, want)
		}
	}
	c.mu.Unlock()
	if want := uint64(served * len(body)); s.BytesWritten != want {
		t.Errorf("BytesWritten = %d, want %d", s.BytesWritten, want)
	}
	per := uint64(served / len(codes))
	wantCodes := map[string]uint64{"get 200": per, "get 201": per, "get 302": per, "get 404": per, "get 500": per}
	if got := codeCounts(c); fmt.Sprint(got) != fmt.Sprint(wantCodes) {
		t.Errorf("codes = %v, want %v", got, wantCodes)
	}
	if st := s.Status; st.Success != 2*per || st.Redirect != per || st.ClientError != per || st.ServerError != per {
		t.Errorf("Status = %+v", st)
	}
	// The native histograms count every request once, across the slices
	// retired while they were read.
	for k := range codes {
		if nh := c.nativeOf(c.routes.get(fmt.Sprintf("GET /%d", k)), new(nativeScratch)); nh.count != per {
			t.Errorf("native histogram of GET /%d counts %d, want %d", k, nh.count, per)
		}
	}
	routes := map[string]uint64{}
	for _, r := range s.Routes {
		routes[r.Route] = r.Requests
	}
	wantRoutes := map[string]uint64{"GET /0": per, "GET /1": per, "GET /2": per, "GET /3": per, "GET /4": per}
	if fmt.Sprint(routes) != fmt.Sprint(wantRoutes) {
		t.Errorf("routes = %v, want %v", routes, wantRoutes)
	}
	if max := (100 + writers*perG) * 1065 / 1000; s.SessionsActive > max {
		t.Errorf("SessionsActive = %d, above the %d ids touched", s.SessionsActive, max)
	}
	// Once the TTL has passed, every session touched amid the rotations
	// has aged out, and new ones are counted exactly.
	clk.Add(DefaultSessionTTL + DefaultSessionTTL/16 + time.Minute)
	c.refresh()
	for i := range 50 {
		c.TouchSession(fmt.Sprint("after-", i))
	}
	c.refresh()
	if got := c.Snapshot().SessionsActive; got != 50 {
		t.Errorf("after the TTL SessionsActive = %d, want the 50 new sessions", got)
	}
}
