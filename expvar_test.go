package vitals

import (
	"encoding/json"
	"expvar"
	"testing"
)

func TestExpvar(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	c.IncrementRequests()
	c.refresh()
	var m map[string]any
	if err := json.Unmarshal([]byte(c.Var().String()), &m); err != nil {
		t.Fatal(err)
	}
	if m["requests"] != 1.0 {
		t.Errorf("expvar requests = %v", m["requests"])
	}
	var _ expvar.Var = c.Var()
}
