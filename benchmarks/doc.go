// Package benchmarks compares vitals with the libraries its users would
// pick instead: prometheus/client_golang (promhttp), VictoriaMetrics/metrics
// and OpenTelemetry (otelhttp). It is a module of its own so that the
// library's go.mod requires nothing.
//
// Run it from the repository root with make bench-peers.
package benchmarks
