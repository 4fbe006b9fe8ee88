package vitals

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"slices"
)

// Saving and restoring the collector's cumulative state: Save and Restore,
// and capture, which takes the state. The format and its decoder are in
// statefile.go and statefile_decode.go, adding a decoded state to the
// collector in restore.go, and the state file (Options.StateFile) in
// persist.go.

// capture reads the collector's state under c.mu (the retired and
// restored figures are the refresh goroutine's), the counters with atomic
// loads.
func (c *Collector) capture() *state {
	st := &state{
		firstStart: max(c.firstStart.Load(), 0),
		bounds:     slices.Clone(c.bounds),
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st.savedAt = max(c.now().UnixNano(), 0) // the window's clock
	w := c.win
	st.width = w.width
	// The format holds no time before 1970: a window that reaches before
	// it is saved from bucket 0 (what is before stays in the total), one
	// wholly before it as bucket 0 alone.
	current := w.prepared - 1
	st.abs = max(current, 0)
	recs := append(c.routes.list(), c.manual)
	// The live slices, all recorders together, for the window's figures;
	// each route's since-start histogram.
	live := make([]liveBucket, w.n)
	var hires []byte
	var h histCopy
	for i, r := range recs {
		h.reset()
		h.merge(&r.retired)
		if r.restored != nil && r.restored.hires != nil {
			h.merge(r.restored.hires)
		}
		for j := range r.slices {
			sl := &r.slices[j]
			k, m := loadSlice(sl)
			live[j].addSlice(sl, &k, m, &h)
		}
		if i < len(recs)-1 {
			hires = appendHires(hires, &h)
		}
	}
	var inWindow uint64
	var figures []winBucket
	for a := max(current-int64(len(w.buckets))+1, 0); a <= st.abs; a++ {
		var f winBucket
		if a <= current {
			f = w.figuresWith(a, live, nil)
		}
		st.window = append(st.window, f.requests)
		figures = append(figures, f)
		inWindow += f.requests
	}
	st.figures = appendFigures(nil, figures)
	st.down = c.downRanges(current - int64(len(w.buckets)) + 1)
	st.hires = binary.AppendUvarint(nil, uint64(len(recs)-1))
	st.hires = append(st.hires, hires...)

	var total uint64
	var r routeState
	for _, s := range recs[:len(recs)-1] {
		r.name, r.sumNs, r.bytes = s.name, s.sumNs(), s.bytes.Load()
		r.hist = slices.Grow(r.hist[:0], len(s.hist))[:len(s.hist)]
		s.loadHist(r.hist)
		r.codes = r.codes[:0]
		codes := map[[2]int]uint64{}
		s.forEachCode(func(method, code int, n uint64) {
			codes[[2]int{method, code}] += n
		})
		if rs := s.restored; rs != nil {
			rs.forEachCode(func(method, code int, n uint64) {
				codes[[2]int{method, code}] += n
			})
			for i, n := range rs.hist {
				r.hist[i] += n
			}
			r.sumNs += rs.sumNs
			r.bytes += rs.bytes
		}
		for k, n := range codes {
			r.codes = append(r.codes, codeCount{k[0], k[1], n})
		}
		slices.SortFunc(r.codes, func(a, b codeCount) int { return cmp.Or(a.method-b.method, a.code-b.code) })
		total += sum(r.hist)
		st.addRoute(&r)
	}
	total += c.manualTotal()
	st.retired = total - min(total, inWindow)
	return st
}

// manualTotal returns the IncrementRequests since start. Called with c.mu
// held.
func (c *Collector) manualTotal() uint64 {
	m := c.manual
	t := m.retiredRequests
	if m.restored != nil {
		t += m.restored.requests
	}
	for i := range m.slices {
		t += m.slices[i].requests.Load()
	}
	return t
}

// Save writes the collector's cumulative state to w: the counts by route,
// status and method, histograms (classic and high-resolution), bytes, the
// request window with its per-bucket figures and no-data ranges, and when
// counting started. It reads atomics and, under the refresh goroutine's
// lock, its totals; it never blocks the request path. Recent figures and sessions are not saved:
// they belong to the process (session hashes are keyed per process). Safe
// for concurrent use.
func (c *Collector) Save(w io.Writer) error {
	if _, err := w.Write(c.capture().encode()); err != nil {
		return fmt.Errorf("vitals: saving state: %w", err)
	}
	return nil
}

// Restore reads a state written by Save and adds it to the collector's
// since-start figures (Snapshot, JSON, page), not to the Prometheus
// counters, which start from zero in each process; call it before serving.
// It reads state formats 1, 2 and 3. The request window is realigned by
// its clock: buckets that fell out of the window while the process was
// down are dropped from the window (their requests stay in the total), the
// downtime shows as buckets without data (Window.NoDataAt), as do the
// earlier downtimes the state carries (format 3), and a state saved in the
// future (a clock that moved back) is read as if saved now. Histogram counts saved with other
// bounds move to the bucket that holds their old upper bound. Restored
// routes are capped apart from the routes this process serves (see
// Options.MaxRoutes), and each costs the counters of a live route plus 16
// bytes per (method, code) pair with a non-zero count. A state that
// cannot be decoded changes nothing and returns an error. Restore reads at
// most 64 MiB and, beyond holding what it read, allocates a bounded amount
// whatever the state holds: every number is range-checked before use.
func (c *Collector) Restore(r io.Reader) error {
	var size int64 // a hint, when r knows how much it holds
	switch r := r.(type) {
	case interface{ Len() int }: // bytes.Reader, bytes.Buffer, strings.Reader
		size = int64(r.Len())
	case interface{ Stat() (fs.FileInfo, error) }: // os.File
		if fi, err := r.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
	}
	if size > maxStateSize {
		return fmt.Errorf("vitals: state: larger than %d bytes (%d)", maxStateSize, size)
	}
	data, err := readLimited(r, size)
	if err != nil {
		return fmt.Errorf("vitals: reading state: %w", err)
	}
	st, err := decodeState(data)
	if err != nil {
		return fmt.Errorf("vitals: state: %w", err)
	}
	c.apply(st)
	return nil
}
