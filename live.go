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
	sec := floorDiv(ns, int64(time.Second))
	secs := int64((w + time.Second - 1) / time.Second)
	lv := &s.Live
	lv.Requests, lv.Errors = c.perSec.sum(sec-secs+1, sec)
	lv.Rate = float64(lv.Requests) / w.Seconds()
	since := ns - int64(w)
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
	slices.Sort(durs)
	lv.P50, lv.P90, lv.P99 = nearestRank(durs, 50), nearestRank(durs, 90), nearestRank(durs, 99)
	lv.Max = time.Duration(durs[len(durs)-1])
}

// nearestRank returns the p-th percentile of sorted (not empty) by the
// nearest-rank method: the smallest value with at least p % of the values
// at or below it.
func nearestRank(sorted []int64, p int) time.Duration {
	rank := (len(sorted)*p + 99) / 100 // ceil(n·p/100)
	return time.Duration(sorted[max(rank, 1)-1])
}

// sortByEnd sorts records by end, oldest first.
func sortByEnd(recs []ringRecord) {
	slices.SortFunc(recs, func(a, b ringRecord) int {
		return int(min(max(a.end-b.end, -1), 1))
	})
}
