package vitals

import (
	"runtime"
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
	// SessionsDropped is always 0: no session goes uncounted
	// ("sessions_dropped", kept for compatibility).
	//
	// Deprecated: sessions are no longer capped.
	SessionsDropped uint64

	// Recent has the figures of the last Options.RecentWindow, all routes
	// together: what the server is doing now ("recent").
	Recent Recent

	Window  Window  // requests per bucket over the recent past ("window")
	Latency Latency // durations of recent requests ("latency")
	Status  Status  // responses by status class since Start ("status")
	// BytesWritten is the response body bytes written through the
	// middleware ("bytes_written").
	BytesWritten uint64

	// Routes has the figures of each route that served a request, sorted
	// by route name ("routes").
	Routes []RouteStats
	// RoutesCapped reports that Options.MaxRoutes was reached: requests to
	// routes seen later count under RouteOther ("routes_capped").
	RoutesCapped bool

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
	// its latency percentiles, 0 for a bucket without requests
	// ("p50_seconds", "p90_seconds", "p99_seconds").
	Errors        []uint64
	P50, P90, P99 []time.Duration

	// NoData is how many of the oldest buckets lie before counting started
	// (Snapshot.Start): their zeros mean "no data", not "no requests"
	// ("no_data").
	NoData int

	// Aligned with Counts: the Go heap and the goroutines as sampled by the
	// refresh goroutine at the last refresh within each bucket, 0 where
	// none was taken ("heap_bytes", "goroutines").
	HeapBytes  []uint64
	Goroutines []int
}

// Recent are the figures of the recent past, the last Options.RecentWindow
// (or less, right after start).
type Recent struct {
	Span     time.Duration // the time these figures cover ("span_seconds")
	Requests uint64        // ("requests")
	Errors   uint64        // responses with status 5xx ("errors")
	Status   Status        // responses by status class ("status")
	// Latency percentiles from the high-resolution histogram
	// ("p50_seconds", "p90_seconds", "p99_seconds", "p999_seconds").
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
	// GCPause is the total time the world was stopped for GC, derived from
	// the runtime's GC pause CPU time divided by GOMAXPROCS
	// ("gc_pause_seconds").
	GCPause time.Duration
}

// runtimeReader reads the Runtime figures into a reused sample slice.
type runtimeReader struct {
	samples [5]metrics.Sample
}

func (r *runtimeReader) init() {
	names := [...]string{
		"/sched/goroutines:goroutines",
		"/memory/classes/heap/objects:bytes",
		"/memory/classes/total:bytes",
		"/gc/cycles/total:gc-cycles",
		"/cpu/classes/gc/pause:cpu-seconds",
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
	var pause time.Duration
	if v := r.samples[4].Value; v.Kind() == metrics.KindFloat64 {
		pause = time.Duration(v.Float64() / float64(runtime.GOMAXPROCS(0)) * float64(time.Second))
	}
	return Runtime{
		Goroutines: int(u(0)),
		HeapBytes:  u(1),
		TotalBytes: u(2),
		GCCycles:   u(3),
		GCPause:    pause,
	}
}

// build assembles a snapshot at now. Called with c.mu held, after the
// window has been rotated to now.
func (c *Collector) build(now time.Time, sessionsActive int) *Snapshot {
	s := &Snapshot{
		Time:            now,
		Start:           time.Unix(0, c.firstStart.Load()).In(now.Location()),
		Uptime:          now.Sub(c.start),
		Requests:        c.win.total(),
		InFlight:        c.inFlightNow(),
		Connections:     c.conns.Load(),
		SessionsActive:  sessionsActive,
		SessionsDropped: 0, // deprecated: nothing is dropped
		Runtime:         c.rt.read(),
	}
	s.Window.Start = c.win.start()
	s.Window.BucketWidth = c.win.width
	s.Window.Counts = c.win.counts(make([]uint64, 0, len(c.win.buckets)))
	for _, n := range s.Window.Counts {
		s.Window.Total += n
	}
	s.Latency = summarize(c.ring.copyTo(c.scratch))
	var cl [numClasses]uint64
	routes := c.routes.list()
	s.Routes = make([]RouteStats, 0, len(routes))
	for _, r := range routes {
		r.classTotals(&cl)
		s.BytesWritten += r.bytes.Load()
		if rs := c.routeStats(r, c.hist); rs.Requests > 0 {
			s.Routes = append(s.Routes, rs)
		}
	}
	s.Status = statusOf(cl)
	s.RoutesCapped = c.routes.capped.Load()
	return s
}
