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
package vitals
