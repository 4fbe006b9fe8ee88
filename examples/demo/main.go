// Command demo is a small site instrumented with vitals. Run it with
//
//	go run ./examples/demo -addr 127.0.0.1:8080
//
// and add -state vitals.state to keep the figures across restarts.
// and open http://127.0.0.1:8080/ for the routes and /metrics for vitals.
package main

import (
	"context"
	crand "crypto/rand"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vitalsgo/vitals"
)

const sessionCookie = "demo_session"

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	state := flag.String("state", "", "file that keeps the figures across restarts (optional)")
	bare := flag.Bool("bare", false, "serve the site without the middleware (for load comparisons)")
	saveEvery := flag.Duration("save-interval", 0, "how often -state is saved (default 10s; 1s for a crash test)")
	flag.Parse()
	if err := run(*addr, *state, *saveEvery, *bare); err != nil {
		log.Fatal(err)
	}
}

func run(addr, stateFile string, saveEvery time.Duration, bare bool) error {
	c, err := vitals.Open(vitals.Options{
		SessionCookie: sessionCookie,
		StateFile:     stateFile,
		SaveInterval:  saveEvery,
	})
	if err != nil {
		return err
	}
	defer c.Close()

	srv := &http.Server{
		Addr:              addr,
		Handler:           c.Middleware(routes(c)),
		ConnState:         c.ConnState,
		ReadHeaderTimeout: 10 * time.Second,
	}
	if bare {
		srv.Handler, srv.ConnState = routes(c), nil
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("demo: serving on http://%s/ (vitals at /metrics)", addr)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-errc:
		return err
	case s := <-sig:
		log.Printf("demo: %v, shutting down", s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return c.Close()
}

var index = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>vitals demo</title></head><body>
<h1>vitals demo</h1>
<ul>
{{range .}}<li><a href="{{.Path}}">{{.Path}}</a> {{.What}}</li>
{{end}}</ul>
</body></html>
`))

type route struct{ Path, What string }

var links = []route{
	{"/fast", "answers at once"},
	{"/slow", "answers after 50 to 500 ms"},
	{"/missing", "answers 404"},
	{"/fail", "answers 500"},
	{"/events", "streams server-sent events for five seconds"},
	{"/login", "sets a session cookie"},
	{"/metrics", "vitals"},
}

func routes(c *vitals.Collector) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = index.Execute(w, links)
	})
	mux.HandleFunc("GET /fast", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("fast\n"))
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		d := 50*time.Millisecond + rand.N(450*time.Millisecond)
		select {
		case <-time.After(d):
			fmt.Fprintf(w, "slow: %v\n", d.Round(time.Millisecond))
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("GET /missing", func(w http.ResponseWriter, r *http.Request) {
		http.NotFound(w, r)
	})
	mux.HandleFunc("GET /fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "something broke", http.StatusInternalServerError)
	})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		rc := http.NewResponseController(w)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for i := range 5 {
			fmt.Fprintf(w, "data: tick %d at %s\n\n", i, time.Now().Format(time.TimeOnly))
			if err := rc.Flush(); err != nil {
				return
			}
			select {
			case <-t.C:
			case <-r.Context().Done():
				return
			}
		}
	})
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{
			Name: sessionCookie, Value: crand.Text(), Path: "/",
			HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: 3600,
		})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.Handle("GET /metrics", c.Handler())
	return mux
}
