package vitals

import (
	"net/http"
	"strings"
)

// Content negotiation: which face of the collector a request asks for
// (?format=, else the Accept header, RFC 9110 section 12.5.1) and whether
// its answer may be gzipped (Accept-Encoding). The headers are read in
// place, parameters with one parser (nextParam): negotiating allocates
// nothing.

// offers are the media types the handler serves, each with its format,
// in the order the handler prefers them when the client's preferences tie.
// Serving another media type is one row here (and a case in serve). A row
// with params matches only a media range that names its type exactly, not
// a wildcard, and whose parameters (q included, ";"-separated as in the
// header) params accepts: for a type that only some clients can read, such
// as the Prometheus protobuf stream
// (application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited).
var offers = [...]struct {
	typ, sub string
	f        format
	params   func(params string) bool // nil: any parameters, wildcards match
}{
	{"text", "html", formatHTML, nil},
	{"application", "json", formatJSON, nil},
	{"text", "plain", formatPrometheus, nil},
	{"application", "openmetrics-text", formatOpenMetrics, isOpenMetrics1},
	{"application", "openmetrics-text", formatPrometheus, nil}, // another version: the text, as a last resort (otherVersion)
	{"application", "vnd.google.protobuf", formatProtobuf, isMetricFamilyStream},
}

// otherVersion is the offer that answers an OpenMetrics version vitals
// does not serve (2.0) with the text format. It is chosen only when no
// other offer is acceptable: a scraper that ranks OpenMetrics 2.0 above
// 1.0 above the text gets OpenMetrics 1.0, as RFC 9110 says, and one that
// asks for 2.0 alone still gets something it can parse, not a 406.
const otherVersion = 4

// formatNames are the values of ?format=, compared without case.
var formatNames = [...]struct {
	name string
	f    format
}{
	{"html", formatHTML},
	{"json", formatJSON},
	{"prometheus", formatPrometheus},
	{"openmetrics", formatOpenMetrics},
}

// Results of negotiateParams beside a format.
const (
	negotiated    = iota
	unknownFormat // ?format= names no format: 400
	notAcceptable // Accept admits no offer: 406
)

// negotiateParams picks the format from the query, else from Accept, and
// returns it with the parameters of the media range that chose it (empty
// for ?format=, or when a wildcard chose it: escaping, below, reads them)
// and a result. Without a query (a scrape's case) it allocates nothing: the
// query's map is parsed only when there is one.
func negotiateParams(r *http.Request) (format, string, int) {
	if r.URL.RawQuery == "" {
		return fromAcceptParams(r.Header.Values("Accept"))
	}
	if q := r.URL.Query(); q.Has("format") {
		name := q.Get("format")
		for _, n := range formatNames {
			if !equalFoldASCII(name, n.name) {
				continue
			}
			if n.name == "prometheus" {
				// "The Prometheus exposition": protobuf when the scraper
				// prefers it (native histograms), else the text.
				if f, params, res := fromAcceptParams(r.Header.Values("Accept")); res == negotiated && f == formatProtobuf {
					return formatProtobuf, params, negotiated
				}
			}
			return n.f, "", negotiated
		}
		return formatHTML, "", unknownFormat
	}
	return fromAcceptParams(r.Header.Values("Accept"))
}

// match is how an Accept header rates one offer.
type match struct {
	q      int    // quality in thousandths; -1 while no media range matched
	spec   int    // 3 for type/subtype, 2 for type/*, 1 for */*
	pos    int    // index of the media range that set q
	params string // its parameters, a substring of the header
}

// better reports whether m ranks above o: higher q, then a more specific
// media range, then one listed earlier.
func (m match) better(o match) bool {
	if m.q != o.q {
		return m.q > o.q
	}
	if m.spec != o.spec {
		return m.spec > o.spec
	}
	return m.pos < o.pos
}

// fromAcceptParams rates every offer against the Accept header values
// (RFC 9110, section 12.5.1): an offer takes the quality of the most
// specific media range that matches it, the highest q among equally
// specific ones. Malformed media ranges are ignored. It returns the chosen
// format, the parameters of the media range that rated it, and a result.
// It does not allocate: the header is read in place, its parameters with
// nextParam.
func fromAcceptParams(values []string) (format, string, int) {
	var rated [len(offers)]match
	for i := range rated {
		rated[i].q = -1
	}
	pos, seen := 0, false
	for _, v := range values {
		for len(v) > 0 {
			var part string
			part, v, _ = strings.Cut(v, ",")
			media, params, _ := strings.Cut(part, ";")
			media = strings.TrimSpace(media)
			if media == "" {
				continue
			}
			seen = true
			pos++
			typ, sub, ok := strings.Cut(media, "/")
			q, qok := qvalue(params)
			if !ok || !qok || typ == "" || sub == "" || (typ == "*" && sub != "*") {
				continue
			}
			for i, o := range offers {
				m := match{q: q, pos: pos, params: params}
				switch {
				case equalFoldASCII(typ, o.typ) && equalFoldASCII(sub, o.sub):
					if o.params != nil && !o.params(params) {
						continue
					}
					m.spec = 3
				case o.params != nil:
					continue // named exactly or not at all
				case equalFoldASCII(typ, o.typ) && sub == "*":
					m.spec = 2
				case typ == "*":
					m.spec = 1
				default:
					continue
				}
				r := &rated[i]
				if r.q < 0 || m.spec > r.spec || (m.spec == r.spec && m.q > r.q) {
					*r = m
				}
			}
		}
	}
	if !seen {
		return formatHTML, "", negotiated // no Accept, or only empty ones
	}
	best := -1
	for i, r := range rated {
		if i != otherVersion && r.q > 0 && (best < 0 || r.better(rated[best])) {
			best = i
		}
	}
	if best < 0 && rated[otherVersion].q > 0 {
		best = otherVersion
	}
	if best < 0 {
		return formatHTML, "", notAcceptable
	}
	return offers[best].f, rated[best].params, negotiated
}

// qvalue returns the q parameter of a media range's parameters, in
// thousandths: 1000 when absent. It reports false for a q that is not a
// qvalue of RFC 9110 (0 to 1 with at most three decimals).
func qvalue(params string) (int, bool) {
	for params != "" {
		var k, v string
		k, v, params = nextParam(params)
		if !equalFoldASCII(k, "q") {
			continue
		}
		if v == "" || (v[0] != '0' && v[0] != '1') || len(v) > 5 || (len(v) > 1 && v[1] != '.') {
			return 0, false
		}
		q := int(v[0]-'0') * 1000
		scale := 100
		for i := 2; i < len(v); i++ {
			if v[i] < '0' || v[i] > '9' {
				return 0, false
			}
			q += int(v[i]-'0') * scale
			scale /= 10
		}
		if q > 1000 {
			return 0, false
		}
		return q, true
	}
	return 1000, true
}

// equalFoldASCII is strings.EqualFold for ASCII letters only: media types,
// parameter names and format names are case-insensitive in ASCII, and "ſ"
// is not "s".
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// isMetricFamilyStream reports whether the parameters of a protobuf media
// range ask for delimited MetricFamily messages, as Prometheus does.
func isMetricFamilyStream(params string) bool {
	var proto, delimited bool
	for params != "" {
		var k, v string
		k, v, params = nextParam(params)
		v = strings.Trim(v, `"`)
		switch {
		case equalFoldASCII(k, "proto"):
			proto = v == "io.prometheus.client.MetricFamily"
		case equalFoldASCII(k, "encoding"):
			delimited = v == "delimited"
		}
	}
	return proto && delimited
}

// isOpenMetrics1 reports whether the parameters of an OpenMetrics media
// range admit version 1.0.0: no version, 1.0.0, or 0.0.1 (its draft, the
// same text). OpenMetrics 2.0 is not served: such a range gets the text.
func isOpenMetrics1(params string) bool {
	for params != "" {
		var k, v string
		k, v, params = nextParam(params)
		if equalFoldASCII(k, "version") {
			v = strings.Trim(v, `"`)
			return v == "" || v == "1.0.0" || v == "0.0.1"
		}
	}
	return true
}

// escaping returns the name escaping scheme the parameters of a media range
// ask for, when it is one Prometheus defines (allow-utf-8, underscores,
// dots, values; allow-utf8 is read as allow-utf-8), else "": the scheme
// the answer's Content-Type names. vitals' names and label names are valid
// legacy names, which every scheme leaves as they are, so the scheme
// changes nothing else.
func escaping(params string) string {
	for params != "" {
		var k, v string
		k, v, params = nextParam(params)
		if !equalFoldASCII(k, "escaping") {
			continue
		}
		switch v = strings.Trim(v, `"`); v {
		case "allow-utf-8", "allow-utf8":
			return "allow-utf-8"
		case "underscores", "dots", "values":
			return v
		}
		return ""
	}
	return ""
}

// nextParam cuts the first parameter off params, the ";"-separated
// parameters of a media range or a content coding: it returns the
// parameter's name and value, trimmed of white space (a value without "="
// is empty), and the parameters after it. Names are compared with
// equalFoldASCII, not lowered: nextParam and its callers return and compare
// substrings of the header, and allocate nothing.
func nextParam(params string) (name, value, rest string) {
	p, rest, _ := strings.Cut(params, ";")
	name, value, _ = strings.Cut(p, "=")
	return strings.TrimSpace(name), strings.TrimSpace(value), rest
}

// acceptsGzip reports whether the Accept-Encoding values allow gzip: gzip
// or x-gzip with a q-value above zero, or else a * above zero. An explicit
// gzip;q=0 refuses it whatever * says (RFC 9110, section 12.5.3). A coding
// with a malformed q-value is ignored.
func acceptsGzip(values []string) bool {
	gzipQ, starQ := -1, -1
	for _, v := range values {
		for len(v) > 0 {
			var part string
			part, v, _ = strings.Cut(v, ",")
			coding, params, _ := strings.Cut(part, ";")
			q, ok := qvalue(params) // as for Accept: RFC 9110's qvalue, strictly
			if !ok {
				continue
			}
			switch coding = strings.TrimSpace(coding); {
			case equalFoldASCII(coding, "gzip"), equalFoldASCII(coding, "x-gzip"):
				gzipQ = max(gzipQ, q)
			case coding == "*":
				starQ = max(starQ, q)
			}
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}
