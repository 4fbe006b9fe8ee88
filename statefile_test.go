package vitals

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// Tests of the state format and its decoder (statefile.go,
// statefile_decode.go): format 1 files, hostile numbers, bounded memory,
// and the fuzz targets.

// TestStateVersion1Loads restores testdata/state-v1.bin, written by format
// 1 (by loadedCollector with WindowBuckets 5: its window ends at 12:03 with
// [0 10 10 10 1]; saved at 12:05), and checks every figure it carries.
func TestStateVersion1Loads(t *testing.T) {
	data, err := os.ReadFile("testdata/state-v1.bin")
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != 1 {
		t.Fatalf("the fixture is format %d, want 1", v)
	}
	c, clk := newTestCollector(t, Options{WindowBuckets: 5})
	clk.Add(5 * time.Minute) // 12:05, when it was saved
	c.Refresh()
	if err := c.Restore(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	s := c.Refresh()
	got := fmt.Sprintf("requests=%d window=%v status=%+v bytes=%d latency=%d start=%v",
		s.Requests, s.Window.Counts, s.Status, s.BytesWritten, s.Latency.Samples, s.Start.UTC())
	want := "requests=31 window=[10 10 1 0 0] status={Informational:0 Success:10 Redirect:0 ClientError:10 ServerError:10 Other:0} bytes=240 latency=0 start=2026-03-01 12:00:00 +0000 UTC"
	if got != want {
		t.Errorf("restored:\n%s\nwant:\n%s", got, want)
	}
	var routes []string
	for _, r := range s.Routes {
		routes = append(routes, fmt.Sprintf("%s %d %d %d", r.Route, r.Requests, r.Errors, r.Bytes))
	}
	if want := []string{"GET /a/{id} 10 0 50", "POST /b 10 10 0", "unmatched 10 0 190"}; !slices.Equal(routes, want) {
		t.Errorf("routes %q, want %q", routes, want)
	}
	// Saved again, it is the current format and carries the same.
	var buf bytes.Buffer
	if err := c.Save(&buf); err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint32(buf.Bytes()[8:]); v != stateVersion {
		t.Errorf("saved as format %d, want %d", v, stateVersion)
	}
	d, _ := newTestCollector(t, Options{WindowBuckets: 5, Now: clk.Now})
	if err := d.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if a, b := carried(d.Refresh()), carried(s); a != b {
		t.Errorf("format %d of a format 1 state:\n%s\nwant:\n%s", stateVersion, a, b)
	}
}

// TestStateVersion2Loads restores testdata/state-v2.bin, written by format
// 2 (by loadedCollector with WindowBuckets 5, saved at 12:05), which has
// no no-data ranges, and saves it again as format 3.
func TestStateVersion2Loads(t *testing.T) {
	data, err := os.ReadFile("testdata/state-v2.bin")
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != 2 {
		t.Fatalf("the fixture is format %d, want 2", v)
	}
	c, clk := newTestCollector(t, Options{WindowBuckets: 5})
	clk.Add(5 * time.Minute) // 12:05, when it was saved
	c.Refresh()
	if err := c.Restore(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	s := c.Refresh()
	got := fmt.Sprintf("requests=%d window=%v errors=%v status=%+v bytes=%d start=%v",
		s.Requests, s.Window.Counts, s.Window.Errors, s.Status, s.BytesWritten, s.Start.UTC())
	want := "requests=31 window=[10 10 1 0 0] errors=[4 3 0 0 0] status={Informational:0 Success:10 Redirect:0 ClientError:10 ServerError:10 Other:0} bytes=240 start=2026-03-01 12:00:00 +0000 UTC"
	if got != want {
		t.Errorf("restored:\n%s\nwant:\n%s", got, want)
	}
	var buf bytes.Buffer
	if err := c.Save(&buf); err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint32(buf.Bytes()[8:]); v != stateVersion {
		t.Errorf("saved as format %d, want %d", v, stateVersion)
	}
	d, _ := newTestCollector(t, Options{WindowBuckets: 5, Now: clk.Now})
	if err := d.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if a, b := carried(d.Refresh()), carried(s); a != b {
		t.Errorf("format 3 of a format 2 state:\n%s\nwant:\n%s", a, b)
	}
}

// testPayload returns a small valid state payload, one route with one
// code, with the named fields replaced: each field's value is a uint64,
// written as a varint, or a []uint64 for a list.
func testPayload(set map[string]any) []byte {
	fields := []struct {
		name string
		v    any
	}{
		{"savedAt", uint64(1_700_000_000e9)},
		{"firstStart", uint64(1_699_000_000e9)},
		{"width", uint64(time.Minute)},
		{"abs", uint64(1_700_000_000 / 60)},
		{"retired", uint64(3)},
		{"window", []uint64{1, 2}},
		{"ringNext", uint64(2)},
		{"ring", []uint64{5e6, 7e6}},
		{"bounds", []uint64{1e6, 1e9}},
		{"routes", uint64(1)},
		{"name", "GET /a"},
		{"codes", uint64(1)},
		{"method", uint64(0)},
		{"code", uint64(200)},
		{"n", uint64(2)},
		{"hist", []uint64{0, 2, 0}},
		{"sumNs", uint64(12e6)},
		{"bytes", uint64(10)},
	}
	var b []byte
	for _, f := range fields {
		v := f.v
		if s, ok := set[f.name]; ok {
			v = s
		}
		switch v := v.(type) {
		case uint64:
			b = binary.AppendUvarint(b, v)
		case string:
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		case []uint64:
			b = binary.AppendUvarint(b, uint64(len(v)))
			for _, n := range v {
				b = binary.AppendUvarint(b, n)
			}
		}
	}
	return b
}

// TestStateHostileNumbers feeds checksum-valid states with one number out
// of its range: each is refused with an error that names it, and neither
// Restore nor Open panics or changes anything.
func TestStateHostileNumbers(t *testing.T) {
	const maxU = uint64(math.MaxUint64)
	tests := []struct {
		name string
		set  map[string]any
		want string
	}{
		{"method -1", map[string]any{"method": maxU}, "method"},
		{"method too high", map[string]any{"method": uint64(numMethods)}, "method"},
		{"code -1", map[string]any{"code": maxU}, "status code"},
		{"code 99", map[string]any{"code": uint64(99)}, "status code"},
		{"code 1000", map[string]any{"code": uint64(1000)}, "status code"},
		{"save time negative", map[string]any{"savedAt": maxU}, "save time"},
		{"start time negative", map[string]any{"firstStart": maxU - 5}, "start time"},
		{"width zero", map[string]any{"width": uint64(0)}, "bucket width"},
		{"width -1", map[string]any{"width": maxU}, "bucket width"},
		{"window position overflows", map[string]any{"abs": maxU >> 1}, "window position"},
		{"window before the epoch", map[string]any{"abs": uint64(0)}, "window length"},
		{"empty window", map[string]any{"window": []uint64{}}, "window length"},
		{"window counts wrap", map[string]any{"window": []uint64{maxU, 2}}, "add up"},
		{"ring sample negative", map[string]any{"ring": []uint64{maxU, 1}}, "duration"},
		{"ring longer than its position", map[string]any{"ringNext": uint64(1)}, "duration ring"},
		{"ring too long", map[string]any{"ringNext": maxU, "ring": make([]uint64, ringSize+1)}, "duration ring"},
		{"no bounds", map[string]any{"bounds": []uint64{}, "hist": []uint64{2}}, "histogram bounds"},
		{"bound zero", map[string]any{"bounds": []uint64{0, 1e9}}, "histogram bound"},
		{"bound -1", map[string]any{"bounds": []uint64{1e6, maxU}}, "histogram bound"},
		{"bounds equal", map[string]any{"bounds": []uint64{1e6, 1e6}}, "not increasing"},
		{"bounds decreasing", map[string]any{"bounds": []uint64{1e9, 1e6}}, "not increasing"},
		{"too many routes", map[string]any{"routes": maxU}, "routes length"},
		{"hist short", map[string]any{"hist": []uint64{0, 2}}, "route histogram"},
		{"hist wraps", map[string]any{"hist": []uint64{maxU, 2, 0}}, "add up"},
		{"name too long", map[string]any{"name": strings.Repeat("a", maxRouteLen+1)}, "route name"},
		{"name not UTF-8", map[string]any{"name": "GET /\xff"}, "UTF-8"},
		{"too many codes", map[string]any{"codes": uint64(maxStateCodes + 1)}, "route codes"},
	}
	good := frame(testPayload(nil))
	if _, err := decodeState(good); err != nil {
		t.Fatalf("the unedited test state does not decode: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := frame(testPayload(tt.set))
			if _, err := decodeState(data); err == nil || !errors.Is(err, errBadState) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("decodeState: %v, want a bad state naming %q", err, tt.want)
			}
			c, _ := newTestCollector(t, Options{})
			before := carried(c.Snapshot())
			if err := c.Restore(bytes.NewReader(data)); err == nil {
				t.Error("Restore accepted the state")
			}
			c.refresh()
			if after := carried(c.Snapshot()); after != before {
				t.Errorf("a refused Restore changed the collector:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

// hostileRoutes returns a checksum-valid state of about size bytes made of
// routes that each hold every (method, code) pair: what costs a decoder
// that materialises codes the most memory per input byte.
func hostileRoutes(size int) []byte {
	var routes []byte
	n := 0
	for len(routes) < size {
		r := routeState{name: fmt.Sprint("r", n), hist: []uint64{0, 0, 0}}
		for m := range numMethods {
			for code := 100; code <= 999; code++ {
				r.codes = append(r.codes, codeCount{m, code, 0})
			}
		}
		routes = appendRoute(routes, &r)
		n++
	}
	st := &state{
		savedAt: 1_700_000_000e9, firstStart: 1_700_000_000e9, width: int64(time.Minute),
		abs: 1_700_000_000 / 60, window: []uint64{1}, bounds: []int64{1e6, 1e9},
		nroutes: n, routes: routes,
	}
	return st.encode()
}

// TestStateDecodeMemory: decoding and restoring a hostile state allocates
// a bounded amount, not a multiple of the codes it holds, even with every
// route slot free (MaxRoutes 10000).
func TestStateDecodeMemory(t *testing.T) {
	data := hostileRoutes(16 << 20)
	c, _ := newTestCollector(t, Options{MaxRoutes: 10000})
	allocated := allocatedBy(func() {
		if err := c.Restore(bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("Restore of a %d KiB state of dense routes allocated %d KiB", len(data)>>10, allocated>>10)
	// Restore holds the input once and allocates the collector's own
	// routes (about 600 here), whose codes are kept only when non-zero:
	// nothing in proportion to the codes in the file.
	if limit := 2 * uint64(len(data)); allocated > limit {
		t.Errorf("Restore of %d MiB allocated %d MiB, want at most %d MiB", len(data)>>20, allocated>>20, limit>>20)
	}
	decoded := allocatedBy(func() {
		if _, err := decodeState(data); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("decodeState of it allocated %d KiB", decoded>>10)
	if decoded > 64<<10 {
		t.Errorf("decodeState of %d MiB allocated %d KiB, want under 64 KiB (one window bucket) whatever the size", len(data)>>20, decoded>>10)
	}
}

// TestStateDecodeMemoryLimit: what decodeState allocates at most, with
// the largest window and ring, is the figure the README gives (0.8 MiB),
// whatever the routes hold.
func TestStateDecodeMemoryLimit(t *testing.T) {
	window := make([]uint64, maxStateWindow)
	ring := make([]int64, ringSize)
	st := &state{
		savedAt: 1_700_000_000e9, firstStart: 1_700_000_000e9, width: int64(time.Minute),
		abs: 1_700_000_000 / 60, window: window, ringNext: ringSize, ring: ring,
		bounds: make([]int64, maxStateBounds),
	}
	for i := range st.bounds {
		st.bounds[i] = int64(i + 1)
	}
	for i := range int64(maxStateDown) {
		st.down = append(st.down, [2]int64{2 * i, 2*i + 1})
	}
	st.figures = appendFigures(nil, make([]winBucket, len(window)))
	st.hires = binary.AppendUvarint(nil, maxStateRoutes)
	for range maxStateRoutes {
		st.hires = append(st.hires, 0, 0, 0) // zero, over, no buckets
	}
	var r routeState
	for i := range maxStateRoutes {
		r.name = fmt.Sprintf("GET /%0*d", maxRouteLen-5, i)
		r.hist = make([]uint64, maxStateBounds+1)
		st.addRoute(&r)
	}
	data := st.encode()
	decoded := allocatedBy(func() {
		if _, err := decodeState(data); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("decodeState of %.1f MiB (the largest window, ring and no-data ranges, %d routes) allocated %d KiB", float64(len(data))/(1<<20), maxStateRoutes, decoded>>10)
	if limit := uint64(82 << 20 / 100); decoded > limit {
		t.Errorf("decodeState allocated %d KiB, want at most 0.82 MiB", decoded>>10)
	}
}

// TestStateNoDataRanges: the no-data ranges of a state decode as they were
// encoded, and ranges out of order, overlapping, empty or too many are
// refused.
func TestStateNoDataRanges(t *testing.T) {
	encode := func(down [][2]int64) []byte {
		st := &state{
			savedAt: 1_700_000_000e9, firstStart: 1_700_000_000e9, width: int64(time.Minute),
			abs: 1_700_000_000 / 60, window: []uint64{0}, bounds: []int64{1e6}, down: down,
			figures: appendFigures(nil, make([]winBucket, 1)), hires: []byte{0},
		}
		return st.encode()
	}
	good := [][2]int64{{1, 5}, {6, 9}}
	st, err := decodeState(encode(good))
	if err != nil || fmt.Sprint(st.down) != fmt.Sprint(good) {
		t.Errorf("decoded %v, %v; want %v", st, err, good)
	}
	many := make([][2]int64, maxStateDown+1)
	for i := range many {
		many[i] = [2]int64{int64(2 * i), int64(2*i + 1)}
	}
	for _, bad := range [][][2]int64{{{6, 9}, {1, 5}}, {{1, 5}, {5, 9}}, {{3, 3}}, {{1, maxStateTime + 1}}, many} {
		if _, err := decodeState(encode(bad)); !errors.Is(err, errBadState) {
			t.Errorf("ranges %.40v: error %v, want a bad state", bad, err)
		}
	}
}

func FuzzDecodeState(f *testing.F) {
	c := New(Options{RefreshInterval: 30 * time.Second})
	for i := range 20 {
		c.routes.get(fmt.Sprint("r", i%3)).observe(c.slotNow(), i%numMethods, 200+i, int64(i)*1e6, 10, c.bounds)
		c.RecordDuration(time.Duration(i))
		c.IncrementRequests()
	}
	c.Close()
	good := c.capture().encode()
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[stateHeader : len(good)-4]) // a bare payload: framed below
	f.Add([]byte(stateMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
		// The checksum rejects almost every mutation before the payload
		// parser sees it; framing the input as a payload with a correct
		// header and checksum fuzzes the parser itself.
		checkDecode(t, frame(data))
	})
}

// FuzzStateFields is structure-aware: it takes a valid encoded state apart
// into its fields (numbers and strings, by the format's grammar), gives one
// field a hostile value, deletes or repeats it, and frames the result with
// a valid header and checksum, so every field of the payload, not only the
// bytes that survive a checksum, meets extreme values. It is seeded with
// real encoded states.
func FuzzStateFields(f *testing.F) {
	for _, good := range seedStates() {
		f.Add(good, uint16(0), uint8(0), uint64(0))
		for i := range 40 {
			f.Add(good, uint16(i*7), uint8(i%6), uint64(math.MaxUint64-uint64(i)))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, field uint16, op uint8, val uint64) {
		if len(data) < stateHeader+4 {
			checkDecode(t, data)
			return
		}
		payload := data[stateHeader : len(data)-4]
		spans, ok := stateFields(payload)
		if !ok || len(spans) == 0 {
			checkDecode(t, frame(payload))
			return
		}
		checkDecode(t, frame(mutateField(payload, spans, int(field)%len(spans), op, val)))
	})
}

// TestStateFieldsSeeds: the fuzz target's field parser takes every seed
// apart whole, so its mutations reach every field.
func TestStateFieldsSeeds(t *testing.T) {
	for i, good := range seedStates() {
		spans, ok := stateFields(good[stateHeader : len(good)-4])
		if !ok || len(spans) < 20 {
			t.Errorf("seed %d: %d fields, ok %v", i, len(spans), ok)
		}
	}
}

// seedStates returns real encoded states: an empty collector's, a loaded
// one's with several routes and codes, and one with other bounds.
func seedStates() [][]byte {
	var out [][]byte
	for _, o := range []Options{{}, {Buckets: []float64{0.01, 1}, WindowBuckets: 3}} {
		c := New(Options{RefreshInterval: 30 * time.Second, Buckets: o.Buckets, WindowBuckets: o.WindowBuckets})
		out = append(out, c.capture().encode())
		for i := range 20 {
			c.routes.get(fmt.Sprint("GET /r", i%3, "/é")).observe(c.slotNow(), i%numMethods, 200+i*17, int64(i)*1e6, 10, c.bounds)
			c.RecordDuration(time.Duration(i) * time.Millisecond)
			c.IncrementRequests()
		}
		c.Close()
		out = append(out, c.capture().encode())
	}
	return out
}

// stateFields splits a payload into the spans of its fields by the
// format's grammar; a string is one field (its length and bytes). It
// reports false where the payload does not follow the grammar.
func stateFields(p []byte) (spans [][2]int, ok bool) {
	pos := 0
	uv := func() uint64 {
		v, n := binary.Uvarint(p[pos:])
		if n <= 0 {
			ok = false
			return 0
		}
		spans = append(spans, [2]int{pos, pos + n})
		pos += n
		return v
	}
	list := func() {
		n := uv()
		for i := uint64(0); ok && i < n; i++ {
			uv()
		}
	}
	ok = true
	for range 5 { // savedAt firstStart width abs retired
		uv()
	}
	list() // window
	uv()   // ringNext
	list() // ring
	list() // bounds
	for nr := uv(); ok && nr > 0; nr-- {
		start := pos
		n, k := binary.Uvarint(p[pos:])
		if k <= 0 || uint64(len(p)-pos-k) < n {
			return spans, false
		}
		pos += k + int(n)
		spans = append(spans, [2]int{start, pos})
		for nc := uv(); ok && nc > 0; nc-- {
			uv()
			uv()
			uv()
		}
		list() // hist
		uv()   // sumNs
		uv()   // bytes
	}
	if !ok || pos == len(p) {
		return spans, ok // format 1
	}
	for nf := uv(); ok && nf > 0; nf-- { // window figures
		for range 6 {
			uv()
		}
	}
	for nh := uv(); ok && nh > 0; nh-- { // route histograms
		uv() // zero
		uv() // over
		for nb := uv(); ok && nb > 0; nb-- {
			uv() // gap
			uv() // count
		}
	}
	if !ok || pos == len(p) {
		return spans, ok // format 2
	}
	for nd := uv(); ok && nd > 0; nd-- { // no-data ranges
		uv() // from
		uv() // to
	}
	return spans, ok && pos == len(p)
}

// v1Payload reports whether a payload is complete after the routes, as in
// format 1.
func v1Payload(p []byte) bool {
	d := decoder{b: p}
	for range 5 {
		d.uv()
	}
	d.uvs("", 0, math.MaxInt)
	d.uv()
	d.uvs("", 0, math.MaxInt)
	bounds := d.uvs("", 0, math.MaxInt)
	var r routeState
	for n := d.count("", 0, math.MaxInt); d.err == nil && n > 0; n-- {
		d.route(&r, len(bounds))
		if d.err != nil {
			return false
		}
	}
	return d.err == nil && len(d.b) == 0
}

// mutateField returns a copy of payload with field i changed by op: given
// the value val, its negation, or its complement (so a fuzzer's small
// numbers also reach the top of the range), deleted, repeated, or val
// inserted before it.
func mutateField(payload []byte, spans [][2]int, i int, op uint8, val uint64) []byte {
	s := spans[i]
	out := append([]byte(nil), payload[:s[0]]...)
	switch op % 6 {
	case 0:
		out = binary.AppendUvarint(out, val)
	case 1:
		out = binary.AppendUvarint(out, -val)
	case 2:
		out = binary.AppendUvarint(out, ^val)
	case 3: // deleted
	case 4:
		out = append(out, payload[s[0]:s[1]]...)
		out = append(out, payload[s[0]:s[1]]...)
	case 5:
		out = binary.AppendUvarint(out, val)
		out = append(out, payload[s[0]:s[1]]...)
	}
	return append(out, payload[s[1]:]...)
}

// frame wraps payload in a valid header and checksum.
func frame(payload []byte) []byte {
	b := make([]byte, stateHeader, stateHeader+len(payload)+4)
	copy(b, stateMagic)
	version := uint32(stateVersion)
	if v1Payload(payload) {
		version = 1
	}
	binary.LittleEndian.PutUint32(b[8:], version)
	binary.LittleEndian.PutUint64(b[12:], uint64(len(payload)))
	b = append(b, payload...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

func checkDecode(t *testing.T, data []byte) {
	{
		st, err := decodeState(data)
		if err != nil {
			if st != nil || !errors.Is(err, errBadState) {
				t.Fatalf("error %v with state %v", err, st)
			}
			return
		}
		// What decodes re-encodes to a state that decodes the same way
		// and can be applied without panicking.
		again, err := decodeState(st.encode())
		if err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
		if fmt.Sprint(again) != fmt.Sprint(st) {
			t.Fatal("re-encoded state differs")
		}
		c := New(Options{RefreshInterval: 30 * time.Second})
		c.apply(st)
		c.Close()
	}
}
