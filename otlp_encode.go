package vitals

import (
	"encoding/binary"
	"runtime/debug"
	"sync"
	"time"
)

// The OTLP encoding: otlpEncoder writes the collector's figures as an
// ExportMetricsServiceRequest of opentelemetry/proto (collector/metrics/v1,
// metrics/v1, common/v1, resource/v1), by hand with expo_proto.go's wire
// helpers, so that the module needs no protobuf library; the conformance
// module decodes it with the official types. It reads what the Prometheus
// face reads, the same way (prometheus.go's expose), so the two carry the
// same figures: the routes' since-start native histograms (native.go)
// become exponential histograms of the same scale, bucket for bucket.

// Field numbers of the OTLP messages.
const (
	otlpRequestResourceMetrics = 1 // ExportMetricsServiceRequest.resource_metrics

	otlpRMResource     = 1 // ResourceMetrics.resource
	otlpRMScopeMetrics = 2 // ResourceMetrics.scope_metrics
	otlpResourceAttrs  = 1 // Resource.attributes
	otlpSMScope        = 1 // ScopeMetrics.scope
	otlpSMMetrics      = 2 // ScopeMetrics.metrics
	otlpScopeName      = 1 // InstrumentationScope.name
	otlpScopeVersion   = 2 // InstrumentationScope.version

	otlpMetricName        = 1  // Metric.name
	otlpMetricDescription = 2  // Metric.description
	otlpMetricUnit        = 3  // Metric.unit
	otlpMetricGauge       = 5  // Metric.gauge
	otlpMetricSum         = 7  // Metric.sum
	otlpMetricExpHist     = 10 // Metric.exponential_histogram

	otlpDataPoints   = 1 // Gauge, Sum, ExponentialHistogram .data_points
	otlpTemporality  = 2 // Sum, ExponentialHistogram .aggregation_temporality
	otlpMonotonic    = 3 // Sum.is_monotonic
	otlpCumulative   = 2 // AGGREGATION_TEMPORALITY_CUMULATIVE
	otlpNumberStart  = 2 // NumberDataPoint.start_time_unix_nano, fixed64
	otlpNumberTime   = 3 // NumberDataPoint.time_unix_nano, fixed64
	otlpNumberInt    = 6 // NumberDataPoint.as_int, sfixed64
	otlpNumberAttrs  = 7 // NumberDataPoint.attributes
	otlpExpAttrs     = 1 // ExponentialHistogramDataPoint.attributes
	otlpExpStart     = 2 // .start_time_unix_nano, fixed64
	otlpExpTime      = 3 // .time_unix_nano, fixed64
	otlpExpCount     = 4 // .count, fixed64
	otlpExpSum       = 5 // .sum, double
	otlpExpScale     = 6 // .scale, sint32
	otlpExpZeroCount = 7 // .zero_count, fixed64
	otlpExpPositive  = 8 // .positive
	otlpExpZeroThr   = 14
	otlpBucketOffset = 1 // Buckets.offset, sint32
	otlpBucketCounts = 2 // Buckets.bucket_counts, packed uint64

	otlpKVKey       = 1 // KeyValue.key
	otlpKVValue     = 2 // KeyValue.value
	otlpValueString = 1 // AnyValue.string_value
	otlpValueInt    = 3 // AnyValue.int_value
)

// otlpScope names the instrumentation scope of the exported metrics.
const otlpScope = "github.com/vitalsgo/vitals"

// develVersion is the scope's version when the build does not say which
// version of vitals it holds (a build of vitals' own tests, or a replace
// directive).
const develVersion = "(devel)"

// otlpVersion is the scope's version: the version of vitals that the
// program was built with, from its build information, else develVersion.
var otlpVersion = sync.OnceValue(func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range append([]*debug.Module{&bi.Main}, bi.Deps...) {
			if m.Path == otlpScope && m.Replace == nil && m.Version != "" && m.Version != develVersion {
				return m.Version
			}
		}
	}
	return develVersion
})

// semconvMethods are the values of http.request.method by method index:
// the method as sent, and "_OTHER" for any other (HTTP semantic
// conventions).
var semconvMethods = func() (names [numMethods]string) {
	copy(names[:], methods[:])
	names[methodUnknown] = "_OTHER"
	return names
}()

// otlpEncoder writes export requests. It belongs to the exporter's
// goroutine and keeps its space between exports: once grown to the
// routes' size, an export allocates only what reading the routes does.
type otlpEncoder struct {
	pb       pbWriter
	resource []byte // the encoded Resource message, made once
	scope    []byte // the encoded InstrumentationScope message, made once
	native   nativeScratch
	start    uint64 // start_time_unix_nano: when this collector was created
	now      uint64 // time_unix_nano of the export being written
	open     bool   // the metric being written has its header
	name     string // and the metric's name, description, unit and kind
	desc     string
	unit     string
	kind     int // otlpMetricSum, otlpMetricGauge or otlpMetricExpHist
	mono     bool
}

// newOTLPEncoder returns an encoder of metrics from a process that started
// at start, with the resource attributes attrs (key, value pairs).
func newOTLPEncoder(start time.Time, attrs []string) *otlpEncoder {
	e := &otlpEncoder{start: uint64(start.UnixNano())}
	for i := 0; i+1 < len(attrs); i += 2 {
		e.resource = appendStringAttr(e.resource, otlpResourceAttrs, attrs[i], attrs[i+1])
	}
	e.scope = appendStringField(e.scope, otlpScopeName, "", otlpScope)
	e.scope = appendStringField(e.scope, otlpScopeVersion, "", otlpVersion())
	return e
}

// encode returns the export request of c's figures at now, s being the
// latest snapshot (for the gauges that come from it). The bytes are the
// encoder's until the next encode.
func (e *otlpEncoder) encode(c *Collector, s *Snapshot, now time.Time) []byte {
	e.now = uint64(now.UnixNano())
	e.pb = pbWriter{b: e.pb.b[:0]}
	pb := &e.pb
	pb.begin(otlpRequestResourceMetrics)
	pb.b = appendBytesField(pb.b, otlpRMResource, e.resource)
	pb.begin(otlpRMScopeMetrics)
	pb.b = appendBytesField(pb.b, otlpSMScope, e.scope)

	routes := c.routes.list()
	e.metric("http.server.request.duration", "Duration of HTTP server requests, by route.", "s", otlpMetricExpHist, false)
	for _, r := range routes {
		if nh := c.nativeOf(r, &e.native); nh.count > 0 {
			e.histPoint(r.name, nh)
		}
	}
	e.metric("vitals.http.server.requests", "Requests served, by route, method and status code.", "{request}", otlpMetricSum, true)
	for _, r := range routes {
		r.forEachCode(func(method, code int, n uint64) {
			e.beginPoint()
			pb.b = appendStringAttr(pb.b, otlpNumberAttrs, "http.route", r.name)
			pb.b = appendStringAttr(pb.b, otlpNumberAttrs, "http.request.method", semconvMethods[method])
			pb.b = appendIntAttr(pb.b, otlpNumberAttrs, "http.response.status_code", int64(code))
			e.endPoint(int64(n))
		})
	}
	var bytes uint64
	for _, r := range routes {
		bytes += r.bytes.Load()
	}
	e.value("http.server.active_requests", "Requests being served.", "{request}", otlpMetricSum, false, c.inFlightNow())
	e.value("vitals.http.server.response.body.bytes", "Response body bytes written.", "By", otlpMetricSum, true, int64(bytes))
	e.value("vitals.http.server.responses.aborted", "Responses cut short by a handler's panic after their status was sent.", "{response}", otlpMetricSum, true, int64(c.aborted.Load()))
	e.value("vitals.http.server.connections", "Open client connections (counted when the server's ConnState hook calls the collector).", "{connection}", otlpMetricSum, false, c.conns.Load())
	e.value("vitals.sessions.active", "Sessions seen within the session TTL.", "{session}", otlpMetricGauge, false, int64(s.SessionsActive))
	e.value("vitals.http.server.streams.open", "Responses that stay open now: server-sent events, hijacked connections.", "{stream}", otlpMetricSum, false, s.Streams.Open)
	e.value("vitals.http.server.streams", "Responses that stay open, since start.", "{stream}", otlpMetricSum, true, int64(s.Streams.Total))
	e.endMetric()

	pb.end() // scope metrics
	pb.end() // resource metrics
	return pb.b
}

// metric ends the metric being written and notes the next one, whose
// header is written with its first point, so that a metric without points
// is left out.
func (e *otlpEncoder) metric(name, desc, unit string, kind int, monotonic bool) {
	e.endMetric()
	e.name, e.desc, e.unit, e.kind, e.mono = name, desc, unit, kind, monotonic
}

func (e *otlpEncoder) endMetric() {
	if !e.open {
		return
	}
	pb := &e.pb
	if e.kind != otlpMetricGauge {
		pb.b = appendUintField(pb.b, otlpTemporality, otlpCumulative)
	}
	if e.mono {
		pb.b = appendUintField(pb.b, otlpMonotonic, 1)
	}
	pb.end() // the gauge, sum or histogram
	pb.end() // the metric
	e.open = false
}

// beginPoint starts a data point of the current metric, writing the
// metric's header first if this is its first point.
func (e *otlpEncoder) beginPoint() {
	pb := &e.pb
	if !e.open {
		e.open = true
		pb.begin(otlpSMMetrics)
		pb.b = appendStringField(pb.b, otlpMetricName, "", e.name)
		pb.b = appendStringField(pb.b, otlpMetricDescription, "", e.desc)
		pb.b = appendStringField(pb.b, otlpMetricUnit, "", e.unit)
		pb.begin(e.kind)
	}
	pb.begin(otlpDataPoints)
}

// endPoint ends a number data point with its times and value v.
func (e *otlpEncoder) endPoint(v int64) {
	pb := &e.pb
	if e.kind != otlpMetricGauge {
		pb.b = appendFixed64Field(pb.b, otlpNumberStart, e.start)
	}
	pb.b = appendFixed64Field(pb.b, otlpNumberTime, e.now)
	pb.b = appendFixed64Field(pb.b, otlpNumberInt, uint64(v))
	pb.end()
}

// value writes a metric of one point without attributes.
func (e *otlpEncoder) value(name, desc, unit string, kind int, monotonic bool, v int64) {
	e.metric(name, desc, unit, kind, monotonic)
	e.beginPoint()
	e.endPoint(v)
}

// histPoint writes route's exponential histogram, nh's buckets made dense.
// Scale and schema are one number with one base b; OTel's bucket i covers
// (b^i, b^(i+1)] where a native histogram's bucket i covers (b^(i-1), b^i],
// so the offset is the first native index minus one.
func (e *otlpEncoder) histPoint(route string, nh *nativeHist) {
	e.beginPoint()
	pb := &e.pb
	pb.b = appendStringAttr(pb.b, otlpExpAttrs, "http.route", route)
	pb.b = appendFixed64Field(pb.b, otlpExpStart, e.start)
	pb.b = appendFixed64Field(pb.b, otlpExpTime, e.now)
	pb.b = appendFixed64Field(pb.b, otlpExpCount, nh.count)
	pb.b = appendDoubleField(pb.b, otlpExpSum, nh.sum)
	pb.b = appendSintField(pb.b, otlpExpScale, int64(nh.schema))
	pb.b = appendFixed64Field(pb.b, otlpExpZeroCount, nh.zeroCount)
	pb.b = appendDoubleField(pb.b, otlpExpZeroThr, nh.zeroThreshold)
	if n := len(nh.buckets); n > 0 {
		first := nh.buckets[0].index
		// The packed counts' length: each count's varint, one byte per
		// empty bucket between.
		size := 0
		for i, bk := range nh.buckets {
			size += varintLen(bk.count)
			if i > 0 {
				size += int(bk.index - nh.buckets[i-1].index - 1)
			}
		}
		pb.begin(otlpExpPositive)
		pb.b = appendSintField(pb.b, otlpBucketOffset, int64(first)-1)
		pb.b = appendVarint(appendTag(pb.b, otlpBucketCounts, wireBytes), uint64(size))
		next := first
		for _, bk := range nh.buckets {
			for ; next < bk.index; next++ {
				pb.b = append(pb.b, 0)
			}
			pb.b = appendVarint(pb.b, bk.count)
			next++
		}
		pb.end()
	}
	pb.end()
}

func appendFixed64Field(b []byte, field int, v uint64) []byte {
	return binary.LittleEndian.AppendUint64(appendTag(b, field, wireFixed64), v)
}

// appendBytesField appends an embedded message already encoded.
func appendBytesField(b []byte, field int, msg []byte) []byte {
	b = appendVarint(appendTag(b, field, wireBytes), uint64(len(msg)))
	return append(b, msg...)
}

// appendStringAttr appends a KeyValue with a string value in field: the
// lengths are known, so it needs no pbWriter level.
func appendStringAttr(b []byte, field int, key, value string) []byte {
	anyLen := 1 + varintLen(uint64(len(value))) + len(value)
	n := 1 + varintLen(uint64(len(key))) + len(key) + 1 + varintLen(uint64(anyLen)) + anyLen
	b = appendVarint(appendTag(b, field, wireBytes), uint64(n))
	b = appendStringField(b, otlpKVKey, "", key)
	b = appendVarint(appendTag(b, otlpKVValue, wireBytes), uint64(anyLen))
	return appendStringField(b, otlpValueString, "", value)
}

// appendIntAttr appends a KeyValue with an int value in field.
func appendIntAttr(b []byte, field int, key string, value int64) []byte {
	anyLen := 1 + varintLen(uint64(value))
	n := 1 + varintLen(uint64(len(key))) + len(key) + 1 + varintLen(uint64(anyLen)) + anyLen
	b = appendVarint(appendTag(b, field, wireBytes), uint64(n))
	b = appendStringField(b, otlpKVKey, "", key)
	b = appendVarint(appendTag(b, otlpKVValue, wireBytes), uint64(anyLen))
	return appendUintField(b, otlpValueInt, uint64(value))
}
