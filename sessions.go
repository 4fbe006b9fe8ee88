package vitals

import (
	"hash/maphash"
	"math"
	"math/bits"
	"slices"
	"sync/atomic"
	"time"
)

// Session counting: a sliding window of HyperLogLog sketches.
const (
	// sessionSpans is how many sub-intervals a TTL is cut into: a session
	// stays counted for between SessionTTL and SessionTTL*(1+1/16) after
	// it was last seen.
	sessionSpans = 16
	// sessionSlots is the ring of sketches: the sessionSpans+1 that the
	// count covers, and the next one, cleared ahead of its interval.
	sessionSlots = sessionSpans + 2
	// hllP is the sketches' precision: 2^hllP registers of one byte, a
	// relative standard error of 1.04/sqrt(2^hllP) = 1.6%.
	hllP    = 12
	hllRegs = 1 << hllP
	// exactMax is how many distinct ids one sub-interval counts exactly,
	// in a table of exactSlots hashes; past it the count is the sketches'.
	exactMax   = 1024
	exactSlots = 2 * exactMax
)

// sessions counts the distinct session ids seen within a TTL, in fixed
// memory (about 360 KB, allocated on the first touch, so a collector that
// counts no sessions does not hold it) whatever ids clients send, without a
// lock on the request path, and without leaving any id uncounted.
//
// Ids are never stored: each is reduced to a 64-bit hash keyed with a
// per-process random seed, so nothing held can be used to recover a cookie
// value, and a hash from one process means nothing to another.
//
// Time is cut into sub-intervals of TTL/sessionSpans. Each has a sketch in
// a ring of sessionSlots: a set of up to exactMax hashes (lock-free linear
// probing; a slot goes from 0 to its hash once, by compare-and-swap) and a
// HyperLogLog sketch of 2^hllP registers, one byte each, packed eight to an
// atomic.Uint64 and raised by a compare-and-swap loop to their maximum.
// touch adds the id's hash to the current sub-interval's sketch: a load
// when the id was already seen in it, a CAS or two when not. The count is
// the union of the last sessionSpans+1 sketches: exact (up to a 64-bit hash
// collision) while every one of them holds at most exactMax ids, else the
// HyperLogLog estimate of the union (Ertl's improved estimator, unbiased
// over the whole range: relative standard error 1.6%, TestSessionsError).
//
// The refresh goroutine, holding the collector's mu, owns the ring's
// rotation: advance clears the sketch of the next sub-interval before the
// collector's clock reaches it, so touch never finds a stale one, and active
// reads the sketches with atomic loads. Nothing is ever swept: a sketch
// leaves the count when its sub-interval falls out of the TTL, and is
// cleared when advance reuses it. The first touch allocates the ring,
// labels its sketches and publishes it with a compare-and-swap.
type sessions struct {
	seed maphash.Seed // immutable
	span int64        // nanoseconds per sub-interval; immutable
	ring atomic.Pointer[sketchRing]

	// Guarded by the collector's mu.
	hashes []uint64 // scratch for the exact union
	regs   []uint8  // scratch for the sketches' union
}

// sketchRing holds a sketch per sub-interval; sub-interval e has sketch
// e modulo sessionSlots (mod: e is negative before 1970).
type sketchRing [sessionSlots]sketch

// sketch counts the ids of one sub-interval.
type sketch struct {
	epoch atomic.Int64 // the sub-interval counted; set by advance
	n     atomic.Int32 // hashes in exact
	full  atomic.Bool  // an id was not added to exact: only regs are whole
	exact [exactSlots]atomic.Uint64
	regs  [hllRegs / 8]atomic.Uint64
}

func newSessions(ttl time.Duration) *sessions {
	return &sessions{seed: maphash.MakeSeed(), span: max(int64(ttl)/sessionSpans, 1)}
}

// makeRing allocates the sketches, labelled for the sub-intervals around
// now, and publishes them unless another touch did first.
func (s *sessions) makeRing(now int64) *sketchRing {
	r := new(sketchRing)
	cur := floorDiv(now, s.span)
	for e := cur - sessionSpans; e <= cur+1; e++ {
		r[mod(e, sessionSlots)].epoch.Store(e)
	}
	if s.ring.CompareAndSwap(nil, r) {
		return r
	}
	return s.ring.Load()
}

// hash returns the keyed hash of a session id, which touch counts.
func (s *sessions) hash(id string) uint64 {
	return maphash.String(s.seed, id)
}

// touch marks the id whose hash is h as seen at now (unix nanos, the
// collector's coarse clock). It neither blocks nor allocates.
func (s *sessions) touch(h uint64, now int64) {
	r := s.ring.Load()
	if r == nil {
		r = s.makeRing(now) // once per collector
	}
	if h == 0 {
		h = 1 // 0 marks an empty slot of exact
	}
	k := &r[mod(floorDiv(now, s.span), sessionSlots)]
	if !k.full.Load() && k.addExact(h) {
		return // seen before in this sub-interval: its registers are set
	}
	k.addRegister(h)
}

// addExact adds h to the exact set and reports whether it was there
// already. When the set is at exactMax it marks the sketch full instead.
func (k *sketch) addExact(h uint64) bool {
	for i, n := h, 0; n < exactSlots; i, n = i+1, n+1 {
		slot := &k.exact[i%exactSlots]
		v := slot.Load()
		if v == 0 {
			if k.n.Load() >= exactMax {
				k.full.Store(true)
				return false
			}
			if slot.CompareAndSwap(0, h) {
				k.n.Add(1)
				return false
			}
			v = slot.Load() // another id took the slot
		}
		if v == h {
			return true
		}
	}
	k.full.Store(true)
	return false
}

// addRegister raises h's register to h's rank.
func (k *sketch) addRegister(h uint64) {
	idx := h >> (64 - hllP)
	rank := uint64(min(bits.LeadingZeros64(h<<hllP), 64-hllP) + 1)
	w := &k.regs[idx/8]
	shift := (idx % 8) * 8
	for {
		old := w.Load()
		if (old>>shift)&0xff >= rank {
			return
		}
		if w.CompareAndSwap(old, old&^(0xff<<shift)|rank<<shift) {
			return
		}
	}
}

// advance clears the sketches of the sub-intervals up to the one after
// now's that are still labelled with an older one, ahead of the clock, and
// labels them. Call it before the clock that touch reads moves to now. The
// caller holds the collector's mu.
func (s *sessions) advance(now int64) {
	r := s.ring.Load()
	if r == nil {
		return
	}
	next := floorDiv(now, s.span) + 1
	for e := next - sessionSpans; e <= next; e++ {
		k := &r[mod(e, sessionSlots)]
		if k.epoch.Load() >= e {
			continue
		}
		for i := range k.exact {
			k.exact[i].Store(0)
		}
		for i := range k.regs {
			k.regs[i].Store(0)
		}
		k.n.Store(0)
		k.full.Store(false)
		k.epoch.Store(e)
	}
}

// active returns the sessions seen within the TTL (to its granularity of
// TTL/sessionSpans) as of now: their exact number while it is small, the
// sketches' estimate past it. It reads only the sketches labelled with the
// sub-intervals the count covers, so call advance(now) first, which labels
// them (Collector.Refresh does). The caller holds the collector's mu.
func (s *sessions) active(now int64) int {
	r := s.ring.Load()
	if r == nil {
		return 0
	}
	cur := floorDiv(now, s.span)
	s.hashes = s.hashes[:0]
	exact := true
	for i := range r {
		k := &r[i]
		if e := k.epoch.Load(); e < cur-sessionSpans || e > cur {
			continue
		}
		if k.full.Load() {
			exact = false
			break
		}
		for j := range k.exact {
			if h := k.exact[j].Load(); h != 0 {
				s.hashes = append(s.hashes, h)
			}
		}
	}
	if exact {
		slices.Sort(s.hashes)
		return len(slices.Compact(s.hashes))
	}
	if s.regs == nil {
		s.regs = make([]uint8, hllRegs)
	}
	clear(s.regs)
	for i := range r {
		k := &r[i]
		if e := k.epoch.Load(); e < cur-sessionSpans || e > cur {
			continue
		}
		for j := range k.regs {
			w := k.regs[j].Load()
			for b := range 8 {
				s.regs[j*8+b] = max(s.regs[j*8+b], uint8(w>>(8*b)))
			}
		}
	}
	return int(math.Round(hllEstimate(s.regs)))
}

// hllEstimate is Ertl's improved raw estimator ("New cardinality estimation
// algorithms for HyperLogLog sketches", 2017, algorithm 6) over registers
// of hllP bits of index and ranks 0..64-hllP+1. Unlike the original
// estimator it needs no bias correction and no switch to linear counting.
func hllEstimate(regs []uint8) float64 {
	const q = 64 - hllP
	var c [q + 2]int
	for _, r := range regs {
		c[r]++
	}
	m := float64(len(regs))
	z := m * hllTau(1-float64(c[q+1])/m)
	for k := q; k >= 1; k-- {
		z = 0.5 * (z + float64(c[k]))
	}
	z += m * hllSigma(float64(c[0])/m)
	return m * m / (2 * math.Ln2 * z)
}

func hllSigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y, z := 1.0, x
	for {
		x *= x
		prev := z
		z += x * y
		y += y
		if z == prev {
			return z
		}
	}
}

func hllTau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y, z := 1.0, 1-x
	for {
		x = math.Sqrt(x)
		prev := z
		y *= 0.5
		z -= (1 - x) * (1 - x) * y
		if z == prev {
			return z / 3
		}
	}
}
