package vitals

import (
	"math"
	"sync/atomic"
	"time"
)

// The high-resolution histogram has the bucket boundaries of a Prometheus
// native histogram of schema 5: bucket index i covers the durations in
// (2^((i-1)/32), 2^(i/32)] seconds, so each bucket is 2.19 % wider than the
// one below it. A zero bucket holds the durations at or below
// histZeroThreshold, and an overflow bucket those above histTop.
const (
	histSchema = 5
	histSub    = 1 << histSchema // buckets per octave (power of two)
	// histZeroThreshold is the upper bound of the zero bucket in seconds:
	// 2^-20 s, about 954 ns.
	histZeroThreshold = 0x1p-20
	// histMinIndex and histMaxIndex are the first and last regular bucket:
	// from just above 2^-20 s up to 2^12 s (68 minutes).
	histMinIndex  = -20*histSub + 1
	histMaxIndex  = 12 * histSub
	histOctaves   = (histMaxIndex - histMinIndex + 1) / histSub
	histZeroMaxNs = 953                       // the largest duration in the zero bucket, in ns
	histTopNs     = 4096 * int64(time.Second) // durations above it overflow
)

// Bounds of the latency figures. A percentile that falls below the
// high-resolution histogram's range is reported as exactly LatencyFloor,
// meaning "below this"; one that falls above it as exactly LatencyCeiling,
// meaning "above this". No estimate ever equals either value (estimates
// are bucket midpoints), so comparing with them is how a reader tells a
// bound from a figure; the JSON form carries a "<" or ">" beside them.
const (
	// LatencyFloor is the smallest duration vitals resolves: durations
	// up to 2^-20 s (953 ns) are counted together as "< 954ns".
	LatencyFloor = (histZeroMaxNs + 1) * time.Nanosecond
	// LatencyCeiling is the largest duration vitals resolves, 2^12 s
	// (68m16s): longer ones are counted together as "> 1h8m16s".
	LatencyCeiling = time.Duration(histTopNs)
)

// histBoundMant[k] holds the 52 mantissa bits of 2^(k/32), the lower
// boundaries of the buckets within an octave; histBoundMant[32] is a
// sentinel above every mantissa. histSubStart[t] is the number of those
// boundaries below 1 + t/256: the mantissa's top 8 bits find the
// sub-bucket in one table load and one comparison, as the boundaries are
// more than 1/256 apart.
var (
	histBoundMant [histSub + 1]uint64
	histSubStart  [256]uint8
)

func init() {
	for k := range histSub {
		histBoundMant[k] = math.Float64bits(math.Exp2(float64(k)/histSub)) & (1<<52 - 1)
	}
	histBoundMant[histSub] = 1 << 52
	k := 0
	for t := range histSubStart {
		for k < histSub && histBoundMant[k] < uint64(t)<<44 {
			k++
		}
		histSubStart[t] = uint8(k)
	}
}

// histIndex returns the native-histogram bucket index of a duration in
// (histZeroMaxNs, histTopNs] nanoseconds, without a logarithm: the float's
// exponent gives the octave and a table its sub-bucket.
func histIndex(ns int64) int {
	bits := math.Float64bits(float64(ns) * 1e-9)
	exp := int(bits>>52&0x7ff) - 1023
	mant := bits & (1<<52 - 1)
	j := int(histSubStart[mant>>44])
	if mant > histBoundMant[j] {
		j++
	}
	return exp*histSub + j
}

// histMid returns the estimate for a duration in bucket i: the bucket's
// midpoint in log space, 2^((i-0.5)/32) s, within 1.09 % of every duration
// in the bucket, plus at most half a nanosecond of rounding (which adds
// up to 0.05 % just above 1 µs).
func histMid(i int) time.Duration {
	return time.Duration(math.Round(math.Exp2((float64(i)-0.5)/histSub) * 1e9))
}

// octave is one octave of a histogram: 32 buckets, 256 bytes.
type octave [histSub]atomic.Uint64

// hist is a high-resolution histogram of durations, written by the request
// path and read by the refresh goroutine.
//
// Its buckets are those of a Prometheus native histogram of schema 5 (see
// histSchema), from 954 ns to 68 minutes, with a zero bucket below and an
// overflow bucket above. A percentile estimated from it, as the midpoint in
// log space of the bucket that holds its rank, is within ±1.1 % of the
// exact percentile of the recorded durations (the nearest-rank one), for
// any distribution in that range above 5 µs, and within ±1.2 % from 1 µs
// to 5 µs, where the rounding of the estimate to whole nanoseconds adds up
// to 0.05 %.
//
// Octaves are allocated on first use and published with a compare-and-swap
// (like recorder.block), so a histogram costs 256 bytes of pointers plus 256
// bytes per octave its durations touch: a route answering in 1 to 50 ms
// holds six octaves. Safe for concurrent use; recording is lock-free and
// allocates only the first time an octave is touched.
type hist struct {
	zero    atomic.Uint64 // durations <= histZeroMaxNs
	over    atomic.Uint64 // durations > histTopNs
	octaves [histOctaves]atomic.Pointer[octave]
}

// observe counts one duration in nanoseconds; a negative one counts as
// zero.
func (h *hist) observe(ns int64) {
	switch {
	case ns <= histZeroMaxNs:
		h.zero.Add(1)
	case ns > histTopNs:
		h.over.Add(1)
	default:
		p := uint(histIndex(ns) - histMinIndex) // in [0, histOctaves*histSub)
		o := h.octaves[p/histSub].Load()
		if o == nil {
			o = h.octave(int(p / histSub))
		}
		o[p%histSub].Add(1)
	}
}

// octave returns octave k, allocating it on first use. Of two goroutines
// racing here, the CAS keeps one and both use it.
func (h *hist) octave(k int) *octave {
	o := new(octave)
	if h.octaves[k].CompareAndSwap(nil, o) {
		return o
	}
	return h.octaves[k].Load()
}

// drainInto moves every count of h into the copies in dst (each gets all of
// them) and leaves h empty. Swap makes the move exact: a count added
// concurrently either moves now or stays in h for the next drain. The
// octaves stay allocated for the next time slice.
func (h *hist) drainInto(dst ...*histCopy) {
	z, v := h.zero.Swap(0), h.over.Swap(0)
	for _, d := range dst {
		d.zero += z
		d.over += v
	}
	for k := range h.octaves {
		o := h.octaves[k].Load()
		if o == nil {
			continue
		}
		for j := range o {
			if n := o[j].Swap(0); n != 0 {
				for _, d := range dst {
					d.add(k*histSub+j, n)
				}
			}
		}
	}
}

// addTo adds the counts of h to each of dst with atomic loads, leaving h
// as it is. It loads each octave once and adds it to the copies whole,
// which the refresh of many routes depends on.
func (h *hist) addTo(dst ...*histCopy) {
	z, v := h.zero.Load(), h.over.Load()
	for _, d := range dst {
		d.zero += z
		d.over += v
	}
	var buf [histSub]uint64
	for k := range h.octaves {
		o := h.octaves[k].Load()
		if o == nil {
			continue
		}
		var any uint64
		for j := range o {
			buf[j] = o[j].Load()
			any |= buf[j]
		}
		if any == 0 {
			continue
		}
		for _, d := range dst {
			d.addOctave(k, &buf)
		}
	}
}

// histCopy is a plain histogram with the buckets of hist, owned by one
// goroutine: a reader's copy, a retired total, or scratch space. Octaves
// are allocated on first use and kept across reset.
type histCopy struct {
	zero, over uint64
	count      uint64 // every duration, zero and overflow buckets included
	sumNs      uint64 // sum of the durations in nanoseconds, when known
	used       uint64 // bit k: octave k holds a non-zero count
	octaves    [histOctaves]*[histSub]uint64
}

// add adds n durations to bucket position p (index p+histMinIndex).
func (c *histCopy) add(p int, n uint64) {
	k := p / histSub
	o := c.octaves[k]
	if o == nil {
		o = new([histSub]uint64)
		c.octaves[k] = o
	}
	o[p%histSub] += n
	c.used |= 1 << k
}

// addOctave adds a whole octave of counts to octave k.
func (c *histCopy) addOctave(k int, src *[histSub]uint64) {
	o := c.octaves[k]
	if o == nil {
		o = new([histSub]uint64)
		c.octaves[k] = o
	}
	for j := range o {
		o[j] += src[j]
	}
	c.used |= 1 << k
}

// total returns the number of durations: the buckets, zero and overflow
// included. It also sets count.
func (c *histCopy) total() uint64 {
	t := c.zero + c.over
	for k := range c.octaves {
		if c.used&(1<<k) == 0 {
			continue
		}
		for _, n := range c.octaves[k] {
			t += n
		}
	}
	c.count = t
	return t
}

// merge adds src to c.
func (c *histCopy) merge(src *histCopy) {
	c.zero += src.zero
	c.over += src.over
	c.sumNs += src.sumNs
	for k := range src.octaves {
		if src.used&(1<<k) != 0 {
			c.addOctave(k, src.octaves[k])
		}
	}
}

// reset empties c, keeping its octaves for reuse.
func (c *histCopy) reset() {
	for k := range c.octaves {
		if c.used&(1<<k) != 0 {
			*c.octaves[k] = [histSub]uint64{}
		}
	}
	*c = histCopy{octaves: c.octaves}
}

// forEachBucket calls f for every regular bucket with a non-zero count, in
// ascending order of its native-histogram index (schema histSchema). The
// zero bucket (c.zero, threshold histZeroThreshold) and the overflow
// (c.over, above 2^12 s) are not regular buckets; c.count and c.sumNs are
// the total count and sum (set total first).
func (c *histCopy) forEachBucket(f func(index int32, n uint64)) {
	for k := range c.octaves {
		if c.used&(1<<k) == 0 {
			continue
		}
		for j, n := range c.octaves[k] {
			if n != 0 {
				f(int32(k*histSub+j+histMinIndex), n)
			}
		}
	}
}

// quantiles sets out[i] to the qs[i]-quantile of the durations in c, by
// the nearest rank (the smallest duration with at least qs[i] of them at or
// below it): the midpoint of its bucket, LatencyFloor if it is in the zero
// bucket, LatencyCeiling if it overflows. qs must be ascending, at most 8
// of them. It also sets c.count. With no
// durations every out[i] is 0.
func (c *histCopy) quantiles(qs []float64, out []time.Duration) {
	c.count = quantilesOf(c, nil, qs, out)
}

// quantilesOf is quantiles of the durations of a and b together (b may be
// nil), without merging them, and returns their total count. One pass sums
// each octave; the ranks are then found by skipping whole octaves, scanning
// buckets only in the octaves that hold one.
func quantilesOf(a, b *histCopy, qs []float64, out []time.Duration) uint64 {
	var none histCopy
	if b == nil {
		b = &none
	}
	var sums [histOctaves]uint64
	used := a.used | b.used
	total := a.zero + a.over + b.zero + b.over
	for k := range sums {
		if used&(1<<k) == 0 {
			continue
		}
		var t uint64
		if a.used&(1<<k) != 0 {
			for _, n := range a.octaves[k] {
				t += n
			}
		}
		if b.used&(1<<k) != 0 {
			for _, n := range b.octaves[k] {
				t += n
			}
		}
		sums[k] = t
		total += t
	}
	if total == 0 {
		clear(out)
		return 0
	}
	var ranks [8]uint64
	for i, q := range qs {
		ranks[i] = max(uint64(math.Ceil(q*float64(total))), 1)
	}
	i := 0
	cum := a.zero + b.zero
	for i < len(qs) && ranks[i] <= cum {
		out[i] = LatencyFloor
		i++
	}
	var zeros [histSub]uint64
	for k := range sums {
		if i == len(qs) {
			return total
		}
		if sums[k] == 0 || cum+sums[k] < ranks[i] {
			cum += sums[k]
			continue
		}
		oa, ob := &zeros, &zeros
		if a.used&(1<<k) != 0 {
			oa = a.octaves[k]
		}
		if b.used&(1<<k) != 0 {
			ob = b.octaves[k]
		}
		for j := range oa {
			n := oa[j] + ob[j]
			if n == 0 {
				continue
			}
			cum += n
			for i < len(qs) && ranks[i] <= cum {
				out[i] = histMid(k*histSub + j + histMinIndex)
				i++
			}
		}
	}
	for ; i < len(qs); i++ {
		out[i] = LatencyCeiling
	}
	return total
}

// extremes returns estimates of the smallest and largest duration in c,
// as quantiles does (bounds for the zero and overflow buckets), or zeros.
func (c *histCopy) extremes() (lo, hi time.Duration) {
	first, last := -1, -1
	for k := range c.octaves {
		if c.used&(1<<k) == 0 {
			continue
		}
		for j, n := range c.octaves[k] {
			if n != 0 {
				if first < 0 {
					first = k*histSub + j
				}
				last = k*histSub + j
			}
		}
	}
	switch {
	case c.zero != 0:
		lo = LatencyFloor
	case first >= 0:
		lo = histMid(first + histMinIndex)
	case c.over != 0:
		lo = LatencyCeiling
	}
	switch {
	case c.over != 0:
		hi = LatencyCeiling
	case last >= 0:
		hi = histMid(last + histMinIndex)
	case c.zero != 0:
		hi = LatencyFloor
	}
	return lo, hi
}

// boundOf says whether a latency figure is a bound: "<" for LatencyFloor,
// ">" for LatencyCeiling, "" for an estimate. It is the one place that
// tells them apart: the JSON form carries its mark beside a figure, and
// the page writes it before one (latencyBound).
func boundOf(d time.Duration) string {
	switch d {
	case LatencyFloor:
		return "<"
	case LatencyCeiling:
		return ">"
	}
	return ""
}
