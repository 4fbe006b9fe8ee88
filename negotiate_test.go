package vitals

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func TestHandlerNegotiation(t *testing.T) {
	const (
		html = "text/html; charset=utf-8"
		js   = "application/json"
		prom = prometheusContentType
		om   = "application/openmetrics-text; version=1.0.0; charset=utf-8"
	)
	tests := []struct {
		name     string
		target   string
		accept   string
		wantCode int
		wantType string
	}{
		{"default is the page", "/metrics", "", 200, html},
		{"browser", "/metrics", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", 200, html},
		{"curl", "/metrics", "*/*", 200, html},
		{"json by accept", "/metrics", "application/json", 200, js},
		{"prometheus scrape", "/metrics", "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2", 200, om},
		{"prometheus 3.16 scrape", "/metrics", acceptProm3, 200, om + "; escaping=allow-utf-8"},
		{"openmetrics draft", "/metrics", "application/openmetrics-text;version=0.0.1", 200, "application/openmetrics-text; version=0.0.1; charset=utf-8"},
		{"openmetrics 2.0 gets the text", "/metrics", "application/openmetrics-text;version=2.0.0", 200, prom},
		{"openmetrics 2.0 preferred gets 1.0", "/metrics", "application/openmetrics-text;version=2.0.0,application/openmetrics-text;version=1.0.0;q=0.5", 200, om},
		{"prometheus 3.16 with openmetrics 2.0 first", "/metrics", "application/openmetrics-text;version=2.0.0;escaping=allow-utf-8;q=0.7,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;version=0.0.4;q=0.5,*/*;q=0.4", 200, om + "; escaping=allow-utf-8"},
		{"openmetrics 2.0 over a refused rest gets the text", "/metrics", "application/openmetrics-text;version=2.0.0,*/*;q=0", 200, prom},
		{"unknown escaping is not echoed", "/metrics", "application/openmetrics-text;version=1.0.0;escaping=rot13", 200, om},
		{"escaping underscores", "/metrics", "application/openmetrics-text;escaping=underscores", 200, om + "; escaping=underscores"},
		{"escaping allow-utf8 spelling", "/metrics", "application/openmetrics-text;version=1.0.0;escaping=allow-utf8", 200, om + "; escaping=allow-utf-8"},
		{"text 1.0.0 gets 0.0.4", "/metrics", "text/plain;version=1.0.0;escaping=allow-utf-8", 200, prom},
		{"text/plain", "/metrics", "text/plain", 200, prom},
		{"q decides", "/metrics", "text/html;q=0.2, application/json;q=0.9", 200, js},
		{"none acceptable", "/metrics", "image/png, font/woff2", 406, "text/plain; charset=utf-8"},
		{"query wins over accept", "/metrics?format=prometheus", "application/json", 200, prom},
		{"format json", "/metrics?format=json", "", 200, js},
		{"format html", "/metrics?format=html", "application/json", 200, html},
		{"unknown format", "/metrics?format=xml", "", 400, "text/plain; charset=utf-8"},
		{"empty format", "/metrics?format=", "", 400, "text/plain; charset=utf-8"},
		// RFC 9110: q=0 means not acceptable.
		{"q=0 refuses json", "/metrics", "application/json;q=0", 406, "text/plain; charset=utf-8"},
		{"q=0 refuses json, wildcard takes the page", "/metrics", "application/json;q=0, */*", 200, html},
		{"q=0.000 refuses html", "/metrics", "text/html;q=0.000, */*;q=0.1", 200, js},
		{"q=0 on the wildcard", "/metrics", "*/*;q=0", 406, "text/plain; charset=utf-8"},
		{"specific beats wildcard of the same type", "/metrics", "text/*;q=0.5, text/html;q=0.1", 200, prom},
		{"specific q=0 beats wildcard", "/metrics", "*/*, text/html;q=0", 200, js},
		// Wildcards: */* and text/* prefer the page, application/* JSON.
		{"application wildcard", "/metrics", "application/*", 200, js},
		{"text wildcard", "/metrics", "text/*", 200, html},
		{"wildcard does not beat a named type", "/metrics", "*/*;q=0.9, application/json", 200, js},
		{"case-insensitive media type", "/metrics", "Application/JSON", 200, js},
		{"openmetrics alone", "/metrics", "application/openmetrics-text; version=1.0.0", 200, om},
		{"client order breaks a tie", "/metrics", "application/json, text/html", 200, js},
		{"malformed q ignores the range", "/metrics", "application/json;q=2, text/plain;q=0.5", 200, prom},
		{"empty accept is absent", "/metrics", " , ", 200, html},
		{"format is case-insensitive", "/metrics?format=JSON", "", 200, js},
		{"format openmetrics", "/metrics?format=OpenMetrics", "", 200, om},
		{"format Prometheus", "/metrics?format=Prometheus", "text/html", 200, prom},
	}
	c, _ := newTestCollector(t, Options{})
	h := c.Handler()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := get(t, h, "GET", tt.target, "Accept", tt.accept)
			if w.Code != tt.wantCode || w.Header().Get("Content-Type") != tt.wantType {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Header().Get("Content-Type"), tt.wantCode, tt.wantType)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q", cc)
			}
			if vary := w.Header().Get("Vary"); vary != "Accept" {
				t.Errorf("Vary = %q, want Accept", vary)
			}
			if tt.wantCode == 400 && !strings.Contains(w.Body.String(), "html, json, prometheus and openmetrics") {
				t.Errorf("400 body %q does not list the valid formats", w.Body)
			}
		})
	}
}

// FuzzNegotiate: whatever the query and Accept header, negotiation never
// panics and gives a valid answer, and the answer agrees with a plain
// reference reading of RFC 9110: a format it picks is acceptable (some
// media range admits one of its media types with q > 0) and no other offer
// has a higher quality; 406 only when no offer is acceptable.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{
		"", "*/*", "text/html", "application/json;q=0", "application/*",
		"text/*;q=0.5, text/html;q=0.1", "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
		"image/png", "*/*;q=0", "a/b;q=1.000, */json", ";q=0.5", "text/html;q=0.", "TEXT/HTML;Q=1",
	} {
		f.Add(s, "")
	}
	// What a Prometheus with native histograms sends: the protobuf offer,
	// which only an exact media type with its parameters selects.
	f.Add("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", "")
	f.Add("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", "format=prometheus")
	f.Add("", "format=JSON")
	f.Add("application/json", "format=openmetrics")
	f.Add(acceptProm3, "")
	f.Add(acceptProm3Native, "format=prometheus")
	f.Add("application/openmetrics-text;version=2.0.0,application/openmetrics-text;version=1.0.0;q=0.5", "")
	f.Fuzz(func(t *testing.T, accept, query string) {
		r := &http.Request{URL: &url.URL{RawQuery: query}, Header: http.Header{}}
		for _, v := range strings.Split(accept, "\x00") {
			r.Header.Add("Accept", v)
		}
		f, result := negotiate(r)
		if f != formatHTML && f != formatJSON && f != formatPrometheus && f != formatProtobuf && f != formatOpenMetrics {
			t.Fatalf("format %d", f)
		}
		if r.URL.Query().Has("format") {
			if result == notAcceptable {
				t.Fatal("406 for a ?format request")
			}
			return
		}
		if result == unknownFormat {
			t.Fatal("400 without ?format")
		}
		q := referenceQualities(r.Header.Values("Accept"))
		if q == nil { // no media range at all
			if result != negotiated || f != formatHTML {
				t.Fatalf("without Accept: %d, %d; want the page", f, result)
			}
			return
		}
		// The text answering an OpenMetrics version vitals does not
		// serve is a last resort: it counts only when nothing else is
		// acceptable.
		best, last := -1, false
		for i, v := range q {
			if i != otherVersion {
				best = max(best, v)
			}
		}
		if best <= 0 && q[otherVersion] > 0 {
			best, last = q[otherVersion], true
		}
		switch {
		case result == notAcceptable && best > 0:
			t.Fatalf("406 though an offer has q=%d: %v", best, q)
		case result == negotiated && best <= 0:
			t.Fatalf("format %d though no offer is acceptable: %v", f, q)
		case result == negotiated:
			got := -1
			for i, o := range offers {
				if o.f == f && (i != otherVersion || last) {
					got = max(got, q[i])
				}
			}
			if got != best {
				t.Fatalf("format %d has q=%d, the best offer q=%d: %v", f, got, best, q)
			}
		}
	})
}

// referenceQualities rates each offer, in thousandths (-1: not matched),
// the slow and obvious way; nil when Accept holds no media range.
func referenceQualities(values []string) []int {
	var ranges []string
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if media, _, _ := strings.Cut(part, ";"); strings.TrimSpace(media) != "" {
				ranges = append(ranges, part)
			}
		}
	}
	if ranges == nil {
		return nil
	}
	q := make([]int, len(offers))
	for i, o := range offers {
		q[i] = -1
		bestSpec := 0
		for _, part := range ranges {
			fields := strings.Split(part, ";")
			media := strings.ToLower(strings.TrimSpace(fields[0]))
			typ, sub, ok := strings.Cut(media, "/")
			if !ok || typ == "" || sub == "" || (typ == "*" && sub != "*") {
				continue
			}
			v := 1000
			valid := true
			for _, p := range fields[1:] {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.ToLower(strings.TrimSpace(k)) != "q" {
					continue
				}
				x, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
				val = strings.TrimSpace(val)
				if err != nil || x < 0 || x > 1 || len(val) > 5 || strings.ContainsAny(val, "eExXpP+-_infaINFA") || (len(val) > 1 && val[1] != '.') {
					valid = false
				}
				v = int(math.Round(x * 1000))
				break
			}
			if !valid {
				continue
			}
			spec := 0
			switch {
			case typ == o.typ && sub == o.sub:
				if o.params != nil && !o.params(strings.Join(fields[1:], ";")) {
					continue
				}
				spec = 3
			case o.params != nil:
				continue
			case typ == o.typ && sub == "*":
				spec = 2
			case typ == "*":
				spec = 1
			default:
				continue
			}
			if spec > bestSpec || (spec == bestSpec && v > q[i]) {
				bestSpec, q[i] = spec, v
			}
		}
	}
	return q
}

// TestNegotiateParamsRow: an offer with params is chosen only when named
// exactly with the parameters it needs, never through a wildcard.
func TestNegotiateParamsRow(t *testing.T) {
	saved := offers[len(offers)-1]
	defer func() { offers[len(offers)-1] = saved }()
	offers[len(offers)-1] = struct {
		typ, sub string
		f        format
		params   func(params string) bool
	}{"application", "x-test", formatJSON, func(p string) bool { return strings.Contains(p, "v=2") }}
	tests := []struct {
		accept string
		want   format
		result int
	}{
		{"application/x-test;v=2", formatJSON, negotiated},
		{"application/x-test;q=0.5;v=2, text/html;q=0.4", formatJSON, negotiated},
		{"application/x-test;v=1", formatHTML, notAcceptable},
		{"*/*, text/html;q=0, application/json;q=0, text/plain;q=0, application/openmetrics-text;q=0", formatHTML, notAcceptable},
	}
	for _, tt := range tests {
		if f, result := fromAccept([]string{tt.accept}); f != tt.want || result != tt.result {
			t.Errorf("%q: format %d result %d, want %d %d", tt.accept, f, result, tt.want, tt.result)
		}
	}
}

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
	// What Prometheus 3.16 sends by default; with scrape_native_histograms
	// the protobuf type comes first with q=0.7.
	acceptProm3       = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.7,application/openmetrics-text;version=0.0.1;q=0.6,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.3"
	acceptProm3Native = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7," + acceptProm3
)

func TestHandlerProtobufNegotiation(t *testing.T) {
	tests := []struct {
		name     string
		target   string
		accept   string
		wantType string
	}{
		{"prometheus 2.42 with native histograms", "/metrics", acceptNative, protobufContentType},
		{"prometheus 2.42 without", "/metrics", acceptClassic, "application/openmetrics-text; version=1.0.0; charset=utf-8"},
		{"prometheus 3.16 with native histograms", "/metrics", acceptProm3Native, protobufContentType},
		{"format=prometheus honours the preference", "/metrics?format=prometheus", acceptNative, protobufContentType},
		{"format=prometheus without it", "/metrics?format=prometheus", acceptClassic, prometheusContentType},
		{"format=prometheus, prometheus 3.16", "/metrics?format=prometheus", acceptProm3, prometheusContentType},
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

// TestNegotiateDoesNotAllocate: reading Accept and Accept-Encoding costs
// no allocation, parameter names in upper case included (they are
// compared without case, not lowered into new strings).
func TestNegotiateDoesNotAllocate(t *testing.T) {
	tests := []struct {
		accept string
		want   format
	}{
		{"Application/Vnd.Google.Protobuf; PROTO=io.prometheus.client.MetricFamily; ENCODING=delimited; Q=0.9, text/plain;Version=0.0.4", formatPrometheus},
		{"Application/Vnd.Google.Protobuf; PROTO=io.prometheus.client.MetricFamily; ENCODING=delimited; Q=0.9, text/plain;Version=0.0.4;Q=0.5", formatProtobuf},
		{`APPLICATION/VND.GOOGLE.PROTOBUF;Proto="io.prometheus.client.MetricFamily";Encoding="delimited"`, formatProtobuf},
		{acceptProm3, formatOpenMetrics},
		{"Application/OpenMetrics-Text; Version=0.0.1; Escaping=Allow-UTF-8", formatOpenMetrics},
	}
	for _, tt := range tests {
		r := &http.Request{URL: &url.URL{Path: "/metrics"}, Header: http.Header{}}
		r.Header.Set("Accept", tt.accept)
		r.Header.Set("Accept-Encoding", "GZIP;Q=1, *;Q=0")
		var (
			f      format
			result int
			gz     bool
		)
		allocs := testing.AllocsPerRun(100, func() {
			f, result = negotiate(r)
			gz = acceptsGzip(r.Header.Values("Accept-Encoding"))
		})
		if allocs != 0 {
			t.Errorf("%q: %v allocations, want 0", tt.accept, allocs)
		}
		if f != tt.want || result != negotiated || !gz {
			t.Errorf("%q: format %d result %d gzip %v, want %d %d true", tt.accept, f, result, gz, tt.want, negotiated)
		}
	}
}

// negotiate is negotiateParams without the parameters: it picks the format from the query, else from Accept. Without a
// query (a scrape's case) it allocates nothing: the query's map is parsed
// only when there is one.
func negotiate(r *http.Request) (format, int) {
	f, _, res := negotiateParams(r)
	return f, res
}

// fromAccept is fromAcceptParams without the parameters. It rates every offer against the Accept header values (RFC 9110,
// section 12.5.1): an offer takes the quality of the most specific media
// range that matches it, the highest q among equally specific ones.
// Malformed media ranges are ignored. It does not allocate: the header is
// read in place, its parameters with nextParam.
func fromAccept(values []string) (format, int) {
	f, _, res := fromAcceptParams(values)
	return f, res
}
