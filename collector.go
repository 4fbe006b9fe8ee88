package vitals

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for the zero fields of Options.
const (
	DefaultRefreshInterval = time.Second
	DefaultBucketWidth     = time.Minute
	DefaultWindowBuckets   = 60
	DefaultSessionTTL      = 30 * time.Minute
	DefaultRecentWindow    = 5 * time.Minute
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
	// window rotated and expired sessions swept. Default 1s, or half of
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
	// across restarts (see Collector.Save). Open restores from it, locks it
	// against a second collector, saves it every SaveInterval and on Close;
	// use Open, not New, when persisting. The routes it restores are capped
	// apart (see MaxRoutes). Its directory must exist and be writable (Open
	// creates StateFile.lock there): Open fails otherwise, when another
	// collector holds the file, and when StateFile names something other
	// than a regular file (after following symlinks: a directory, FIFO,
	// socket or device), which Open neither reads nor moves.
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

	// Now is the clock for the request window, session expiry, uptime and
	// snapshot times; request durations always use the monotonic clock.
	// Default time.Now: the bucket of a request then comes from the
	// monotonic reading the middleware takes anyway. Tests inject a fake
	// clock, which the middleware, IncrementRequests and RecordDuration
	// then call once per call.
	Now func() time.Time
}

// normalize fills in defaults and reports an option that makes no sense.
func (o Options) normalize() (Options, error) {
	if o.BucketWidth == 0 {
		o.BucketWidth = DefaultBucketWidth
	}
	if o.RefreshInterval == 0 {
		o.RefreshInterval = min(DefaultRefreshInterval, o.BucketWidth/2)
	}
	if o.RecentWindow == 0 {
		o.RecentWindow = min(max(DefaultRecentWindow, o.BucketWidth), 60*o.BucketWidth)
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
	switch {
	case o.BucketWidth < 2*time.Millisecond:
		return o, fmt.Errorf("vitals: BucketWidth %v is below 2ms", o.BucketWidth)
	case o.RefreshInterval < time.Millisecond:
		return o, fmt.Errorf("vitals: RefreshInterval %v is below 1ms", o.RefreshInterval)
	case o.BucketWidth < 2*o.RefreshInterval:
		return o, fmt.Errorf("vitals: BucketWidth %v is below twice RefreshInterval %v: a refresh must prepare each bucket before the clock reaches it, even when late", o.BucketWidth, o.RefreshInterval)
	case o.RecentWindow < 0 || o.RecentWindow > 60*o.BucketWidth:
		return o, fmt.Errorf("vitals: RecentWindow %v is outside 0..60 buckets of %v", o.RecentWindow, o.BucketWidth)
	case o.WindowBuckets < 1 || o.WindowBuckets > 100000:
		return o, fmt.Errorf("vitals: WindowBuckets %d is outside 1..100000", o.WindowBuckets)
	case o.SessionTTL < 0:
		return o, fmt.Errorf("vitals: SessionTTL %v is negative", o.SessionTTL)
	case o.SaveInterval < 10*time.Millisecond:
		return o, fmt.Errorf("vitals: SaveInterval %v is below 10ms", o.SaveInterval)
	case o.MaxRoutes < 1 || o.MaxRoutes > 10000:
		return o, fmt.Errorf("vitals: MaxRoutes %d is outside 1..10000", o.MaxRoutes)
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

// A Collector records what a server does and publishes it as a Snapshot.
// Create one with New or Open; the zero value is not usable. All methods are
// safe for simultaneous use by multiple goroutines, and the recording methods
// (Middleware's handler, IncrementRequests, RecordDuration, ConnOpen,
// ConnClose, ConnState, TouchSession) never block, before or after Close.
// The middleware allocates one small ResponseWriter per request (see rw:
// a pooled one could leak a late write into another request's response);
// besides that, recording allocates only the first time a route's latency
// histogram reaches an octave of durations in one of its time slices (256
// bytes, kept for reuse: at most 32 octaves per slice; see hist).
//
// The request path only adds to typed atomics, in the time slice of the
// bucket its own clock reading falls in (should the refresh goroutine be
// late by more than half a bucket, a request may rotate the window itself,
// if it can without waiting: see window). One goroutine, started by New and
// stopped by Close, prepares the next bucket, drains expired slices into
// the since-start totals, sweeps expired sessions and every RefreshInterval
// builds a new immutable Snapshot, which it publishes through an atomic
// pointer: Snapshot is one atomic load.
type Collector struct {
	// Read by every request, written only by Open. They come first, away
	// from the counters below, so that a core adding to a counter does not
	// evict them from the other cores' caches.
	opts   Options
	bounds []int64     // histogram upper bounds in nanoseconds
	base   time.Time   // monotonic origin of request timings
	win    *window     // time slices and per-bucket figures
	routes *routeTable // per route: counts by status and method, histograms, bytes
	sess   *sessions   // active sessions
	manual *recorder   // IncrementRequests and RecordDuration, in time slices
	// baseWall is base's wall clock in unix nanos: base plus a monotonic
	// reading places a request in its bucket. fakeClock is set when
	// Options.Now was injected; then the middleware reads it instead.
	baseWall  int64
	fakeClock bool
	// needNote is set, once, by the first route adapter that could not
	// find its request's record through the ResponseWriter (naming.go).
	needNote atomic.Bool
	_        [64]byte

	// started counts the requests the middleware began. It finishes one by
	// adding it to its route's histogram, so the requests in flight are
	// started minus the histograms' total: one atomic add per request
	// instead of two. It has a cache line to itself (see above).
	started atomic.Uint64
	_       [56]byte

	// Written by the rarer recording paths, read by the refresh goroutine.
	inFlight atomic.Int64 // ConnOpen - ConnClose
	conns    atomic.Int64 // open TCP connections, from ConnState
	// aborted counts responses cut short by a handler's panic after their
	// status was sent; written by the middleware on that path only.
	aborted atomic.Uint64
	clock   atomic.Int64 // unix nanos of the last refresh: TouchSession's coarse clock
	// firstStart is when counting started, in unix nanos: when this
	// collector was created, or earlier when restored from a saved state.
	firstStart atomic.Int64
	snap       atomic.Pointer[Snapshot]

	// selfRequests counts the requests the collector's own Handler served
	// through its middleware, which the other figures leave out: written by
	// the middleware, read by the refresh goroutine.
	selfRequests atomic.Uint64
	// adapters is set when Routes or RouteFunc made an adapter (naming.go).
	adapters atomic.Bool
	// Route names derived on the request path, cached (naming.go).
	joined nameCache // nested muxes' joined patterns
	named  nameCache // RouteFunc's method and template names

	// Immutable after Open; read by the readers only.
	promNamespace  string    // Namespace and "_", or empty
	promConstant   string    // rendered ConstLabels
	promConstPairs []string  // ConstLabels as sorted name, value pairs
	promLe         []string  // the le values of Buckets, then "+Inf"
	start          time.Time // when this collector was created, by opts.Now

	// mu serialises refreshes: it guards the window's rotation state and the
	// buffers below. No recording method takes it.
	mu   sync.Mutex
	hist []uint64 // one route's histogram
	// downFrom, downTo (unix nanos): no process counted from the last save
	// of a restored state to this collector's start (or both 0); down: the
	// earlier such ranges it carried. Buckets wholly inside are "no data".
	downFrom, downTo int64
	down             [][2]int64
	scr              [3]histCopy
	live             []liveBucket // per time slice, all recorders together
	sealed           []winBucket  // per time slice: the window's figures of an ended bucket
	rt               runtimeReader

	closeOnce sync.Once
	closeErr  error
	done      chan struct{} // closed by Close: the refresh and save goroutines return
	exited    chan struct{} // closed by the refresh goroutine as it returns

	// With a StateFile: set by Open before the goroutines start.
	saverExited chan struct{} // closed by the save goroutine as it returns
	unlock      func()        // releases the state file's lock
}

// New returns a Collector configured by opts and starts its refresh
// goroutine; call Close to stop it. New panics if opts holds an invalid
// value; Open returns the error instead.
func New(opts Options) *Collector {
	c, err := Open(opts)
	if err != nil {
		panic(err)
	}
	return c
}

// Open is New that returns an error for invalid options instead of
// panicking, and for a StateFile that cannot be used: in a directory that
// is missing or where its lock file cannot be created (read-only, say),
// locked by another collector, not a regular file, or, with StrictState,
// unreadable, undecodable or from a newer version (see Options.StateFile).
func Open(opts Options) (*Collector, error) {
	fake := opts.Now != nil
	opts, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	constant, err := constLabelPrefix(opts.ConstLabels)
	if err != nil {
		return nil, err
	}
	now := opts.Now()
	c := &Collector{
		opts:      opts,
		base:      time.Now(),
		fakeClock: fake,
		start:     now,
		win:       newWindow(opts.WindowBuckets, opts.BucketWidth, opts.RecentWindow, now),
		sess:      newSessions(opts.SessionTTL),
		done:      make(chan struct{}),
		exited:    make(chan struct{}),
	}
	c.promConstant = constant
	c.promConstPairs = constLabelPairs(opts.ConstLabels)
	c.promLe = leValues(opts.Buckets)
	if opts.Namespace != "" {
		c.promNamespace = opts.Namespace + "_"
	}
	c.bounds = make([]int64, len(opts.Buckets))
	for i, b := range opts.Buckets {
		c.bounds[i] = int64(b * float64(time.Second))
	}
	c.baseWall = c.base.UnixNano()
	c.routes = newRouteTable(opts.MaxRoutes, len(c.bounds), c.win.n)
	c.manual = newRecorder("", len(c.bounds), c.win.n)
	c.live = make([]liveBucket, c.win.n)
	c.sealed = make([]winBucket, c.win.n)
	c.hist = make([]uint64, len(c.bounds)+1)
	c.rt.init()
	c.clock.Store(now.UnixNano())
	c.firstStart.Store(now.UnixNano())
	if opts.StateFile != "" {
		if err := c.openState(); err != nil {
			return nil, err
		}
	}
	c.refresh()
	go c.every(opts.RefreshInterval, c.refresh, c.exited)
	return c, nil
}

// every calls f every d until Close, then closes exited. It is the body
// of the collector's goroutines.
func (c *Collector) every(d time.Duration, f func(), exited chan<- struct{}) {
	defer close(exited)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			f()
		}
	}
}

// Close stops the collector's goroutines, waits for them to return and
// publishes a final snapshot; with a StateFile it saves once more, releases
// the file's lock and returns the save's error. It is idempotent (later
// calls return the first one's result) and safe to call while requests are
// being recorded; recording after Close is harmless but no longer published.
func (c *Collector) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		<-c.exited
		c.refresh()
		if c.saverExited != nil {
			<-c.saverExited
			c.closeErr = c.saveFile()
			c.unlock()
		}
	})
	return c.closeErr
}

// refresh rotates the window, sweeps sessions and publishes a new snapshot.
func (c *Collector) refresh() {
	c.Refresh()
}

// Refresh rotates the request window, sweeps expired sessions, builds a
// snapshot now, publishes it (later Snapshot calls return it) and returns
// it, without waiting for the next RefreshInterval: for tests and shutdown
// paths. Safe for concurrent use; refreshes are serialised.
func (c *Collector) Refresh() *Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.sess.advance(now.UnixNano()) // before TouchSession sees the new clock
	c.clock.Store(now.UnixNano())
	c.rotate(now)
	active := c.sess.sweep(now.UnixNano())
	s := c.build(now, active)
	c.snap.Store(s)
	return s
}

// now reads the collector's clock: the injected Options.Now, or base plus
// the monotonic time since, the same clock the middleware places requests
// by (it does not jump when the wall clock is set).
func (c *Collector) now() time.Time {
	if c.fakeClock {
		return c.opts.Now()
	}
	return c.base.Add(time.Since(c.base))
}

// Snapshot returns the most recent snapshot, at most RefreshInterval old.
// It is never nil, and it is immutable: callers may keep it and read it from
// any goroutine, but must not modify it.
func (c *Collector) Snapshot() *Snapshot {
	return c.snap.Load()
}

// IncrementRequests counts one request that did not go through Middleware
// (the middleware counts its own), in the bucket of the moment it is
// called: it reads the monotonic clock (or Options.Now when one was
// injected) once.
func (c *Collector) IncrementRequests() {
	c.manual.slices[c.slotAt(time.Since(c.base))].requests.Add(1)
}

// RecordDuration adds one request duration to the latency figures: the
// Recent and Window percentiles and Latency. A negative duration counts as
// zero. The middleware records its own. Like IncrementRequests, it counts
// in the bucket of the moment it is called.
func (c *Collector) RecordDuration(d time.Duration) {
	d = max(d, 0)
	sl := &c.manual.slices[c.slotAt(time.Since(c.base))]
	sl.sumNs.Add(uint64(d))
	sl.hist.observe(int64(d))
}

// ConnOpen counts a request as in flight, for requests that do not go
// through Middleware (which keeps its own count); ConnClose ends it.
func (c *Collector) ConnOpen() {
	c.inFlight.Add(1)
}

// ConnClose ends a request that ConnOpen counted as in flight.
func (c *Collector) ConnClose() {
	c.inFlight.Add(-1)
}

// ConnState counts open client connections. Plug it into a server with
// srv.ConnState = c.ConnState; if the server already has a ConnState hook,
// call this one from it.
func (c *Collector) ConnState(_ net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		c.conns.Add(1)
	case http.StateHijacked, http.StateClosed:
		c.conns.Add(-1)
	}
}

// inFlightNow returns the requests in flight: those begun through the
// middleware and not yet finished, plus ConnOpen minus ConnClose. The
// finished ones are read first, so the result is never below the true
// figure at the moment started is read, and never negative.
func (c *Collector) inFlightNow() int64 {
	var finished uint64
	counts := make([]uint64, len(c.bounds)+1)
	for _, r := range c.routes.list() {
		finished += r.loadHist(counts)
	}
	return c.inFlight.Load() + int64(c.started.Load()-finished)
}

// TouchSession marks the session id as active now. The id itself is never
// stored, only a keyed hash of it, so a secret cookie value does not linger
// in memory. An empty id is ignored; ids of any length are accepted. Memory
// stays fixed whatever ids are touched, and no id goes uncounted.
// Snapshot.SessionsActive counts the distinct ids touched within SessionTTL
// (to a granularity of SessionTTL/16): exactly while at most 1024 new ones
// arrive per SessionTTL/16, else as an estimate with a relative standard
// error of 1.6%. TouchSession takes no lock and does not allocate.
func (c *Collector) TouchSession(id string) {
	c.sess.touch(id, c.clock.Load())
}
