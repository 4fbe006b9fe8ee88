// Package conformance tests vitals against real third-party code: the
// routers its README has recipes for, Prometheus' own decoders of the
// exposition formats, and real Prometheus servers scraping a test server:
// Debian's 2.42 (prometheus on PATH) and 3.16 with its promtool
// (VITALS_PROMETHEUS3, else ~/.cache/vitals/prom3/bin). It is a module of
// its own so that the library's go.mod stays free of requires.
package conformance
