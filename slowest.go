package vitals

import (
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The slowest requests of the recent window (Snapshot.Slowest), kept per
// time slice of the window so that they age out with RecentWindow: each
// slice keeps the Options.Slowest slowest requests that ended in its
// bucket, and the snapshot merges the slices that Recent covers. No
// request of the true top K is missed at any rate, since every request is
// checked against its slice's current K-th slowest.
//
// The check on the request path is one atomic load of the slice's
// threshold. Only a request slower than it takes the rare path: a mutex
// of its own slice (never Collector.mu), an insertion into at most K
// entries and, then only, the parse of its traceparent header. The first
// K requests of each bucket take it; after them, with durations in random
// order, about K·ln(n/K) of a bucket's n requests do (some 70 of a million
// for K = 10): it is not a per-request cost. (Durations that only ever
// grow would take it each time: still correct, at a mutex each.)

// slowEntry is one request of a slice's slowest.
type slowEntry struct {
	dur    int64
	end    int64 // unix nanos
	route  *recorder
	status int
	method int
	trace  traceID // zero when none
}

// slowList keeps the K slowest requests of one time slice.
type slowList struct {
	// threshold is the duration a request must exceed to enter: -1 while
	// the list has fewer than K entries, else the shortest of them.
	threshold atomic.Int64
	mu        sync.Mutex
	top       []slowEntry // at most K, in no order; guarded by mu
}

func newSlowLists(n, k int) []slowList {
	l := make([]slowList, n)
	for i := range l {
		l[i].top = make([]slowEntry, 0, k)
		l[i].threshold.Store(-1)
	}
	return l
}

// offer is the rare path: it enters a request slower than the threshold
// (see above), reading its trace id only now. No allocation.
func (l *slowList) offer(e slowEntry, r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.dur <= l.threshold.Load() {
		return // another request raised it meanwhile
	}
	if v := r.Header["Traceparent"]; len(v) == 1 {
		e.trace, _, _ = parseTraceparent(v[0])
	}
	if len(l.top) < cap(l.top) {
		l.top = append(l.top, e)
	} else {
		l.top[l.shortest()] = e
	}
	if len(l.top) == cap(l.top) {
		l.threshold.Store(l.top[l.shortest()].dur)
	}
}

// shortest returns the index of the shortest entry. Called with mu held.
func (l *slowList) shortest() int {
	j := 0
	for i := range l.top {
		if l.top[i].dur < l.top[j].dur {
			j = i
		}
	}
	return j
}

// reset empties the list for a new bucket: called by the refresh (or a
// catching-up request) as the window reuses the slice.
func (l *slowList) reset() {
	l.mu.Lock()
	l.top = l.top[:0]
	l.threshold.Store(-1)
	l.mu.Unlock()
}

// slowest returns the slowest requests of the buckets first..last, slowest
// first, at most Options.Slowest. Called with Collector.mu held.
func (c *Collector) slowest(first, last int64, loc *time.Location) []Request {
	all := c.slowBuf[:0]
	for a := first; a <= last; a++ {
		l := &c.slow[c.win.slotOf(a)]
		l.mu.Lock()
		all = append(all, l.top...)
		l.mu.Unlock()
	}
	c.slowBuf = all
	if len(all) == 0 {
		return nil
	}
	slices.SortFunc(all, func(a, b slowEntry) int {
		if a.dur != b.dur {
			return int(min(max(b.dur-a.dur, -1), 1))
		}
		return int(min(max(b.end-a.end, -1), 1))
	})
	out := make([]Request, min(len(all), c.opts.Slowest))
	for i := range out {
		e := all[i]
		out[i] = Request{Route: e.route.name, Method: requestMethod(e.method), Status: e.status,
			Duration: time.Duration(e.dur), End: time.Unix(0, e.end).In(loc), TraceID: e.trace.String()}
	}
	return out
}

// requestMethod returns the method of method index m as a request carries
// it ("GET"), or "OTHER" for a method off the table, which vitals does not
// keep (a client could invent any number of them).
func requestMethod(m int) string {
	if m < len(methods) {
		return methods[m]
	}
	return "OTHER"
}
