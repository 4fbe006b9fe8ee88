package vitals

import (
	"sync/atomic"
	"time"
)

// This file holds the request window: the time slices that the request
// path writes, their rotation (by the refresh goroutine, or by a request
// that finds it late), and the figures of each bucket, kept for the ended
// ones and summed from the slices for the live ones.

// window places requests in time: fixed-width buckets (one minute by
// default) aligned to the Unix epoch, numbered by their start in unix
// nanoseconds divided by the width (their absolute number).
//
// The request path writes only the time slices of its route (recorder.slices),
// a ring of n of them: the buckets that Options.RecentWindow reaches into,
// the current one, and one prepared ahead. Each request computes the bucket
// of its own end-time clock reading and adds to that bucket's slice. The
// refresh goroutine (Collector.rotate) prepares the next bucket before the
// clock reaches it: it drains the slice that bucket will reuse (the oldest)
// into the since-start totals and the per-bucket figures below, and only
// then publishes the prepared bucket in cur. A request never writes a slice
// that was not emptied for its bucket; a reading older than the live slices
// is counted in the oldest live one, and a reading of an injected clock
// older than the current bucket (the clock went back) in the current one:
// the collector's time never goes back (see Collector.now).
//
// A refresh runs at least twice per bucket (Options.RefreshInterval is at
// most half of BucketWidth), so a reading past the prepared bucket means
// the refresh goroutine is late by more than half a bucket (a stalled
// process, or an injected clock moved on between refreshes). The request
// that finds it then rotates the window itself, if it can take
// Collector.mu without waiting (TryLock), and counts in its own bucket;
// if a refresh holds the lock, it counts in the prepared bucket, the
// newest one it may write. The usual path pays nothing for this: the
// reading is compared with the prepared bucket's start anyway.
//
// Below cur, the fields are guarded by Collector.mu, which the refresh
// goroutine holds, or a late request that took it (catchUp): the figures
// of each bucket of the window, kept when its slice is drained (and, for
// the live buckets, added from the slices at each snapshot and save).
type window struct {
	// cur is the prepared bucket: its absolute number shifted left 8 bits,
	// and the index of its slice in the low 8 bits (n is at most maxSlices,
	// which fits: asserted below). The number is negative before 1970: it
	// is read back with an arithmetic shift (see preparedOf). Written by
	// rotate, read by every request.
	cur atomic.Uint64

	// Immutable.
	width  int64 // bucket width in nanoseconds
	n      int   // time slices per recorder
	recent int64 // Options.RecentWindow in nanoseconds

	// Guarded by Collector.mu.
	prepared int64       // absolute number of the prepared bucket
	buckets  []winBucket // figures by absolute number modulo len
}

// winBucket are the figures of one bucket of the window.
type winBucket struct {
	abs              int64 // the bucket these figures belong to; any other is stale
	requests, errors uint64
	p50, p90, p99    time.Duration
	heap             uint64
	goroutines       int
}

// maxSlices is the most time slices a recorder has (slicesFor of the
// longest RecentWindow allowed): their index must fit the low 8 bits of
// window.cur.
const maxSlices = maxRecentBuckets + 2

var _ [256 - maxSlices]struct{} // does not compile if maxSlices > 256

// slicesFor returns how many time slices cover a recent window: the
// buckets that reach back RecentWindow from any moment of the current one
// (the current one included), plus the one prepared ahead.
func slicesFor(recent, width time.Duration) int {
	k := int((recent + width - 1) / width)
	return k + 2
}

func newWindow(buckets int, width, recent time.Duration, now time.Time) *window {
	w := &window{
		width:   int64(width),
		n:       slicesFor(recent, width),
		recent:  int64(recent),
		buckets: make([]winBucket, buckets),
	}
	w.prepared = floorDiv(now.UnixNano(), w.width) + 1
	w.publish()
	return w
}

// publish stores the prepared bucket and its slice in cur. Called with
// Collector.mu held (or before the window is shared).
func (w *window) publish() {
	w.cur.Store(uint64(w.prepared)<<8 | uint64(w.slotOf(w.prepared)))
}

// preparedOf returns the prepared bucket and its slice packed in cur: the
// shift is arithmetic, so a bucket before 1970 keeps its sign.
func preparedOf(cur uint64) (p int64, ps int) {
	return int64(cur) >> 8, int(cur & 0xff)
}

// mod returns a modulo m in 0..m-1, for a negative a (a bucket before
// 1970) too.
func mod(a, m int64) int64 {
	r := a % m
	if r < 0 {
		r += m
	}
	return r
}

// slotOf returns the slice index of bucket a.
func (w *window) slotOf(a int64) int {
	return int(mod(a, int64(w.n)))
}

// bucket returns the figures of bucket a, emptied first if they were
// another bucket's. Called with Collector.mu held.
func (w *window) bucket(a int64) *winBucket {
	b := &w.buckets[mod(a, int64(len(w.buckets)))]
	if b.abs != a {
		*b = winBucket{abs: a}
	}
	return b
}

// figures returns the kept figures of bucket a, or zeros.
// Called with Collector.mu held.
func (w *window) figures(a int64) winBucket {
	if b := w.buckets[mod(a, int64(len(w.buckets)))]; b.abs == a {
		return b
	}
	return winBucket{abs: a}
}

// slotAt returns the slice of a request that ended at end, a reading of
// the monotonic clock since c.base: the bucket of its own reading,
// clamped to the live slices. With an injected clock (Options.Now) the
// reading comes from it instead, and counts in the current bucket when it
// is older. Safe for concurrent use; no division in
// the usual case (the current or the prepared bucket).
func (c *Collector) slotAt(end time.Duration) int {
	return c.slotOfWall(c.wallAt(end))
}

// wallAt returns the end of a request in unix nanos from end, a reading of
// the monotonic clock since c.base, or from the injected clock.
func (c *Collector) wallAt(end time.Duration) int64 {
	if c.fakeClock {
		// An injected clock may go back; the collector's time does not
		// (see Collector.now): a reading older than the last refresh
		// counts at the last refresh, in the window and the live figures
		// alike.
		return max(c.opts.Now().UnixNano(), c.clock.Load())
	}
	return c.baseWall + int64(end)
}

// slotOfWall is slotAt for a reading that wallAt returned.
func (c *Collector) slotOfWall(wall int64) int {
	w := c.win
	p, ps := preparedOf(w.cur.Load())
	start := p * w.width
	switch {
	case wall >= start:
		if wall-start >= w.width {
			return c.catchUp(wall, ps)
		}
		return ps
	case wall >= start-w.width || c.fakeClock:
		// The current bucket. An injected clock that went back (its
		// reading is older, yet fresh: taken after cur was read) counts
		// there too, as time never goes back (see Collector.now).
		if ps == 0 {
			return w.n - 1
		}
		return ps - 1
	}
	return w.slotOf(max(floorDiv(wall, w.width), p-int64(w.n)+1))
}

// catchUp returns the slice of a reading (unix nanos) past the prepared
// bucket, whose slice is ps: it rotates the window to the reading when
// Collector.mu is free, and returns ps when a refresh holds it. Rare: the
// refresh goroutine is late by more than half a bucket.
func (c *Collector) catchUp(wall int64, ps int) int {
	if !c.mu.TryLock() {
		return ps
	}
	defer c.mu.Unlock()
	c.rotate(time.Unix(0, wall))
	w := c.win
	return w.slotOf(min(max(floorDiv(wall, w.width), w.oldestLive()), w.prepared))
}

// rotate prepares the bucket after the one that holds now: for each bucket
// the clock has moved into since the last call (at most n), it drains the
// slice that bucket reuses, then publishes the newest prepared bucket. A
// clock that moved backwards changes nothing. Called with c.mu held.
func (c *Collector) rotate(now time.Time) {
	w := c.win
	target := floorDiv(now.UnixNano(), w.width) + 1
	if target <= w.prepared {
		return
	}
	n := int64(w.n)
	recs := append(c.routes.list(), c.manual)
	for a := max(w.prepared+1, target-n+1); a <= target; a++ {
		old := a - n // the bucket slice slotOf(a) holds now
		if old > w.prepared {
			old -= (old - w.prepared + n - 1) / n * n
		}
		c.retire(old, w.slotOf(a), target, recs)
	}
	w.prepared = target
	w.publish()
}

// retire drains slice slot, which holds bucket old, of every recorder (recs) into
// their since-start totals and the window's figures of old (if old is still
// in the window that ends before target). Called with c.mu held.
func (c *Collector) retire(old int64, slot int, target int64, recs []*recorder) {
	sc := &c.scr[0]
	sc.reset()
	c.slow[slot].reset()
	var requests, errors uint64
	for _, r := range recs {
		sl := &r.slices[slot]
		for cl := range sl.classes {
			n := sl.classes[cl].Swap(0)
			r.retiredClasses[cl] += n
			requests += n
			if cl == class5xx {
				errors += n
			}
		}
		m := sl.requests.Swap(0)
		r.retiredRequests += m
		requests += m
		r.retired.sumNs += sl.sumNs.Swap(0)
		sl.hist.drainInto(&r.retired, sc)
	}
	if old < target-int64(len(c.win.buckets)) {
		return // before the window: only the totals keep it
	}
	b := c.win.bucket(old)
	b.requests += requests
	b.errors += errors
	b.percentilesOf(sc)
}

// windowQuantiles are the percentiles of each bucket of the window.
var windowQuantiles = [3]float64{0.50, 0.90, 0.99}

// percentilesOf sets the percentiles of f to those of h when h holds
// durations, and leaves them otherwise. (A percentile is never 0 when
// there are durations: the smallest is LatencyFloor.)
func (f *winBucket) percentilesOf(h *histCopy) {
	var q [len(windowQuantiles)]time.Duration
	if h.quantiles(windowQuantiles[:], q[:]); h.count > 0 {
		f.p50, f.p90, f.p99 = q[0], q[1], q[2]
	}
}

// The figures of a live bucket are summed from its time slices, one per
// recorder, each time they are read: by every snapshot (Collector.build,
// which seals those of the buckets that ended) and by Save (capture).

// liveBucket sums the time slice of one live bucket over every recorder.
type liveBucket struct {
	requests, errors uint64
	h                histCopy
}

// reset empties lb, keeping its histogram's octaves.
func (lb *liveBucket) reset() {
	lb.requests, lb.errors = 0, 0
	lb.h.reset()
}

// loadSlice loads the counts of a recorder's time slice, once each: its
// responses by status class and its IncrementRequests.
func loadSlice(sl *slice) (k [numClasses]uint64, m uint64) {
	for i := range k {
		k[i] = sl.classes[i].Load()
	}
	return k, sl.requests.Load()
}

// addSlice adds a recorder's time slice sl of lb's bucket, whose counts k
// and m loadSlice returned, to lb: requests (IncrementRequests and the
// responses of every class), 5xx responses and durations. It adds the
// durations to the recorder's own histogram dst too, in the same pass.
func (lb *liveBucket) addSlice(sl *slice, k *[numClasses]uint64, m uint64, dst *histCopy) {
	sl.hist.addTo(dst, &lb.h)
	lb.requests += m
	for _, n := range k {
		lb.requests += n
	}
	lb.errors += k[class5xx]
}

// figures returns the window's figures of bucket a from what lb summed.
func (lb *liveBucket) figures(a int64) winBucket {
	f := winBucket{abs: a, requests: lb.requests, errors: lb.errors}
	f.percentilesOf(&lb.h)
	return f
}

// oldestLive returns the oldest bucket whose time slice was not drained:
// the live buckets are oldestLive() to prepared. Called with Collector.mu
// held.
func (w *window) oldestLive() int64 {
	return w.prepared - int64(w.n) + 1
}

// figuresWith returns the figures of bucket a: those kept when its slice
// was drained and, while the bucket is live, those of its slice, added:
// sealed[slot] when they were sealed for a, else what live[slot] summed.
// sealed may be nil. Called with Collector.mu held.
func (w *window) figuresWith(a int64, live []liveBucket, sealed []winBucket) winBucket {
	f := w.figures(a)
	if a < w.oldestLive() {
		return f
	}
	slot := w.slotOf(a)
	var lf winBucket
	if sealed != nil && sealed[slot].abs == a {
		lf = sealed[slot]
	} else {
		lf = live[slot].figures(a)
	}
	f.requests += lf.requests
	f.errors += lf.errors
	if lf.p50 != 0 { // the slice has durations
		f.p50, f.p90, f.p99 = lf.p50, lf.p90, lf.p99
	}
	return f
}

// floorDiv returns a/b rounded towards minus infinity: the bucket of a
// time before 1970 too.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
