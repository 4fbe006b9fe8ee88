package vitals

import "expvar"

// The collector as an expvar variable, for /debug/vars.

// Var returns the collector as an expvar.Var whose value is the latest
// Snapshot as JSON. Publish it to see vitals under /debug/vars:
//
//	expvar.Publish("vitals", c.Var())
func (c *Collector) Var() expvar.Var {
	return expvar.Func(func() any { return c.Snapshot() })
}
