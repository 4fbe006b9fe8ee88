module github.com/vitalsgo/vitals/conformance

go 1.26.0

require (
	github.com/go-chi/chi/v5 v5.5.0
	github.com/gorilla/mux v1.8.1
	github.com/vitalsgo/vitals v0.0.0
)

replace github.com/vitalsgo/vitals => ../
