package vitals

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// The Prometheus exposition: the metric families vitals exposes (expose),
// written through one interface by one of three writers, the text
// (expo_text.go), OpenMetrics (expo_openmetrics.go) and the protobuf
// (expo_proto.go), and what they share:
// the metric types, the label pairs, the histogram series, the constant
// labels and the status code and le values.

// The metric types, numbered as metrics.proto numbers them: the protobuf
// writes the number, the text its name (typeNames).
const (
	typeCounter   = 0
	typeGauge     = 1
	typeSummary   = 2
	typeHistogram = 4
)

// exposition is one format of the Prometheus exposition: a textWriter, an
// openMetricsWriter or a protoWriter. Collector.expose walks the families
// and their series once, through it, whichever the format, so all faces
// always carry the same figures. A writer comes from its pool
// (newTextWriter, newOpenMetricsWriter, newProtoWriter) and goes back to
// it in finish.
type exposition interface {
	// family starts a metric family: its name (after the namespace), its
	// type (typeCounter etc.) and help text.
	family(name string, typ int, help string)
	// uint, int and float write one series of a counter or gauge family.
	uint(name string, v uint64, l labelPairs)
	int(name string, v int64, l labelPairs)
	float(name string, v float64, l labelPairs)
	// summary writes a summary without quantiles or labels: its sum and
	// count.
	summary(name string, sum float64, count uint64)
	// histogram writes one series of a histogram family.
	histogram(name string, h histData, l labelPairs)
	// nativeSpace returns the space in which expose builds the native
	// histograms the format carries; nil when it carries none (the text).
	nativeSpace() *nativeScratch
	// exemplarSpace returns room for n exemplars, one per classic bucket,
	// kept with the writer in its pool; nil when the format carries none
	// (exemplar.go): OpenMetrics and the protobuf do, the text does not.
	exemplarSpace(n int) []exemplar
	// finish ends the exposition and returns its bytes; the writer goes
	// back to its pool.
	finish() []byte
}

// maxLabelPairs is the most label pairs of a series' own (route, code,
// method): the constant labels come on top, from the writer.
const maxLabelPairs = 3

// labelPairs are a series' own label pairs, names and raw values alternating,
// with room for the le pair that the text adds to a histogram's buckets.
// They go to the writer by value: a slice would escape through the
// interface and cost an allocation per series.
type labelPairs struct {
	kv [2*maxLabelPairs + 2]string
	n  int // strings used in kv
}

// pairs returns the label pairs kv (name, value, name, value...).
func pairs(kv ...string) labelPairs {
	if len(kv) > 2*maxLabelPairs {
		panic("vitals: more label pairs than maxLabelPairs")
	}
	var l labelPairs
	l.n = copy(l.kv[:], kv)
	return l
}

// histData is one series of a histogram: the classic buckets and, when
// native is set, the native histogram of the same requests.
type histData struct {
	bounds []float64 // upper bounds of the classic buckets, without +Inf
	les    []string  // the bounds as the text's le values, then "+Inf"
	counts []uint64  // per classic bucket (not cumulative); the last is +Inf
	sum    float64   // seconds
	native *nativeHist
	// ex are the exemplars per classic bucket (see exemplar.go), nil
	// when the format carries none or the route has none.
	ex []exemplar
}

// appendPrometheus appends the text exposition (format 0.0.4).
func (c *Collector) appendPrometheus(b []byte, s *Snapshot) []byte {
	return c.expose(newTextWriter(b, c.promNamespace, c.promConstant), s)
}

// appendProtobuf appends the protobuf exposition: delimited MetricFamily
// messages.
func (c *Collector) appendProtobuf(b []byte, s *Snapshot) []byte {
	return c.expose(newProtoWriter(b, c.promNamespace, c.promConstPairs, c.start), s)
}

// expose writes every metric family through w, in a fixed order, and
// returns the exposition's bytes. Counters and histograms are read from the
// live atomics, which count this process only (a restored state goes to the
// snapshot alone), so they are current and start from zero in each
// process; gauges of sessions and the runtime come from the snapshot.
func (c *Collector) expose(w exposition, s *Snapshot) []byte {
	routes := c.routes.list()
	codes := codeNames()

	w.family("http_requests_total", typeCounter, "Requests served through the middleware, by route, status code and method.")
	for _, r := range routes {
		r.forEachCode(func(method, code int, n uint64) {
			w.uint("http_requests_total", n, pairs("route", r.name, "code", codes[code-100], "method", methodNames[method]))
		})
	}

	w.family("http_request_duration_seconds", typeHistogram, "Time to serve a request through the middleware, by route.")
	h := histData{bounds: c.opts.Buckets, les: c.promLe, counts: make([]uint64, len(c.opts.Buckets)+1)}
	sc := w.nativeSpace() // nil: the format carries no native histograms
	ex := w.exemplarSpace(len(h.counts))
	sums := make([]uint64, len(routes))
	c.mu.Lock() // the sums of the retired slices are the refresh goroutine's
	for i, r := range routes {
		sums[i] = r.sumNs()
	}
	c.mu.Unlock()
	for i, r := range routes {
		// The native histogram first, then the classic buckets: see
		// trimClassic.
		if sc != nil {
			h.native = c.nativeOf(r, sc)
		}
		if r.loadHist(h.counts) == 0 {
			continue // unmatched and other exist from the start; show them once used
		}
		if h.native != nil {
			trimClassic(h.counts, h.native.count)
		}
		h.sum = float64(sums[i]) / 1e9
		// The exemplars after the counts: an exemplar shown is on a
		// bucket that counts a request (see the writers).
		h.ex = nil
		if ex != nil && r.loadExemplars(ex) {
			h.ex = ex
		}
		w.histogram("http_request_duration_seconds", h, pairs("route", r.name))
	}

	var bytes uint64
	for _, r := range routes {
		bytes += r.bytes.Load()
	}
	w.family("http_response_size_bytes_total", typeCounter, "Response body bytes written through the middleware.")
	w.uint("http_response_size_bytes_total", bytes, pairs())

	w.family("http_responses_aborted_total", typeCounter, "Responses cut short by a handler's panic after their status was sent (counted in http_requests_total with that status).")
	w.uint("http_responses_aborted_total", c.aborted.Load(), pairs())

	w.family("http_requests_in_flight", typeGauge, "Requests being served, open streams not included.")
	w.int("http_requests_in_flight", c.inFlightNow(), pairs())

	w.family("http_streams_open", typeGauge, "Open streams: server-sent events, hijacked connections and 101 responses being served.")
	w.int("http_streams_open", max(c.streamsOpen.Load(), 0), pairs())

	// Written once a stream ended, as the protobuf writer leaves out a
	// family without series: both faces carry the same families.
	streamed := slices.IndexFunc(routes, func(r *recorder) bool { return r.streams.Load() != 0 }) >= 0
	if streamed {
		w.family("http_streams_total", typeCounter, "Streams that ended, by route (counted in http_requests_total too, in no duration).")
	}
	for _, r := range routes {
		if n := r.streams.Load(); n != 0 && streamed {
			w.uint("http_streams_total", n, pairs("route", r.name))
		}
	}

	w.family("http_connections_open", typeGauge, "Open client connections (counted when the server's ConnState hook calls the collector).")
	w.int("http_connections_open", c.conns.Load(), pairs())

	w.family("http_sessions_active", typeGauge, "Sessions seen within the session TTL.")
	w.int("http_sessions_active", int64(s.SessionsActive), pairs())

	w.family("process_start_time_seconds", typeGauge, "Start time of the process since unix epoch in seconds.")
	w.float("process_start_time_seconds", float64(c.start.UnixNano())/1e9, pairs())

	w.family("go_goroutines", typeGauge, "Number of goroutines that currently exist.")
	w.int("go_goroutines", int64(s.Runtime.Goroutines), pairs())

	w.family("go_memstats_heap_alloc_bytes", typeGauge, "Number of heap bytes allocated and still in use.")
	w.uint("go_memstats_heap_alloc_bytes", s.Runtime.HeapBytes, pairs())

	w.family("go_memstats_sys_bytes", typeGauge, "Number of bytes obtained from system.")
	w.uint("go_memstats_sys_bytes", s.Runtime.TotalBytes, pairs())

	w.family("go_gc_duration_seconds", typeSummary, "Time the world was stopped for garbage collection, and the number of collections.")
	w.summary("go_gc_duration_seconds", s.Runtime.GCPause.Seconds(), s.Runtime.GCCycles)

	return w.finish()
}

// trimClassic lowers the cumulative counts of the classic buckets counts
// (per bucket, the last +Inf) to n, the count of the native histogram of
// the same route, so that one histogram of the protobuf face, which has one
// count for both, is consistent: cumulative counts never above the count,
// and the +Inf bucket (the count) holding n.
//
// The two are read apart while requests finish, and the order makes the
// classic side the larger: recorder.observe adds a request to its classic
// bucket before its time slice, and expose reads the native histogram (the
// slices) before the classic buckets, so every request in n is in counts
// too. The only requests counts holds beyond n are the route's requests in
// flight during the read, which observe had added to their classic bucket
// but not yet to their slice when the native read passed, or which
// finished between the two reads. Trimming takes at most those off, from
// the top buckets, and adds nothing: each cumulative count shown is
// min(read, n), never above what the bucket held at the end of the read,
// nor below it by more than those requests; each bucket's own count is at
// most what it held; n is the exact count of the requests recorded in the
// slices when the native read passed (a drain moves them to retired under
// Collector.mu, which processHist holds). And since n and the classic
// counts only grow, so do the trimmed counts from one scrape to the next.
// Should observe ever add to the slice first, counts would be the smaller
// side: trimming would then change nothing and the +Inf bucket would take
// the difference.
func trimClassic(counts []uint64, n uint64) {
	var cum uint64
	for i, k := range counts {
		if k > n-cum { // cum <= n throughout
			k = n - cum
		}
		counts[i] = k
		cum += k
	}
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

// codeNames returns the status codes 100 to 999 as strings, index 0 being
// "100": made once, on the first scrape.
var codeNames = sync.OnceValue(func() *[900]string {
	var names [900]string
	for i := range names {
		names[i] = strconv.Itoa(100 + i)
	}
	return &names
})

// leValues returns the text's le values of the bounds, then "+Inf".
func leValues(bounds []float64) []string {
	les := make([]string, 0, len(bounds)+1)
	for _, b := range bounds {
		les = append(les, string(appendFloat(nil, b)))
	}
	return append(les, "+Inf")
}

// constLabelPairs returns the constant labels as name, value pairs, sorted
// by name, for the protobuf exposition.
func constLabelPairs(labels map[string]string) []string {
	names := slices.Sorted(maps.Keys(labels))
	kv := make([]string, 0, 2*len(names))
	for _, name := range names {
		kv = append(kv, name, labels[name])
	}
	return kv
}
