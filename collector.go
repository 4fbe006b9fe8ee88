package vitals

import (
	"math"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// This file holds the Collector: its fields, New, Open and Close, the
// refresh that the collector's goroutine runs, and the recording methods
// that servers call besides the middleware. Its configuration is in
// options.go, the window it rotates in window.go, the snapshot it builds
// in build.go.

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
// bucket its own clock reading falls in. One goroutine, started by New and
// stopped by Close, refreshes every RefreshInterval: it prepares the next
// bucket, draining expired slices into the since-start totals, clears the
// session sketches ahead of the clock, and builds a new immutable Snapshot,
// which it publishes through an atomic pointer: Snapshot is one atomic
// load. It is not the only writer of the window: should it be late by more
// than half a bucket, a request rotates the window itself, if it can take
// mu without waiting (see window and catchUp).
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
	// needNote is set by a route adapter that could not find its
	// request's record through the ResponseWriter, until a middleware
	// takes it up (naming.go's learnNote).
	needNote atomic.Bool
	_        [64]byte

	// started counts the requests the middleware began. It finishes one by
	// adding it to its route's histogram, so the requests in flight are
	// started minus the histograms' total: one atomic add per request
	// instead of two. It has a cache line to itself (see above).
	started atomic.Uint64
	_       [56]byte

	// The live figures (live.go): the duration ring, the per-second
	// counters and the slowest requests per time slice, written by the
	// request path; immutable pointers and slice headers, set by Open.
	ring   *ring
	perSec *perSecond
	slow   []slowList
	// Streams (see Snapshot.Streams): open now (added when a response
	// becomes a stream, taken back when it ends) and ended, all routes.
	streamsOpen  atomic.Int64
	streamsTotal atomic.Uint64

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

	// mu guards the window's rotation state, the recorders' retired and
	// restored figures and the buffers below. Refresh holds it; so do Save
	// and Restore (capture, apply) and the Prometheus and protobuf
	// exposition while they read retired figures. The request path only
	// tries it, never waiting (catchUp, when the refresh goroutine is late);
	// no other recording method takes it.
	mu   sync.Mutex
	hist []uint64 // one route's histogram
	// Scratch of buildLive and slowest.
	ringBuf []ringRecord
	durBuf  []int64
	slowBuf []slowEntry
	// downFrom, downTo (unix nanos): no process counted from the last save
	// of a restored state to this collector's start (or both 0); down: the
	// earlier such ranges it carried. Buckets wholly inside are "no data".
	downFrom, downTo int64
	down             [][2]int64
	scr              [3]histCopy
	live             []liveBucket // per time slice, all recorders together
	sealed           []winBucket  // per time slice: the window's figures of an ended bucket
	rt               runtimeReader

	// latest is the latest reading of the clock, which never goes back
	// (see now).
	latest time.Time

	closeOnce sync.Once
	closeErr  error
	done      chan struct{} // closed by Close: the refresh and save goroutines return
	exited    chan struct{} // closed by the refresh goroutine as it returns

	// With a StateFile: set by Open before the goroutines start.
	saverExited chan struct{} // closed by the save goroutine as it returns
	unlock      func()        // releases the state file's lock

	exp *exporter // the OTLP push, or nil; set by Open before it starts
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
	otlp, warnings, err := resolveOTLP(opts.OTLP, os.Getenv)
	if err != nil {
		return nil, err
	}
	now := opts.Now()
	c := &Collector{
		opts:      opts,
		base:      time.Now(),
		fakeClock: fake,
		start:     now,
		latest:    now,
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
	c.ring = newRing(opts.LiveRequests)
	c.perSec = newPerSecond(floorDiv(now.UnixNano(), int64(time.Second)))
	c.slow = newSlowLists(c.win.n, opts.Slowest)
	c.sealed = make([]winBucket, c.win.n)
	for i := range c.sealed {
		c.sealed[i].abs = math.MinInt64 // none: 0 is 1970's first bucket
	}
	c.hist = make([]uint64, len(c.bounds)+1)
	c.rt.init()
	c.clock.Store(now.UnixNano())
	c.firstStart.Store(now.UnixNano())
	if opts.StateFile != "" {
		if err := c.openState(); err != nil {
			return nil, err
		}
	}
	for _, w := range warnings {
		c.reportError(w)
	}
	c.refresh()
	if otlp != nil {
		c.exp = startExporter(c, otlp) // after the first snapshot, which it reads
	}
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
// publishes a final snapshot; with an OTLP push it makes a last export
// (within 5 s: an endpoint that does not answer delays Close by that
// much); with a StateFile it saves once more, releases
// the file's lock and returns the save's error. It is idempotent (later
// calls return the first one's result) and safe to call while requests are
// being recorded; recording after Close is harmless but no longer published.
func (c *Collector) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		<-c.exited
		c.refresh()
		if c.exp != nil {
			c.exp.stop() // the last export, within otlpCloseTimeout
			c.refresh()  // with its result in Snapshot.Export
		}
		if c.saverExited != nil {
			<-c.saverExited
			c.closeErr = c.saveFile()
			c.unlock()
		}
	})
	return c.closeErr
}

// refresh is Refresh without its result: the refresh goroutine's body.
func (c *Collector) refresh() {
	c.Refresh()
}

// Refresh rotates the request window, moves the session count to now (see
// TouchSession), builds a snapshot now, publishes it (later Snapshot calls
// return it) and returns it, without waiting for the next RefreshInterval:
// for tests and shutdown paths. Safe for concurrent use; refreshes are
// serialised.
func (c *Collector) Refresh() *Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.sess.advance(now.UnixNano()) // before TouchSession sees the new clock
	c.clock.Store(now.UnixNano())
	c.rotate(now)
	c.perSec.prepare(floorDiv(now.UnixNano(), int64(time.Second)))
	s := c.build(now, c.sess.active(now.UnixNano()))
	if c.exp != nil {
		s.Export = c.exp.stats()
	}
	c.snap.Store(s)
	return s
}

// now reads the collector's own clock, which never goes back; called with
// c.mu held. By default it is the wall clock when the collector was
// created plus the monotonic time since (base plus time.Since(base)), the
// clock the middleware places requests by: a step of the wall clock (NTP,
// settimeofday) does not move it, nor, on Linux, a suspend (the monotonic
// clock stops). Refreshes, snapshots and saves all read it, so the times
// they show and the buckets of the window agree with each other, though
// after a step not with the wall clock (see Options.Now). An injected
// Options.Now is read instead: a reading before the latest one counts as
// the latest, as a request's does (slotAt).
func (c *Collector) now() time.Time {
	t := c.base.Add(time.Since(c.base))
	if c.fakeClock {
		t = c.opts.Now()
	}
	if t.Before(c.latest) {
		return c.latest
	}
	c.latest = t
	return t
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

// ConnOpen counts one request as in flight, for requests that do not go
// through Middleware (which keeps its own count): despite its name it
// counts requests, in Snapshot.InFlight and http_requests_in_flight, not
// connections (ConnState counts those, in Snapshot.Connections). Call
// ConnClose when the request ends.
func (c *Collector) ConnOpen() {
	c.inFlight.Add(1)
}

// ConnClose ends a request that ConnOpen counted as in flight: it takes
// one from Snapshot.InFlight. It does not count connections either.
func (c *Collector) ConnClose() {
	c.inFlight.Add(-1)
}

// ConnState counts open client connections, in Snapshot.Connections: a
// connection counts from StateNew until it is hijacked or closed. Plug it
// into a server with srv.ConnState = c.ConnState; if the server already
// has a ConnState hook, call this one from it.
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
// figure at the moment started is read, and never negative. Open streams
// are left out (Snapshot.Streams counts them).
func (c *Collector) inFlightNow() int64 {
	var finished uint64
	counts := make([]uint64, len(c.bounds)+1)
	for _, r := range c.routes.list() {
		finished += r.loadHist(counts)
	}
	// Streams are not in the histograms: the ended ones finished, the
	// open ones are not in flight (read last, so never counted twice).
	finished += c.streamsTotal.Load()
	open := c.streamsOpen.Load()
	return max(c.inFlight.Load()+int64(c.started.Load()-finished)-open, 0)
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
	if id != "" {
		c.sess.touch(c.sess.hash(id), c.clock.Load())
	}
}
