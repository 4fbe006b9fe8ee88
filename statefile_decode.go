package vitals

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"time"
	"unicode/utf8"
)

// The decoder of the state format (statefile.go). A state file is
// untrusted input: decodeState checks every number against its range and
// every length against what remains before using it, and keeps the routes,
// window figures and histograms in place, checked; eachRoute, eachFigure
// and eachHires read them back one at a time when they are applied.

// decodeState parses and validates a whole state. It never panics, and
// what it allocates is bounded by constants whatever data holds (see the
// format's comment); the state's routes, figures and high-resolution
// histograms alias data.
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
	if v := version; v < 1 || v > stateVersion {
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
	// The routes' requests, all routes together: apply sums them, and the
	// snapshot adds them to this process's counts, so they stay far from
	// wrapping.
	var requests uint64
	for range st.nroutes {
		d.readRoute(&r, len(st.bounds), false, false)
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
	if version >= 3 && d.err == nil {
		n := d.count("no-data ranges", 0, maxStateDown)
		if d.err == nil {
			st.down = make([][2]int64, 0, n)
		}
		for range n {
			from := int64(d.num("no-data start", 0, maxStateTime))
			to := int64(d.num("no-data end", 0, maxStateTime))
			if d.err != nil {
				break
			}
			if from >= to || len(st.down) > 0 && from <= st.down[len(st.down)-1][1] {
				d.fail("no-data ranges are not in order and apart")
				break
			}
			st.down = append(st.down, [2]int64{from, to})
		}
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

// fail records the error of format and args unless one is recorded, and
// drops what is left to read.
func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = badState(format, args...)
	}
	d.b = nil
}

// uv reads an unsigned varint.
func (d *decoder) uv() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) > 0 && d.b[0] < 0x80 { // one byte: most numbers
		v := uint64(d.b[0])
		d.b = d.b[1:]
		return v
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
	return d.numOf(what, "", lo, hi)
}

// numOf is num for a number named what and then suffix: joined only for
// the error, so that reading allocates nothing.
func (d *decoder) numOf(what, suffix string, lo, hi uint64) uint64 {
	v := d.uv()
	if d.err == nil && (v < lo || v > hi) {
		d.fail("%s%s %d is outside %d..%d", what, suffix, v, lo, hi)
		return 0
	}
	return v
}

// count reads a length in lo..hi that is also at most the bytes left
// (every element takes at least one byte), so nothing is allocated for
// elements that are not there.
func (d *decoder) count(what string, lo, hi int) int {
	n := d.numOf(what, " length", uint64(lo), uint64(hi))
	if d.err == nil && n > uint64(len(d.b)) {
		d.fail("%s: %d elements announced, %d bytes left", what, n, len(d.b))
		return 0
	}
	return int(n)
}

// uvs reads a list of lo..hi unsigned varints, as count bounds it.
func (d *decoder) uvs(what string, lo, hi int) []uint64 {
	n := d.count(what, lo, hi)
	out := make([]uint64, 0, n)
	for range n {
		out = append(out, d.uv())
	}
	return out
}

// bytes reads a string of valid UTF-8 of at most limit bytes, in place:
// the result aliases the input.
func (d *decoder) bytes(what string, limit int) []byte {
	n := d.count(what, 0, limit)
	if d.err != nil {
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	if !utf8.Valid(s) {
		d.fail("%s is not valid UTF-8", what)
		return nil
	}
	return s
}

// route reads one route into r, reusing r's slices, and checks it against
// a state with nbounds histogram bounds.
func (d *decoder) route(r *routeState, nbounds int) {
	d.readRoute(r, nbounds, true, true)
}

// readRoute is route; without keepName or keepCodes it checks the name or
// the codes in place and leaves r.name or r.codes empty, so that checking
// a state allocates nothing per route, however large its names and codes.
func (d *decoder) readRoute(r *routeState, nbounds int, keepName, keepCodes bool) {
	name := d.bytes("route name", maxRouteLen)
	r.name = ""
	if keepName {
		r.name = string(name)
	}
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
		if keepCodes {
			r.codes = append(r.codes, cc)
		}
	}
	n = d.count("route histogram", nbounds+1, nbounds+1)
	r.hist = r.hist[:0]
	for range n {
		r.hist = append(r.hist, d.uv())
	}
	r.sumNs, r.bytes = d.uv(), d.uv()
	if d.err != nil {
		d.err = fmt.Errorf("route %q: %w", name, d.err)
	}
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

// eachRoute calls f with each route in turn and where it starts in
// st.routes (for routeAt). The routeState and its slices are reused from
// one call to the next: f must not keep them.
func (st *state) eachRoute(f func(off int, r *routeState)) error {
	d := decoder{b: st.routes}
	var r routeState
	for range st.nroutes {
		off := len(st.routes) - len(d.b)
		d.route(&r, len(st.bounds))
		if d.err != nil {
			return d.err
		}
		f(off, &r)
	}
	return nil
}

// codesAt reads into r the codes of the route that starts at off in
// st.routes (as eachRoute reports it), leaving its name empty.
func (st *state) codesAt(off int, r *routeState) error {
	d := decoder{b: st.routes[off:]}
	d.readRoute(r, len(st.bounds), false, true)
	return d.err
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
