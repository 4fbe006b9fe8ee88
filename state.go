package vitals

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"slices"
	"time"
	"unicode/utf8"
)

// The state format. A file is
//
//	magic    8 bytes  "VITALS\x00S"
//	version  uint32   little endian; stateVersion
//	length   uint64   little endian; bytes of payload
//	payload  length bytes
//	checksum uint32   little endian; CRC-32C of everything before it
//
// The payload is a sequence of unsigned varints (uv) and strings (a uv
// length, then the bytes):
//
//	savedAt firstStart (unix nanos, as uv of the int64 bits)
//	width abs retired n count×n          request window, oldest bucket first
//	ringNext n sample×n                  duration ring, oldest sample first
//	                                     (written empty since format 2)
//	n bound×n                            histogram bounds in nanoseconds
//	n route×n                            per route:
//	  name n (method code count)×n       counts by method index and code
//	  m hist×m sumNs bytes
//
// Format 2 adds, after the routes:
//
//	n (errors p50 p90 p99 heap goroutines)×n   per window bucket, aligned
//	                                           with the counts; durations
//	                                           in nanoseconds
//	n (zero over m (gap count)×m)×n            per route, in route order: the
//	                                           since-start high-resolution
//	                                           histogram, its non-empty
//	                                           buckets by position (index
//	                                           minus histMinIndex), each
//	                                           after a gap from the last
//
// Format 1 files still load: their routes have no high-resolution
// histogram and their window buckets no figures beyond the counts.
//
// The checksum protects against rot, not against a crafted file, so the
// decoder trusts nothing: every number is checked against its range before
// it is converted or used (limits below), and every length against both
// its limit and the bytes that remain.
//
// Memory is bounded by construction, not by the input's size: the window,
// the ring and the bounds are decoded into slices whose lengths are capped
// by constants (at most about 830 KB together), and the routes, which make
// up the bulk of a large file, are only checked in place and then read one
// at a time into the same scratch space when they are applied.
const (
	stateMagic   = "VITALS\x00S"
	stateVersion = 2
	stateHeader  = 8 + 4 + 8
	// maxStateSize bounds what Open and Restore read: far above any real
	// state (a full default collector saves about 40 KB).
	maxStateSize = 64 << 20

	// Limits of the decoded numbers.
	maxStateTime   = 1 << 62 // unix nanos (year 2116); times are not negative
	maxStateWidth  = 1 << 62 // bucket width in nanoseconds
	maxStateWindow = 100000  // window buckets, as Options.WindowBuckets
	maxStateBounds = 100     // histogram bounds, as Options.Buckets
	maxStateBound  = 1e18    // a bound in nanoseconds (Options.Buckets: 1e9 s)
	maxStateRoutes = 10000 + 2
	maxStateCodes  = numMethods * 900 // distinct (method, code) pairs
	maxStateCount  = 1 << 62          // a sum of counts: far from wrapping
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// state is the decoded content of a state file.
type state struct {
	savedAt, firstStart int64
	width, abs          int64
	retired             uint64
	window              []uint64
	ringNext            uint64
	ring                []int64
	bounds              []int64
	// nroutes routes encoded back to back as the format says (appendRoute);
	// decodeState has checked each. Read them with eachRoute.
	nroutes int
	routes  []byte
	// Format 2: the window's figures (figures) and the routes'
	// high-resolution histograms (hires), encoded as the format says and
	// checked by decodeState; read them with eachFigure and eachHires.
	// Empty for format 1.
	figures, hires []byte
}

// appendFigures appends the figures of the window's buckets.
func appendFigures(b []byte, fs []winBucket) []byte {
	p := binary.AppendUvarint
	b = p(b, uint64(len(fs)))
	for _, f := range fs {
		b = p(b, f.errors)
		b = p(b, uint64(f.p50))
		b = p(b, uint64(f.p90))
		b = p(b, uint64(f.p99))
		b = p(b, f.heap)
		b = p(b, uint64(f.goroutines))
	}
	return b
}

// appendHires appends one high-resolution histogram.
func appendHires(b []byte, h *histCopy) []byte {
	p := binary.AppendUvarint
	b = p(b, h.zero)
	b = p(b, h.over)
	n := 0
	h.forEachBucket(func(int32, uint64) { n++ })
	b = p(b, uint64(n))
	last := -1
	h.forEachBucket(func(i int32, c uint64) {
		pos := int(i) - histMinIndex
		b = p(b, uint64(pos-last))
		b = p(b, c)
		last = pos
	})
	return b
}

// figure reads the figures of one window bucket.
func (d *decoder) figure(f *winBucket) {
	f.errors = d.num("bucket errors", 0, maxStateCount)
	f.p50 = time.Duration(d.num("bucket p50", 0, math.MaxInt64))
	f.p90 = time.Duration(d.num("bucket p90", 0, math.MaxInt64))
	f.p99 = time.Duration(d.num("bucket p99", 0, math.MaxInt64))
	f.heap = d.uv()
	f.goroutines = int(d.num("bucket goroutines", 0, math.MaxInt32))
}

// hist reads one high-resolution histogram into h (reset first), or with
// h nil only checks it.
func (d *decoder) hist(h *histCopy) {
	zero := d.num("zero bucket", 0, maxStateCount)
	over := d.num("overflow bucket", 0, maxStateCount)
	n := d.count("histogram buckets", 0, histOctaves*histSub)
	total, ok := zero+over, true
	pos := -1
	for range n {
		pos += int(d.num("bucket gap", 1, histOctaves*histSub))
		c := d.num("bucket count", 1, maxStateCount)
		if d.err == nil && pos >= histOctaves*histSub {
			d.fail("bucket position %d out of range", pos)
		}
		if d.err != nil {
			return
		}
		if total += c; total < c || total > maxStateCount {
			ok = false
		}
		if h != nil {
			h.add(pos, c)
		}
	}
	if !ok {
		d.fail("histogram counts add up to more than %d", uint64(maxStateCount))
	}
	if h != nil {
		h.zero += zero
		h.over += over
	}
}

// eachFigure calls f with the figures of each window bucket, aligned with
// st.window. Format 1 has none.
func (st *state) eachFigure(f func(i int, b *winBucket)) {
	if len(st.figures) == 0 {
		return
	}
	d := decoder{b: st.figures}
	n := d.count("window figures", 0, maxStateWindow)
	var b winBucket
	for i := range n {
		d.figure(&b)
		if d.err != nil {
			return
		}
		f(i, &b)
	}
}

// eachHires calls f with the high-resolution histogram of each route, in
// route order; h is reused from one call to the next. Format 1 has none.
func (st *state) eachHires(h *histCopy, f func(i int, h *histCopy)) {
	if len(st.hires) == 0 {
		return
	}
	d := decoder{b: st.hires}
	n := d.count("route histograms", 0, maxStateRoutes)
	for i := range n {
		h.reset()
		d.hist(h)
		if d.err != nil {
			return
		}
		f(i, h)
	}
}

type routeState struct {
	name         string
	codes        []codeCount
	hist         []uint64
	sumNs, bytes uint64
}

type codeCount struct {
	method, code int
	n            uint64
}

// errBadState wraps every reason a state cannot be decoded.
var errBadState = errors.New("bad state")

// errNewerState wraps the error for a state written by a newer version of
// vitals: not damaged, only unreadable here (after a rollback, say).
var errNewerState = errors.New("written by a newer version of vitals")

func badState(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadState, fmt.Sprintf(format, args...))
}

// addRoute appends r to the state's routes.
func (st *state) addRoute(r *routeState) {
	st.routes = appendRoute(st.routes, r)
	st.nroutes++
}

func appendRoute(b []byte, r *routeState) []byte {
	p := binary.AppendUvarint
	b = p(b, uint64(len(r.name)))
	b = append(b, r.name...)
	b = p(b, uint64(len(r.codes)))
	for _, cc := range r.codes {
		b = p(b, uint64(cc.method))
		b = p(b, uint64(cc.code))
		b = p(b, cc.n)
	}
	b = p(b, uint64(len(r.hist)))
	for _, n := range r.hist {
		b = p(b, n)
	}
	b = p(b, r.sumNs)
	return p(b, r.bytes)
}

// eachRoute calls f with each route in turn. The routeState and its slices
// are reused from one call to the next: f must not keep them.
func (st *state) eachRoute(f func(*routeState)) error {
	d := decoder{b: st.routes}
	var r routeState
	for range st.nroutes {
		d.route(&r, len(st.bounds))
		if d.err != nil {
			return d.err
		}
		f(&r)
	}
	return nil
}

func (st *state) encode() []byte {
	b := make([]byte, stateHeader, 4096+len(st.routes))
	copy(b, stateMagic)
	version := uint32(stateVersion)
	if len(st.figures) == 0 && len(st.hires) == 0 {
		version = 1 // nothing beyond format 1
	}
	binary.LittleEndian.PutUint32(b[8:], version)
	p := binary.AppendUvarint
	b = p(b, uint64(st.savedAt))
	b = p(b, uint64(st.firstStart))
	b = p(b, uint64(st.width))
	b = p(b, uint64(st.abs))
	b = p(b, st.retired)
	b = p(b, uint64(len(st.window)))
	for _, n := range st.window {
		b = p(b, n)
	}
	b = p(b, st.ringNext)
	b = p(b, uint64(len(st.ring)))
	for _, d := range st.ring {
		b = p(b, uint64(d))
	}
	b = p(b, uint64(len(st.bounds)))
	for _, v := range st.bounds {
		b = p(b, uint64(v))
	}
	b = p(b, uint64(st.nroutes))
	b = append(b, st.routes...)
	b = append(b, st.figures...)
	b = append(b, st.hires...)
	binary.LittleEndian.PutUint64(b[12:], uint64(len(b)-stateHeader))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// decodeState parses and validates a whole state. It never panics, and
// what it allocates is bounded by constants whatever data holds (see the
// format's comment); the state's routes alias data.
func decodeState(data []byte) (*state, error) {
	switch {
	case len(data) == 0:
		return nil, badState("empty")
	case len(data) < len(stateMagic) || !bytes.Equal(data[:len(stateMagic)], []byte(stateMagic)):
		return nil, badState("not a vitals state file")
	case len(data) < stateHeader+4:
		return nil, badState("truncated header (%d bytes)", len(data))
	}
	version := binary.LittleEndian.Uint32(data[8:])
	if v := version; v != stateVersion && v != 1 {
		if v > stateVersion {
			return nil, fmt.Errorf("%w: %w (format %d; this one reads %d)", errBadState, errNewerState, v, stateVersion)
		}
		return nil, badState("unknown format version %d", v)
	}
	length := binary.LittleEndian.Uint64(data[12:])
	if have := uint64(len(data) - stateHeader - 4); length != have {
		if length > have {
			return nil, badState("truncated: payload of %d bytes announced, %d present", length, have)
		}
		return nil, badState("%d unexpected bytes after the payload", have-length)
	}
	end := len(data) - 4
	if want, got := binary.LittleEndian.Uint32(data[end:]), crc32.Checksum(data[:end], crcTable); want != got {
		return nil, badState("checksum mismatch (stored %08x, computed %08x)", want, got)
	}
	d := decoder{b: data[stateHeader:end]}
	st := &state{
		savedAt:    int64(d.num("save time", 0, maxStateTime)),
		firstStart: int64(d.num("start time", 0, maxStateTime)),
		width:      int64(d.num("bucket width", uint64(time.Millisecond), maxStateWidth)),
	}
	// The window's buckets, oldest first, end at bucket abs and start at or
	// after bucket 0, and their times fit in maxStateTime: no arithmetic
	// on them can overflow.
	st.abs = int64(d.num("window position", 0, uint64(maxStateTime/max(st.width, 1)-1)))
	st.retired = d.uv()
	st.window = d.uvs("window", 1, int(min(maxStateWindow, st.abs+1)))
	if d.err == nil {
		total, ok := checkedSum(st.retired, st.window)
		if !ok || total > maxStateCount {
			d.fail("request window counts add up to more than %d", uint64(maxStateCount))
		}
	}
	st.ringNext = d.uv()
	if n := d.count("duration ring", 0, ringSize); d.err == nil {
		if uint64(n) != min(st.ringNext, ringSize) {
			d.fail("duration ring holds %d samples for position %d", n, st.ringNext)
		}
		st.ring = make([]int64, 0, n)
		for range n {
			st.ring = append(st.ring, int64(d.num("duration", 0, math.MaxInt64)))
		}
	}
	if n := d.count("histogram bounds", 1, maxStateBounds); d.err == nil {
		st.bounds = make([]int64, 0, n)
		for range n {
			v := int64(d.num("histogram bound", 1, maxStateBound))
			if d.err == nil && len(st.bounds) > 0 && v <= st.bounds[len(st.bounds)-1] {
				d.fail("histogram bounds are not increasing")
			}
			st.bounds = append(st.bounds, v)
		}
	}
	st.nroutes = d.count("routes", 0, maxStateRoutes)
	st.routes = d.b
	var r routeState
	var requests uint64 // the routes' total, which apply adds to started
	for range st.nroutes {
		d.route(&r, len(st.bounds))
		if d.err != nil {
			break
		}
		n, ok := checkedSum(0, r.hist)
		if requests += n; !ok || requests > maxStateCount {
			d.fail("route histograms add up to more than %d", uint64(maxStateCount))
		}
	}
	st.routes = st.routes[:len(st.routes)-len(d.b)]
	if version >= 2 && d.err == nil {
		// Checked in place, like the routes; apply reads them again.
		rest := d.b
		if n := d.count("window figures", 0, maxStateWindow); d.err == nil && n != len(st.window) {
			d.fail("%d window figures for %d buckets", n, len(st.window))
		} else {
			var f winBucket
			for range n {
				d.figure(&f)
			}
		}
		st.figures = rest[:len(rest)-len(d.b)]
		rest = d.b
		if n := d.count("route histograms", 0, maxStateRoutes); d.err == nil && n != st.nroutes {
			d.fail("%d route histograms for %d routes", n, st.nroutes)
		} else {
			for range n {
				d.hist(nil)
			}
		}
		st.hires = rest[:len(rest)-len(d.b)]
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, badState("%d bytes left over in the payload", len(d.b))
	}
	return st, nil
}

// checkedSum returns base plus the sum of v, and false if it wraps.
func checkedSum(base uint64, v []uint64) (uint64, bool) {
	s := base
	for _, n := range v {
		s += n
		if s < n {
			return 0, false
		}
	}
	return s, true
}

// decoder reads uvarints and strings, remembering the first error; after
// an error every read returns zero.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = badState(format, args...)
	}
	d.b = nil
}

func (d *decoder) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("malformed number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// num reads a number that must lie in lo..hi; what names it in the error.
func (d *decoder) num(what string, lo, hi uint64) uint64 {
	v := d.uv()
	if d.err == nil && (v < lo || v > hi) {
		d.fail("%s %d is outside %d..%d", what, v, lo, hi)
		return 0
	}
	return v
}

// count reads a length in lo..hi that is also at most the bytes left
// (every element takes at least one byte), so nothing is allocated for
// elements that are not there.
func (d *decoder) count(what string, lo, hi int) int {
	n := d.num(what+" length", uint64(lo), uint64(hi))
	if d.err == nil && n > uint64(len(d.b)) {
		d.fail("%s: %d elements announced, %d bytes left", what, n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) uvs(what string, lo, hi int) []uint64 {
	n := d.count(what, lo, hi)
	out := make([]uint64, 0, n)
	for range n {
		out = append(out, d.uv())
	}
	return out
}

// str reads a string of valid UTF-8 of at most limit bytes.
func (d *decoder) str(what string, limit int) string {
	n := d.count(what, 0, limit)
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	if !utf8.ValidString(s) {
		d.fail("%s is not valid UTF-8", what)
	}
	return s
}

// route reads one route into r, reusing r's slices, and checks it against
// a state with nbounds histogram bounds.
func (d *decoder) route(r *routeState, nbounds int) {
	r.name = d.str("route name", maxRouteLen)
	n := d.count("route codes", 0, maxStateCodes)
	r.codes = r.codes[:0]
	for range n {
		cc := codeCount{
			method: int(d.num("method", 0, uint64(numMethods-1))),
			code:   int(d.num("status code", 100, 999)),
			n:      d.uv(),
		}
		if d.err != nil {
			return
		}
		r.codes = append(r.codes, cc)
	}
	n = d.count("route histogram", nbounds+1, nbounds+1)
	r.hist = r.hist[:0]
	for range n {
		r.hist = append(r.hist, d.uv())
	}
	r.sumNs, r.bytes = d.uv(), d.uv()
	if d.err != nil {
		d.err = fmt.Errorf("route %q: %w", r.name, d.err)
	}
}

// capture reads the collector's state under c.mu (the retired and
// restored figures are the refresh goroutine's), the counters with atomic
// loads.
func (c *Collector) capture() *state {
	st := &state{
		savedAt:    c.opts.Now().UnixNano(),
		firstStart: c.firstStart.Load(),
		bounds:     slices.Clone(c.bounds),
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.win
	st.width = w.width
	current := w.prepared - 1
	st.abs = current
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
	for a := current - int64(len(w.buckets)) + 1; a <= current; a++ {
		f := w.figuresWith(a, live, nil)
		st.window = append(st.window, f.requests)
		figures = append(figures, f)
		inWindow += f.requests
	}
	st.figures = appendFigures(nil, figures)
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
// request window with its per-bucket figures, and when counting started. It
// reads atomics and, under the refresh goroutine's lock, its totals; it
// never blocks the request path. Recent figures and sessions are not saved:
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
// It reads state formats 1 and 2. The request window is realigned by wall
// clock: buckets that fell out of the window while the process was down are
// dropped from the window (their requests stay in the total), the downtime
// shows as empty buckets, and a state saved in the future (a clock that
// moved back) is read as if saved now. Histogram counts saved with other
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
