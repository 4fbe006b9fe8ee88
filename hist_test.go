package vitals

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestHistIndex checks the index of durations against the definition:
// bucket i covers (2^((i-1)/32), 2^(i/32)] seconds.
func TestHistIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	check := func(ns int64) {
		t.Helper()
		i := histIndex(ns)
		x := float64(ns) / 1e9
		if !(histUpper(i-1) < x && x <= histUpper(i)) {
			t.Fatalf("histIndex(%d ns) = %d, covering (%g, %g] s", ns, i, histUpper(i-1), histUpper(i))
		}
		if i < histMinIndex || i > histMaxIndex {
			t.Fatalf("histIndex(%d ns) = %d, outside [%d, %d]", ns, i, histMinIndex, histMaxIndex)
		}
	}
	for range 200000 {
		check(histZeroMaxNs + 1 + r.Int64N(histTopNs-histZeroMaxNs))
		if d := int64(math.Exp2(10 + r.Float64()*32)); d <= histTopNs { // log-uniform
			check(d)
		}
	}
	// Exactly on and next to the boundaries.
	for i := histMinIndex; i <= histMaxIndex; i++ {
		ns := int64(math.Round(histUpper(i) * 1e9))
		for _, d := range []int64{ns - 1, ns, ns + 1} {
			if d > histZeroMaxNs && d <= histTopNs {
				check(d)
			}
		}
	}
	check(histZeroMaxNs + 1)
	check(histTopNs)
	if got := histIndex(int64(time.Second)); got != 0 {
		t.Errorf("1s is in bucket %d, want 0 (upper bound 1s)", got)
	}
	if float64(histZeroMaxNs)/1e9 > histZeroThreshold || float64(histZeroMaxNs+1)/1e9 <= histZeroThreshold {
		t.Errorf("histZeroMaxNs %d does not match the threshold %g s", histZeroMaxNs, histZeroThreshold)
	}
	if histUpper(histMaxIndex) != float64(histTopNs)/1e9 {
		t.Errorf("the top bucket ends at %g s, overflow starts above %g s", histUpper(histMaxIndex), float64(histTopNs)/1e9)
	}
}

func TestHistZeroAndOverflow(t *testing.T) {
	var h hist
	for _, d := range []int64{-5, 0, 1, histZeroMaxNs} {
		h.observe(d)
	}
	h.observe(histTopNs + 1)
	h.observe(math.MaxInt64)
	var c histCopy
	h.addTo(&c)
	if c.zero != 4 || c.over != 2 || c.total() != 6 {
		t.Fatalf("zero %d over %d total %d, want 4 2 6", c.zero, c.over, c.total())
	}
	out := make([]time.Duration, 3)
	c.quantiles([]float64{0.5, 0.66, 0.9}, out)
	if want := []time.Duration{LatencyFloor, LatencyFloor, LatencyCeiling}; !slices.Equal(out, want) {
		t.Errorf("quantiles = %v, want %v", out, want)
	}
	if boundOf(out[0]) != "<" || boundOf(out[2]) != ">" || boundOf(time.Millisecond) != "" {
		t.Errorf("boundOf does not tell the bounds")
	}
	// No estimate is ever taken for a bound.
	if histMid(histMinIndex) == LatencyFloor || histMid(histMaxIndex) == LatencyCeiling {
		t.Errorf("an estimate equals a bound")
	}
}

// TestHistForEachBucket checks the reader's contract: ascending indexes,
// non-zero buckets only, each with its count.
func TestHistForEachBucket(t *testing.T) {
	var h hist
	durs := []time.Duration{time.Second, time.Second, 3 * time.Microsecond, time.Minute, 2 * time.Millisecond, 100 * time.Nanosecond}
	for _, d := range durs {
		h.observe(int64(d))
	}
	var c histCopy
	h.drainInto(&c)
	var idx []int32
	var got uint64
	c.forEachBucket(func(i int32, n uint64) {
		idx = append(idx, i)
		got += n
		if n == 0 {
			t.Errorf("bucket %d reported with count 0", i)
		}
	})
	if !slices.IsSorted(idx) || len(idx) != 4 {
		t.Errorf("indexes %v, want 4 ascending", idx)
	}
	if idx[2] != 0 { // 1s: upper bound 2^0
		t.Errorf("1s in bucket %d, want 0", idx[2])
	}
	if got+c.zero != uint64(len(durs)) || c.total() != uint64(len(durs)) {
		t.Errorf("buckets %d + zero %d, total %d; want %d", got, c.zero, c.total(), len(durs))
	}
	var again histCopy
	h.addTo(&again)
	if again.total() != 0 {
		t.Errorf("drainInto left %d durations", again.total())
	}
}

// distributions of durations for the accuracy test, all between 1 µs and
// one minute.
var histDistributions = []struct {
	name string
	gen  func(r *rand.Rand) time.Duration
}{
	{"uniform 1µs-1min", func(r *rand.Rand) time.Duration {
		return time.Microsecond + time.Duration(r.Int64N(int64(time.Minute-time.Microsecond)))
	}},
	{"uniform 5-50µs", func(r *rand.Rand) time.Duration {
		return 5*time.Microsecond + time.Duration(r.Int64N(int64(45*time.Microsecond)))
	}},
	{"sub-10µs 1-10µs", func(r *rand.Rand) time.Duration {
		return time.Microsecond + time.Duration(r.Int64N(int64(9*time.Microsecond)))
	}},
	{"lognormal median 20ms", func(r *rand.Rand) time.Duration {
		return clampDur(time.Duration(float64(20*time.Millisecond) * math.Exp(r.NormFloat64())))
	}},
	{"lognormal wide (σ=2.5)", func(r *rand.Rand) time.Duration {
		return clampDur(time.Duration(float64(time.Millisecond) * math.Exp(2.5*r.NormFloat64())))
	}},
	{"bimodal 90% 2ms, 10% 300ms", func(r *rand.Rand) time.Duration {
		if r.IntN(10) == 0 {
			return clampDur(time.Duration(float64(300*time.Millisecond) * (1 + 0.1*r.NormFloat64())))
		}
		return clampDur(time.Duration(float64(2*time.Millisecond) * (1 + 0.1*r.NormFloat64())))
	}},
	{"log-uniform 1µs-1min", func(r *rand.Rand) time.Duration {
		return time.Duration(1e3 * math.Exp(r.Float64()*math.Log(6e7)))
	}},
}

func clampDur(d time.Duration) time.Duration {
	return min(max(d, time.Microsecond), time.Minute)
}

// histAccuracy returns the relative error of p50, p90, p99 and p99.9 for
// n durations from gen, against the exact nearest-rank percentiles of the
// sorted durations.
func histAccuracy(gen func(*rand.Rand) time.Duration, n int, seed uint64) (errs [4]float64, exact [4]time.Duration) {
	r := rand.New(rand.NewPCG(seed, 99))
	var h hist
	ref := make([]time.Duration, n)
	for i := range ref {
		ref[i] = gen(r)
		h.observe(int64(ref[i]))
	}
	slices.Sort(ref)
	var c histCopy
	h.addTo(&c)
	qs := []float64{0.5, 0.9, 0.99, 0.999}
	got := make([]time.Duration, len(qs))
	c.quantiles(qs, got)
	for i, q := range qs {
		k := int(math.Ceil(q * float64(n)))
		exact[i] = ref[max(k, 1)-1]
		errs[i] = float64(got[i])/float64(exact[i]) - 1
	}
	return errs, exact
}

// TestHistAccuracy checks that every percentile is within ±2 % of the
// exact one (the design bound is ±1.1 %) and prints the table of errors
// with -v.
func TestHistAccuracy(t *testing.T) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-28s %8s %8s %8s %8s   exact p50 / p99.9\n", "distribution (100k)", "p50", "p90", "p99", "p99.9")
	worst := 0.0
	for i, d := range histDistributions {
		errs, exact := histAccuracy(d.gen, 100000, uint64(i+1))
		fmt.Fprintf(&b, "%-28s", d.name)
		for _, e := range errs {
			fmt.Fprintf(&b, " %+7.3f%%", 100*e)
			worst = max(worst, math.Abs(e))
			if math.Abs(e) > 0.02 {
				t.Errorf("%s: relative error %+.3f%% over 2%%", d.name, 100*e)
			}
		}
		fmt.Fprintf(&b, "   %v / %v\n", exact[0], exact[3])
	}
	fmt.Fprintf(&b, "worst |error|: %.3f%% (bound: 2^(1/64)-1 = %.3f%%)", 100*worst, 100*(math.Exp2(1.0/64)-1))
	t.Log(b.String())
	if worst > math.Exp2(1.0/64)-1 {
		t.Errorf("worst error %.4f%% exceeds the half-bucket bound", 100*worst)
	}
}

func BenchmarkHistObserve(b *testing.B) {
	var h hist
	r := rand.New(rand.NewPCG(1, 1))
	durs := make([]int64, 1024)
	for i := range durs {
		durs[i] = int64(time.Duration(float64(time.Millisecond) * math.Exp(r.NormFloat64())))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.observe(durs[i&1023])
		i++
	}
}

func BenchmarkHistIndex(b *testing.B) {
	durs := make([]int64, 1024)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range durs {
		durs[i] = int64(time.Duration(float64(time.Millisecond) * math.Exp(r.NormFloat64())))
	}
	s := 0
	i := 0
	for b.Loop() {
		s += histIndex(durs[i&1023])
		i++
	}
	sink = s
}

var sink int

// TestSinceStartAcrossDrains checks the reader's copy of a route across
// drained slices: count, sum and buckets are exact.
func TestSinceStartAcrossDrains(t *testing.T) {
	c, clk := newTestCollector(t, Options{RecentWindow: time.Minute, WindowBuckets: 3})
	s := c.routes.get("r")
	var want histCopy
	var sum uint64
	for i := range 10 { // ten minutes, then jumps: slices drained many times
		d := int64(i+1) * int64(time.Millisecond)
		s.observe(c.slotNow(), 0, 200, d, 0, c.bounds)
		want.add(histIndex(d)-histMinIndex, 1)
		sum += uint64(d)
		step := time.Minute
		if i >= 7 {
			step = time.Duration(i) * time.Hour
		}
		clk.Add(step)
		c.Refresh()
	}
	c.mu.Lock()
	var got histCopy
	s.sinceStart(&got)
	c.mu.Unlock()
	if got.total() != 10 || got.sumNs != sum {
		t.Fatalf("count %d sum %d, want 10 %d", got.count, got.sumNs, sum)
	}
	var a, b []string
	got.forEachBucket(func(i int32, n uint64) { a = append(a, fmt.Sprint(i, ":", n)) })
	want.forEachBucket(func(i int32, n uint64) { b = append(b, fmt.Sprint(i, ":", n)) })
	if !slices.Equal(a, b) {
		t.Errorf("buckets %v, want %v", a, b)
	}
}

// TestHistAdversarial puts every duration exactly at, and one nanosecond
// next to, a bucket boundary, from the smallest resolved to 64 s: the
// worst case of the midpoint estimate, 1.09 % plus the rounding to whole
// nanoseconds, which matters just above 1 µs. It also checks p99.9 of only
// 1000 samples.
func TestHistAdversarial(t *testing.T) {
	worst := 0.0
	for i := histMinIndex; histUpper(i) <= 64; i++ {
		for _, off := range []float64{0, 1, -1} {
			d := time.Duration(math.Round(histUpper(i)*1e9) + off)
			if d <= LatencyFloor {
				continue
			}
			var h hist
			for range 10 {
				h.observe(int64(d))
			}
			var c histCopy
			h.addTo(&c)
			var q [1]time.Duration
			c.quantiles([]float64{0.5}, q[:])
			rel := math.Abs(float64(q[0]-d)) / float64(d)
			worst = max(worst, rel)
			// 2^(1/64) - 1, plus half a nanosecond of rounding.
			limit := math.Exp2(1.0/64) - 1 + 0.5/float64(d) + 1e-12
			if rel > limit {
				t.Errorf("p50 of %v = %v, off by %.3f%%", d, q[0], 100*rel)
			}
		}
	}
	t.Logf("worst relative error at bucket boundaries: %.3f%%", 100*worst)
	var h hist
	for i := range 1000 {
		h.observe(int64(time.Millisecond) + int64(i)*int64(time.Microsecond))
	}
	var c histCopy
	h.addTo(&c)
	var q [1]time.Duration
	c.quantiles([]float64{0.999}, q[:])
	want := time.Millisecond + 998*time.Microsecond // nearest rank 999 of 1000
	if rel := math.Abs(float64(q[0]-want)) / float64(want); rel > 0.011 {
		t.Errorf("p99.9 of 1000 samples = %v, want %v ±1.1%%", q[0], want)
	}
}

// histUpper returns the upper boundary of bucket index i in seconds.
func histUpper(i int) float64 {
	return math.Exp2(float64(i) / histSub)
}
