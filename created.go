package vitals

import "time"

// Start timestamps: when the counts of the counters and histograms began,
// which Prometheus reads to place a zero before a series' first sample, so
// that rate() and increase() count a new series' first requests. Every
// count starts at zero with the collector (a restored state goes to the
// Snapshot alone), so every series starts at the collector's start. The
// protobuf carries it as created_timestamp, a google.protobuf.Timestamp
// (appendCreated); OpenMetrics as a _created sample in unix seconds
// (expo_openmetrics.go); the text 0.0.4 not at all.

// Field numbers of the start timestamps in metrics.proto, and of
// google.protobuf.Timestamp.
const (
	fieldCounterCreated   = 3  // Counter.created_timestamp
	fieldHistogramCreated = 15 // Histogram.created_timestamp

	fieldTimestampSeconds = 1 // Timestamp.seconds, int64
	fieldTimestampNanos   = 2 // Timestamp.nanos, int32
)

// protoTimestamp is a time as google.protobuf.Timestamp holds it: seconds
// since the epoch and the nanoseconds within the second, 0 to 999999999.
type protoTimestamp struct {
	seconds int64
	nanos   int32
}

func toProtoTimestamp(t time.Time) protoTimestamp {
	return protoTimestamp{seconds: t.Unix(), nanos: int32(t.Nanosecond())}
}

// appendCreated appends ts as the Timestamp message of field. Zero fields
// are left out, as protobuf encoders do.
func appendCreated(b []byte, field int, ts protoTimestamp) []byte {
	n := 0
	if ts.seconds != 0 {
		n += 1 + varintLen(uint64(ts.seconds))
	}
	if ts.nanos != 0 {
		n += 1 + varintLen(uint64(ts.nanos))
	}
	b = appendVarint(appendTag(b, field, wireBytes), uint64(n))
	if ts.seconds != 0 {
		b = appendUintField(b, fieldTimestampSeconds, uint64(ts.seconds))
	}
	if ts.nanos != 0 {
		b = appendUintField(b, fieldTimestampNanos, uint64(ts.nanos))
	}
	return b
}
