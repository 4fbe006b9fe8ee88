package vitals

import (
	"encoding/json"
	"net/http"
)

// Handler returns a handler that serves the latest Snapshot as JSON (see
// Snapshot.MarshalJSON). It reads the published snapshot only, so serving it
// never waits on the request path. Only GET and HEAD are allowed.
func (c *Collector) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := json.Marshal(c.Snapshot())
		if err != nil {
			http.Error(w, "vitals: encoding snapshot: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(append(body, '\n'))
	})
}
