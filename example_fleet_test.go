package vitals_test

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"

	"github.com/vitalsgo/vitals"
)

// The metrics on a listener of their own, on loopback (or on an admin port
// that only the Prometheus network reaches): the public server has no
// /metrics at all.
func ExampleCollector_Handler_adminListener() {
	c := vitals.New(vitals.Options{})
	defer c.Close()

	app := http.NewServeMux()
	app.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})
	public := &http.Server{Addr: ":8080", Handler: c.Middleware(app), ConnState: c.ConnState}

	admin := http.NewServeMux()
	admin.Handle("GET /metrics", c.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:9464")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		if err := http.Serve(ln, admin); err != nil && !errors.Is(err, net.ErrClosed) {
			log.Print(err)
		}
	}()
	log.Fatal(public.ListenAndServe())
}

// requireToken lets through only requests that carry the bearer token, as
// Prometheus sends it with `authorization: {credentials_file: ...}` in its
// scrape config.
func requireToken(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// The metrics on the public server, behind the application's own
// authentication.
func ExampleCollector_Handler_auth() {
	c := vitals.New(vitals.Options{})
	defer c.Close()

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", requireToken("s3cret", c.Handler()))
	srv := httptest.NewServer(c.Middleware(mux)) // in a real server: &http.Server{Handler: c.Middleware(mux)}
	defer srv.Close()

	for _, auth := range []string{"", "Bearer guess", "Bearer s3cret"} {
		req, _ := http.NewRequest("GET", srv.URL+"/metrics?format=prometheus", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Printf("%q: %s\n", auth, resp.Status)
	}
	// Output:
	// "": 401 Unauthorized
	// "Bearer guess": 401 Unauthorized
	// "Bearer s3cret": 200 OK
}
