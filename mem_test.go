package vitals

import (
	"fmt"
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

// TestMemoryBound checks what a Collector holds at default options, and
// with every default cap full: 100 routes that each answered three kinds of
// responses, and MaxSessions sessions. It logs the figures the README
// states.
func TestMemoryBound(t *testing.T) {
	before := heapInUse()
	c := New(Options{})
	defer c.Close()
	fresh := heapInUse() - before
	for i := range DefaultMaxRoutes {
		s := c.routes.get(fmt.Sprintf("GET /route/%d/{id}", i))
		s.observe(c.slotNow(), 0, 200, 0, 0, c.bounds)
		s.observe(c.slotNow(), 0, 404, 0, 0, c.bounds)
		s.observe(c.slotNow(), 2, 201, 0, 0, c.bounds)
	}
	routes := heapInUse() - before - fresh
	for i := range DefaultMaxSessions {
		c.TouchSession(fmt.Sprint("session-", i))
	}
	all := heapInUse() - before
	sessions := all - fresh - routes
	t.Logf("collector at defaults: %d B; 100 routes: %d B; %d sessions: %d B; all: %d B",
		fresh, routes, DefaultMaxSessions, sessions, all)
	if fresh > 1<<20 {
		t.Errorf("a new collector holds %d bytes, over 1 MiB", fresh)
	}
	if all > 2<<20 {
		t.Errorf("a collector with every default cap full holds %d bytes, over 2 MiB", all)
	}
	runtime.KeepAlive(c)
}
