package vitals

import (
	"time"
)

// This file holds the exported types of a Snapshot, what a scrape reads.
// build.go builds one, runtime.go reads its Runtime, json.go writes it.

// A Snapshot is what a Collector knew at one moment. Snapshots are immutable
// once published, so any number of goroutines may read one; Collector
// publishes a new one every RefreshInterval.
//
// Its JSON form (see MarshalJSON) uses the snake_case names given in the
// field comments, with durations in seconds as floating-point numbers.
type Snapshot struct {
	// Time is when the snapshot was taken, by the collector's clock, which
	// never goes back and does not follow a step of the wall clock (see
	// Options.Now) ("time", RFC 3339).
	Time time.Time
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

	// Live is what the server is doing this moment: the requests that
	// ended within the last Options.LiveWindow ("live").
	Live Live
	// Slowest are the slowest requests that ended within the recent
	// window (Options.RecentWindow), slowest first, at most
	// Options.Slowest; streams are not among them ("slowest").
	Slowest []Request
	// Streams are the responses that stay open: server-sent events
	// (Content-Type text/event-stream), hijacked connections and 101
	// Switching Protocols. They count in Requests, Status and the routes'
	// requests, and in no latency figure ("streams").
	Streams Streams
	// Export counts the pushes to an OTLP endpoint (Options.OTLP); zero
	// without one ("export").
	Export Export
}

// Live are the figures of the last Options.LiveWindow: what the server is
// doing this moment. Requests, Errors and Rate come from per-second
// counters and are exact at any rate; the percentiles are exact (nearest
// rank) over the durations that the duration ring (Options.LiveRequests)
// still holds of the requests that ended within the window, which is all
// of them unless the ring wrapped inside the window: Span then says how
// far back they reach.
type Live struct {
	Span     time.Duration // the time the percentiles cover: LiveWindow, or less when the ring wrapped ("span_seconds")
	Requests uint64        // requests that ended within LiveWindow (in whole seconds: up to one second more), streams included ("requests")
	Errors   uint64        // of them, 5xx ("errors")
	Rate     float64       // Requests per second of the time they cover ("rate")
	Samples  int           // durations behind the percentiles, streams excluded ("samples")
	// Exact percentiles and maximum of the durations behind them
	// ("p50_seconds", "p90_seconds", "p99_seconds", "max_seconds").
	P50, P90, P99, Max time.Duration
}

// Request is one finished request, as Snapshot.Slowest lists them.
type Request struct {
	Route    string        // the route it counted under ("route")
	Method   string        // its method as sent ("GET"), or "OTHER" for a method off the standard nine ("method")
	Status   int           // the status the client was sent ("status")
	Duration time.Duration // how long the handler took ("duration_seconds")
	End      time.Time     // when it ended ("end")
	TraceID  string        // 32 lower-case hex digits from a valid W3C traceparent header, "" when none ("trace_id")
}

// Streams counts the responses that stay open (see Snapshot.Streams).
type Streams struct {
	Open  int64  // streams open now; they are not in InFlight ("open")
	Total uint64 // streams since this collector was created ("total")
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
