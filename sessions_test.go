package vitals

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// ids returns n distinct session ids that start with prefix.
func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// TestSessionsAllCounted: distinct sessions, few or many, are all counted,
// exactly while they are few.
func TestSessionsAllCounted(t *testing.T) {
	for _, tt := range []struct{ n int }{{1000}, {4}, {100}, {1}} {
		t.Run(fmt.Sprintf("%d ids", tt.n), func(t *testing.T) {
			c, _ := newTestCollector(t, Options{})
			for _, id := range ids("user", tt.n) {
				c.TouchSession(id)
				c.TouchSession(id) // seen twice, counted once
			}
			c.refresh()
			if s := c.Snapshot(); s.SessionsActive != tt.n {
				t.Errorf("SessionsActive = %d, want %d", s.SessionsActive, tt.n)
			}
		})
	}
}

// TestSessionsFlood: 50,000 invented ids do not stop the real users who
// come after them from being counted, during the flood and after it.
func TestSessionsFlood(t *testing.T) {
	c, clk := newTestCollector(t, Options{})
	for _, id := range ids("invented", 50_000) {
		c.TouchSession(id)
	}
	clk.Add(time.Minute)
	c.refresh()
	real := ids("user", 1000)
	for _, id := range real {
		c.TouchSession(id)
	}
	c.refresh()
	if got, want := c.Snapshot().SessionsActive, 51_000; math.Abs(float64(got-want)) > 0.065*float64(want) {
		t.Errorf("during the flood SessionsActive = %d, want %d within 4 standard errors", got, want)
	}
	clk.Add(20 * time.Minute)
	c.refresh()
	for _, id := range real { // still active
		c.TouchSession(id)
	}
	clk.Add(12 * time.Minute) // the flood expired, the users did not
	c.refresh()
	if got := c.Snapshot().SessionsActive; got != len(real) {
		t.Errorf("after the flood SessionsActive = %d, want the %d real users", got, len(real))
	}
}

// TestSessionsError compares the count with the exact number of distinct
// ids at several cardinalities, spread over one TTL: exact up to exactMax
// new ids per sub-interval, within 4 standard errors (6.5%) beyond. The
// ids' hashes come from the test's seed (see randomSeed).
func TestSessionsError(t *testing.T) {
	seed := randomSeed(t)
	for _, n := range []int{1, 10, 100, 1000, 5000, 20_000, 100_000, 1_000_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			c, clk := newTestCollector(t, Options{SessionTTL: 16 * time.Minute})
			r := rand.New(rand.NewPCG(seed, uint64(n)))
			for i := range n {
				if i%(n/8+1) == 0 { // spread over half the TTL
					clk.Add(time.Minute)
					c.refresh()
				}
				// What TouchSession does, with the id's hash drawn from
				// the seed rather than keyed per process (two of a million
				// collide once in 4·10^7 runs, as keyed hashes would).
				h := r.Uint64()
				c.sess.touch(h, c.clock.Load())
				if i%3 == 0 {
					c.sess.touch(h, c.clock.Load()) // repeats do not count
				}
			}
			c.refresh()
			got := c.Snapshot().SessionsActive
			rel := math.Abs(float64(got-n)) / float64(n)
			t.Logf("%d distinct ids: counted %d (%.2f%% off)", n, got, 100*rel)
			if n <= exactMax && got != n {
				t.Errorf("counted %d of %d ids, want exact", got, n)
			}
			if rel > 4*1.04/math.Sqrt(hllRegs) {
				t.Errorf("counted %d of %d ids: %.2f%% off, over 4 standard errors", got, n, 100*rel)
			}
		})
	}
}

// TestSessionsExpiry: a session stays counted for at least SessionTTL and
// at most SessionTTL/16 longer after it was last seen, to the second,
// whatever second of its sub-interval it was seen in.
//
// The count changes only when the clock enters another sub-interval
// (SessionTTL/16, one minute here): checking the second before and the
// second at each such step, the limits and the ends, checks every second
// from the touch to past the limit, with a refresh twice per sub-interval
// instead of every second.
func TestSessionsExpiry(t *testing.T) {
	const ttl = 16 * time.Minute
	const span = int64(ttl / sessionSpans)
	const end = ttl + ttl/16 + time.Second
	checked := 0
	for _, offset := range []time.Duration{0, time.Second, 30 * time.Second, 59 * time.Second} {
		c, clk := newTestCollector(t, Options{SessionTTL: ttl})
		clk.Add(offset)
		c.refresh()
		c.TouchSession("a")
		touched := clk.Now().UnixNano()
		at := time.Duration(0) // where the clock is, after the touch
		for d := time.Duration(0); d <= end; d += time.Second {
			ns := touched + int64(d)
			step := ns%span == 0 || (ns+int64(time.Second))%span == 0
			limit := d == ttl || d == ttl+time.Second || d == ttl+ttl/16 || d == ttl+ttl/16+time.Second
			if !step && !limit && d != 0 && d != end {
				continue
			}
			clk.Add(d - at)
			at = d
			c.refresh()
			checked++
			got := c.Snapshot().SessionsActive
			if d <= ttl && got != 1 {
				t.Fatalf("offset %v: %v after the touch SessionsActive = %d, want 1", offset, d, got)
			}
			if d > ttl+ttl/16 && got != 0 {
				t.Fatalf("offset %v: %v after the touch SessionsActive = %d, want 0", offset, d, got)
			}
		}
	}
	t.Logf("%d refreshes checked", checked)
}

// TestSessionsMemoryFixed: touching a million distinct ids allocates
// nothing and the heap does not grow.
func TestSessionsMemoryFixed(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	var id [16]byte
	i := uint64(0)
	touch := func() {
		i++
		binary.LittleEndian.PutUint64(id[:], i)
		c.TouchSession(string(id[:8]))
	}
	if a := testing.AllocsPerRun(1000, touch); a != 0 {
		t.Errorf("TouchSession allocates %v times per call", a)
	}
	before := heapInUse()
	for range 1_000_000 {
		touch()
	}
	c.refresh()
	grown := int64(heapInUse()) - int64(before)
	t.Logf("sessions hold %d B; a million ids grew the heap by %d B; SessionsActive %d",
		unsafe.Sizeof(sketchRing{}), grown, c.Snapshot().SessionsActive)
	if grown > 64<<10 {
		t.Errorf("a million ids grew the heap by %d bytes", grown)
	}
}

// TestSessionsConcurrent touches the same ids from many goroutines behind
// a barrier: each is counted once.
func TestSessionsConcurrent(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	all := ids("user", 800)
	var start sync.WaitGroup
	start.Add(1)
	var wg sync.WaitGroup
	var touched atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			start.Wait()
			for i := range all {
				c.TouchSession(all[(i+g*100)%len(all)])
				touched.Add(1)
			}
		})
	}
	start.Done()
	wg.Wait()
	c.refresh()
	if got := c.Snapshot().SessionsActive; got != len(all) || touched.Load() != 8*800 {
		t.Errorf("SessionsActive = %d after %d touches, want %d", got, touched.Load(), len(all))
	}
	runtime.KeepAlive(c)
}

// BenchmarkTouchSession measures the sketches touching 10,000 distinct ids
// in turn, serially and from parallel goroutines.
func BenchmarkTouchSession(b *testing.B) {
	all := ids("session", 10_000)
	now := time.Now().UnixNano()
	impls := []struct {
		name  string
		touch func(string)
	}{
		{"sketch", newSessions(DefaultSessionTTL).touchAt(now)},
	}
	for _, impl := range impls {
		b.Run(impl.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				impl.touch(all[i%len(all)])
				i++
			}
		})
		b.Run(impl.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			var g atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				i := int(g.Add(1)) * 997
				for pb.Next() {
					impl.touch(all[i%len(all)])
					i++
				}
			})
		})
	}
}

func (s *sessions) touchAt(now int64) func(string) {
	return func(id string) { s.touch(s.hash(id), now) }
}

func TestSessionsTTL(t *testing.T) {
	c, clk := newTestCollector(t, Options{SessionTTL: 10 * time.Minute})
	c.TouchSession("a")
	c.TouchSession("b")
	c.TouchSession("a") // same session again
	c.TouchSession("")  // ignored
	c.refresh()
	if got := c.Snapshot().SessionsActive; got != 2 {
		t.Fatalf("SessionsActive = %d, want 2", got)
	}
	clk.Add(6 * time.Minute)
	c.refresh()
	c.TouchSession("b") // b seen again at +6m
	clk.Add(6 * time.Minute)
	c.refresh() // +12m: a expired, b seen 6m ago
	if got := c.Snapshot().SessionsActive; got != 1 {
		t.Fatalf("after 12m SessionsActive = %d, want 1", got)
	}
	clk.Add(5 * time.Minute)
	c.refresh()
	if got := c.Snapshot().SessionsActive; got != 0 {
		t.Fatalf("after 17m SessionsActive = %d, want 0", got)
	}
}

func TestSessionHugeID(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	big := strings.Repeat("x", 1<<20)
	c.TouchSession(big)
	c.TouchSession(big[:len(big)-1] + "y")
	c.refresh()
	if got := c.Snapshot().SessionsActive; got != 2 {
		t.Errorf("SessionsActive = %d, want 2", got)
	}
}

// TestSessionsActiveWithinTTL: a session touched once stays active at
// every second of its TTL, not only at the sub-interval edges that
// TestSessionsExpiry steps to: each second of the minute is checked once
// across the sixteen sub-intervals.
func TestSessionsActiveWithinTTL(t *testing.T) {
	const ttl = 16 * time.Minute
	const span = ttl / sessionSpans // one minute
	c, clk := newTestCollector(t, Options{SessionTTL: ttl})
	c.refresh()
	c.TouchSession("a")
	at := time.Duration(0)
	for k := range time.Duration(sessionSpans) {
		for s := time.Duration(k); s < 60; s += sessionSpans { // d stays within the TTL
			d := k*span + s*time.Second
			clk.Add(d - at)
			at = d
			c.refresh()
			if got := c.Snapshot().SessionsActive; got != 1 {
				t.Fatalf("%v after the touch SessionsActive = %d, want 1", d, got)
			}
		}
	}
}
