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

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   bool
	}{
		{"absent", nil, false},
		{"empty", []string{""}, false},
		{"prometheus", []string{"gzip"}, true},
		{"browser", []string{"gzip, deflate, br, zstd"}, true},
		{"case and spaces", []string{" GZip ;q=0.5"}, true},
		{"x-gzip", []string{"x-gzip"}, true},
		{"refused", []string{"gzip;q=0"}, false},
		{"refused with zeros", []string{"gzip; q=0.000"}, false},
		{"refused beside a star", []string{"*, gzip;q=0"}, false},
		{"star", []string{"*"}, true},
		{"star refused", []string{"*;q=0"}, false},
		{"identity only", []string{"identity"}, false},
		{"br only", []string{"br"}, false},
		{"second header line", []string{"br", "gzip;q=0.1"}, true},
		{"malformed q is ignored", []string{"gzip;q=high"}, false},
		{"malformed q beside a good one", []string{"gzip;q=2, *;q=0.5"}, true},
		{"NaN", []string{"gzip;q=NaN"}, false},
		{"exponent is no qvalue", []string{"gzip;q=1e-3"}, false},
		{"hex is no qvalue", []string{"gzip;q=0x1p-1"}, false},
		{"four decimals is no qvalue", []string{"gzip;q=0.0001"}, false},
	}
	for _, tt := range tests {
		if got := acceptsGzip(tt.values); got != tt.want {
			t.Errorf("%s: acceptsGzip(%q) = %v, want %v", tt.name, tt.values, got, tt.want)
		}
	}
}

const (
	acceptNative  = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
	acceptClassic = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)

func TestHandlerProtobufNegotiation(t *testing.T) {
	tests := []struct {
		name     string
		target   string
		accept   string
		wantType string
	}{
		{"prometheus 2.42 with native histograms", "/metrics", acceptNative, protobufContentType},
		{"prometheus 2.42 without", "/metrics", acceptClassic, prometheusContentType},
		{"format=prometheus honours the preference", "/metrics?format=prometheus", acceptNative, protobufContentType},
		{"format=prometheus without it", "/metrics?format=prometheus", acceptClassic, prometheusContentType},
		{"format=prometheus, json preferred", "/metrics?format=prometheus", "application/json", prometheusContentType},
		{"protobuf weighed lower", "/metrics", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.4,text/plain;q=0.5", prometheusContentType},
		{"protobuf of another message", "/metrics?format=prometheus", "application/vnd.google.protobuf;proto=foo.Bar;encoding=delimited", prometheusContentType},
		{"protobuf not delimited", "/metrics?format=prometheus", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text", prometheusContentType},
		{"quoted parameters", "/metrics", `application/vnd.google.protobuf; proto="io.prometheus.client.MetricFamily"; encoding="delimited"`, protobufContentType},
		{"format=json wins", "/metrics?format=json", acceptNative, "application/json"},
	}
	c, _ := newTestCollector(t, Options{})
	for _, tt := range tests {
		w := get(t, c.Handler(), "GET", tt.target, "Accept", tt.accept)
		if got := w.Header().Get("Content-Type"); w.Code != 200 || got != tt.wantType {
			t.Errorf("%s: %d %q, want 200 %q", tt.name, w.Code, got, tt.wantType)
		}
	}
}

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
