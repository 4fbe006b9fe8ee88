package vitals

import "math"

// The page's runtime figures: goroutines and heap now, with their
// sparklines over the window, and GC cycles.

// runtimeRow is a runtime figure now, with its history over the window
// when the snapshot has one.
type runtimeRow struct {
	Label, Value, Note string
	Spark              *spark
}

// spark is a runtime figure's history, W buckets wide.
type spark struct {
	W     int
	D     string
	Range string // "1.2 MiB – 3.4 MiB over the last hour"
}

// runtimeRows are the runtime figures: goroutines and heap with their
// sparklines over the window, GC cycles.
func runtimeRows(s *Snapshot) []runtimeRow {
	w := shownWindow(&s.Window)
	n := len(w.Counts)
	over := "over the last " + windowSpan(w)
	gor := runtimeRow{Label: "Goroutines", Value: formatCount(uint64(max(s.Runtime.Goroutines, 0))), Note: "now"}
	if g := aligned(w.Goroutines, n); g != nil {
		vals := make([]float64, n)
		for i, x := range g {
			vals[i] = float64(x)
		}
		gor.Spark = newSpark(vals, func(v float64) string { return formatCount(uint64(v)) }, over)
	}
	heap := runtimeRow{Label: "Heap", Value: formatBytes(s.Runtime.HeapBytes), Note: "now · " + formatBytes(s.Runtime.TotalBytes) + " mapped"}
	if h := aligned(w.HeapBytes, n); h != nil {
		vals := make([]float64, n)
		for i, x := range h {
			vals[i] = float64(x)
		}
		heap.Spark = newSpark(vals, func(v float64) string { return formatBytes(uint64(v)) }, over)
	}
	gc := runtimeRow{Label: "GC cycles", Value: formatCount(s.Runtime.GCCycles),
		Note: formatDuration(s.Runtime.GCPause) + " paused · since this process started"}
	return []runtimeRow{gor, heap, gc}
}

// newSpark draws vals (0 where none was sampled) as steps scaled between
// their least and greatest value, or returns nil when none was sampled.
func newSpark(vals []float64, format func(float64) string, over string) *spark {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if v > 0 {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if math.IsInf(lo, 1) {
		return nil
	}
	y := func(v float64) float64 {
		if hi == lo {
			return 50
		}
		return r2(92 - 84*(v-lo)/(hi-lo))
	}
	d := stepPath(len(vals), func(i int) (float64, bool) {
		if vals[i] <= 0 {
			return 0, false
		}
		return y(vals[i]), true
	})
	r := format(lo) + " – " + format(hi) + " " + over
	if hi == lo {
		r = "steady at " + format(lo) + " " + over
	}
	return &spark{W: len(vals), D: d, Range: r}
}
