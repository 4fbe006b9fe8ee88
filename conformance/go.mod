module github.com/vitalsgo/vitals/conformance

go 1.26.0

require github.com/vitalsgo/vitals v0.0.0

replace github.com/vitalsgo/vitals => ../
