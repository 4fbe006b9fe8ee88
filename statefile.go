package vitals

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// The state file's format: its layout and limits, the decoded state's
// types, and the encoder. The decoder is in statefile_decode.go.

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
// Format 3 adds, after those:
//
//	n (from to)×n                        the no-data ranges (unix nanos,
//	                                     from < to, in order, apart): when
//	                                     no process counted, from a state's
//	                                     last save to the next start, for
//	                                     as long as the window shows them
//
// Format 1 and 2 files still load: their routes have no high-resolution
// histogram and their window buckets no figures beyond the counts (format
// 1), and they carry no no-data ranges but the one their save time opens.
//
// The checksum protects against rot, not against a crafted file, so the
// decoder trusts nothing: every number is checked against its range before
// it is converted or used (limits below), and every length against both
// its limit and the bytes that remain.
//
// Memory is bounded by construction, not by the input's size: the window,
// the ring and the bounds are decoded into slices whose lengths are capped
// by constants (with the no-data ranges, at most about 850 KB, 0.82 MiB,
// together), and the routes,
// which make up the bulk of a large file, are only checked in place,
// without a copy of their names or codes (TestStateDecodeMemoryLimit), and
// then read one at a time into the same scratch space when they are
// applied.
const (
	stateMagic   = "VITALS\x00S"
	stateVersion = 3
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
	// maxStateRoutes is the most routes a collector can save: MaxRoutes
	// routes it served plus MaxRoutes restored ones (both capped at
	// maxMaxRoutes, the largest MaxRoutes) plus RouteUnmatched and
	// RouteOther. What the encoder can write, the decoder reads.
	maxStateRoutes = 2*maxMaxRoutes + 2
	// maxMaxRoutes is the largest Options.MaxRoutes (TestMaxStateRoutes
	// holds Options to it).
	maxMaxRoutes  = 10000
	maxStateCodes = numMethods * 900 // distinct (method, code) pairs
	maxStateCount = 1 << 62          // a sum of counts: far from wrapping
	// maxStateDown is the most no-data ranges a state carries: the newest
	// are kept (each restart within the window opens one).
	maxStateDown = 1000
	// ringSize is the most request durations the duration ring of a
	// format 1 file holds; format 2 writes the ring empty.
	ringSize = 4096
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
	// Format 3: the no-data ranges (from, to], in order and apart, that
	// the state's process carried, its own downtime included. Empty for
	// formats 1 and 2.
	down [][2]int64
}

// routeState is one route of a state: its counts by (method, code), its
// classic histogram (per bucket, with the state's bounds; the last is
// +Inf), the sum of its durations in nanoseconds and its bytes written.
type routeState struct {
	name         string
	codes        []codeCount
	hist         []uint64
	sumNs, bytes uint64
}

// codeCount counts the responses of one (method index, status code) pair.
type codeCount struct {
	method, code int
	n            uint64
}

// errBadState wraps every reason a state cannot be decoded.
var errBadState = errors.New("bad state")

// errNewerState wraps the error for a state written by a newer version of
// vitals: not damaged, only unreadable here (after a rollback, say).
var errNewerState = errors.New("written by a newer version of vitals")

// badState returns a reason a state cannot be decoded, wrapping
// errBadState.
func badState(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadState, fmt.Sprintf(format, args...))
}

// encode returns the state file of st: header, payload and checksum. It
// writes format 1 when st holds neither window figures nor
// high-resolution histograms nor no-data ranges, which format 1 cannot
// hold either, and format 3 otherwise.
func (st *state) encode() []byte {
	b := make([]byte, stateHeader, 4096+len(st.routes))
	copy(b, stateMagic)
	version := uint32(stateVersion)
	if len(st.figures) == 0 && len(st.hires) == 0 && len(st.down) == 0 {
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
	if version >= 3 {
		b = p(b, uint64(len(st.down)))
		for _, r := range st.down {
			b = p(b, uint64(r[0]))
			b = p(b, uint64(r[1]))
		}
	}
	binary.LittleEndian.PutUint64(b[12:], uint64(len(b)-stateHeader))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// addRoute appends r to the state's routes.
func (st *state) addRoute(r *routeState) {
	st.routes = appendRoute(st.routes, r)
	st.nroutes++
}

// appendRoute appends one route as the format lays it out.
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
