package vitals

import (
	"slices"
	"sync/atomic"
	"time"
)

// ringSize is the number of recent request durations kept for the latency
// figures of a Snapshot. A power of two, so a slot is an index mask.
const ringSize = 4096

// ring holds the last ringSize request durations in nanoseconds.
//
// The request path reserves a slot with next.Add and stores the duration in
// it; nothing else writes. The number of samples comes from next, never from
// treating a zero slot as empty: a zero duration is a real sample. A reader
// that races a writer between its Add and its Store may see the slot's
// previous value, one stale sample among thousands.
//
// Consecutive samples go to slots a cache line apart (see slot), so that
// cores recording at the same moment do not write the same line.
type ring struct {
	next  atomic.Uint64 // durations ever recorded; sample i is in slots[slot(i)]
	_     [56]byte      // next is written by every request: keep it off the slots' lines
	slots [ringSize]atomic.Int64
}

// slot maps sample number i to its slot: a bijection on [0, ringSize) that
// sends consecutive numbers 8 slots (64 bytes) apart.
func slot(i uint64) uint64 {
	const lines = ringSize / 8
	i &= ringSize - 1
	return (i%lines)*8 + i/lines
}

// record stores d, clamped to zero if negative. Safe for concurrent use.
func (r *ring) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	i := r.next.Add(1) - 1
	r.slots[slot(i)].Store(int64(d))
}

// copyTo copies the samples into buf (which must have room for ringSize)
// and returns the filled part, in no particular order.
func (r *ring) copyTo(buf []int64) []int64 {
	n := r.next.Load()
	if n > ringSize {
		n = ringSize
	}
	buf = buf[:n]
	for i := range buf {
		buf[i] = r.slots[slot(uint64(i))].Load()
	}
	return buf
}

// Latency summarises request durations: the most recent ones, up to 4096,
// kept in the collector's duration ring, exactly and however old (they do
// not age out when traffic stops; Snapshot.Recent is the figure for now).
type Latency struct {
	Samples int           // number of durations summarised
	Mean    time.Duration // arithmetic mean
	Min     time.Duration
	Max     time.Duration
	P50     time.Duration // median
	P90     time.Duration
	P99     time.Duration
}

// summarize computes Latency from samples, which it sorts in place.
// Percentiles use the nearest-rank method: Pq is the smallest sample with
// at least q% of the samples at or below it.
func summarize(samples []int64) Latency {
	n := len(samples)
	if n == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	var sum float64
	for _, v := range samples {
		sum += float64(v)
	}
	return Latency{
		Samples: n,
		Mean:    time.Duration(sum / float64(n)),
		Min:     time.Duration(samples[0]),
		Max:     time.Duration(samples[n-1]),
		P50:     time.Duration(samples[rank(n, 50)]),
		P90:     time.Duration(samples[rank(n, 90)]),
		P99:     time.Duration(samples[rank(n, 99)]),
	}
}

// rank returns the index of the q-th percentile of n sorted samples by the
// nearest-rank method: ceil(q*n/100) - 1.
func rank(n, q int) int {
	r := (q*n + 99) / 100
	if r < 1 {
		r = 1
	}
	return r - 1
}
