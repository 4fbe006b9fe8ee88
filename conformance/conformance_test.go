package conformance

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vitalsgo/vitals"
)

// TestBuilds checks that the module resolves the library from the
// repository.
func TestBuilds(t *testing.T) {
	c := vitals.New(vitals.Options{})
	defer c.Close()
	h := c.Middleware(http.NotFoundHandler())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("status %d, want 404", rec.Code)
	}
}
