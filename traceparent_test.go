package vitals

import (
	"regexp"
	"strings"
	"testing"
)

func TestParseTraceparent(t *testing.T) {
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"00-" + id + "-00f067aa0ba902b7-01", true},
		{"00-" + id + "-00f067aa0ba902b7-00", true},
		{"01-" + id + "-00f067aa0ba902b7-01", true},                 // a later version
		{"cc-" + id + "-00f067aa0ba902b7-01-what-the-future", true}, // may carry more after a '-'
		{"cc-" + id + "-00f067aa0ba902b7-01x", false},
		{"00-" + id + "-00f067aa0ba902b7-01-", false}, // version 00 is exactly 55
		{"ff-" + id + "-00f067aa0ba902b7-01", false},
		{"00-" + strings.ToUpper(id) + "-00f067aa0ba902b7-01", false},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"00-" + id + "-0000000000000000-01", false},
		{"00-" + id + "-00f067aa0ba902b7-0g", false},
		{"0-" + id + "-00f067aa0ba902b7-01", false},
		{"00_" + id + "-00f067aa0ba902b7-01", false},
		{"", false},
	} {
		got, span, ok := parseTraceparent(tt.in)
		if ok != tt.ok || ok && (got.String() != id || span.String() != "00f067aa0ba902b7") {
			t.Errorf("parseTraceparent(%q) = %q, %v; want ok %v", tt.in, got.String(), ok, tt.ok)
		}
	}
}

func TestParseTraceparentAllocs(t *testing.T) {
	v := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if n := testing.AllocsPerRun(100, func() { parseTraceparent(v) }); n != 0 {
		t.Errorf("parseTraceparent allocates %v times", n)
	}
}

// traceparentGrammar is the W3C grammar of traceparent, plainly: version,
// trace id, parent id and flags, lower-case hex, with what a later
// version may add.
var traceparentGrammar = regexp.MustCompile(`(?s)^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$`)

// referenceTraceparent is a straightforward reading of the W3C rules.
func referenceTraceparent(s string) (trace, span string, ok bool) {
	m := traceparentGrammar.FindStringSubmatch(s)
	switch {
	case m == nil, m[1] == "ff",
		m[1] == "00" && m[5] != "",
		m[2] == strings.Repeat("0", 32), m[3] == strings.Repeat("0", 16):
		return "", "", false
	}
	return m[2], m[3], true
}

func FuzzTraceparent(f *testing.F) {
	for _, s := range []string{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, span, ok := parseTraceparent(s)
		want, wantSpan, wantOK := referenceTraceparent(s)
		if ok != wantOK || id.String() != want || span.String() != wantSpan {
			t.Errorf("parseTraceparent(%q) = %q, %q, %v; the grammar says %q, %q, %v", s, id.String(), span.String(), ok, want, wantSpan, wantOK)
		}
	})
}
