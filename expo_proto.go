package vitals

import (
	"encoding/binary"
	"math"
	"sync"
	"time"
)

// The Prometheus protobuf exposition: protoWriter, the exposition writer of
// the protobuf face, and the wire encoding it is made of. The exposition is
// a stream of MetricFamily messages of io/prometheus/client/metrics.proto
// (prometheus/client_model), each preceded by its length as a varint. The
// encoder is written by hand so that the module needs no protobuf library;
// the conformance module checks it against the official decoders.

// protobufContentType is the media type of the protobuf exposition.
const protobufContentType = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"

// Protobuf wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
)

// Field numbers of metrics.proto.
const (
	fieldFamilyName   = 1 // MetricFamily.name
	fieldFamilyHelp   = 2 // MetricFamily.help
	fieldFamilyType   = 3 // MetricFamily.type
	fieldFamilyMetric = 4 // MetricFamily.metric

	fieldMetricLabel     = 1 // Metric.label
	fieldMetricGauge     = 2 // Metric.gauge
	fieldMetricCounter   = 3 // Metric.counter
	fieldMetricSummary   = 4 // Metric.summary
	fieldMetricHistogram = 7 // Metric.histogram

	fieldLabelName  = 1 // LabelPair.name
	fieldLabelValue = 2 // LabelPair.value

	fieldValue = 1 // Gauge.value, Counter.value

	fieldSummaryCount = 1 // Summary.sample_count
	fieldSummarySum   = 2 // Summary.sample_sum

	fieldHistCount         = 1  // Histogram.sample_count
	fieldHistSum           = 2  // Histogram.sample_sum
	fieldHistBucket        = 3  // Histogram.bucket
	fieldHistSchema        = 5  // Histogram.schema, sint32
	fieldHistZeroThreshold = 6  // Histogram.zero_threshold
	fieldHistZeroCount     = 7  // Histogram.zero_count
	fieldHistPositiveSpan  = 12 // Histogram.positive_span
	fieldHistPositiveDelta = 13 // Histogram.positive_delta, sint64

	fieldBucketCumulative = 1 // Bucket.cumulative_count
	fieldBucketUpperBound = 2 // Bucket.upper_bound

	fieldSpanOffset = 1 // BucketSpan.offset, sint32
	fieldSpanLength = 2 // BucketSpan.length, uint32
)

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// varintLen is the length of v as a varint.
func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// zigzag maps signed integers to unsigned ones so that small magnitudes
// stay short: 0, -1, 1, -2 become 0, 1, 2, 3 (sint32, sint64).
func zigzag(v int64) uint64 {
	return uint64(v<<1) ^ uint64(v>>63)
}

func appendTag(b []byte, field, wire int) []byte {
	return appendVarint(b, uint64(field)<<3|uint64(wire))
}

func appendUintField(b []byte, field int, v uint64) []byte {
	return appendVarint(appendTag(b, field, wireVarint), v)
}

func appendSintField(b []byte, field int, v int64) []byte {
	return appendVarint(appendTag(b, field, wireVarint), zigzag(v))
}

func appendDoubleField(b []byte, field int, v float64) []byte {
	return binary.LittleEndian.AppendUint64(appendTag(b, field, wireFixed64), math.Float64bits(v))
}

// appendStringField appends a string field whose value is a followed by s
// (a prefix such as the namespace, and the name), without joining them.
func appendStringField(b []byte, field int, a, s string) []byte {
	b = appendVarint(appendTag(b, field, wireBytes), uint64(len(a)+len(s)))
	return append(append(b, a...), s...)
}

// pbWriter appends protobuf messages to b. A nested message's length is
// known only once it is written, so begin notes where its body starts and
// end moves the body up by the length's size and writes the length in
// front: each byte moves once per enclosing message, and nothing is
// allocated once b has grown to the scrape's size.
type pbWriter struct {
	b     []byte
	open  [6]int // body starts of the messages being written
	depth int
}

// begin starts a nested message in field; field 0 starts a top-level
// message of a delimited stream, with no tag.
func (w *pbWriter) begin(field int) {
	if field != 0 {
		w.b = appendTag(w.b, field, wireBytes)
	}
	w.open[w.depth] = len(w.b)
	w.depth++
}

// end finishes the message begin started last.
func (w *pbWriter) end() {
	w.depth--
	start := w.open[w.depth]
	n := len(w.b) - start
	k := varintLen(uint64(n))
	w.b = append(w.b, make([]byte, k)...) // no allocation while capacity lasts
	copy(w.b[start+k:], w.b[start:start+n])
	appendVarint(w.b[start:start], uint64(n))
}

// protoWriter appends the protobuf exposition to b: a MetricFamily per
// family, a Metric per series. A family's header is written with its first
// series, so a family without series is left out (the text keeps its HELP
// and TYPE lines).
type protoWriter struct {
	pb         pbWriter
	namespace  string         // with its trailing underscore, or empty
	constPairs []string       // name, value of each constant label, sorted
	created    protoTimestamp // the start of every counter and histogram (created.go)

	// The family being written; its header is not written yet while
	// famOpen is false.
	famName, famHelp string
	famType          int
	famOpen          bool

	// native is the space for the routes' native histograms, kept grown
	// with the writer in its pool.
	native nativeScratch
	ex     []exemplar // exemplarSpace's, kept likewise
}

// protoWriters keeps protobuf writers between scrapes: through the
// exposition interface a writer escapes to the heap, and its native
// scratch is worth keeping.
var protoWriters = sync.Pool{New: func() any { return new(protoWriter) }}

// newProtoWriter returns a protobuf writer that appends to b, with the
// start of every counter and histogram at start.
func newProtoWriter(b []byte, namespace string, constPairs []string, start time.Time) *protoWriter {
	w := protoWriters.Get().(*protoWriter)
	w.pb = pbWriter{b: b}
	w.namespace, w.constPairs = namespace, constPairs
	w.created = toProtoTimestamp(start)
	return w
}

// family ends the family being written and notes the next one.
func (w *protoWriter) family(name string, typ int, help string) {
	w.endFamily()
	w.famName, w.famType, w.famHelp = name, typ, help
}

func (w *protoWriter) endFamily() {
	if w.famOpen {
		w.pb.end()
		w.famOpen = false
	}
}

// beginMetric starts a Metric of the current family, writing the family's
// header first if this is its first series, and its labels: the constant
// ones, then l's.
func (w *protoWriter) beginMetric(l *labelPairs) {
	pb := &w.pb
	if !w.famOpen {
		w.famOpen = true
		pb.begin(0)
		pb.b = appendStringField(pb.b, fieldFamilyName, w.namespace, w.famName)
		pb.b = appendStringField(pb.b, fieldFamilyHelp, "", w.famHelp)
		pb.b = appendUintField(pb.b, fieldFamilyType, uint64(w.famType))
	}
	pb.begin(fieldFamilyMetric)
	for _, list := range [2][]string{w.constPairs, l.kv[:l.n]} {
		for i := 0; i+1 < len(list); i += 2 {
			pb.begin(fieldMetricLabel)
			pb.b = appendStringField(pb.b, fieldLabelName, "", list[i])
			pb.b = appendStringField(pb.b, fieldLabelValue, "", list[i+1])
			pb.end()
		}
	}
}

// value writes one counter or gauge series of the current family.
func (w *protoWriter) value(v float64, l *labelPairs) {
	w.beginMetric(l)
	field := fieldMetricGauge
	if w.famType == typeCounter {
		field = fieldMetricCounter
	}
	w.pb.begin(field)
	w.pb.b = appendDoubleField(w.pb.b, fieldValue, v)
	if field == fieldMetricCounter {
		w.pb.b = appendCreated(w.pb.b, fieldCounterCreated, w.created)
	}
	w.pb.end()
	w.pb.end()
}

func (w *protoWriter) uint(_ string, v uint64, l labelPairs)   { w.value(float64(v), &l) }
func (w *protoWriter) int(_ string, v int64, l labelPairs)     { w.value(float64(v), &l) }
func (w *protoWriter) float(_ string, v float64, l labelPairs) { w.value(v, &l) }

func (w *protoWriter) summary(_ string, sum float64, count uint64) {
	w.beginMetric(&labelPairs{})
	w.pb.begin(fieldMetricSummary)
	w.pb.b = appendUintField(w.pb.b, fieldSummaryCount, count)
	w.pb.b = appendDoubleField(w.pb.b, fieldSummarySum, sum)
	w.pb.end()
	w.pb.end()
}

// histogram writes the classic buckets without the +Inf one, which is the
// count, and the native histogram when h has one.
func (w *protoWriter) histogram(_ string, h histData, l labelPairs) {
	// The count and sum go with the native buckets when there are some: a
	// Prometheus that asks for protobuf reads those. The classic buckets
	// come trimmed to that count (see trimClassic), so they never exceed
	// it.
	var count uint64
	for _, n := range h.counts {
		count += n
	}
	sum := h.sum
	if h.native != nil {
		count, sum = h.native.count, h.native.sum
	}
	w.beginMetric(&l)
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
		if e := h.exemplar(i); e != nil {
			pb.b = appendProtoExemplar(pb.b, fieldBucketExemplar, e)
		}
		pb.end()
	}
	if e := h.exemplar(len(h.bounds)); e != nil {
		// The +Inf bucket, the count, is written only to carry its
		// exemplar, as client_golang does.
		pb.begin(fieldHistBucket)
		pb.b = appendUintField(pb.b, fieldBucketCumulative, count)
		pb.b = appendDoubleField(pb.b, fieldBucketUpperBound, math.Inf(1))
		pb.b = appendProtoExemplar(pb.b, fieldBucketExemplar, e)
		pb.end()
	}
	if h.native != nil {
		pb.b = h.native.append(pb.b)
		for i := range h.ex {
			if e := h.exemplar(i); e != nil {
				pb.b = appendProtoExemplar(pb.b, fieldHistExemplars, e)
			}
		}
	}
	pb.b = appendCreated(pb.b, fieldHistogramCreated, w.created)
	pb.end()
	pb.end()
}

func (w *protoWriter) nativeSpace() *nativeScratch { return &w.native }

func (w *protoWriter) exemplarSpace(n int) []exemplar {
	w.ex = growExemplars(w.ex, n)
	return w.ex
}

// exemplar returns the exemplar of classic bucket i, or nil when it has
// none or the bucket counts no request (after trimClassic).
func (h *histData) exemplar(i int) *exemplar {
	if h.ex == nil || !h.ex[i].ok || h.counts[i] == 0 {
		return nil
	}
	return &h.ex[i]
}

func (w *protoWriter) finish() []byte {
	w.endFamily()
	b := w.pb.b
	w.pb, w.constPairs = pbWriter{}, nil // the pool keeps no answer alive
	protoWriters.Put(w)
	return b
}

// append appends the native fields of a Histogram message: the schema, the
// zero bucket, and the positive buckets as spans of consecutive indexes and
// the deltas between neighbouring counts (the first against zero).
func (h *nativeHist) append(b []byte) []byte {
	b = appendSintField(b, fieldHistSchema, int64(h.schema))
	b = appendDoubleField(b, fieldHistZeroThreshold, h.zeroThreshold)
	b = appendUintField(b, fieldHistZeroCount, h.zeroCount)
	var prevCount uint64
	for i := 0; i < len(h.buckets); {
		// A span runs while the indexes are consecutive. Its offset is the
		// gap since the previous span's end (the first span's is its index).
		j := i + 1
		for j < len(h.buckets) && h.buckets[j].index == h.buckets[j-1].index+1 {
			j++
		}
		offset := int64(h.buckets[i].index)
		if i > 0 {
			offset -= int64(h.buckets[i-1].index) + 1
		}
		b = appendSpan(b, offset, uint64(j-i))
		for _, bk := range h.buckets[i:j] {
			b = appendSintField(b, fieldHistPositiveDelta, int64(bk.count-prevCount))
			prevCount = bk.count
		}
		i = j
	}
	return b
}

// appendSpan appends one BucketSpan message in the positive_span field.
func appendSpan(b []byte, offset int64, length uint64) []byte {
	zz := zigzag(offset)
	n := 1 + varintLen(zz) + 1 + varintLen(length)
	b = appendVarint(appendTag(b, fieldHistPositiveSpan, wireBytes), uint64(n))
	b = appendUintField(b, fieldSpanOffset, zz)
	return appendUintField(b, fieldSpanLength, length)
}
