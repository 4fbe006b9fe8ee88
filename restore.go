package vitals

import "slices"

// Restoring a decoded state (statefile_decode.go) into the collector: apply,
// and the restored figures it adds to each route, which belong to the
// since-start figures of the snapshot and not to the Prometheus counters.

// apply adds a decoded state to the collector: to the since-start figures
// of the snapshot, not to the counters of the Prometheus text, which start
// from zero in each process.
func (c *Collector) apply(st *state) {
	now := c.opts.Now().UnixNano()
	if st.firstStart < c.firstStart.Load() && st.firstStart <= now {
		c.firstStart.Store(st.firstStart)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.win
	var skew int64 // a state from the future is read as saved now
	if st.savedAt > now {
		skew = st.savedAt - now
	}
	// Between its last save and this collector's start nothing counted:
	// the newest restored state's save time opens that gap.
	if start := c.start.UnixNano(); st.savedAt < start && st.savedAt > c.downFrom {
		c.downFrom, c.downTo = st.savedAt, start
	}
	current := w.prepared - 1
	nb := int64(len(w.buckets))
	first := st.abs - int64(len(st.window)) + 1
	var inWindow uint64
	for i, cnt := range st.window {
		inWindow += cnt
		startNs := (first+int64(i))*st.width - skew
		a := min(floorDiv(startNs, w.width), current)
		if current-a >= nb || cnt == 0 {
			continue // out of the window, still in the total
		}
		w.bucket(a).requests += cnt
	}
	st.eachFigure(func(i int, f *winBucket) {
		startNs := (first+int64(i))*st.width - skew
		a := min(floorDiv(startNs, w.width), current)
		if current-a >= nb || *f == (winBucket{}) {
			return
		}
		b := w.bucket(a)
		b.errors += f.errors
		if b.p50 == 0 { // a live bucket's own figures win
			b.p50, b.p90, b.p99 = f.p50, f.p90, f.p99
		}
		if b.goroutines == 0 {
			b.heap, b.goroutines = f.heap, f.goroutines
		}
	})

	// The duration ring of format 1 is not restored: Latency is now the
	// recent past of this process.
	// decodeState checked the routes, so eachRoute cannot fail here.
	// The routes are entered in one batch (one copy of the route table),
	// then their counts added.
	var routed uint64
	names := make([]string, 0, st.nroutes)
	_ = st.eachRoute(func(r *routeState) { names = append(names, r.name) })
	counters := c.routes.addRestored(names)
	restored := make([]*restoredStats, 0, st.nroutes) // by route, in the state's order
	sameBounds := slices.Equal(st.bounds, c.bounds)
	_ = st.eachRoute(func(r *routeState) {
		rs := restoredOf(counters[len(restored)], len(c.bounds))
		rs.addCodes(r.codes)
		for i, cnt := range r.hist {
			j := i
			if !sameBounds {
				j = len(c.bounds) // +Inf unless a bound holds the old one
				if i < len(st.bounds) {
					j, _ = slices.BinarySearch(c.bounds, st.bounds[i])
				}
			}
			rs.hist[j] += cnt
			routed += cnt
		}
		rs.sumNs += r.sumNs
		rs.bytes += r.bytes
		restored = append(restored, rs)
	})
	var h histCopy
	st.eachHires(&h, func(i int, h *histCopy) {
		if h.total() == 0 && h.sumNs == 0 {
			return
		}
		rs := restored[i]
		if rs.hires == nil {
			rs.hires = new(histCopy)
		}
		rs.hires.merge(h)
	})
	// What the window counted beyond the routes' requests came from
	// IncrementRequests.
	if total := st.retired + inWindow; total > routed {
		restoredOf(c.manual, len(c.bounds)).requests += total - routed
	}
}

// restoredOf returns the restored figures of s, creating them. Called with
// c.mu held.
func restoredOf(s *recorder, bounds int) *restoredStats {
	if s.restored == nil {
		s.restored = &restoredStats{hist: make([]uint64, bounds+1)}
	}
	return s.restored
}
