package vitals

import (
	"cmp"
	"slices"
	"strings"
)

// Restoring a decoded state (statefile_decode.go) into the collector:
// apply, which realigns the request window and enters the state's routes in
// the route table (addRestored), and the restored figures it keeps per
// route (restoredStats).

// restoredStats are the counts of a route restored from a saved state:
// they belong to the since-start figures of the snapshot, not to the
// Prometheus counters, which start from zero in each process. Guarded by
// Collector.mu.
//
// The codes are sparse: only the (method, code) pairs with a non-zero
// count, 16 bytes each, so what a route costs follows what its state
// holds rather than the 800-byte blocks of the live counters.
type restoredStats struct {
	codes    []restoredCode // by key, each key once, no zero count
	hist     []uint64       // classic buckets, the collector's bounds
	hires    *histCopy      // nil while empty
	sumNs    uint64
	bytes    uint64
	requests uint64 // manual only: IncrementRequests
}

// restoredCode counts the responses of one (method, code) pair, keyed
// method*1000 + code so that keys sort in method then code order.
type restoredCode struct {
	key uint16
	n   uint64
}

// apply adds a decoded state to the collector: to the since-start figures
// of the snapshot, not to the counters of the Prometheus text, which start
// from zero in each process.
func (c *Collector) apply(st *state) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now().UnixNano() // the window's clock
	if st.firstStart < c.firstStart.Load() && st.firstStart <= now {
		c.firstStart.Store(st.firstStart)
	}

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
	// And the ranges the state carried from earlier restarts.
	for _, r := range st.down {
		if from, to := max(r[0]-skew, 0), r[1]-skew; from < to {
			c.down = append(c.down, [2]int64{from, to})
		}
	}
	c.down = mergeDown(c.down, w.prepared-int64(len(w.buckets)), w.width)
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
	offs := make([]int, 0, st.nroutes) // where each route starts in st.routes
	_ = st.eachRoute(func(off int, r *routeState) {
		names = append(names, r.name)
		offs = append(offs, off)
	})
	counters := c.routes.addRestored(names)
	// The codes of routes that share counters (RouteOther past the cap,
	// unmatched, a name given twice) are merged per counters in one pass
	// (mergeCodes), not sorted again for each route.
	groups, shared := sharedRoutes(counters)
	restored := make([]*restoredStats, 0, st.nroutes) // by route, in the state's order
	sameBounds := slices.Equal(st.bounds, c.bounds)
	_ = st.eachRoute(func(_ int, r *routeState) {
		rs := restoredOf(counters[len(restored)], len(c.bounds))
		if !shared[len(restored)] {
			rs.addCodes(r.codes)
		}
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
	mergeCodes(st, groups, offs, restored)
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

// addRestored enters the routes named by a restored state, all in one
// copy of the map, and returns the counters of each name, in order. A name
// the table has (a route already restored or seen, unmatched, other) gets
// that route's counters. A new name gets a route of its own while fewer
// than max routes were restored, and RouteOther's counters after that.
// Restored routes do not count against max for the routes this process
// sees (add), which are capped separately. Names are shown as get shows
// them.
func (t *routeTable) addRestored(names []string) []*recorder {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.m.Load()
	out := make([]*recorder, len(names))
	var m map[string]*recorder // the copy, once a name is new
	var buf [maxRouteLen]byte
	for i, name := range names {
		if name == "" {
			out[i] = t.unmatched
			continue
		}
		shown, fixed := shownName(name, buf[:0])
		if fixed != nil {
			shown = string(fixed)
		}
		s := old[shown]
		if s == nil && m != nil {
			s = m[shown]
		}
		switch {
		case s != nil:
		case t.restored >= t.max:
			s = t.other
			t.restoredCapped.Store(true)
		default:
			if m == nil {
				m = grown(old, min(len(names)-i, t.max-t.restored))
			}
			key := strings.Clone(shown)
			s = newRecorder(key, t.bounds, t.slices)
			m[key] = s
			t.restored++
		}
		out[i] = s
	}
	if m != nil {
		t.m.Store(&m)
	}
	return out
}

// restoredOf returns the restored figures of s, creating them. Called with
// c.mu held.
func restoredOf(s *recorder, bounds int) *restoredStats {
	if s.restored == nil {
		s.restored = &restoredStats{hist: make([]uint64, bounds+1)}
	}
	return s.restored
}

// addCodes adds the counts of cs (methods and codes in range, in any order,
// a pair possibly more than once), skipping zero counts. It sorts and
// merges once per call, so a route's codes cost O(n log n) however many
// there are.
func (r *restoredStats) addCodes(cs []codeCount) {
	had, n := len(r.codes), 0
	for _, cc := range cs {
		if cc.n != 0 {
			n++
		}
	}
	if n == 0 {
		return
	}
	if cap(r.codes)-had < n { // grown to exactly what is needed
		grown := make([]restoredCode, had, had+n)
		copy(grown, r.codes)
		r.codes = grown
	}
	for _, cc := range cs {
		if cc.n != 0 {
			r.codes = append(r.codes, restoredCode{uint16(cc.method*1000 + cc.code), cc.n})
		}
	}
	if had == 0 && increasing(r.codes) {
		return // as Save writes them: sorted, each pair once
	}
	slices.SortStableFunc(r.codes, func(a, b restoredCode) int { return cmp.Compare(a.key, b.key) })
	out := r.codes[:0]
	for _, c := range r.codes {
		if k := len(out) - 1; k >= 0 && out[k].key == c.key {
			out[k].n += c.n
			continue
		}
		out = append(out, c)
	}
	r.codes = out
}

// increasing reports whether the keys of cs strictly increase: sorted,
// each pair once.
func increasing(cs []restoredCode) bool {
	for i := 1; i < len(cs); i++ {
		if cs[i-1].key >= cs[i].key {
			return false
		}
	}
	return true
}

// forEachCode calls f for every (method, code) pair with a non-zero count,
// in method then code order.
func (r *restoredStats) forEachCode(f func(method, code int, n uint64)) {
	for _, c := range r.codes {
		f(int(c.key)/1000, int(c.key)%1000, c.n)
	}
}

// sharedRoutes returns the indices of the routes whose counters other
// routes share, grouped by counters (each group in the state's order), and
// which routes those are.
func sharedRoutes(counters []*recorder) (groups [][]int, shared []bool) {
	first := make(map[*recorder]int, len(counters)) // the group, or -1-route
	shared = make([]bool, len(counters))
	for i, s := range counters {
		g, ok := first[s]
		switch {
		case !ok:
			first[s] = -1 - i
		case g < 0:
			first[s] = len(groups)
			groups = append(groups, []int{-1 - g, i})
			shared[-1-g], shared[i] = true, true
		default:
			groups[g] = append(groups[g], i)
			shared[i] = true
		}
	}
	return groups, shared
}

// mergeCodes adds the codes of each group of routes (sharedRoutes) to
// their counters' restored figures: summed by key into one dense array and
// sorted once per group, so a state whose routes all land in RouteOther
// costs time in proportion to its codes, not to its routes times the codes
// RouteOther holds.
func mergeCodes(st *state, groups [][]int, offs []int, restored []*restoredStats) {
	if len(groups) == 0 {
		return
	}
	acc := make([]uint64, numMethods*1000) // by key
	var keys []uint16                      // the keys with a count in acc
	add := func(key uint16, n uint64) {
		if n == 0 {
			return
		}
		if acc[key] == 0 {
			keys = append(keys, key)
		}
		acc[key] += n
	}
	var r routeState
	for _, g := range groups {
		rs := restored[g[0]]
		for _, c := range rs.codes {
			add(c.key, c.n)
		}
		for _, i := range g {
			_ = st.codesAt(offs[i], &r) // checked by decodeState
			for _, cc := range r.codes {
				add(uint16(cc.method*1000+cc.code), cc.n)
			}
		}
		slices.Sort(keys)
		codes := make([]restoredCode, 0, len(keys))
		for _, k := range keys {
			if acc[k] != 0 { // not a key listed twice (a sum that wrapped to 0)
				codes = append(codes, restoredCode{k, acc[k]})
				acc[k] = 0
			}
		}
		rs.codes, keys = codes, keys[:0]
	}
}

// mergeDown returns the no-data ranges of down in order and apart, overlapping
// ones joined, without those that end before bucket first of a window of
// width, and at most maxStateDown of them, the newest. It reuses down.
func mergeDown(down [][2]int64, first, width int64) [][2]int64 {
	slices.SortFunc(down, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	out := down[:0]
	for _, r := range down {
		if r[1] <= first*width {
			continue // before the window
		}
		if k := len(out) - 1; k >= 0 && r[0] <= out[k][1] {
			out[k][1] = max(out[k][1], r[1])
			continue
		}
		out = append(out, r)
	}
	if len(out) > maxStateDown {
		out = out[len(out)-maxStateDown:]
	}
	return out
}

// downRanges returns the no-data ranges to save: the ones carried and this
// collector's own, for a window whose oldest bucket is first. Called with
// c.mu held.
func (c *Collector) downRanges(first int64) [][2]int64 {
	down := slices.Clone(c.down)
	if c.downFrom < c.downTo {
		down = append(down, [2]int64{c.downFrom, c.downTo})
	}
	return mergeDown(down, first, c.win.width)
}

// downAt reports whether the bucket from..to lies wholly inside one of
// the carried no-data ranges (c.down). Buckets are asked in order; *k,
// 0 at first, is the first range that may hold the next. Called with c.mu
// held.
func (c *Collector) downAt(k *int, from, to int64) bool {
	for *k < len(c.down) && c.down[*k][1] < to {
		*k++
	}
	return *k < len(c.down) && from > c.down[*k][0]
}
