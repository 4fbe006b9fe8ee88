package vitals

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
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
//	n bound×n                            histogram bounds in nanoseconds
//	n route×n                            per route:
//	  name n (method code count)×n       counts by method index and code
//	  m hist×m sumNs bytes
//
// Every length is checked against the bytes that remain before anything is
// allocated, so a hostile length cannot make the decoder allocate more than
// the input's size.
const (
	stateMagic   = "VITALS\x00S"
	stateVersion = 1
	stateHeader  = 8 + 4 + 8
	// maxStateSize bounds what Restore reads: far above any real state (a
	// full default collector saves about 40 KB).
	maxStateSize = 64 << 20
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
	routes              []routeState
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

func badState(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadState, fmt.Sprintf(format, args...))
}

func (st *state) encode() []byte {
	b := make([]byte, stateHeader, 4096)
	copy(b, stateMagic)
	binary.LittleEndian.PutUint32(b[8:], stateVersion)
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
	b = p(b, uint64(len(st.routes)))
	for _, r := range st.routes {
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
		b = p(b, r.bytes)
	}
	binary.LittleEndian.PutUint64(b[12:], uint64(len(b)-stateHeader))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// decodeState parses and validates a whole state. It never panics and
// allocates at most in proportion to len(data).
func decodeState(data []byte) (*state, error) {
	switch {
	case len(data) == 0:
		return nil, badState("empty")
	case len(data) < len(stateMagic) || !bytes.Equal(data[:len(stateMagic)], []byte(stateMagic)):
		return nil, badState("not a vitals state file")
	case len(data) < stateHeader+4:
		return nil, badState("truncated header (%d bytes)", len(data))
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != stateVersion {
		if v > stateVersion {
			return nil, badState("written by a newer version of vitals (format %d; this one reads %d)", v, stateVersion)
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
		savedAt:    int64(d.uv()),
		firstStart: int64(d.uv()),
		width:      int64(d.uv()),
		abs:        int64(d.uv()),
		retired:    d.uv(),
	}
	st.window = d.uvs(100000)
	st.ringNext = d.uv()
	for _, v := range d.uvs(ringSize) {
		st.ring = append(st.ring, int64(v))
	}
	for _, v := range d.uvs(100) {
		st.bounds = append(st.bounds, int64(v))
	}
	nr := d.count(10000 + 2)
	for range nr {
		var r routeState
		r.name = d.str(maxRouteLen)
		nc := d.count(numMethods * 900)
		for range nc {
			cc := codeCount{method: int(d.uv()), code: int(d.uv()), n: d.uv()}
			if d.err == nil && (cc.method >= numMethods || cc.code < 100 || cc.code > 999) {
				d.fail("route %q: method %d, code %d out of range", r.name, cc.method, cc.code)
			}
			r.codes = append(r.codes, cc)
		}
		r.hist = d.uvs(101)
		r.sumNs, r.bytes = d.uv(), d.uv()
		if d.err == nil && len(r.hist) != len(st.bounds)+1 {
			d.fail("route %q has %d histogram buckets for %d bounds", r.name, len(r.hist), len(st.bounds))
		}
		st.routes = append(st.routes, r)
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, badState("%d bytes left over in the payload", len(d.b))
	}
	switch {
	case st.width < int64(time.Millisecond):
		return nil, badState("bucket width %d ns", st.width)
	case len(st.window) == 0:
		return nil, badState("empty request window")
	case !slices.IsSorted(st.bounds) || len(st.bounds) == 0 || st.bounds[0] <= 0:
		return nil, badState("histogram bounds are not positive and increasing")
	}
	return st, nil
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

// count reads a length: at most limit, and at most the bytes left (every
// element takes at least one byte), so nothing is allocated for elements
// that are not there.
func (d *decoder) count(limit int) int {
	n := d.uv()
	if d.err == nil && (n > uint64(limit) || n > uint64(len(d.b))) {
		d.fail("length %d out of range", n)
		return 0
	}
	return int(n)
}

func (d *decoder) uvs(limit int) []uint64 {
	n := d.count(limit)
	out := make([]uint64, 0, n)
	for range n {
		out = append(out, d.uv())
	}
	return out
}

func (d *decoder) str(limit int) string {
	n := d.count(limit)
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	if !utf8.ValidString(s) {
		d.fail("route name is not valid UTF-8")
	}
	return s
}

// capture reads the collector's state under c.mu (the retired and
// restored figures are the refresh goroutine's), the counters with atomic
// loads.
func (c *Collector) capture() *state {
	st := &state{
		savedAt:    c.opts.Now().UnixNano(),
		firstStart: c.firstStart.Load(),
		bounds:     slices.Clone(c.bounds),
		ringNext:   c.ring.next.Load(),
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.win
	st.width = w.width
	current := w.prepared - 1
	st.abs = current
	recs := append(c.routes.list(), c.manual)
	var inWindow uint64
	for a := current - int64(len(w.buckets)) + 1; a <= current; a++ {
		n := w.figures(a).requests
		if a > w.prepared-int64(w.n) {
			for _, r := range recs {
				sl := &r.slices[w.slotOf(a)]
				n += sl.requests.Load()
				for i := range sl.classes {
					n += sl.classes[i].Load()
				}
			}
		}
		st.window = append(st.window, n)
		inWindow += n
	}

	n := min(st.ringNext, ringSize)
	st.ring = make([]int64, n)
	for i := range n { // oldest first
		st.ring[i] = c.ring.slots[slot(st.ringNext-n+i)].Load()
	}
	var total uint64
	for _, s := range recs[:len(recs)-1] {
		r := routeState{name: s.name, sumNs: s.sumNs.Load(), bytes: s.bytes.Load(), hist: make([]uint64, len(s.hist))}
		s.loadHist(r.hist)
		codes := map[[2]int]uint64{}
		s.forEachCode(func(method, code int, n uint64) {
			codes[[2]int{method, code}] += n
		})
		if rs := s.restored; rs != nil {
			for k, n := range rs.codes {
				codes[k] += n
			}
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
		st.routes = append(st.routes, r)
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
// status and method, histograms, bytes, the request window and the duration
// ring, and when counting started. It reads atomics only and never blocks
// the request path. Sessions are not saved: their hashes are keyed per
// process. Safe for concurrent use.
func (c *Collector) Save(w io.Writer) error {
	if _, err := w.Write(c.capture().encode()); err != nil {
		return fmt.Errorf("vitals: saving state: %w", err)
	}
	return nil
}

// Restore reads a state written by Save and adds it to the collector's
// counts; call it before serving. The request window is realigned by wall
// clock: buckets that fell out of the window while the process was down are
// dropped from the window (their requests stay in the total), the downtime
// shows as empty buckets, and a state saved in the future (a clock that
// moved back) is read as if saved now. Histogram counts saved with other
// bounds move to the bucket that holds their old upper bound. A state that
// cannot be decoded changes nothing and returns an error.
func (c *Collector) Restore(r io.Reader) error {
	data, err := io.ReadAll(io.LimitReader(r, maxStateSize+1))
	if err != nil {
		return fmt.Errorf("vitals: reading state: %w", err)
	}
	if len(data) > maxStateSize {
		return fmt.Errorf("vitals: state: larger than %d bytes", maxStateSize)
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

	for _, d := range st.ring {
		c.ring.record(time.Duration(d))
	}
	var routed uint64
	sameBounds := slices.Equal(st.bounds, c.bounds)
	for _, r := range st.routes {
		rs := restoredOf(c.routes.get(r.name), len(c.bounds))
		for _, cc := range r.codes {
			rs.codes[[2]int{cc.method, cc.code}] += cc.n
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
	}
	// What the window counted beyond the routes' requests came from
	// IncrementRequests.
	if total := st.retired + inWindow; total > routed {
		restoredOf(c.manual, len(c.bounds)).requests += total - routed
	}
}

// restoredOf returns the restored figures of s, creating them. Called with
// c.mu held.
func restoredOf(s *stats, bounds int) *restoredStats {
	if s.restored == nil {
		s.restored = &restoredStats{codes: map[[2]int]uint64{}, hist: make([]uint64, bounds+1)}
	}
	return s.restored
}

func sum(v []uint64) (s uint64) {
	for _, n := range v {
		s += n
	}
	return s
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
