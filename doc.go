// Package vitals tells a web server's owner what the server is doing right
// now: request counts, errors and latency percentiles of the last few
// minutes (Snapshot.Recent) and since start, a per-minute history, in-flight
// requests, active sessions and runtime health. Latency percentiles come
// from a histogram with the buckets of Prometheus native histograms, within
// ±1.2 % of the exact ones from 1 µs to an hour (±1.1 % above 5 µs).
//
// Usage:
//
//  1. Create a collector: c := vitals.New(vitals.Options{}); defer c.Close().
//  2. Wrap the site's handler: srv.Handler = c.Middleware(mux).
//  3. Mount the page: mux.Handle("GET /metrics", c.Handler()).
//  4. Read figures in code with [Collector.Snapshot].
//
// Every field that the request path writes is a typed atomic; a background
// goroutine, owned by the [Collector] and stopped by [Collector.Close],
// rotates the request window and publishes an immutable [Snapshot] through
// an atomic pointer, so reading figures never blocks or slows a request.
//
// # Design
//
// The hot path is a request through [Collector.Middleware] (and the
// recording methods: IncrementRequests, RecordDuration, ConnOpen,
// ConnClose, ConnState, TouchSession). Once its route is known it adds to
// typed atomics and writes no map; it waits on no lock (the exceptions are
// below: a TryLock that never waits, the route adapters' context fallback,
// and the rare request slower than its time slice's slowest). A request
// reads one way through the files: middleware.go starts it and wraps the
// ResponseWriter (writer.go, writer_gen.go, writer_features.go); naming.go
// settles its route name (adapters.go reports it from inside the mux, join.go joins nested
// muxes' patterns); routes.go finds the route's recorder in a copy-on-write
// map; recorder.go adds the status, method, bytes and duration to the
// recorder's since-start counters and to the time slice of window.go that
// its own clock reading falls in, whose high-resolution histogram is
// hist.go's; exemplar.go looks its traceparent header up (one map lookup,
// by at most one request of a route every 10 ms) and, for a traced
// request whose bucket's exemplar is stale, lends the trace to that bucket
// (traceparent.go parses it). Then live.go takes what the live figures need, in one call
// (recordLive): the per-second counters (persecond.go), the duration ring
// (ring.go) and the check against the slowest of the time slice
// (slowest.go). A stream (writer.go marks it) skips every duration on the
// way.
//
// The cold path is everything else: the refresh goroutine (collector.go),
// the scrapes (handler.go, negotiate.go, then prometheus.go's families
// written by expo_text.go or expo_proto.go, json.go, page.go), the state
// file (state.go, statefile.go and statefile_decode.go, restore.go,
// persist.go) and the OTLP push (otlp_config.go configures it; otlp.go's
// goroutine encodes with otlp_encode.go, reading the figures as the
// protobuf scrape does, and posts). A scrape reads one way: handler → negotiation → the
// published Snapshot (built by build.go) → one exposition. The refresh
// goroutine prepares the next time slice before the clock reaches it,
// drains expiring slices into retired totals (since start is retired plus
// live, exactly), builds a Snapshot and publishes it through
// Collector.snap, an atomic.Pointer.
//
// Who writes what:
//   - the request path: the recorders' atomic counters and slices,
//     Collector.started, aborted, selfRequests and needNote, the sessions'
//     sketch registers, the per-second counters, the duration ring (a
//     seqlock per record), the exemplar slots (a seqlock per bucket,
//     allocated by a route's first traced request with a
//     compare-and-swap), the stream counters, writer_features.go's
//     featureCache
//     (by compare-and-swap, at most once per new writer type), on the
//     slowest's rare path a time slice's slowest under its own mutex, and,
//     once per new route or name, the copy-on-write maps of routeTable and
//     nameCache (under their own small mutexes, which no request with a
//     known route takes);
//   - whoever holds Collector.mu: window.cur (published with an atomic
//     store), the window's per-bucket figures, the retired and restored
//     totals, Collector.snap and the scratch buffers of a build. That is
//     the refresh goroutine, a request catching up a late refresh, Restore
//     (which also lowers firstStart, an atomic) and Save;
//   - Open, before any goroutine starts: the options and everything derived
//     from them, which are immutable afterwards.
//
// The lock map. Collector.mu is taken by: a refresh (rotation, retiring,
// building); the request path's catch-up, with TryLock only, when the
// refresh goroutine is late by more than half a bucket (window.go's
// catchUp: if the lock is held, the request counts in the prepared bucket
// instead of waiting); a Prometheus scrape, text or protobuf, once for the
// sums of the retired slices (prometheus.go) and, in protobuf, per route
// while it copies the route's since-start histogram (native.go); Save and
// Restore, while they capture or apply a state (state.go, restore.go).
// The OTLP push takes it as the protobuf scrape does, per route (native.go),
// from its own goroutine, which writes only its own counters (Export).
// routeTable.mu and nameCache.mu serialise writers of their maps; readers
// load the published map. Each slowList.mu guards one time slice's slowest
// requests: taken by a request slower than the slice's K-th slowest
// (rare), by rotate as it empties the slice, and by a build as it reads
// it. A route adapter that cannot find its request's writer (a middleware
// between vitals and the mux replaced it) falls back to a note in the
// request's context, guarded by a mutex of that request alone (naming.go).
//
// window.cur packs the prepared bucket in one atomic.Uint64: its absolute
// number (unix nanoseconds divided by BucketWidth) shifted left 8 bits, and
// the index of its time slice in the low 8 bits. The slice index fits
// because a recorder has at most 62 slices (RecentWindow is at most 60
// buckets, plus the current and the prepared one): window.go asserts it
// at compile time beside maxSlices.
package vitals
