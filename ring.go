package vitals

import (
	"sync/atomic"
	"time"
)

// The duration ring: the last Options.LiveRequests finished requests
// (streams left out), written by the request path without a lock and
// without allocating, read by the refresh goroutine and the page.
//
// Each record is ringWords int64 words of one []atomic.Int64, sized at
// Open: the end (unix nanos) shifted left one bit, whose low bit says a
// writer holds the slot, and the duration packed with the status and the
// method (see pack). The end word is the sequence word of a seqlock per
// slot: a writer takes a slot by the next record number, sets its busy
// bit with a compare-and-swap (so one writer at a time: a writer that
// finds it set, held by a writer a whole lap behind, drops its record,
// which only the ring loses: the per-second counters still count it),
// stores the packed word, then its own end with the bit clear. A reader
// loads the end word, the packed word and the end word again, and keeps
// the record only when both loads are equal and not busy. The packed word
// it read was then stored by a writer of that very end: if two writes of
// the same end nanosecond passed meanwhile, either one's packed word
// completes the record. So a record read is one that was written, whole,
// or it is skipped.

const (
	ringWords = 2 // end<<1 | busy, packed duration/status/method
	// The packed word: status in bits 0..9, the method index in bits
	// 10..13, the duration in nanoseconds from bit 16 (clamped to about
	// 39 hours).
	ringDurShift = 16
	ringMaxDur   = 1<<(63-ringDurShift) - 1
)

type ring struct {
	words []atomic.Int64 // ringWords per record; immutable slice header
	n     uint64         // records, immutable
	mask  uint64         // n-1 when n is a power of two (the default), else 0: immutable
	_     [32]byte
	next  atomic.Uint64 // records begun: the next one goes to next mod n
}

func newRing(n int) *ring {
	r := &ring{words: make([]atomic.Int64, n*ringWords), n: uint64(n)}
	if n&(n-1) == 0 {
		r.mask = uint64(n - 1)
	}
	return r
}

// ringRecord is one record of the ring, unpacked.
type ringRecord struct {
	end    int64 // unix nanos
	dur    int64 // nanoseconds
	status int
	method int
}

func pack(d int64, status, method int) int64 {
	return min(max(d, 0), ringMaxDur)<<ringDurShift | int64(method)<<10 | int64(status)
}

func (r *ringRecord) unpack(p int64) {
	r.dur = p >> ringDurShift
	r.status = int(p & 0x3ff)
	r.method = int(p >> 10 & 0xf)
}

// put writes one record, end in unix nanos (within ±2^62). Safe for
// concurrent use; no lock, no allocation: an atomic add, a load, a
// compare-and-swap and two stores.
func (r *ring) put(end, d int64, status, method int) {
	i := r.next.Add(1) - 1
	if r.mask != 0 || r.n == 1 {
		i &= r.mask // no division for the default size
	} else {
		i %= r.n
	}
	i *= ringWords
	w := r.words[i : i+ringWords : i+ringWords]
	s := w[0].Load()
	if s&1 != 0 || !w[0].CompareAndSwap(s, s|1) {
		return // a writer a lap behind holds the slot: drop this record
	}
	w[1].Store(pack(d, status, method))
	w[0].Store(end << 1)
}

// read appends to dst the records that ended at or after since, in slot
// order (not time order), and returns it, with the end of the oldest
// record the ring holds (read or not) and whether the ring was full.
func (r *ring) read(dst []ringRecord, since int64) (out []ringRecord, oldest int64, full bool) {
	oldest = int64(^uint64(0) >> 1)
	for i := 0; i < len(r.words); i += ringWords {
		w := r.words[i : i+ringWords : i+ringWords]
		s := w[0].Load()
		if s == 0 || s&1 != 0 {
			continue // never written, or being written
		}
		p := w[1].Load()
		if w[0].Load() != s {
			continue // rewritten while read: torn
		}
		end := s >> 1
		oldest = min(oldest, end)
		if end >= since {
			var rec ringRecord
			rec.end = end
			rec.unpack(p)
			dst = append(dst, rec)
		}
	}
	return dst, oldest, r.next.Load() >= r.n
}

// Latency summarises the request durations of the recent past, all routes
// and RecordDuration together: the same span as Snapshot.Recent, from the
// same high-resolution histogram. The percentiles are Recent's; Min and Max
// are estimated like them (the midpoint of the lowest and highest non-empty
// bucket, within ±1.1 %, or a bound: see LatencyFloor); Mean is exact. All
// zero when no request ended within the span: it ages out with Recent.
type Latency struct {
	Samples int           // number of durations summarised
	Mean    time.Duration // arithmetic mean
	Min     time.Duration
	Max     time.Duration
	P50     time.Duration // median
	P90     time.Duration
	P99     time.Duration
}

// livePoint is one finished request of the duration ring, as the page's
// live scatter draws it.
type livePoint struct {
	End      time.Time
	Duration time.Duration
	Status   int
}

// livePoints appends to dst the requests of the duration ring that ended
// at or after since, oldest first, streams left out, and returns it. It
// reads the ring without a lock (the page calls it); it allocates only
// to grow dst.
func (c *Collector) livePoints(dst []livePoint, since time.Time) []livePoint {
	recs, _, _ := c.ring.read(nil, since.UnixNano())
	sortByEnd(recs)
	for _, r := range recs {
		dst = append(dst, livePoint{End: time.Unix(0, r.end).In(since.Location()), Duration: time.Duration(r.dur), Status: r.status})
	}
	return dst
}
