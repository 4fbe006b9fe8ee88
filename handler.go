package vitals

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
)

// The collector's HTTP endpoint: Handler, and serve, through which every
// read goes one way: the format negotiated (negotiate.go), the Snapshot
// taken, the answer written (the page, JSON in json.go, or the Prometheus
// exposition of prometheus.go) and sent (writeBody in gzip.go).

// Handler returns the one endpoint through which people, programs and
// Prometheus read the collector. The format is chosen by ?format= (html,
// json, prometheus or openmetrics, in any case), or else by the Accept
// header as RFC 9110 says, among:
//
//   - text/html: the live dashboard;
//   - application/json: the Snapshot as JSON (see Snapshot.MarshalJSON);
//   - application/openmetrics-text of version 1.0.0 (or its draft 0.0.1,
//     or no version), as Prometheus scrapers ask for it first: OpenMetrics
//     1.0.0 text, with counters' and histograms' _created (see
//     expo_openmetrics.go); likewise for ?format=openmetrics;
//   - text/plain, or another version of OpenMetrics: Prometheus text
//     format 0.0.4, served as text/plain;
//   - application/vnd.google.protobuf with
//     proto=io.prometheus.client.MetricFamily and encoding=delimited, named
//     exactly (as a Prometheus with native histograms sends it): the
//     Prometheus protobuf exposition, whose histograms are native as well
//     as classic. ?format=prometheus gives it too when Accept prefers it.
//
// The highest q wins; q=0 means not acceptable. Of equal q, a type named
// exactly wins over one matched by type/* and that over */*, then the
// range the client listed first, then the order above: so */* and text/*
// give the dashboard and application/* JSON. Without Accept (or with an
// empty one) it serves the dashboard; when Accept admits none of these it
// answers 406 Not Acceptable. An unknown ?format is answered 400; methods
// other than GET and HEAD 405. Responses are not cacheable. The Prometheus
// answers are gzipped when Accept-Encoding allows gzip.
//
// Requests it serves through the same collector's Middleware (the
// dashboard's refreshes, scrapes) are counted apart, in
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
	formatOpenMetrics
)

// bufPool keeps the buffers answers are built in, between requests.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer is the largest capacity a pooled buffer keeps: a buffer
// grown beyond it by an outsized answer is left to the garbage collector
// rather than held for every later one.
const maxPooledBuffer = 1 << 20

// getBuffer takes an empty buffer from pool.
func getBuffer(pool *sync.Pool) *bytes.Buffer {
	buf := pool.Get().(*bytes.Buffer)
	buf.Reset()
	return buf
}

// putBuffer gives buf back to pool, unless it grew over maxPooledBuffer.
func putBuffer(pool *sync.Pool, buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBuffer {
		pool.Put(buf)
	}
}

// serve answers one request to the Handler.
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
	h.Add("Vary", "Accept")
	f, params, result := negotiateParams(r)
	switch result {
	case unknownFormat:
		// The bad value is not echoed back.
		http.Error(w, "unknown format: valid formats are html, json, prometheus and openmetrics", http.StatusBadRequest)
		return
	case notAcceptable:
		http.Error(w, "not acceptable: this endpoint serves text/html, application/json, text/plain (Prometheus text), "+
			"application/openmetrics-text;version=1.0.0 and "+
			"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited; "+
			"send one of them in Accept, or ask with ?format=html, json, prometheus or openmetrics", http.StatusNotAcceptable)
		return
	}
	buf := getBuffer(&bufPool)
	defer putBuffer(&bufPool, buf)
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
	case formatOpenMetrics:
		h.Set("Content-Type", openMetricsContentType(params))
		buf.Write(c.appendOpenMetrics(buf.AvailableBuffer(), s))
	default:
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", dashboardCSP)
		h.Set("Referrer-Policy", "no-referrer")
		if err := c.renderPage(buf, s, r.URL.Query()); err != nil {
			http.Error(w, "vitals: rendering the page failed", http.StatusInternalServerError)
			return
		}
	}
	writeBody(w, r, buf.Bytes(), f == formatPrometheus || f == formatProtobuf || f == formatOpenMetrics)
}
