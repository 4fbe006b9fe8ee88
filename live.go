package vitals

import (
	"net/http"
	"slices"
	"time"
)

// What the live figures take from each finished request (the middleware
// calls recordLive once per request), and how a snapshot's Live is built
// from them: the per-second counters (persecond.go), the duration ring
// (ring.go) and the slowest requests (slowest.go).

// recordLive counts a finished request in the per-second counters, and,
// unless it is a stream, in the duration ring and against the slowest of
// its time slice. wall is its end in unix nanos, d its duration. No lock
// and no allocation (the slowest's rare path takes its slice's mutex).
func (c *Collector) recordLive(rec *recorder, slot int, wall, d int64, status, method int, stream bool, r *http.Request) {
	c.perSec.add(floorDiv(wall, int64(time.Second)), status/100 == 5)
	if stream {
		return
	}
	c.ring.put(wall, d, status, method)
	if l := &c.slow[slot]; d > l.threshold.Load() {
		l.offer(slowEntry{dur: d, end: wall, route: rec, status: status, method: method}, r)
	}
}

// buildLive fills in s.Live at now. Called with Collector.mu held.
func (c *Collector) buildLive(s *Snapshot, now time.Time) {
	w := c.opts.LiveWindow
	ns := now.UnixNano()
	since := ns - int64(w)
	// The counters count whole seconds: those that the window reaches
	// into, from the one holding its start, which cover between LiveWindow
	// and one second more. The rate is over the time they really cover.
	from := floorDiv(since, int64(time.Second))
	lv := &s.Live
	lv.Requests, lv.Errors = c.perSec.sum(from, floorDiv(ns, int64(time.Second)))
	lv.Rate = float64(lv.Requests) / time.Duration(ns-from*int64(time.Second)).Seconds()
	recs, oldest, full := c.ring.read(c.ringBuf[:0], since+1)
	c.ringBuf = recs
	lv.Span = w
	if full && oldest > since && oldest <= ns {
		lv.Span = time.Duration(ns - oldest) // the ring wrapped inside the window
	}
	durs := c.durBuf[:0]
	for _, r := range recs {
		if r.end <= ns {
			durs = append(durs, r.dur)
		}
	}
	c.durBuf = durs
	lv.Samples = len(durs)
	if len(durs) == 0 {
		return
	}
	// Selection, not a sort: each rank narrows the part the next searches
	// (a full ring in tens of microseconds, where a sort takes hundreds).
	lv.Max = time.Duration(slices.Max(durs))
	k99 := rankIndex(len(durs), 99)
	lv.P99 = time.Duration(selectNth(durs, k99))
	k90 := rankIndex(len(durs), 90)
	lv.P90 = time.Duration(selectNth(durs[:k99+1], k90))
	lv.P50 = time.Duration(selectNth(durs[:k90+1], rankIndex(len(durs), 50)))
}

// rankIndex returns the index, in sorted order, of the p-th percentile of
// n values (n > 0) by the nearest-rank method: the smallest value with at
// least p % of the values at or below it, rank ceil(n·p/100).
func rankIndex(n, p int) int {
	return max((n*p+99)/100, 1) - 1
}

// selectNth reorders a so that a[k] is the value a sorted a would hold
// there, a[:k] holding none larger and a[k+1:] none smaller, and returns
// it (quickselect, median-of-three pivots).
func selectNth(a []int64, k int) int64 {
	lo, hi := 0, len(a)-1
	for hi > lo {
		mid := lo + (hi-lo)/2
		if a[mid] < a[lo] {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if a[hi] < a[lo] {
			a[hi], a[lo] = a[lo], a[hi]
		}
		if a[hi] < a[mid] {
			a[hi], a[mid] = a[mid], a[hi]
		}
		pivot := a[mid]
		i, j := lo, hi
		for i <= j {
			for a[i] < pivot {
				i++
			}
			for a[j] > pivot {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return a[k]
		}
	}
	return a[k]
}

// sortByEnd sorts records by end, oldest first.
func sortByEnd(recs []ringRecord) {
	slices.SortFunc(recs, func(a, b ringRecord) int {
		return int(min(max(a.end-b.end, -1), 1))
	})
}
