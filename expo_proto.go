package vitals

import (
	"encoding/binary"
	"math"
)

// The Prometheus protobuf exposition: a stream of MetricFamily messages of
// io/prometheus/client/metrics.proto (prometheus/client_model), each
// preceded by its length as a varint. The encoder is written by hand so that
// the module needs no protobuf library; the conformance module checks it
// against the official decoders.
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

// MetricType values of metrics.proto.
const (
	typeCounter   = 0
	typeGauge     = 1
	typeSummary   = 2
	typeHistogram = 4
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

// nativeHist is a Prometheus native histogram as the protobuf exposition
// carries it: exponential buckets of base 2^(2^-schema), bucket index i
// covering (base^(i-1), base^i], plus a zero bucket for values at or below
// zeroThreshold.
type nativeHist struct {
	schema        int32
	zeroThreshold float64 // must be positive: an empty histogram is native only by it
	zeroCount     uint64
	count         uint64 // every observation, zero bucket included
	sum           float64
	buckets       []nativeBucket // ascending by index, counts above zero
}

type nativeBucket struct {
	index int32
	count uint64
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
