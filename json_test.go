package vitals

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestSnapshotValueJSON: a Snapshot value, and one held in a struct, a
// slice or a map by value, encodes like a *Snapshot, with the documented
// names and durations in seconds, not Go's field names and nanoseconds.
func TestSnapshotValueJSON(t *testing.T) {
	s := Snapshot{
		Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Uptime: 90 * time.Second, Requests: 3,
		Routes: []RouteStats{{Route: "GET /x", Requests: 3, P50: 2 * time.Millisecond}},
	}
	want, err := json.Marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(want, []byte(`"uptime_seconds":90,`)) || !bytes.Contains(want, []byte(`"p50_seconds":0.002,`)) {
		t.Fatalf("*Snapshot encodes as %s", want)
	}
	for name, v := range map[string]any{
		"value":     s,
		"in struct": struct{ S Snapshot }{s},
		"in slice":  []Snapshot{s},
		"in map":    map[string]Snapshot{"s": s},
	} {
		got, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Contains(got, want) {
			t.Errorf("%s encodes as\n%s\nwant it to hold\n%s", name, got, want)
		}
	}
}
