// Package conformance tests vitals against real third-party code: the
// routers its README has recipes for, and Prometheus' own decoders of the
// exposition formats. It is a module of its own so that the library's
// go.mod stays free of requires.
package conformance
