package vitals

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// The Prometheus text exposition format, version 0.0.4.
const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

// expoWriter appends the Prometheus exposition to a byte slice, as text or,
// with proto set, as protobuf. The families and series are walked once, in
// Collector.expose, whichever the format, so both faces always carry the
// same figures. Label pairs alternate names and raw values; the constant
// labels go before every series' own.
type expoWriter struct {
	b          []byte
	namespace  string   // with its trailing underscore, or empty
	constant   string   // text: `name="value",` for each constant label, sorted
	constPairs []string // protobuf: name, value of each constant label, sorted
	proto      bool

	// protobuf only: the family being written. Its header is written with
	// its first series, so a family without series is left out (the text
	// keeps its HELP and TYPE lines).
	pb               pbWriter
	famName, famHelp string
	famType          int
	famOpen          bool
}

// family starts a metric family: name (after the namespace), its type
// (typeCounter etc.) and help text.
func (w *expoWriter) family(name string, typ int, help string) {
	if w.proto {
		w.endFamily()
		w.famName, w.famType, w.famHelp = name, typ, help
		return
	}
	w.b = append(w.b, "# HELP "...)
	w.b = append(w.b, w.namespace...)
	w.b = append(w.b, name...)
	w.b = append(w.b, ' ')
	w.b = appendEscaped(w.b, help, false)
	w.b = append(w.b, "\n# TYPE "...)
	w.b = append(w.b, w.namespace...)
	w.b = append(w.b, name...)
	w.b = append(w.b, ' ')
	w.b = append(w.b, typeNames[typ]...)
	w.b = append(w.b, '\n')
}

var typeNames = [...]string{typeCounter: "counter", typeGauge: "gauge", typeSummary: "summary", typeHistogram: "histogram"}

// finish ends the exposition and returns the bytes.
func (w *expoWriter) finish() []byte {
	if w.proto {
		w.endFamily()
		return w.pb.b
	}
	return w.b
}

// series starts a text sample line: name and suffix, then the constant
// labels and pairs. Values are escaped here.
func (w *expoWriter) series(name, suffix string, pairs ...string) {
	w.b = append(w.b, w.namespace...)
	w.b = append(w.b, name...)
	w.b = append(w.b, suffix...)
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

// beginMetric starts a protobuf Metric of the current family, writing the
// family's header first if this is its first series, and its labels.
func (w *expoWriter) beginMetric(pairs []string) {
	pb := &w.pb
	if !w.famOpen {
		w.famOpen = true
		pb.begin(0)
		pb.b = appendStringField(pb.b, fieldFamilyName, w.namespace, w.famName)
		pb.b = appendStringField(pb.b, fieldFamilyHelp, "", w.famHelp)
		pb.b = appendUintField(pb.b, fieldFamilyType, uint64(w.famType))
	}
	pb.begin(fieldFamilyMetric)
	for _, list := range [2][]string{w.constPairs, pairs} {
		for i := 0; i+1 < len(list); i += 2 {
			pb.begin(fieldMetricLabel)
			pb.b = appendStringField(pb.b, fieldLabelName, "", list[i])
			pb.b = appendStringField(pb.b, fieldLabelValue, "", list[i+1])
			pb.end()
		}
	}
}

func (w *expoWriter) endFamily() {
	if w.famOpen {
		w.pb.end()
		w.famOpen = false
	}
}

// value writes one counter or gauge series of the current family. text is
// how the text face writes v (integers without an exponent).
func (w *expoWriter) value(name string, v float64, text []byte, pairs ...string) {
	if !w.proto {
		w.series(name, "", pairs...)
		w.b = append(w.b, text...)
		w.b = append(w.b, '\n')
		return
	}
	w.beginMetric(pairs)
	field := fieldMetricGauge
	if w.famType == typeCounter {
		field = fieldMetricCounter
	}
	w.pb.begin(field)
	w.pb.b = appendDoubleField(w.pb.b, fieldValue, v)
	w.pb.end()
	w.pb.end()
}

func (w *expoWriter) uint(name string, v uint64, pairs ...string) {
	var t [20]byte
	w.value(name, float64(v), strconv.AppendUint(t[:0], v, 10), pairs...)
}

func (w *expoWriter) int(name string, v int64, pairs ...string) {
	var t [20]byte
	w.value(name, float64(v), strconv.AppendInt(t[:0], v, 10), pairs...)
}

func (w *expoWriter) float(name string, v float64, pairs ...string) {
	var t [32]byte
	w.value(name, v, appendFloat(t[:0], v), pairs...)
}

// summary writes a summary without quantiles: its sum and count.
func (w *expoWriter) summary(name string, sum float64, count uint64) {
	if !w.proto {
		w.series(name, "_sum")
		w.b = appendFloat(w.b, sum)
		w.b = append(w.b, '\n')
		w.series(name, "_count")
		w.b = strconv.AppendUint(w.b, count, 10)
		w.b = append(w.b, '\n')
		return
	}
	w.beginMetric(nil)
	w.pb.begin(fieldMetricSummary)
	w.pb.b = appendUintField(w.pb.b, fieldSummaryCount, count)
	w.pb.b = appendDoubleField(w.pb.b, fieldSummarySum, sum)
	w.pb.end()
	w.pb.end()
}

// histData is one series of a histogram: the classic buckets and, when
// native is set, the native histogram of the same requests.
type histData struct {
	bounds []float64 // upper bounds of the classic buckets, without +Inf
	les    []string  // the bounds as the text's le values, then "+Inf"
	counts []uint64  // per classic bucket (not cumulative); the last is +Inf
	sum    float64   // seconds
	native *nativeHist
}

// histogram writes one histogram series. The text face carries the classic
// buckets; protobuf carries them (without the +Inf bucket, which is the
// count) and the native histogram.
func (w *expoWriter) histogram(name string, h *histData, pairs ...string) {
	var total uint64
	for _, n := range h.counts {
		total += n
	}
	if !w.proto {
		// The le pair goes last; pairs has room for it on the caller's
		// stack when it came as a literal.
		var buf [8]string
		lp := append(buf[:0], pairs...)
		lp = append(lp, "le", "")
		var cum uint64
		for i, n := range h.counts {
			cum += n
			lp[len(lp)-1] = h.les[i]
			w.series(name, "_bucket", lp...)
			w.b = strconv.AppendUint(w.b, cum, 10)
			w.b = append(w.b, '\n')
		}
		w.series(name, "_sum", pairs...)
		w.b = appendFloat(w.b, h.sum)
		w.b = append(w.b, '\n')
		w.series(name, "_count", pairs...)
		w.b = strconv.AppendUint(w.b, total, 10)
		w.b = append(w.b, '\n')
		return
	}
	// The count and sum go with the native buckets when there are some: a
	// Prometheus that asks for protobuf reads those. The classic buckets
	// are read apart from them, so under traffic they may differ by the
	// requests that finished in between.
	count, sum := total, h.sum
	if h.native != nil {
		count, sum = h.native.count, h.native.sum
	}
	w.beginMetric(pairs)
	pb := &w.pb
	pb.begin(fieldMetricHistogram)
	pb.b = appendUintField(pb.b, fieldHistCount, count)
	pb.b = appendDoubleField(pb.b, fieldHistSum, sum)
	var cum uint64
	for i, bound := range h.bounds {
		cum += h.counts[i]
		pb.begin(fieldHistBucket)
		pb.b = appendUintField(pb.b, fieldBucketCumulative, cum)
		pb.b = appendDoubleField(pb.b, fieldBucketUpperBound, bound)
		pb.end()
	}
	if h.native != nil {
		pb.b = h.native.append(pb.b)
	}
	pb.end()
	pb.end()
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

// appendPrometheus appends the text exposition (format 0.0.4).
func (c *Collector) appendPrometheus(b []byte, s *Snapshot) []byte {
	w := expoWriter{b: b, namespace: c.promNamespace, constant: c.promConstant}
	c.expose(&w, s)
	return w.finish()
}

// appendProtobuf appends the protobuf exposition: delimited MetricFamily
// messages.
func (c *Collector) appendProtobuf(b []byte, s *Snapshot) []byte {
	w := expoWriter{pb: pbWriter{b: b}, namespace: c.promNamespace, constPairs: c.promConstPairs, proto: true}
	c.expose(&w, s)
	return w.finish()
}

// expose writes every metric family, in a fixed order. Counters and
// histograms are read from the live atomics, which count this process only
// (a restored state goes to the snapshot alone), so they are current and
// start from zero in each process; gauges of sessions and the runtime come
// from the snapshot.
func (c *Collector) expose(w *expoWriter, s *Snapshot) {
	routes := c.routes.list()
	codes := codeNames()

	w.family("http_requests_total", typeCounter, "Requests served through the middleware, by route, status code and method.")
	for _, r := range routes {
		r.forEachCode(func(method, code int, n uint64) {
			w.uint("http_requests_total", n, "route", r.name, "code", codes[code-100], "method", methodNames[method])
		})
	}

	w.family("http_request_duration_seconds", typeHistogram, "Time to serve a request through the middleware, by route.")
	h := histData{bounds: c.opts.Buckets, les: c.promLe, counts: make([]uint64, len(c.opts.Buckets)+1)}
	var sc *nativeScratch
	if w.proto { // the text cannot carry native histograms
		sc = nativePool.Get().(*nativeScratch)
		defer nativePool.Put(sc)
	}
	sums := make([]uint64, len(routes))
	c.mu.Lock() // the sums of the retired slices are the refresh goroutine's
	for i, r := range routes {
		sums[i] = r.sumNs()
	}
	c.mu.Unlock()
	for i, r := range routes {
		if r.loadHist(h.counts) == 0 {
			continue // unmatched and other exist from the start; show them once used
		}
		h.sum = float64(sums[i]) / 1e9
		if sc != nil {
			h.native = c.nativeOf(r, sc)
		}
		w.histogram("http_request_duration_seconds", &h, "route", r.name)
	}

	var bytes uint64
	for _, r := range routes {
		bytes += r.bytes.Load()
	}
	w.family("http_response_size_bytes_total", typeCounter, "Response body bytes written through the middleware.")
	w.uint("http_response_size_bytes_total", bytes)

	w.family("http_responses_aborted_total", typeCounter, "Responses cut short by a handler's panic after their status was sent (counted in http_requests_total with that status).")
	w.uint("http_responses_aborted_total", c.aborted.Load())

	w.family("http_requests_in_flight", typeGauge, "Requests being served.")
	w.int("http_requests_in_flight", c.inFlightNow())

	w.family("http_connections_open", typeGauge, "Open client connections (counted when the server's ConnState hook calls the collector).")
	w.int("http_connections_open", c.conns.Load())

	w.family("http_sessions_active", typeGauge, "Sessions seen within the session TTL.")
	w.int("http_sessions_active", int64(s.SessionsActive))

	w.family("process_start_time_seconds", typeGauge, "Start time of the process since unix epoch in seconds.")
	w.float("process_start_time_seconds", float64(c.start.UnixNano())/1e9)

	w.family("go_goroutines", typeGauge, "Number of goroutines that currently exist.")
	w.int("go_goroutines", int64(s.Runtime.Goroutines))

	w.family("go_memstats_heap_alloc_bytes", typeGauge, "Number of heap bytes allocated and still in use.")
	w.uint("go_memstats_heap_alloc_bytes", s.Runtime.HeapBytes)

	w.family("go_memstats_sys_bytes", typeGauge, "Number of bytes obtained from system.")
	w.uint("go_memstats_sys_bytes", s.Runtime.TotalBytes)

	w.family("go_gc_duration_seconds", typeSummary, "Time the world was stopped for garbage collection, and the number of collections.")
	w.summary("go_gc_duration_seconds", s.Runtime.GCPause.Seconds(), s.Runtime.GCCycles)
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
	pairs := make([]string, 0, 2*len(names))
	for _, name := range names {
		pairs = append(pairs, name, labels[name])
	}
	return pairs
}
