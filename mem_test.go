package vitals

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// fillRoutes gives 100 routes three kinds of responses in every time slice,
// with durations from gen, and as many in their since-start histograms.
func fillRoutes(c *Collector, gen func() int64) {
	for i := range DefaultMaxRoutes {
		s := c.routes.get(fmt.Sprintf("GET /route/%d/{id}", i))
		for slot := range s.slices {
			for range 300 {
				s.observe(slot, 0, 200, gen(), 0, c.bounds)
				s.observe(slot, 0, 404, gen(), 0, c.bounds)
				s.observe(slot, 2, 201, gen(), 0, c.bounds)
			}
		}
		c.mu.Lock() // retired is the refresh goroutine's
		for range 300 {
			if d := gen(); d > histZeroMaxNs && d <= histTopNs {
				s.retired.add(histIndex(d)-histMinIndex, 1)
			}
		}
		c.mu.Unlock()
	}
}

// TestMemoryBound checks what a Collector holds at default options, and
// with the routes at their default cap: 100 busy routes (DefaultMaxRoutes),
// each with three kinds of responses whose durations spread over three
// decades (lognormal around 2 ms) in every time slice, plus 10,000
// sessions (sessions have no cap: their sketches hold a fixed size
// whatever the count, see TestSessionsMemoryFixed). Then the worst case:
// routes whose durations cover the histogram's whole range in every slice.
// It logs the figures the README states.
func TestMemoryBound(t *testing.T) {
	before := heapInUse()
	c := New(Options{})
	defer c.Close()
	fresh := heapInUse() - before
	rng := rand.New(rand.NewPCG(1, 1))
	fillRoutes(c, func() int64 { return int64(2e6 * math.Exp(1.5*rng.NormFloat64())) })
	routes := heapInUse() - before - fresh
	const sessionCount = 10000
	for i := range sessionCount {
		c.TouchSession(fmt.Sprint("session-", i))
	}
	c.Refresh() // and the refresh's scratch space
	all := heapInUse() - before
	sessions := all - fresh - routes
	t.Logf("collector at defaults: %d KiB; 100 busy routes: %d KiB; %d sessions: %d KiB; all: %d KiB",
		fresh>>10, routes>>10, sessionCount, sessions>>10, all>>10)
	if fresh > 256<<10 {
		t.Errorf("a new collector holds %d KiB, over 256 KiB", fresh>>10)
	}
	// 4 MiB, plus the live figures' 128 KiB (TestLiveMemory).
	if all > 4<<20+128<<10 {
		t.Errorf("a collector with 100 busy routes and 10,000 sessions holds %d KiB, over 4 MiB + 128 KiB", all>>10)
	}

	// Every octave of every histogram touched: the most the histograms
	// can hold, 100 routes × (slices + since start + refresh copies) × 32
	// octaves of 256 bytes.
	fillRoutes(c, func() int64 { return int64(math.Exp(rng.Float64() * math.Log(5e12))) })
	c.Refresh()
	worst := heapInUse() - before
	t.Logf("worst case, every octave of every route's histograms touched: %d KiB", worst>>10)
	if limit := all + uint64(DefaultMaxRoutes*(c.win.n+1)*histOctaves*256); worst > limit {
		t.Errorf("worst case %d KiB, over the %d KiB the octaves can add", worst>>10, limit>>10)
	}
	runtime.KeepAlive(c)
}
