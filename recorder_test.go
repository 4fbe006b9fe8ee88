package vitals

import (
	"strings"
	"testing"
)

// One method table: the index, the label and the RouteFunc prefix of each
// method agree, methods are case-sensitive, and the rest is one "unknown".
func TestMethodTable(t *testing.T) {
	if numMethods != 10 || methodUnknown != 9 {
		t.Fatalf("numMethods %d, methodUnknown %d; want 10, 9", numMethods, methodUnknown)
	}
	for i, m := range methods {
		if got := methodIndex(m); got != i {
			t.Errorf("methodIndex(%q) = %d, want %d", m, got, i)
		}
		if methodNames[i] != strings.ToLower(m) {
			t.Errorf("methodNames[%d] = %q, want %q", i, methodNames[i], strings.ToLower(m))
		}
	}
	for _, m := range []string{"get", "Get", "BREW", "", "PROPFIND"} {
		if got := methodIndex(m); got != methodUnknown {
			t.Errorf("methodIndex(%q) = %d, want methodUnknown", m, got)
		}
	}
	if methodNames[methodUnknown] != "unknown" {
		t.Errorf("methodNames[methodUnknown] = %q", methodNames[methodUnknown])
	}
	got := 0
	if n := testing.AllocsPerRun(100, func() { got = methodIndex("TRACE") }); n != 0 || got != 8 {
		t.Errorf("methodIndex(TRACE) = %d, allocating %v times", got, n)
	}
}
