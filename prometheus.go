package vitals

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The Prometheus text exposition format, version 0.0.4.
const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

// promWriter appends Prometheus text to a byte slice. Its label prefix (the
// constant labels, already escaped) goes before every series' own labels.
type promWriter struct {
	b         []byte
	namespace string // with its trailing underscore, or empty
	constant  string // `name="value",` for each constant label, sorted
}

func (w *promWriter) family(name, typ, help string) {
	w.b = append(w.b, "# HELP "...)
	w.b = append(w.b, w.namespace...)
	w.b = append(w.b, name...)
	w.b = append(w.b, ' ')
	w.b = appendEscaped(w.b, help, false)
	w.b = append(w.b, "\n# TYPE "...)
	w.b = append(w.b, w.namespace...)
	w.b = append(w.b, name...)
	w.b = append(w.b, ' ')
	w.b = append(w.b, typ...)
	w.b = append(w.b, '\n')
}

// series starts a sample line: name{constant labels, then pairs}. pairs
// alternates label names and raw values; values are escaped here.
func (w *promWriter) series(name string, pairs ...string) {
	w.b = append(w.b, w.namespace...)
	w.b = append(w.b, name...)
	if w.constant == "" && len(pairs) == 0 {
		w.b = append(w.b, ' ')
		return
	}
	w.b = append(w.b, '{')
	w.b = append(w.b, w.constant...)
	for i := 0; i+1 < len(pairs); i += 2 {
		w.b = append(w.b, pairs[i]...)
		w.b = append(w.b, `="`...)
		w.b = appendEscaped(w.b, pairs[i+1], true)
		w.b = append(w.b, `",`...)
	}
	w.b[len(w.b)-1] = '}' // replaces the last comma
	w.b = append(w.b, ' ')
}

func (w *promWriter) uint(v uint64) {
	w.b = strconv.AppendUint(w.b, v, 10)
	w.b = append(w.b, '\n')
}

func (w *promWriter) int(v int64) {
	w.b = strconv.AppendInt(w.b, v, 10)
	w.b = append(w.b, '\n')
}

func (w *promWriter) float(v float64) {
	w.b = appendFloat(w.b, v)
	w.b = append(w.b, '\n')
}

func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// appendEscaped escapes per the text format: backslash and line feed in
// HELP text; backslash, double quote and line feed in label values. Invalid
// UTF-8 becomes U+FFFD, since the format is UTF-8.
func appendEscaped(b []byte, s string, quote bool) []byte {
	for _, r := range s {
		switch {
		case r == '\\':
			b = append(b, `\\`...)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}

// validMetricName reports whether s is a legacy Prometheus metric name
// ([a-zA-Z_:][a-zA-Z0-9_:]*).
func validMetricName(s string) bool {
	for i, r := range s {
		if !(r == '_' || r == ':' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || i > 0 && '0' <= r && r <= '9') {
			return false
		}
	}
	return s != ""
}

// reservedLabels are the label names vitals writes itself.
var reservedLabels = []string{"code", "method", "route", "le", "quantile"}

// constLabelPrefix validates the constant labels and renders them, sorted by
// name, as the escaped prefix of every series' labels.
func constLabelPrefix(labels map[string]string) (string, error) {
	names := make([]string, 0, len(labels))
	for name, value := range labels {
		valid := validMetricName(name) && !strings.Contains(name, ":")
		switch {
		case !valid:
			return "", fmt.Errorf("vitals: ConstLabels name %q is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)", name)
		case strings.HasPrefix(name, "__"):
			return "", fmt.Errorf("vitals: ConstLabels name %q is reserved: names starting with __ are Prometheus' own", name)
		case slices.Contains(reservedLabels, name):
			return "", fmt.Errorf("vitals: ConstLabels name %q is one vitals sets itself", name)
		case !utf8.ValidString(value):
			return "", fmt.Errorf("vitals: ConstLabels value of %q is not valid UTF-8", name)
		case len(value) > 1024:
			return "", fmt.Errorf("vitals: ConstLabels value of %q is %d bytes long, over 1024", name, len(value))
		}
		names = append(names, name)
	}
	slices.Sort(names)
	var b []byte
	for _, name := range names {
		b = append(b, name...)
		b = append(b, `="`...)
		b = appendEscaped(b, labels[name], true)
		b = append(b, `",`...)
	}
	return string(b), nil
}

// appendPrometheus appends every metric family, in a fixed order. Counters
// and histograms are read from the live atomics, which count this process
// only (a restored state goes to the snapshot alone), so they are current
// and start from zero in each process; gauges of sessions and the runtime come from the snapshot.
func (c *Collector) appendPrometheus(b []byte, s *Snapshot) []byte {
	w := promWriter{b: b, namespace: c.promNamespace, constant: c.promConstant}
	routes := c.routes.list()

	w.family("http_requests_total", "counter", "Requests served through the middleware, by route, status code and method.")
	for _, r := range routes {
		r.forEachCode(func(method, code int, n uint64) {
			var cb [3]byte
			codeStr := string(strconv.AppendInt(cb[:0], int64(code), 10))
			w.series("http_requests_total", r.labels("code", codeStr, "method", methodNames[method])...)
			w.uint(n)
		})
	}

	w.family("http_request_duration_seconds", "histogram", "Time to serve a request through the middleware, by route.")
	counts := make([]uint64, len(c.opts.Buckets)+1)
	sums := make([]uint64, len(routes))
	c.mu.Lock() // the sums of the retired slices are the refresh goroutine's
	for i, r := range routes {
		sums[i] = r.sumNs()
	}
	c.mu.Unlock()
	for i, r := range routes {
		if r.loadHist(counts) == 0 {
			continue // unmatched and other exist from the start; show them once used
		}
		var cum uint64
		for i := range counts {
			cum += counts[i]
			le := "+Inf"
			if i < len(c.opts.Buckets) {
				le = string(appendFloat(nil, c.opts.Buckets[i]))
			}
			w.series("http_request_duration_seconds_bucket", r.labels("le", le)...)
			w.uint(cum)
		}
		w.series("http_request_duration_seconds_sum", r.labels()...)
		w.float(float64(sums[i]) / 1e9)
		w.series("http_request_duration_seconds_count", r.labels()...)
		w.uint(cum)
	}

	var bytes uint64
	for _, r := range routes {
		bytes += r.bytes.Load()
	}
	w.family("http_response_size_bytes_total", "counter", "Response body bytes written through the middleware.")
	w.series("http_response_size_bytes_total")
	w.uint(bytes)

	w.family("http_responses_aborted_total", "counter", "Responses cut short by a handler's panic after their status was sent (counted in http_requests_total with that status).")
	w.series("http_responses_aborted_total")
	w.uint(c.aborted.Load())

	w.family("http_requests_in_flight", "gauge", "Requests being served.")
	w.series("http_requests_in_flight")
	w.int(c.inFlightNow())

	w.family("http_connections_open", "gauge", "Open client connections (counted when the server's ConnState hook calls the collector).")
	w.series("http_connections_open")
	w.int(c.conns.Load())

	w.family("http_sessions_active", "gauge", "Sessions seen within the session TTL.")
	w.series("http_sessions_active")
	w.int(int64(s.SessionsActive))

	w.family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.")
	w.series("process_start_time_seconds")
	w.float(float64(c.start.UnixNano()) / 1e9)

	w.family("go_goroutines", "gauge", "Number of goroutines that currently exist.")
	w.series("go_goroutines")
	w.int(int64(s.Runtime.Goroutines))

	w.family("go_memstats_heap_alloc_bytes", "gauge", "Number of heap bytes allocated and still in use.")
	w.series("go_memstats_heap_alloc_bytes")
	w.uint(s.Runtime.HeapBytes)

	w.family("go_memstats_sys_bytes", "gauge", "Number of bytes obtained from system.")
	w.series("go_memstats_sys_bytes")
	w.uint(s.Runtime.TotalBytes)

	w.family("go_gc_duration_seconds", "summary", "Time the world was stopped for garbage collection, and the number of collections.")
	w.series("go_gc_duration_seconds_sum")
	w.float(s.Runtime.GCPause.Seconds())
	w.series("go_gc_duration_seconds_count")
	w.uint(s.Runtime.GCCycles)
	return w.b
}
