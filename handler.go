package vitals

import (
	"bytes"
	"encoding/json"
	"expvar"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Handler returns the one endpoint through which people, programs and
// Prometheus read the collector:
//
//   - ?format=html, or a browser's Accept: the live dashboard;
//   - ?format=json, or Accept: application/json: the Snapshot as JSON
//     (see Snapshot.MarshalJSON);
//   - ?format=prometheus, or Accept: text/plain or
//     application/openmetrics-text: Prometheus text format 0.0.4;
//   - Accept preferring application/vnd.google.protobuf with
//     proto=io.prometheus.client.MetricFamily and encoding=delimited (as a
//     Prometheus with native histograms sends it), with or without
//     ?format=prometheus: the Prometheus protobuf exposition, whose
//     histograms are native as well as classic.
//
// The Prometheus answers are gzipped when Accept-Encoding allows gzip.
// Without either, it serves the dashboard. An unknown format is answered
// 400; methods other than GET and HEAD are answered 405. Responses are not
// cacheable. Requests it serves through the same collector's Middleware
// (the dashboard's refreshes, scrapes) are counted apart, in
// Snapshot.SelfRequests only, so that watching does not change the figures.
// The handler reads the published Snapshot and the recording atomics, so
// serving it never waits on, or slows, the request path; the Prometheus
// faces also take the refresh goroutine's lock briefly, to read the routes'
// since-start sums and high-resolution histograms whole.
func (c *Collector) Handler() http.Handler {
	return http.HandlerFunc(c.serve)
}

type format int

const (
	formatHTML format = iota
	formatJSON
	formatPrometheus
	formatProtobuf
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (c *Collector) serve(w http.ResponseWriter, r *http.Request) {
	c.markSelf(w, r)
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: use GET or HEAD", http.StatusMethodNotAllowed)
		return
	}
	f, ok := negotiate(r)
	if !ok {
		// The bad value is not echoed back.
		http.Error(w, "unknown format: valid formats are html, json and prometheus", http.StatusBadRequest)
		return
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 1<<20 {
			bufPool.Put(buf)
		}
	}()
	s := c.Snapshot()
	switch f {
	case formatJSON:
		h.Set("Content-Type", "application/json")
		if err := json.NewEncoder(buf).Encode(s); err != nil {
			http.Error(w, "vitals: encoding snapshot failed", http.StatusInternalServerError)
			return
		}
	case formatPrometheus:
		h.Set("Content-Type", prometheusContentType)
		buf.Write(c.appendPrometheus(buf.AvailableBuffer(), s))
	case formatProtobuf:
		h.Set("Content-Type", protobufContentType)
		buf.Write(c.appendProtobuf(buf.AvailableBuffer(), s))
	default:
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", dashboardCSP)
		h.Set("Referrer-Policy", "no-referrer")
		if err := c.renderPage(buf, s, r.URL.Query()); err != nil {
			http.Error(w, "vitals: rendering the page failed", http.StatusInternalServerError)
			return
		}
	}
	writeBody(w, r, buf.Bytes(), f == formatPrometheus || f == formatProtobuf)
}

// negotiate picks the format from the query, else from Accept. It reports
// false for an unknown ?format value.
func negotiate(r *http.Request) (format, bool) {
	if q := r.URL.Query(); q.Has("format") {
		switch q.Get("format") {
		case "html":
			return formatHTML, true
		case "json":
			return formatJSON, true
		case "prometheus":
			if fromAccept(r.Header.Values("Accept")) == formatProtobuf {
				return formatProtobuf, true
			}
			return formatPrometheus, true
		}
		return formatHTML, false
	}
	return fromAccept(r.Header.Values("Accept")), true
}

// fromAccept returns the format whose media type the Accept header values
// weigh highest; the earliest wins a tie, and HTML is the default. A
// wildcard counts for HTML.
func fromAccept(values []string) format {
	best, bestQ := formatHTML, -1.0
	for _, v := range values {
		for len(v) > 0 {
			var part string
			part, v, _ = strings.Cut(v, ",")
			media, params, _ := strings.Cut(part, ";")
			var f format
			switch strings.ToLower(strings.TrimSpace(media)) {
			case "application/json":
				f = formatJSON
			case "text/plain", "application/openmetrics-text":
				f = formatPrometheus
			case "text/html", "application/xhtml+xml", "*/*", "text/*":
				f = formatHTML
			case "application/vnd.google.protobuf":
				if !isMetricFamilyStream(params) {
					continue
				}
				f = formatProtobuf
			default:
				continue
			}
			q := qvalue(params)
			if q > bestQ {
				best, bestQ = f, q
			}
		}
	}
	return best
}

// qvalue returns the q parameter of a media range's parameters (1 when
// absent or malformed).
func qvalue(params string) float64 {
	for len(params) > 0 {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "q") {
			if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && q >= 0 && q <= 1 {
				return q
			}
		}
	}
	return 1
}

// Var returns the collector as an expvar.Var whose value is the latest
// Snapshot as JSON. Publish it to see vitals under /debug/vars:
//
//	expvar.Publish("vitals", c.Var())
func (c *Collector) Var() expvar.Var {
	return expvar.Func(func() any { return c.Snapshot() })
}
