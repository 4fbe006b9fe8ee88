package vitals

import (
	"fmt"
	"math"
	"net/http"
	"time"
)

// This file holds the configuration of a Collector: Options, the defaults
// of its zero fields, and normalize, which fills them in and rejects the
// values that make no sense.

// Defaults for the zero fields of Options.
const (
	DefaultRefreshInterval = time.Second
	DefaultBucketWidth     = time.Minute
	DefaultWindowBuckets   = 60
	DefaultSessionTTL      = 30 * time.Minute
	DefaultRecentWindow    = 5 * time.Minute
	DefaultLiveWindow      = 10 * time.Second
	DefaultLiveRequests    = 4096
	DefaultSlowest         = 10
)

// DefaultBuckets are the upper bounds, in seconds, of the classic
// Prometheus duration histogram when Options.Buckets is nil: 100 µs to 10 s
// in steps of about 2.5x, so each decade has three buckets. (The
// percentiles of a Snapshot come from a finer histogram; see Recent.)
var DefaultBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Options configures a Collector. The zero value is ready to use: every zero
// field means the default documented on it.
type Options struct {
	// RefreshInterval is how often the snapshot is rebuilt, the request
	// window rotated and the session count moved on. Default 1s, or half of
	// BucketWidth if that is shorter; at least 1ms and at most half of
	// BucketWidth, so that a late tick still prepares each bucket before
	// the clock reaches it.
	RefreshInterval time.Duration

	// BucketWidth is the time one bucket of the request window covers.
	// Buckets are aligned to the Unix epoch (one-minute buckets are calendar
	// minutes). Default one minute; at least twice RefreshInterval (so at
	// least 2ms), so that every bucket is prepared before the clock reaches
	// it.
	BucketWidth time.Duration

	// RecentWindow is what "now" means: the Recent figures of a Snapshot
	// cover the buckets that reach back RecentWindow from the moment of the
	// snapshot, so between RecentWindow and RecentWindow plus one
	// BucketWidth (Recent.Span says exactly). Default DefaultRecentWindow
	// (5 minutes), or BucketWidth if that is longer, but never more than
	// the 60 buckets allowed (one minute of one-second buckets, say); at
	// most 60 buckets.
	RecentWindow time.Duration

	// WindowBuckets is how many buckets the request window keeps, the
	// current partial one included. Default 60 (an hour of minutes); at most
	// 100000.
	WindowBuckets int

	// SessionCookie names a cookie whose value identifies a session. When
	// set, the middleware calls TouchSession with it for each request that
	// carries it. Any client can send any value, so each invented value
	// counts as a session; where users log in, prefer calling TouchSession
	// with the authenticated session's id. Default: none (sessions are
	// counted only through TouchSession).
	SessionCookie string

	// SessionTTL is how long a session stays active after it was last seen:
	// at least SessionTTL and at most SessionTTL/16 longer. Default 30
	// minutes.
	SessionTTL time.Duration

	// Buckets are the upper bounds, in seconds, of the request duration
	// histogram, strictly increasing and positive. Default DefaultBuckets.
	Buckets []float64

	// Route names the route of a finished request, for routers other than
	// http.ServeMux (whose matched pattern, Request.Pattern, is the default).
	// It runs after the handler returns, on the request the middleware was
	// given; it must be fast and must return a name from a bounded set (a
	// route template, never the raw path). An empty name counts as
	// RouteUnmatched. If it panics, the panic is logged (to the server's
	// ErrorLog, else the log package) and goes no further, and the request
	// counts as RouteUnmatched: the response the handler gave stands. A
	// route that Collector.Routes or Collector.RouteFunc reported for the
	// request takes precedence, and Route is not called then: use those
	// when the router sees a copy of the middleware's request.
	Route func(*http.Request) string

	// MaxRoutes caps the distinct routes counted; requests to routes first
	// seen after the cap count under RouteOther. Default DefaultMaxRoutes;
	// at most 10000.
	//
	// The routes of a restored state (StateFile, Collector.Restore) are
	// capped apart, at MaxRoutes too, so that a state's names (of routes
	// long gone, or crafted) never take the slots of the routes this
	// process serves: restored routes beyond that cap count under
	// RouteOther, and requests to a restored route count there without
	// taking a slot. At most 2×MaxRoutes routes are kept, plus
	// RouteUnmatched and RouteOther.
	MaxRoutes int

	// Namespace prefixes every Prometheus metric name, joined with an
	// underscore: "shop" gives shop_http_requests_total. Default: none.
	Namespace string

	// ConstLabels are added to every Prometheus series, for instance the
	// instance's role when a fleet is scraped. Names must be valid label
	// names and not ones vitals sets (code, method, route, le, quantile).
	ConstLabels map[string]string

	// StateFile names a file that keeps the collector's cumulative state
	// across restarts (see Collector.Save for what is kept). Open restores
	// from it, locks it against a second collector, saves it every
	// SaveInterval and once more on Close; use Open, not New, when
	// persisting. The routes it restores are capped apart from the routes
	// this process serves (see MaxRoutes). Its directory must exist and be
	// writable (Open creates StateFile.lock there): Open fails otherwise,
	// when another collector holds the file, and when StateFile names
	// something other than a regular file (after following symlinks: a
	// directory, FIFO, socket or device), which Open neither reads nor
	// moves.
	//
	// A file that cannot be read or decoded (damaged, truncated, not a
	// vitals file, over 64 MiB) never stops the server: it is renamed aside
	// to StateFile.bad-<unix seconds> (with -2, -3, … added when that name
	// is taken, so a bad file is never overwritten), the error naming both
	// files goes to OnError, and Open returns a working collector that
	// starts counting from zero. If the file cannot even be renamed, it is
	// left in place and the collector runs without persistence rather than
	// overwrite it (also reported). A file written by a newer version of
	// vitals (after a rollback) is not damaged: it is left in place, and
	// the collector runs without persistence, saving nothing, until the file
	// is moved away (reported too). Set StrictState to make Open return
	// those errors instead. Default: none.
	StateFile string

	// StrictState makes Open fail, with an error naming the file, when
	// StateFile cannot be read or decoded or was written by a newer
	// version, instead of reporting it through OnError and starting empty
	// or without persistence. A bad file is set aside either way.
	StrictState bool

	// SaveInterval is how often StateFile is saved. Default 10s; at least
	// 10ms.
	SaveInterval time.Duration

	// OnError receives the errors of periodic saves, from the saving
	// goroutine (the next save retries), and, unless StrictState is set,
	// the error of a state file that Open could not use, from Open's
	// goroutine. Default: the log package.
	OnError func(error)

	// LiveWindow is the span of Snapshot.Live, what the server is doing
	// this moment: at least one second, at most one minute (the per-second
	// counters keep a minute). Default 10s.
	LiveWindow time.Duration

	// LiveRequests is the size of the duration ring: how many of the last
	// finished requests keep their duration, end time, status, route and
	// method for Snapshot.Live's exact percentiles. At most 1<<20. Default
	// 4096.
	LiveRequests int

	// Slowest is how many of the slowest requests of RecentWindow
	// Snapshot.Slowest keeps, at most 100. Default 10.
	Slowest int

	// Now is the clock for the request window, session expiry, uptime,
	// snapshot times and the time a save records; request durations
	// always use the monotonic clock. Default time.Now, read once: the
	// collector's clock is then the wall clock at the start plus the
	// monotonic time since, so the bucket of a request comes from the
	// monotonic reading the middleware takes anyway, and a step of the
	// wall clock (NTP, settimeofday) does not move it, nor, on Linux, a
	// suspend. The collector's times and its window agree with each other
	// and stay aligned, but after such a step they differ from the wall
	// clock by it, until the next start. Tests inject a fake clock, which
	// the middleware, IncrementRequests and RecordDuration then call once
	// per call. Whatever the clock, the collector's time never goes back:
	// a clock that moved forward moves the window on (the buckets skipped
	// count zero requests), and one that moved back leaves Snapshot.Time,
	// Uptime, the window and the time a save records where they were, and
	// requests count in the current bucket until the clock passes it
	// again. Since-start figures stay exact either way.
	Now func() time.Time

	// OTLP pushes the collector's figures to an OpenTelemetry endpoint
	// (a Collector, Prometheus 3, Mimir, VictoriaMetrics...) every
	// OTLP.Interval, over OTLP/HTTP. The standard environment variables
	// of OpenTelemetry's SDKs configure what OTLP leaves zero (see OTLP);
	// when OTLP is nil, the push is on if OTEL_EXPORTER_OTLP_ENDPOINT or
	// OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is set, configured by the
	// environment alone. OTEL_SDK_DISABLED=true, or an
	// OTEL_METRICS_EXPORTER that does not list otlp, turns it off either
	// way. Snapshot.Export counts the pushes. Default: nil.
	OTLP *OTLP
}

// maxRecentBuckets is the most buckets RecentWindow may cover: it bounds
// the time slices of each recorder (see window.cur).
const maxRecentBuckets = 60

// normalize fills in defaults and reports an option that makes no sense.
func (o Options) normalize() (Options, error) {
	if o.BucketWidth == 0 {
		o.BucketWidth = DefaultBucketWidth
	}
	if o.RefreshInterval == 0 {
		o.RefreshInterval = min(DefaultRefreshInterval, o.BucketWidth/2)
	}
	if o.RecentWindow == 0 {
		o.RecentWindow = min(max(DefaultRecentWindow, o.BucketWidth), maxRecentBuckets*o.BucketWidth)
	}
	if o.WindowBuckets == 0 {
		o.WindowBuckets = DefaultWindowBuckets
	}
	if o.SessionTTL == 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.Buckets == nil {
		o.Buckets = DefaultBuckets
	}
	if o.SaveInterval == 0 {
		o.SaveInterval = DefaultSaveInterval
	}
	if o.MaxRoutes == 0 {
		o.MaxRoutes = DefaultMaxRoutes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LiveWindow == 0 {
		o.LiveWindow = DefaultLiveWindow
	}
	if o.LiveRequests == 0 {
		o.LiveRequests = DefaultLiveRequests
	}
	if o.Slowest == 0 {
		o.Slowest = DefaultSlowest
	}
	switch {
	case o.LiveWindow < time.Second || o.LiveWindow > time.Minute:
		return o, fmt.Errorf("vitals: LiveWindow %v is outside 1s..1m", o.LiveWindow)
	case o.LiveRequests < 1 || o.LiveRequests > 1<<20:
		return o, fmt.Errorf("vitals: LiveRequests %d is outside 1..1048576", o.LiveRequests)
	case o.Slowest < 1 || o.Slowest > 100:
		return o, fmt.Errorf("vitals: Slowest %d is outside 1..100", o.Slowest)
	}
	switch {
	case o.BucketWidth < 2*time.Millisecond:
		return o, fmt.Errorf("vitals: BucketWidth %v is below 2ms", o.BucketWidth)
	case o.RefreshInterval < time.Millisecond:
		return o, fmt.Errorf("vitals: RefreshInterval %v is below 1ms", o.RefreshInterval)
	case o.BucketWidth < 2*o.RefreshInterval:
		return o, fmt.Errorf("vitals: BucketWidth %v is below twice RefreshInterval %v: a refresh must prepare each bucket before the clock reaches it, even when late", o.BucketWidth, o.RefreshInterval)
	case o.RecentWindow < 0 || o.RecentWindow > maxRecentBuckets*o.BucketWidth:
		return o, fmt.Errorf("vitals: RecentWindow %v is outside 0..%d buckets of %v", o.RecentWindow, maxRecentBuckets, o.BucketWidth)
	case o.WindowBuckets < 1 || o.WindowBuckets > 100000:
		return o, fmt.Errorf("vitals: WindowBuckets %d is outside 1..100000", o.WindowBuckets)
	case o.SessionTTL < 0:
		return o, fmt.Errorf("vitals: SessionTTL %v is negative", o.SessionTTL)
	case o.SaveInterval < 10*time.Millisecond:
		return o, fmt.Errorf("vitals: SaveInterval %v is below 10ms", o.SaveInterval)
	case o.MaxRoutes < 1 || o.MaxRoutes > maxMaxRoutes:
		return o, fmt.Errorf("vitals: MaxRoutes %d is outside 1..%d", o.MaxRoutes, maxMaxRoutes)
	case len(o.Buckets) == 0 || len(o.Buckets) > 100:
		return o, fmt.Errorf("vitals: Buckets has %d bounds, want 1..100", len(o.Buckets))
	}
	for i, b := range o.Buckets {
		if math.IsNaN(b) || b <= 0 || b > 1e9 {
			return o, fmt.Errorf("vitals: Buckets[%d] = %v, want a positive number of seconds", i, b)
		}
		if i > 0 && b <= o.Buckets[i-1] {
			return o, fmt.Errorf("vitals: Buckets are not strictly increasing at [%d] = %v", i, b)
		}
	}
	if o.Namespace != "" && !validMetricName(o.Namespace) {
		return o, fmt.Errorf("vitals: Namespace %q is not a valid metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)", o.Namespace)
	}
	o.Buckets = append([]float64(nil), o.Buckets...)
	return o, nil
}
