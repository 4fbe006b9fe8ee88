package vitals

import (
	"math"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

// TestGCPauseNeverGoesBack checks the GC pause total across collections
// and changes of GOMAXPROCS, which Go makes at run time in containers (a
// figure divided by the current GOMAXPROCS would drop here).
func TestGCPauseNeverGoesBack(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var r runtimeReader
	r.init()
	prev := r.read().GCPause
	for _, procs := range []int{1, 8, 2, 16, 1} {
		runtime.GOMAXPROCS(procs)
		runtime.GC()
		p := r.read().GCPause
		if p < prev {
			t.Fatalf("GOMAXPROCS %d: GC pause total went back from %v to %v", procs, prev, p)
		}
		prev = p
	}
	if prev <= 0 {
		t.Errorf("GC pause total %v after five collections, want > 0", prev)
	}
	// The same reader never reports less, whatever the runtime says.
	r.pause = prev + time.Hour
	if p := r.read().GCPause; p != prev+time.Hour {
		t.Errorf("GCPause = %v after a larger one was reported, want %v", p, prev+time.Hour)
	}
}

func TestHistogramSum(t *testing.T) {
	inf := math.Inf(1)
	h := &metrics.Float64Histogram{Counts: []uint64{1, 2, 3, 4}, Buckets: []float64{-inf, 0.001, 0.002, 0.004, inf}}
	// 1 at 1ms (finite edge), 2 at 1.5ms, 3 at 3ms, 4 at 4ms.
	if got, want := histogramSum(h), time.Duration((0.001+2*0.0015+3*0.003+4*0.004)*float64(time.Second)); got != want {
		t.Errorf("histogramSum = %v, want %v", got, want)
	}
}
