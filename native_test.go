package vitals

import (
	"math"
	"testing"
	"time"
)

// TestNativeOf records known durations on one route across expiring time
// slices and checks the native histogram: every duration in the bucket of
// its index, counted once whether its slice was retired or is live.
func TestNativeOf(t *testing.T) {
	c, clk := newTestCollector(t, Options{BucketWidth: time.Minute, WindowBuckets: 3})
	r := c.routes.get("GET /x")
	durations := []int64{500, 953, 954, 1e6, 1e6 + 1, 3e6, 3e6, 2e9, histTopNs, histTopNs + 1}
	want := map[int32]uint64{}
	var zero, over uint64
	for i, d := range durations {
		r.observe(c.slotNow(), 0, 200, d, 0, c.bounds)
		switch {
		case d <= histZeroMaxNs:
			zero++
		case d > histTopNs:
			over++
		default:
			// The index by its definition: the smallest i with
			// d <= 2^(i/32) s.
			i := int32(math.Ceil(math.Log2(float64(d)/1e9) * histSub))
			for float64(d)/1e9 > math.Exp2(float64(i)/histSub) {
				i++
			}
			for i > histMinIndex && float64(d)/1e9 <= math.Exp2(float64(i-1)/histSub) {
				i--
			}
			want[i]++
		}
		if i%3 == 2 { // retire some slices on the way: 5 window widths on
			clk.Add(5 * time.Minute)
			c.refresh()
		}
	}
	nh := c.nativeOf(r, new(nativeScratch))
	if nh.schema != 5 || nh.zeroThreshold != 0x1p-20 || nh.zeroCount != zero {
		t.Errorf("schema %d, zero threshold %g, zero count %d; want 5, 2^-20, %d", nh.schema, nh.zeroThreshold, nh.zeroCount, zero)
	}
	if nh.count != uint64(len(durations)) {
		t.Errorf("count %d, want %d", nh.count, len(durations))
	}
	var sum int64
	for _, d := range durations {
		sum += d
	}
	if nh.sum != float64(sum)/1e9 {
		t.Errorf("sum %g, want %g", nh.sum, float64(sum)/1e9)
	}
	got := map[int32]uint64{}
	prev := int32(math.MinInt32)
	var inBuckets uint64
	for _, b := range nh.buckets {
		if b.index <= prev {
			t.Errorf("bucket %d after %d: not ascending", b.index, prev)
		}
		prev = b.index
		got[b.index] = b.count
		inBuckets += b.count
	}
	if over > 0 {
		want[histMaxIndex+1] = over
	}
	if len(got) != len(want) {
		t.Errorf("buckets %v, want %v", got, want)
	}
	for i, n := range want {
		if got[i] != n {
			t.Errorf("bucket %d: %d, want %d (all: %v)", i, got[i], n, got)
		}
	}
	if inBuckets+nh.zeroCount != nh.count {
		t.Errorf("buckets and zero bucket hold %d, count %d", inBuckets+nh.zeroCount, nh.count)
	}
}

// TestNativeEmpty: a route with no duration yet still gives a histogram
// that Prometheus reads as native, by its positive zero threshold.
func TestNativeEmpty(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	nh := c.nativeOf(c.routes.get("GET /x"), new(nativeScratch))
	schema, zt, zc, spans, deltas := nativeFields(t, nh.append(nil))
	if schema != 5 || zt <= 0 || zc != 0 || spans != nil || deltas != nil {
		t.Errorf("empty native histogram: schema %d, zero threshold %g, zero count %d, spans %v, deltas %v", schema, zt, zc, spans, deltas)
	}
}
