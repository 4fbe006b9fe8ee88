package vitals

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestVarint(t *testing.T) {
	tests := []struct {
		v    uint64
		want []byte
	}{
		{0, []byte{0x00}},
		{1, []byte{0x01}},
		{127, []byte{0x7f}},
		{128, []byte{0x80, 0x01}},
		{300, []byte{0xac, 0x02}},
		{1<<32 - 1, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}},
		{math.MaxUint64, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	}
	for _, tt := range tests {
		if got := appendVarint(nil, tt.v); !bytes.Equal(got, tt.want) {
			t.Errorf("appendVarint(%d) = % x, want % x", tt.v, got, tt.want)
		}
		if got := varintLen(tt.v); got != len(tt.want) {
			t.Errorf("varintLen(%d) = %d, want %d", tt.v, got, len(tt.want))
		}
		if got, n := binary.Uvarint(tt.want); got != tt.v || n != len(tt.want) {
			t.Errorf("the table is wrong for %d: encoding/binary reads %d", tt.v, got)
		}
	}
}

func TestZigzag(t *testing.T) {
	tests := []struct {
		v    int64
		want uint64
	}{
		{0, 0}, {-1, 1}, {1, 2}, {-2, 3}, {2, 4},
		{math.MaxInt32, math.MaxUint32 - 1}, {math.MinInt32, math.MaxUint32},
		{math.MaxInt64, math.MaxUint64 - 1}, {math.MinInt64, math.MaxUint64},
	}
	for _, tt := range tests {
		if got := zigzag(tt.v); got != tt.want {
			t.Errorf("zigzag(%d) = %d, want %d", tt.v, got, tt.want)
		}
	}
}

func TestFields(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"uint", appendUintField(nil, 1, 150), []byte{0x08, 0x96, 0x01}},
		{"sint", appendSintField(nil, 5, -3), []byte{0x28, 0x05}},
		{"double", appendDoubleField(nil, 2, 1.5), []byte{0x11, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f}},
		{"string", appendStringField(nil, 1, "ab", "c"), []byte{0x0a, 0x03, 'a', 'b', 'c'}},
		{"field 16 takes two tag bytes", appendUintField(nil, 16, 1), []byte{0x80, 0x01, 0x01}},
		{"span", appendSpan(nil, -2, 3), []byte{0x62, 0x04, 0x08, 0x03, 0x10, 0x03}},
	}
	for _, tt := range tests {
		if !bytes.Equal(tt.got, tt.want) {
			t.Errorf("%s: % x, want % x", tt.name, tt.got, tt.want)
		}
	}
}

// TestPbWriterNesting checks that end writes each length in front of its
// message, across a length that needs two bytes.
func TestPbWriterNesting(t *testing.T) {
	long := strings.Repeat("x", 200)
	var w pbWriter
	w.begin(0)
	w.b = appendStringField(w.b, 1, "", "a")
	w.begin(4)
	w.b = appendStringField(w.b, 2, "", long)
	w.end()
	w.end()

	inner := append([]byte{0x12, 0xc8, 0x01}, long...)                   // field 2, length 200
	outer := append([]byte{0x0a, 0x01, 'a', 0x22, 0xcb, 0x01}, inner...) // field 1 "a"; field 4, length 203
	want := append(appendVarint(nil, uint64(len(outer))), outer...)
	if !bytes.Equal(w.b, want) {
		t.Errorf("got % x\nwant % x", w.b, want)
	}
	if w.depth != 0 {
		t.Errorf("depth %d after matched begin and end", w.depth)
	}
}

// pbField is one field of a protobuf message, as decoded by pbFields.
type pbField struct {
	num  int
	wire int
	v    uint64 // varint or fixed64
	b    []byte // length-delimited
}

// pbFields decodes one message's fields; a test's own decoder, written
// from the protobuf spec apart from the encoder (the conformance module
// uses the official one).
func pbFields(t *testing.T, b []byte) []pbField {
	t.Helper()
	var out []pbField
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			t.Fatalf("bad tag at % x", b)
		}
		b = b[n:]
		f := pbField{num: int(tag >> 3), wire: int(tag & 7)}
		switch f.wire {
		case wireVarint:
			f.v, n = binary.Uvarint(b)
			if n <= 0 {
				t.Fatalf("bad varint")
			}
			b = b[n:]
		case wireFixed64:
			f.v = binary.LittleEndian.Uint64(b)
			b = b[8:]
		case wireBytes:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				t.Fatalf("bad length")
			}
			f.b = b[n : n+int(l)]
			b = b[n+int(l):]
		default:
			t.Fatalf("wire type %d", f.wire)
		}
		out = append(out, f)
	}
	return out
}

func unzigzag(v uint64) int64 { return int64(v>>1) ^ -int64(v&1) }

// nativeFields reads back the native part of a Histogram message.
func nativeFields(t *testing.T, b []byte) (schema int64, zt float64, zc uint64, spans [][2]int64, deltas []int64) {
	t.Helper()
	for _, f := range pbFields(t, b) {
		switch f.num {
		case fieldHistSchema:
			schema = unzigzag(f.v)
		case fieldHistZeroThreshold:
			zt = math.Float64frombits(f.v)
		case fieldHistZeroCount:
			zc = f.v
		case fieldHistPositiveSpan:
			var s [2]int64
			for _, sf := range pbFields(t, f.b) {
				if sf.num == fieldSpanOffset {
					s[0] = unzigzag(sf.v)
				} else {
					s[1] = int64(sf.v)
				}
			}
			spans = append(spans, s)
		case fieldHistPositiveDelta:
			deltas = append(deltas, unzigzag(f.v))
		}
	}
	return
}

func TestNativeHistEncoding(t *testing.T) {
	tests := []struct {
		name       string
		buckets    []nativeBucket
		wantSpans  [][2]int64
		wantDeltas []int64
	}{
		{"empty", nil, nil, nil},
		{"one bucket", []nativeBucket{{-640, 7}}, [][2]int64{{-640, 1}}, []int64{7}},
		{
			"two spans, negative indexes, falling counts",
			[]nativeBucket{{-2, 1}, {-1, 3}, {0, 2}, {5, 4}, {6, 1}},
			[][2]int64{{-2, 3}, {4, 2}}, // 5 is 4 buckets past the end of the first span
			[]int64{1, 2, -1, 2, -3},
		},
		{
			"counts above 2^63 apart",
			[]nativeBucket{{1, 1}, {3, 1 << 63}, {4, 1}},
			[][2]int64{{1, 1}, {1, 2}},
			[]int64{1, 1<<63 - 1, 1 - 1<<63},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := nativeHist{schema: 5, zeroThreshold: 1e-6, zeroCount: 2, buckets: tt.buckets}
			schema, zt, zc, spans, deltas := nativeFields(t, h.append(nil))
			if schema != 5 || zt != 1e-6 || zc != 2 {
				t.Errorf("schema %d, zero threshold %g, zero count %d; want 5, 1e-06, 2", schema, zt, zc)
			}
			if !slices.Equal(spans, tt.wantSpans) || !slices.Equal(deltas, tt.wantDeltas) {
				t.Errorf("spans %v deltas %v, want %v %v", spans, deltas, tt.wantSpans, tt.wantDeltas)
			}
			// The deltas add back up to the counts.
			var c int64
			for i, d := range deltas {
				c += d
				if uint64(c) != tt.buckets[i].count {
					t.Errorf("bucket %d: deltas give %d, want %d", i, uint64(c), tt.buckets[i].count)
				}
			}
		})
	}
}

// protoFamilies decodes a delimited stream into family name, type and the
// number of its metrics.
func protoFamilies(t *testing.T, b []byte) (names []string, types []uint64, metrics []int) {
	t.Helper()
	for len(b) > 0 {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			t.Fatalf("bad delimiter")
		}
		msg := b[n : n+int(l)]
		b = b[n+int(l):]
		names, types, metrics = append(names, ""), append(types, 0), append(metrics, 0)
		for _, f := range pbFields(t, msg) {
			switch f.num {
			case fieldFamilyName:
				names[len(names)-1] = string(f.b)
			case fieldFamilyType:
				types[len(types)-1] = f.v
			case fieldFamilyMetric:
				metrics[len(metrics)-1]++
			}
		}
	}
	return
}

// TestProtobufFamilies checks the protobuf face against the text face of
// the same collector: the same families in the same order, with the same
// types and as many series (the text's histograms and summaries are several
// lines each).
func TestProtobufFamilies(t *testing.T) {
	c, s := promFixture(t, Options{Namespace: "shop", ConstLabels: map[string]string{"role": "web"}})
	names, types, metrics := protoFamilies(t, c.appendProtobuf(nil, s))
	text := string(c.appendPrometheus(nil, s))
	var wantNames []string
	var wantTypes []uint64
	for line := range strings.Lines(text) {
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(strings.TrimSpace(f), " ")
			wantNames = append(wantNames, name)
			wantTypes = append(wantTypes, uint64(slices.Index(typeNames[:], typ)))
		}
	}
	if !slices.Equal(names, wantNames) || !slices.Equal(types, wantTypes) {
		t.Fatalf("protobuf families %v %v, text %v %v", names, types, wantNames, wantTypes)
	}
	for i, name := range names {
		want := strings.Count(text, "\n"+name+"{")
		if types[i] == typeHistogram || types[i] == typeSummary {
			want = strings.Count(text, "\n"+name+"_count{")
		}
		if want == 0 {
			t.Errorf("%s: no series in the text", name)
		}
		if metrics[i] != want {
			t.Errorf("%s: %d metrics, text has %d series", name, metrics[i], want)
		}
	}
}

// TestProtobufEmptyFamilyLeftOut: a family without series is not written
// (the text keeps its HELP and TYPE).
func TestProtobufEmptyFamilyLeftOut(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	names, _, _ := protoFamilies(t, c.appendProtobuf(nil, c.Snapshot()))
	if slices.Contains(names, "http_requests_total") || slices.Contains(names, "http_request_duration_seconds") {
		t.Errorf("families without series written: %v", names)
	}
	if !slices.Contains(names, "http_requests_in_flight") {
		t.Errorf("gauge family missing: %v", names)
	}
}

// TestTrimClassic: the cumulative classic counts become min(cumulative, n),
// and nothing is added where the classic side is the smaller.
func TestTrimClassic(t *testing.T) {
	tests := []struct {
		counts []uint64
		n      uint64
		want   []uint64
	}{
		{[]uint64{1, 2, 3, 0}, 6, []uint64{1, 2, 3, 0}},
		{[]uint64{1, 2, 3, 0}, 5, []uint64{1, 2, 2, 0}},
		{[]uint64{1, 2, 3, 4}, 2, []uint64{1, 1, 0, 0}},
		{[]uint64{0, 5, 0, 1}, 0, []uint64{0, 0, 0, 0}},
		{[]uint64{1, 2, 3, 4}, 20, []uint64{1, 2, 3, 4}},
	}
	for _, tt := range tests {
		got := slices.Clone(tt.counts)
		trimClassic(got, tt.n)
		if !slices.Equal(got, tt.want) {
			t.Errorf("trimClassic(%v, %d) = %v, want %v", tt.counts, tt.n, got, tt.want)
		}
	}
}

// TestProtobufHistogramMidRequest scrapes the protobuf face while a request
// is half recorded: observe has added it to its classic bucket but not yet
// to its time slice, which the native histogram and the count are read
// from. The classic buckets must still stay within the count, and the
// native buckets add up to it.
func TestProtobufHistogramMidRequest(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	r := c.routes.get("GET /x")
	for _, d := range []int64{2e5, 3e6, 3e6, 4e7} {
		r.observe(c.slotNow(), 0, 200, d, 0, c.bounds)
	}
	r.hist[0].Add(1) // a request of under 100 µs, between its two writes

	b := c.appendProtobuf(nil, c.Snapshot())
	found := false
	for len(b) > 0 {
		l, n := binary.Uvarint(b)
		fam := b[n : n+int(l)]
		b = b[n+int(l):]
		for _, f := range pbFields(t, fam) {
			if f.num != fieldFamilyMetric {
				continue
			}
			for _, mf := range pbFields(t, f.b) {
				if mf.num != fieldMetricHistogram {
					continue
				}
				found = true
				var count, cum uint64
				var buckets []uint64
				for _, hf := range pbFields(t, mf.b) {
					switch hf.num {
					case fieldHistCount:
						count = hf.v
					case fieldHistBucket:
						for _, bf := range pbFields(t, hf.b) {
							if bf.num == fieldBucketCumulative {
								buckets = append(buckets, bf.v)
							}
						}
					}
				}
				_, _, zc, _, deltas := nativeFields(t, mf.b)
				native, k := zc, int64(0)
				for _, d := range deltas {
					k += d
					native += uint64(k)
				}
				for i, n := range buckets {
					if n > count || n < cum {
						t.Errorf("cumulative classic buckets %v, count %d", buckets, count)
						break
					}
					cum = buckets[i]
				}
				if native != count || count != 4 {
					t.Errorf("native buckets hold %d, count %d; want 4 and 4", native, count)
				}
			}
		}
	}
	if !found {
		t.Fatal("no histogram in the protobuf face")
	}
}
