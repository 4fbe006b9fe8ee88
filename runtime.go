package vitals

import (
	"math"
	"runtime/metrics"
	"time"
)

// This file holds the reader of the Go runtime's health (Snapshot.Runtime)
// from runtime/metrics, sampled at each refresh.

// runtimeReader reads the Runtime figures into a reused sample slice. It
// is the refresh goroutine's (guarded by Collector.mu).
type runtimeReader struct {
	samples [5]metrics.Sample
	pause   time.Duration // the largest GCPause returned: it only grows
}

// init names the runtime/metrics samples that read takes.
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

// read samples the runtime now. GCPause never goes back (see Runtime).
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
