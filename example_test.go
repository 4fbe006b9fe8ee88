package vitals_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/vitalsgo/vitals"
)

func ExampleNew() {
	c := vitals.New(vitals.Options{})
	c.IncrementRequests()
	c.IncrementRequests()
	c.Close() // stops the refresh goroutine and publishes a final snapshot

	fmt.Println(c.Snapshot().Requests)
	// Output: 2
}

func ExampleCollector_Middleware() {
	c := vitals.New(vitals.Options{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	})
	h := c.Middleware(mux) // in a server: srv.Handler = c.Middleware(mux)

	for _, path := range []string{"/hello", "/hello", "/missing"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	c.Close()

	s := c.Snapshot()
	fmt.Println("requests:", s.Requests)
	fmt.Println("2xx:", s.Status.Success, "4xx:", s.Status.ClientError)
	fmt.Println("bytes:", s.BytesWritten)
	// Output:
	// requests: 3
	// 2xx: 2 4xx: 1
	// bytes: 29
}

func ExampleCollector_Snapshot() {
	c := vitals.New(vitals.Options{})
	for _, ms := range []int{10, 20, 30, 40, 1000} {
		c.RecordDuration(time.Duration(ms) * time.Millisecond)
	}
	c.Close()

	// Latency covers the last RecentWindow (5 minutes); its percentiles
	// are within 1.1 % of the exact ones.
	l := c.Snapshot().Latency
	fmt.Println("samples:", l.Samples, "mean:", l.Mean)
	fmt.Println("p50:", l.P50.Round(time.Millisecond), "max:", l.Max.Round(100*time.Millisecond))
	// Output:
	// samples: 5 mean: 220ms
	// p50: 30ms max: 1s
}

func ExampleCollector_Handler() {
	c := vitals.New(vitals.Options{})
	c.IncrementRequests()
	c.Close()

	// In a server: mux.Handle("GET /metrics", c.Handler()). Browsers get
	// the dashboard, Prometheus its text format, and programs JSON:
	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics?format=json", nil))

	var body struct {
		Requests uint64 `json:"requests"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	fmt.Println(rec.Header().Get("Content-Type"))
	fmt.Println("requests:", body.Requests)
	// Output:
	// application/json
	// requests: 1
}

type idKey struct{}

func ExampleCollector_Routes() {
	c := vitals.New(vitals.Options{})
	api := http.NewServeMux()
	api.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {})
	root := http.NewServeMux()
	root.Handle("/api/", http.StripPrefix("/api", c.Routes(api))) // a nested mux

	// A middleware that copies the request, between vitals and the mux.
	requestID := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), idKey{}, 1)))
		})
	}
	h := c.Middleware(requestID(c.Routes(root)))

	for _, path := range []string{"/api/items/1", "/api/items/2", "/api/nothing"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	c.Close()

	for _, r := range c.Snapshot().Routes {
		fmt.Println(r.Route, r.Requests)
	}
	// Output:
	// GET /api/items/{id} 2
	// unmatched 1
}
