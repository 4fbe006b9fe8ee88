package vitals

import (
	"encoding/binary"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Exemplars: a request that carries a valid W3C traceparent header lends
// its trace id and parent (span) id, its duration and its end to the
// classic bucket of its route that its duration fell into. The
// OpenMetrics face shows them after the bucket lines, the protobuf face in
// Bucket.exemplar and, with a native histogram, in Histogram.exemplars;
// the text 0.0.4 carries none.
//
// Bounded: one exemplar per classic bucket of a route (+Inf included), a
// newer one replacing it once it is exemplarRefresh old. A route's slots
// are allocated once, by its first traced request (lendExemplar): after
// that a traced request allocates nothing. A route's requests look for
// the header at most once per exemplarLookEvery: the others pay one atomic
// load (BenchmarkExemplarLend). At a
// high rate most traced requests find their bucket's exemplar fresh and
// stop there, before parsing the header: two atomic loads, and no write
// to a line other requests read.
//
// Each slot is a seqlock of typed atomics: seq is even when the slot is
// stable (0: never written), odd while a writer holds it. A writer takes it
// with a compare-and-swap from even to odd (a writer that finds it held
// drops its exemplar: the slot gets the other one, as new), stores the
// fields, then seq+2. A reader loads seq, the fields and seq again, and
// keeps what it read only when both loads are equal and even: an exemplar
// read is one that was written, whole, never two halves of two.

// exemplarSlot is the exemplar of one classic bucket of one route.
type exemplarSlot struct {
	seq   atomic.Uint64
	trace [2]atomic.Uint64 // the trace id, big-endian halves
	span  atomic.Uint64    // the parent id, big-endian
	dur   atomic.Int64     // nanoseconds
	end   atomic.Int64     // unix nanoseconds
}

// exemplarSlots are a route's slots, one per classic bucket.
type exemplarSlots struct {
	s []exemplarSlot
}

// exemplar is one exemplar as read by a scrape.
type exemplar struct {
	ok    bool // the slot held one
	trace traceID
	span  spanID
	dur   int64 // nanoseconds
	end   int64 // unix nanoseconds
}

// put stores one exemplar in the slot. Safe for concurrent use; no lock,
// no allocation.
func (x *exemplarSlot) put(trace traceID, span spanID, d, end int64) {
	s := x.seq.Load()
	if s&1 != 0 || !x.seq.CompareAndSwap(s, s+1) {
		return // another writer holds it: its exemplar is as new as this one
	}
	x.trace[0].Store(binary.BigEndian.Uint64(trace[:8]))
	x.trace[1].Store(binary.BigEndian.Uint64(trace[8:]))
	x.span.Store(binary.BigEndian.Uint64(span[:]))
	x.dur.Store(d)
	x.end.Store(end)
	x.seq.Store(s + 2)
}

// load reads the slot into e: e.ok is false when it holds none, or when
// writers kept it busy through a few tries.
func (x *exemplarSlot) load(e *exemplar) {
	e.ok = false
	for range 4 {
		s := x.seq.Load()
		if s == 0 {
			return
		}
		if s&1 != 0 {
			continue
		}
		t0, t1, sp := x.trace[0].Load(), x.trace[1].Load(), x.span.Load()
		d, end := x.dur.Load(), x.end.Load()
		if x.seq.Load() != s {
			continue
		}
		binary.BigEndian.PutUint64(e.trace[:8], t0)
		binary.BigEndian.PutUint64(e.trace[8:], t1)
		binary.BigEndian.PutUint64(e.span[:], sp)
		e.dur, e.end, e.ok = d, end, true
		return
	}
}

// exemplarRefresh is how old a bucket's exemplar must be for a newer one
// to replace it: a scrape (every 15 s or so) finds one at most this old,
// and a bucket takes at most ten traces a second however busy the route.
const exemplarRefresh = int64(100 * time.Millisecond)

// exemplarLookEvery is how often a route's requests look for a
// traceparent header: the first request to end at least this long after
// the last look does, the others pay one atomic load and a comparison. So
// a request without the header pays about nothing at any rate (the map
// lookup of the header, about 10 ns, is paid at most about 100 times a
// second per route), and a route's exemplars are a sample of its traced
// requests, not every one of them.
const exemplarLookEvery = int64(10 * time.Millisecond)

// lendExemplar lends the trace of r, if it carries a valid traceparent
// header (exactly one), to classic bucket i of rec, with the request's
// duration d and end (unix nanos), unless the bucket's exemplar is younger
// than exemplarRefresh, or unless a request of rec looked for the header
// less than exemplarLookEvery before end. The header is looked up in the
// map directly (its canonical key): one map lookup.
func lendExemplar(rec *recorder, i int, d, end int64, r *http.Request) {
	if since := end - rec.exemplarLook.Load(); since >= 0 && since < exemplarLookEvery {
		return // a request of this route looked moments ago
	}
	rec.exemplarLook.Store(end)
	if v := r.Header["Traceparent"]; v != nil {
		lend(rec, i, d, end, v)
	}
}

// lend is lendExemplar for a request with the header, values v: kept
// apart so that lendExemplar, the map lookup, is inlined.
func lend(rec *recorder, i int, d, end int64, v []string) {
	if len(v) != 1 {
		return
	}
	p := rec.exemplars.Load()
	if p != nil {
		x := &p.s[i]
		if last := x.end.Load(); x.seq.Load() != 0 && end >= last && end-last < exemplarRefresh {
			return // fresh enough: a read of a slot being written only delays the next
		}
	}
	trace, span, ok := parseTraceparent(v[0])
	if !ok {
		return
	}
	if p == nil {
		p = rec.exemplarSlots()
	}
	p.s[i].put(trace, span, d, end)
}

// exemplarSlots returns the route's slots, allocating them on first use.
// Of two goroutines racing here, the CAS keeps one and both use it.
func (s *recorder) exemplarSlots() *exemplarSlots {
	p := &exemplarSlots{s: make([]exemplarSlot, len(s.hist))}
	if s.exemplars.CompareAndSwap(nil, p) {
		return p
	}
	return s.exemplars.Load()
}

// loadExemplars reads the route's exemplars into dst, one per classic
// bucket, and reports whether it has any slots.
func (s *recorder) loadExemplars(dst []exemplar) bool {
	p := s.exemplars.Load()
	if p == nil {
		return false
	}
	for i := range p.s {
		p.s[i].load(&dst[i])
	}
	return true
}

// growExemplars returns ex with length n, reusing its array when it is
// large enough.
func growExemplars(ex []exemplar, n int) []exemplar {
	if cap(ex) < n {
		return make([]exemplar, n)
	}
	return ex[:n]
}

// Exemplar label names, as OpenTelemetry and Grafana expect them.
const (
	exemplarTraceLabel = "trace_id"
	exemplarSpanLabel  = "span_id"
)

// appendOpenMetricsExemplar appends e to a bucket line, before its end:
// ` # {trace_id="…",span_id="…"} <seconds> <unix seconds>`.
func appendOpenMetricsExemplar(b []byte, e *exemplar) []byte {
	b = append(b, " # {"+exemplarTraceLabel+`="`...)
	b = appendHex(b, e.trace[:])
	b = append(b, `",`+exemplarSpanLabel+`="`...)
	b = appendHex(b, e.span[:])
	b = append(b, `"} `...)
	b = appendFloat(b, float64(e.dur)/1e9)
	b = append(b, ' ')
	return appendUnixSeconds(b, e.end)
}

// appendUnixSeconds appends unix nanoseconds ns as decimal seconds, exact
// (1733462400.123), without the float's rounding.
func appendUnixSeconds(b []byte, ns int64) []byte {
	if ns < 0 {
		return strconv.AppendFloat(b, float64(ns)/1e9, 'f', -1, 64)
	}
	b = strconv.AppendInt(b, ns/1e9, 10)
	frac := ns % 1e9
	if frac == 0 {
		return b
	}
	var d [10]byte
	d[0] = '.'
	for i := 9; i >= 1; i-- {
		d[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := 10
	for d[n-1] == '0' {
		n--
	}
	return append(b, d[:n]...)
}

// Field numbers of exemplars in metrics.proto.
const (
	fieldBucketExemplar  = 3  // Bucket.exemplar
	fieldHistExemplars   = 16 // Histogram.exemplars (native histograms; need a timestamp)
	fieldExemplarLabel   = 1  // Exemplar.label
	fieldExemplarValue   = 2  // Exemplar.value
	fieldExemplarTime    = 3  // Exemplar.timestamp
	exemplarHexTraceSize = 2 * len(traceID{})
	exemplarHexSpanSize  = 2 * len(spanID{})
)

// appendProtoExemplar appends e as an Exemplar message in field: its
// labels, value (seconds) and timestamp.
func appendProtoExemplar(b []byte, field int, e *exemplar) []byte {
	const (
		traceLabel = 2 + len(exemplarTraceLabel) + 2 + exemplarHexTraceSize // LabelPair body
		spanLabel  = 2 + len(exemplarSpanLabel) + 2 + exemplarHexSpanSize
	)
	ts := protoTimestamp{seconds: floorDiv(e.end, 1e9), nanos: int32(e.end - floorDiv(e.end, 1e9)*1e9)}
	var tsb [24]byte
	tsm := appendCreated(tsb[:0], fieldExemplarTime, ts)
	n := 2 + traceLabel + 2 + spanLabel + 9 + len(tsm)
	b = appendVarint(appendTag(b, field, wireBytes), uint64(n))
	b = appendVarint(appendTag(b, fieldExemplarLabel, wireBytes), uint64(traceLabel))
	b = appendStringField(b, fieldLabelName, "", exemplarTraceLabel)
	b = appendVarint(appendTag(b, fieldLabelValue, wireBytes), uint64(exemplarHexTraceSize))
	b = appendHex(b, e.trace[:])
	b = appendVarint(appendTag(b, fieldExemplarLabel, wireBytes), uint64(spanLabel))
	b = appendStringField(b, fieldLabelName, "", exemplarSpanLabel)
	b = appendVarint(appendTag(b, fieldLabelValue, wireBytes), uint64(exemplarHexSpanSize))
	b = appendHex(b, e.span[:])
	b = appendDoubleField(b, fieldExemplarValue, float64(e.dur)/1e9)
	return append(b, tsm...)
}
