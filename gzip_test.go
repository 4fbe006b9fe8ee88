package vitals

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
)

func TestHandlerGzip(t *testing.T) {
	c, _ := promFixture(t, Options{})
	h := c.Handler()
	for _, accept := range []string{acceptNative, acceptClassic} {
		plain := get(t, h, "GET", "/metrics", "Accept", accept)
		zipped := get(t, h, "GET", "/metrics", "Accept", accept, "Accept-Encoding", "gzip")
		head := get(t, h, "HEAD", "/metrics", "Accept", accept, "Accept-Encoding", "gzip")
		refused := get(t, h, "GET", "/metrics", "Accept", accept, "Accept-Encoding", "gzip;q=0, *")

		typ := plain.Header().Get("Content-Type")
		if plain.Header().Get("Content-Encoding") != "" || refused.Header().Get("Content-Encoding") != "" {
			t.Errorf("%s: compressed without being asked", typ)
		}
		if !bytes.Equal(refused.Body.Bytes(), plain.Body.Bytes()) {
			t.Errorf("%s: the body differs when gzip is refused", typ)
		}
		for _, w := range []*httptest.ResponseRecorder{plain, zipped, head} {
			if got := w.Header().Values("Vary"); !slices.Contains(got, "Accept-Encoding") {
				t.Errorf("%s: Vary %q, want Accept-Encoding among them", typ, got)
			}
		}
		if zipped.Header().Get("Content-Encoding") != "gzip" || zipped.Header().Get("Content-Type") != typ {
			t.Fatalf("%s: gzip answer has Content-Encoding %q, Content-Type %q", typ,
				zipped.Header().Get("Content-Encoding"), zipped.Header().Get("Content-Type"))
		}
		if got, want := zipped.Header().Get("Content-Length"), strconv.Itoa(zipped.Body.Len()); got != want {
			t.Errorf("%s: Content-Length %s, body %s bytes", typ, got, want)
		}
		zr, err := gzip.NewReader(zipped.Body)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, plain.Body.Bytes()) {
			t.Errorf("%s: the gunzipped body differs from the plain one", typ)
		}
		if zipped.Body.Len() >= plain.Body.Len() {
			t.Errorf("%s: gzip made %d bytes of %d", typ, zipped.Body.Len(), plain.Body.Len())
		}
		for _, k := range []string{"Content-Type", "Content-Encoding", "Content-Length", "Vary"} {
			if head.Header().Get(k) != zipped.Header().Get(k) {
				t.Errorf("%s: HEAD %s %q, GET %q", typ, k, head.Header().Get(k), zipped.Header().Get(k))
			}
		}
		if head.Body.Len() != 0 {
			t.Errorf("%s: HEAD has a body", typ)
		}
	}
	// The page and JSON are not compressed.
	if w := get(t, h, "GET", "/metrics?format=json", "Accept-Encoding", "gzip"); w.Header().Get("Content-Encoding") != "" {
		t.Errorf("JSON compressed")
	}
}

// TestGzipPoolReuse: pooled writers keep no state from one answer to the
// next.
func TestGzipPoolReuse(t *testing.T) {
	for i, p := range [][]byte{bytes.Repeat([]byte("abc"), 1000), []byte("x"), nil} {
		var buf bytes.Buffer
		gzipTo(&buf, p)
		zr, err := gzip.NewReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, p) {
			t.Errorf("round %d: %d bytes back, %v", i, len(got), err)
		}
	}
}
