package vitals

import (
	"math"
	"net/http"
	"runtime/metrics"
	"time"
)

// A Snapshot is what a Collector knew at one moment. Snapshots are immutable
// once published, so any number of goroutines may read one; Collector
// publishes a new one every RefreshInterval.
//
// Its JSON form (see MarshalJSON) uses the snake_case names given in the
// field comments, with durations in seconds as floating-point numbers.
type Snapshot struct {
	Time time.Time // when the snapshot was taken ("time", RFC 3339)
	// Start is when counting started: when the collector was created, or
	// the first start recorded in its restored state ("start").
	Start  time.Time
	Uptime time.Duration // time since this collector was created ("uptime_seconds")

	Requests       uint64 // requests counted since Start ("requests")
	InFlight       int64  // requests being served now ("in_flight")
	Connections    int64  // open client connections, when ConnState is installed ("connections")
	SessionsActive int    // sessions seen within the session TTL: see TouchSession ("sessions_active")

	// Recent has the figures of the last Options.RecentWindow, all routes
	// together: what the server is doing now ("recent").
	Recent Recent

	Window  Window  // requests per bucket over the recent past ("window")
	Latency Latency // durations of recent requests ("latency")
	Status  Status  // responses by status class since Start ("status")
	// BytesWritten is the response body bytes written through the
	// middleware ("bytes_written").
	BytesWritten uint64
	// Aborted counts the responses cut short by a handler's panic after
	// their status was sent (http.ErrAbortHandler from
	// httputil.ReverseProxy when a client leaves mid-body, say), since this
	// collector was created: StateFile does not keep it. They are counted
	// in Status with the status sent, so 5xx means server errors
	// ("aborted").
	Aborted uint64

	// Routes has the figures of each route that served a request, sorted
	// by route name ("routes").
	Routes []RouteStats
	// RoutesCapped reports that Options.MaxRoutes was reached: requests to
	// routes seen later count under RouteOther, or, for the routes of a
	// restored state (capped apart), restored routes do ("routes_capped").
	RoutesCapped bool
	// UnmatchedSuccess counts the successful responses (2xx, and 3xx other
	// than 301, 307 and 308) among the RouteUnmatched requests since this
	// process started ("unmatched_success"). A mux answers 404 or 405 for
	// what it did not match, so these mean routes whose pattern vitals
	// never saw: a middleware between Middleware and the mux copied the
	// request (wrap the mux with Collector.Routes), or Options.Route cannot
	// see the router's route (see Collector.RouteFunc). 301, 307 and 308
	// are left out: ServeMux itself redirects unmatched paths that need
	// cleaning or a trailing slash with them.
	UnmatchedSuccess uint64
	// SelfRequests counts the requests that the collector's own Handler
	// served through its Middleware since this collector was created
	// (dashboard refreshes, Prometheus scrapes, JSON reads): they are
	// counted here only, and left out of every other figure, so that
	// watching the server does not change what it shows ("self_requests").
	SelfRequests uint64

	Runtime Runtime // the Go runtime's health ("runtime")
}

// Window is the request history: one count per bucket, oldest first, the
// current (partial) bucket last.
type Window struct {
	Start       time.Time     // start of the oldest bucket ("start")
	BucketWidth time.Duration // time each bucket covers ("bucket_width_seconds")
	Counts      []uint64      // requests per bucket ("counts")
	Total       uint64        // sum of Counts ("total")

	// Aligned with Counts: the 5xx responses of each bucket ("errors") and
	// its latency percentiles, all durations together (within ±1.1 %, or a
	// bound: see LatencyFloor), 0 for a bucket without durations
	// ("p50_seconds", "p90_seconds", "p99_seconds"). Counts include
	// IncrementRequests; a bucket restored from a state file of format 1
	// has counts only.
	Errors        []uint64
	P50, P90, P99 []time.Duration

	// NoDataAt is aligned with Counts: true for a bucket without data,
	// whose zeros mean "no data", not "no requests": one that lies before
	// counting started (Snapshot.Start), or that began after the last save
	// of a restored state (Options.StateFile) and ended before this
	// collector started, when no process was counting ("no_data_at").
	NoDataAt []bool

	// Aligned with Counts: the Go heap and the goroutines as sampled by the
	// refresh goroutine at the last refresh within each bucket, 0 where
	// none was taken ("heap_bytes", "goroutines").
	HeapBytes  []uint64
	Goroutines []int
}

// Recent are the figures of the recent past: the window's buckets that
// reach back Options.RecentWindow from the snapshot (so between
// RecentWindow and one BucketWidth more), never before this collector was
// created; Span says exactly. They are this process's only: a restored
// state does not reach them.
type Recent struct {
	Span     time.Duration // the time these figures cover ("span_seconds")
	Requests uint64        // including IncrementRequests, in Snapshot.Recent ("requests")
	Errors   uint64        // responses with status 5xx ("errors")
	Status   Status        // responses by status class ("status")
	// Latency percentiles from the high-resolution histogram, within
	// ±1.1 % of the exact ones, or exactly LatencyFloor or LatencyCeiling
	// for a bound; 0 without durations ("p50_seconds", "p90_seconds",
	// "p99_seconds", "p999_seconds", with "p50_bound" etc. for a bound).
	P50, P90, P99, P999 time.Duration
}

// Status counts the responses of the middleware by status class.
type Status struct {
	Informational uint64 // 1xx, including hijacked connections such as websockets ("1xx")
	Success       uint64 // 2xx ("2xx")
	Redirect      uint64 // 3xx ("3xx")
	ClientError   uint64 // 4xx ("4xx")
	ServerError   uint64 // 5xx, including handlers that panicked ("5xx")
	Other         uint64 // 600 to 999, which net/http allows ("other")
}

// Runtime is the health of the Go runtime, read from runtime/metrics (which
// does not stop the world).
type Runtime struct {
	Goroutines int    // live goroutines ("goroutines")
	HeapBytes  uint64 // bytes in live and not yet swept heap objects ("heap_bytes")
	TotalBytes uint64 // all memory the runtime has mapped ("total_bytes")
	GCCycles   uint64 // completed GC cycles ("gc_cycles")
	// GCPause is the total time the world was stopped for GC since the
	// process started, from the runtime's histogram of pauses
	// (/sched/pauses/total/gc:seconds: each pause counted at its bucket's
	// midpoint, so within a few percent). It never goes backwards
	// ("gc_pause_seconds").
	GCPause time.Duration
}

// runtimeReader reads the Runtime figures into a reused sample slice. It
// is the refresh goroutine's (guarded by Collector.mu).
type runtimeReader struct {
	samples [5]metrics.Sample
	pause   time.Duration // the largest GCPause returned: it only grows
}

func (r *runtimeReader) init() {
	names := [...]string{
		"/sched/goroutines:goroutines",
		"/memory/classes/heap/objects:bytes",
		"/memory/classes/total:bytes",
		"/gc/cycles/total:gc-cycles",
		"/sched/pauses/total/gc:seconds",
	}
	for i, n := range names {
		r.samples[i].Name = n
	}
}

func (r *runtimeReader) read() Runtime {
	metrics.Read(r.samples[:])
	u := func(i int) uint64 {
		if r.samples[i].Value.Kind() == metrics.KindUint64 {
			return r.samples[i].Value.Uint64()
		}
		return 0
	}
	if v := r.samples[4].Value; v.Kind() == metrics.KindFloat64Histogram {
		r.pause = max(r.pause, histogramSum(v.Float64Histogram()))
	}
	return Runtime{
		Goroutines: int(u(0)),
		HeapBytes:  u(1),
		TotalBytes: u(2),
		GCCycles:   u(3),
		GCPause:    r.pause,
	}
}

// histogramSum estimates the sum of a runtime/metrics histogram of
// seconds: each count at its bucket's midpoint, or at its finite edge for
// the unbounded first and last buckets. As counts only grow, so does the
// sum.
func histogramSum(h *metrics.Float64Histogram) time.Duration {
	var sum float64
	for i, n := range h.Counts {
		if n == 0 {
			continue
		}
		lo, hi := h.Buckets[i], h.Buckets[i+1]
		var mid float64
		switch {
		case math.IsInf(lo, -1) && math.IsInf(hi, 1):
			mid = 0
		case math.IsInf(lo, -1):
			mid = max(hi, 0)
		case math.IsInf(hi, 1):
			mid = lo
		default:
			mid = (lo + hi) / 2
		}
		sum += float64(n) * mid
	}
	return time.Duration(sum * float64(time.Second))
}

// liveBucket sums the live time slice of one bucket over every recorder,
// for the window's figures. Refresh scratch space.
type liveBucket struct {
	requests, errors uint64
	h                histCopy
}

// figures returns the window's figures of bucket a from what lb summed.
func (lb *liveBucket) figures(a int64) winBucket {
	f := winBucket{abs: a, requests: lb.requests, errors: lb.errors}
	if lb.h.total() > 0 {
		var q [3]time.Duration
		lb.h.quantiles(windowQuantiles[:], q[:])
		f.p50, f.p90, f.p99 = q[0], q[1], q[2]
	}
	return f
}

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
	w := c.win
	n := int64(w.n)
	p := w.prepared // the live buckets are p-n+1 .. p
	nowNs := now.UnixNano()
	current := p - 1 // the bucket of now, or later if the clock moved back
	b := w.bucket(current)
	b.heap, b.goroutines = s.Runtime.HeapBytes, s.Runtime.Goroutines

	// The recent figures cover the live buckets that end after now minus
	// RecentWindow, and never reach before this collector was created.
	oldest := max(floorDiv(nowNs-w.recent, w.width), p-n+1)
	from := max(oldest*w.width, c.start.UnixNano())
	recent := Recent{Span: time.Duration(max(nowNs-from, 0))}

	for i := range c.live {
		c.live[i].requests, c.live[i].errors = 0, 0
		c.live[i].h.reset()
	}
	all, rec, overall := &c.scr[0], &c.scr[1], &c.scr[2]
	overall.reset()
	// summarise reads recorder r: its responses by class into since, its
	// recent histogram into rec and its recent counts into rs, and adds its
	// live slices to the window's. Its since-start histogram is base and
	// rec together (base is r.retired, or all when more belongs to it:
	// restored counts, slices older than the recent ones), read by
	// quantilesOf without merging them.
	summarise := func(r *recorder, rs *Recent, since *[numClasses]uint64) (base *histCopy, manual uint64) {
		*since = r.retiredClasses
		all.reset()
		rec.reset()
		merged := false
		if r.restored != nil && r.restored.hires != nil {
			all.merge(r.restored.hires)
			merged = true
		}
		var cl [numClasses]uint64
		for a := p - n + 1; a <= p; a++ {
			slot := w.slotOf(a)
			sl := &r.slices[slot]
			dst := rec
			if a < oldest {
				dst, merged = all, true
			}
			var k [numClasses]uint64
			for i := range k {
				k[i] = sl.classes[i].Load()
				since[i] += k[i]
			}
			m := sl.requests.Load()
			dst.sumNs += sl.sumNs.Load()
			if c.sealed[slot].abs == a {
				sl.hist.addTo(dst)
			} else { // the window's figures of this bucket need it too
				lv := &c.live[slot]
				sl.hist.addTo(dst, &lv.h)
				lv.requests += m
				for i := range k {
					lv.requests += k[i]
				}
				lv.errors += k[class5xx]
			}
			if a >= oldest {
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
		rs.Requests = manual + st.Informational + st.Success + st.Redirect + st.ClientError + st.ServerError + st.Other
		var q [4]time.Duration
		rec.quantiles(recentQuantiles[:], q[:])
		rs.P50, rs.P90, rs.P99, rs.P999 = q[0], q[1], q[2], q[3]
		overall.merge(rec)
		return base, manual
	}

	var cl [numClasses]uint64
	routes := c.routes.list()
	s.Routes = make([]RouteStats, 0, len(routes))
	for _, r := range routes {
		rs := RouteStats{Recent: Recent{Span: recent.Span}}
		var since [numClasses]uint64
		base, _ := summarise(r, &rs.Recent, &since)
		c.routeStats(r, &rs, base, rec, since, &cl)
		s.BytesWritten += rs.Bytes
		s.Requests += rs.Requests
		addRecent(&recent, &rs.Recent)
		if rs.Requests > 0 {
			s.Routes = append(s.Routes, rs)
		}
	}
	var mr Recent
	var manualSince [numClasses]uint64 // IncrementRequests counts no status
	summarise(c.manual, &mr, &manualSince)
	addRecent(&recent, &mr)
	s.Requests += c.manual.retiredRequests
	if c.manual.restored != nil {
		s.Requests += c.manual.restored.requests
	}
	for a := p - n + 1; a <= p; a++ {
		s.Requests += c.manual.slices[w.slotOf(a)].requests.Load()
	}
	var q [4]time.Duration
	overall.quantiles(recentQuantiles[:], q[:])
	recent.P50, recent.P90, recent.P99, recent.P999 = q[0], q[1], q[2], q[3]
	s.Recent = recent
	if n := overall.count; n > 0 {
		lo, hi := overall.extremes()
		s.Latency = Latency{Samples: int(n), Mean: time.Duration(overall.sumNs / n), Min: lo, Max: hi,
			P50: q[0], P90: q[1], P99: q[2]}
	}
	s.Status = statusOf(cl)
	s.RoutesCapped = c.routes.capped.Load() || c.routes.restoredCapped.Load()
	// Seal the window's figures of the buckets that ended since the last
	// refresh: later refreshes reuse them instead of summing every route's
	// slices again. (A request that ends in a bucket after it was sealed is
	// still in the since-start figures and, when the slice is drained, in
	// the bucket's kept figures.)
	for a := p - n + 1; a < current; a++ {
		if sl := w.slotOf(a); c.sealed[sl].abs != a {
			c.sealed[sl] = c.live[sl].figures(a)
		}
	}
	c.buildWindow(s, current)
	c.routes.unmatched.forEachCode(func(_, code int, n uint64) {
		switch {
		case code >= 200 && code < 300,
			code >= 300 && code < 400 && code != http.StatusMovedPermanently &&
				code != http.StatusTemporaryRedirect && code != http.StatusPermanentRedirect:
			s.UnmatchedSuccess += n
		}
	})
	s.SelfRequests = c.selfRequests.Load()
	return s
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

// buildWindow fills in s.Window, whose last bucket is current, from the
// kept figures and the live slices summed in c.live.
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
		f := w.figures(a)
		if a > w.prepared-int64(w.n) {
			lf := c.sealed[w.slotOf(a)]
			if lf.abs != a {
				lf = c.live[w.slotOf(a)].figures(a)
			}
			f.requests += lf.requests
			f.errors += lf.errors
			if lf.p50 != 0 {
				f.p50, f.p90, f.p99 = lf.p50, lf.p90, lf.p99
			}
		}
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
