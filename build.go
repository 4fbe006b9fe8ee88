package vitals

import (
	"net/http"
	"time"
)

// This file builds a Snapshot: Collector.build reads every recorder once,
// under Collector.mu, after Refresh has rotated the window. Each recorder's
// time slices give its recent figures, its share of the since-start ones
// and the window's figures of the live buckets (window.go's liveBucket,
// which Save's capture shares); routeStats (routes.go) adds a route's
// since-start counters.

// recentQuantiles are the percentiles of Recent and RouteStats.
var recentQuantiles = [4]float64{0.50, 0.90, 0.99, 0.999}

// build assembles a snapshot at now. Called with c.mu held, after the
// window has been rotated to now.
func (c *Collector) build(now time.Time, sessionsActive int) *Snapshot {
	s := &Snapshot{
		Time:           now,
		Start:          time.Unix(0, c.firstStart.Load()).In(now.Location()),
		Uptime:         now.Sub(c.start),
		InFlight:       c.inFlightNow(),
		Connections:    c.conns.Load(),
		SessionsActive: sessionsActive,
		Aborted:        c.aborted.Load(),
		Runtime:        c.rt.read(),
	}
	// The current bucket keeps the last runtime sample taken in it.
	current := c.win.prepared - 1 // the bucket of now, or later if the clock moved back
	b := c.win.bucket(current)
	b.heap, b.goroutines = s.Runtime.HeapBytes, s.Runtime.Goroutines

	sm := c.newSummary(now)
	c.addRoutes(s, &sm)
	c.addManual(s, &sm)
	sm.finish(s)
	c.seal(current)
	c.buildWindow(s, current)
	s.UnmatchedSuccess = c.unmatchedSuccess()
	c.buildLive(s, now)
	s.Slowest = c.slowest(sm.oldest, sm.last, now.Location())
	s.Streams = Streams{Open: max(c.streamsOpen.Load(), 0), Total: c.streamsTotal.Load()}
	s.SelfRequests = c.selfRequests.Load()
	return s
}

// summary is one build's reading of the recorders: which live buckets
// the recent figures cover, the scratch histograms it sums durations in,
// and the recent figures of all recorders together.
type summary struct {
	c           *Collector
	first, last int64 // the live buckets, oldest to prepared
	oldest      int64 // the oldest live bucket that the recent figures cover
	recent      Recent
	// all is one recorder's since-start durations beyond its retired ones,
	// rec its recent durations, overall every recorder's recent ones.
	all, rec, overall *histCopy
}

// newSummary starts the reading of a build at now: it empties the
// scratch, and the window's figures of the live buckets (c.live).
func (c *Collector) newSummary(now time.Time) summary {
	w := c.win
	sm := summary{c: c, first: w.oldestLive(), last: w.prepared,
		all: &c.scr[0], rec: &c.scr[1], overall: &c.scr[2]}
	// The recent figures cover the live buckets that end after now minus
	// RecentWindow, and never reach before this collector was created.
	nowNs := now.UnixNano()
	sm.oldest = max(floorDiv(nowNs-w.recent, w.width), sm.first)
	from := max(sm.oldest*w.width, c.start.UnixNano())
	sm.recent.Span = time.Duration(max(nowNs-from, 0))
	for i := range c.live {
		c.live[i].reset()
	}
	sm.overall.reset()
	return sm
}

// addRoutes reads every route: the RouteStats of those that served a
// request into s.Routes, their since-start figures into s, their recent
// ones into sm.
func (c *Collector) addRoutes(s *Snapshot, sm *summary) {
	var cl [numClasses]uint64
	routes := c.routes.list()
	s.Routes = make([]RouteStats, 0, len(routes))
	for _, r := range routes {
		rs := RouteStats{Recent: Recent{Span: sm.recent.Span}}
		var since [numClasses]uint64
		base := sm.read(r, &rs.Recent, &since)
		c.routeStats(r, &rs, base, sm.rec, since, &cl)
		s.BytesWritten += rs.Bytes
		s.Requests += rs.Requests
		addRecent(&sm.recent, &rs.Recent)
		if rs.Requests > 0 {
			s.Routes = append(s.Routes, rs)
		}
	}
	s.Status = statusOf(cl)
	s.RoutesCapped = c.routes.capped.Load() || c.routes.restoredCapped.Load()
}

// addManual reads what IncrementRequests and RecordDuration counted: the
// requests since start into s, the recent figures into sm.
func (c *Collector) addManual(s *Snapshot, sm *summary) {
	var mr Recent
	var since [numClasses]uint64 // IncrementRequests counts no status
	sm.read(c.manual, &mr, &since)
	addRecent(&sm.recent, &mr)
	s.Requests += c.manualTotal()
}

// read reads recorder r: its responses by class since start into since,
// its recent figures into rs (all but Span) and its recent durations into
// sm.rec and sm.overall, and adds its live slices to the window's figures.
// Its since-start histogram is base and sm.rec together (base is
// r.retired, or sm.all when more belongs to it: restored counts, slices
// older than the recent ones), which quantilesOf reads without merging
// them.
func (sm *summary) read(r *recorder, rs *Recent, since *[numClasses]uint64) (base *histCopy) {
	all, rec := sm.all, sm.rec
	*since = r.retiredClasses
	all.reset()
	rec.reset()
	merged := false
	if r.restored != nil && r.restored.hires != nil {
		all.merge(r.restored.hires)
		merged = true
	}
	var cl [numClasses]uint64 // recent responses by class
	var manual uint64         // recent IncrementRequests
	for a := sm.first; a <= sm.last; a++ {
		dst := rec
		if a < sm.oldest {
			dst, merged = all, true
		}
		k, m := sm.readSlice(r, a, dst)
		for i := range k {
			since[i] += k[i]
		}
		if a >= sm.oldest {
			manual += m
			for i := range k {
				cl[i] += k[i]
			}
		}
	}
	base = &r.retired
	if merged {
		all.merge(&r.retired)
		base = all
	}
	st := statusOf(cl)
	rs.Status, rs.Errors = st, st.ServerError
	rs.Requests = manual + sum(cl[:])
	var q [len(recentQuantiles)]time.Duration
	rec.quantiles(recentQuantiles[:], q[:])
	rs.P50, rs.P90, rs.P99, rs.P999 = q[0], q[1], q[2], q[3]
	sm.overall.merge(rec)
	return base
}

// readSlice reads r's time slice of live bucket a: it adds the slice's
// durations to dst and, unless the window's figures of a were sealed, its
// counts and durations to those (c.live). It returns the slice's counts:
// responses by class and IncrementRequests.
func (sm *summary) readSlice(r *recorder, a int64, dst *histCopy) (k [numClasses]uint64, m uint64) {
	c := sm.c
	slot := c.win.slotOf(a)
	sl := &r.slices[slot]
	k, m = loadSlice(sl)
	dst.sumNs += sl.sumNs.Load()
	if c.sealed[slot].abs == a {
		sl.hist.addTo(dst)
	} else {
		c.live[slot].addSlice(sl, &k, m, dst)
	}
	return k, m
}

// finish sets s.Recent, percentiles included, and s.Latency from what sm
// read.
func (sm *summary) finish(s *Snapshot) {
	overall := sm.overall
	var q [len(recentQuantiles)]time.Duration
	overall.quantiles(recentQuantiles[:], q[:])
	s.Recent = sm.recent
	s.Recent.P50, s.Recent.P90, s.Recent.P99, s.Recent.P999 = q[0], q[1], q[2], q[3]
	if n := overall.count; n > 0 {
		lo, hi := overall.extremes()
		s.Latency = Latency{Samples: int(n), Mean: time.Duration(overall.sumNs / n), Min: lo, Max: hi,
			P50: q[0], P90: q[1], P99: q[2]}
	}
}

// addRecent adds the counts of r to sum (the percentiles are merged
// separately).
func addRecent(sum, r *Recent) {
	sum.Requests += r.Requests
	sum.Errors += r.Errors
	st, o := &sum.Status, r.Status
	st.Informational += o.Informational
	st.Success += o.Success
	st.Redirect += o.Redirect
	st.ClientError += o.ClientError
	st.ServerError += o.ServerError
	st.Other += o.Other
}

// seal keeps the window's figures of the live buckets that ended since the
// last refresh (those before current): later refreshes reuse them instead
// of summing every route's slices again. (A request that ends in a bucket
// after it was sealed is still in the since-start figures and, when the
// slice is drained, in the bucket's kept figures.)
func (c *Collector) seal(current int64) {
	w := c.win
	for a := w.oldestLive(); a < current; a++ {
		if sl := w.slotOf(a); c.sealed[sl].abs != a {
			c.sealed[sl] = c.live[sl].figures(a)
		}
	}
}

// buildWindow fills in s.Window, whose last bucket is current, from the
// kept figures, the sealed ones and the live slices summed in c.live.
func (c *Collector) buildWindow(s *Snapshot, current int64) {
	w := c.win
	nb := int64(len(w.buckets))
	first := current - nb + 1
	win := &s.Window
	win.Start = time.Unix(0, first*w.width).In(s.Time.Location())
	win.BucketWidth = time.Duration(w.width)
	win.Counts = make([]uint64, nb)
	win.Errors = make([]uint64, nb)
	win.P50 = make([]time.Duration, nb)
	win.P90 = make([]time.Duration, nb)
	win.P99 = make([]time.Duration, nb)
	win.HeapBytes = make([]uint64, nb)
	win.Goroutines = make([]int, nb)
	win.NoDataAt = make([]bool, nb)
	startNs := s.Start.UnixNano()
	k := 0 // the first of c.down that may hold bucket i
	for i := range nb {
		a := first + i
		f := w.figuresWith(a, c.live, c.sealed)
		win.Counts[i], win.Errors[i] = f.requests, f.errors
		win.P50[i], win.P90[i], win.P99[i] = f.p50, f.p90, f.p99
		win.HeapBytes[i], win.Goroutines[i] = f.heap, f.goroutines
		win.Total += f.requests
		switch end := (a + 1) * w.width; {
		case end <= startNs:
			win.NoDataAt[i] = true
		case a*w.width > c.downFrom && end <= c.downTo:
			win.NoDataAt[i] = true
		case c.downAt(&k, a*w.width, end):
			win.NoDataAt[i] = true
		}
	}
}

// unmatchedSuccess counts the successful responses among the
// RouteUnmatched requests (see Snapshot.UnmatchedSuccess).
func (c *Collector) unmatchedSuccess() (n uint64) {
	c.routes.unmatched.forEachCode(func(_, code int, k uint64) {
		switch {
		case code >= 200 && code < 300,
			code >= 300 && code < 400 && code != http.StatusMovedPermanently &&
				code != http.StatusTemporaryRedirect && code != http.StatusPermanentRedirect:
			n += k
		}
	})
	return n
}

// sum returns the sum of v.
func sum(v []uint64) (s uint64) {
	for _, n := range v {
		s += n
	}
	return s
}
