package vitals

import (
	"encoding/json"
	"time"
)

// The JSON face: the Snapshot's JSON form, with snake_case names and
// durations in seconds.

// MarshalJSON encodes the snapshot with snake_case names and durations in
// seconds as floating-point numbers, so that clients in any language read
// them without parsing Go duration strings. The names are listed in the
// comments of Snapshot's fields and are stable. The receiver is a value, so
// that a Snapshot value (in a struct or a slice, say) encodes the same as a
// *Snapshot; Snapshot holds no atomics or locks, so the copy is safe.
func (s Snapshot) MarshalJSON() ([]byte, error) {
	return json.Marshal(s.jsonForm())
}

type jsonSnapshot struct {
	Time           time.Time   `json:"time"`
	Start          time.Time   `json:"start"`
	Uptime         float64     `json:"uptime_seconds"`
	Requests       uint64      `json:"requests"`
	InFlight       int64       `json:"in_flight"`
	Connections    int64       `json:"connections"`
	SessionsActive int         `json:"sessions_active"`
	Recent         jsonRecent  `json:"recent"`
	Window         jsonWindow  `json:"window"`
	Latency        jsonLatency `json:"latency"`
	Status         jsonStatus  `json:"status"`
	BytesWritten   uint64      `json:"bytes_written"`
	Aborted        uint64      `json:"aborted"`
	Routes         []jsonRoute `json:"routes"`
	RoutesCapped   bool        `json:"routes_capped"`
	Runtime        jsonRuntime `json:"runtime"`

	// What the route figures may miss, and what was counted apart: see
	// Snapshot.
	UnmatchedSuccess uint64 `json:"unmatched_success"`
	SelfRequests     uint64 `json:"self_requests"`

	Live    jsonLive      `json:"live"`
	Slowest []jsonRequest `json:"slowest"`
	Streams jsonStreams   `json:"streams"`
	Export  jsonExport    `json:"export"` // the OTLP push: see otlp.go
}

type jsonLive struct {
	Span     float64 `json:"span_seconds"`
	Requests uint64  `json:"requests"`
	Errors   uint64  `json:"errors"`
	Rate     float64 `json:"rate"`
	Samples  int     `json:"samples"`
	P50      float64 `json:"p50_seconds"`
	P90      float64 `json:"p90_seconds"`
	P99      float64 `json:"p99_seconds"`
	Max      float64 `json:"max_seconds"`
}

type jsonRequest struct {
	Route    string    `json:"route"`
	Method   string    `json:"method"`
	Status   int       `json:"status"`
	Duration float64   `json:"duration_seconds"`
	End      time.Time `json:"end"`
	TraceID  string    `json:"trace_id"`
}

type jsonStreams struct {
	Open  int64  `json:"open"`
	Total uint64 `json:"total"`
}

type jsonRoute struct {
	Route    string     `json:"route"`
	Requests uint64     `json:"requests"`
	Errors   uint64     `json:"errors"`
	Status   jsonStatus `json:"status"`
	Bytes    uint64     `json:"bytes"`
	jsonPercentiles
	Recent  jsonRecent `json:"recent"`
	Streams uint64     `json:"streams"`
}

// jsonPercentiles are the percentiles of the high-resolution histogram;
// a bound (LatencyFloor, LatencyCeiling) carries "<" or ">" in its
// *_bound field, which is absent for an estimate.
type jsonPercentiles struct {
	P50       float64 `json:"p50_seconds"`
	P50Bound  string  `json:"p50_bound,omitempty"`
	P90       float64 `json:"p90_seconds"`
	P90Bound  string  `json:"p90_bound,omitempty"`
	P99       float64 `json:"p99_seconds"`
	P99Bound  string  `json:"p99_bound,omitempty"`
	P999      float64 `json:"p999_seconds"`
	P999Bound string  `json:"p999_bound,omitempty"`
}

func percentiles(p50, p90, p99, p999 time.Duration) jsonPercentiles {
	return jsonPercentiles{
		P50: p50.Seconds(), P50Bound: boundOf(p50),
		P90: p90.Seconds(), P90Bound: boundOf(p90),
		P99: p99.Seconds(), P99Bound: boundOf(p99),
		P999: p999.Seconds(), P999Bound: boundOf(p999),
	}
}

type jsonRecent struct {
	Span     float64    `json:"span_seconds"`
	Requests uint64     `json:"requests"`
	Errors   uint64     `json:"errors"`
	Status   jsonStatus `json:"status"`
	jsonPercentiles
}

func recentJSON(r Recent) jsonRecent {
	return jsonRecent{
		Span: r.Span.Seconds(), Requests: r.Requests, Errors: r.Errors, Status: jsonStatus(r.Status),
		jsonPercentiles: percentiles(r.P50, r.P90, r.P99, r.P999),
	}
}

type jsonWindow struct {
	Start       time.Time `json:"start"`
	BucketWidth float64   `json:"bucket_width_seconds"`
	Counts      []uint64  `json:"counts"`
	Total       uint64    `json:"total"`
	Errors      []uint64  `json:"errors"`
	P50         []float64 `json:"p50_seconds"`
	P90         []float64 `json:"p90_seconds"`
	P99         []float64 `json:"p99_seconds"`
	NoDataAt    []bool    `json:"no_data_at"`
	HeapBytes   []uint64  `json:"heap_bytes"`
	Goroutines  []int     `json:"goroutines"`
}

// nonNil returns s, or an empty slice for nil, so that JSON has [] and
// not null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func seconds(d []time.Duration) []float64 {
	out := make([]float64, len(d))
	for i, v := range d {
		out[i] = v.Seconds()
	}
	return out
}

type jsonLatency struct {
	Samples  int     `json:"samples"`
	Mean     float64 `json:"mean_seconds"`
	Min      float64 `json:"min_seconds"`
	MinBound string  `json:"min_bound,omitempty"`
	Max      float64 `json:"max_seconds"`
	MaxBound string  `json:"max_bound,omitempty"`
	P50      float64 `json:"p50_seconds"`
	P50Bound string  `json:"p50_bound,omitempty"`
	P90      float64 `json:"p90_seconds"`
	P90Bound string  `json:"p90_bound,omitempty"`
	P99      float64 `json:"p99_seconds"`
	P99Bound string  `json:"p99_bound,omitempty"`
}

type jsonStatus struct {
	Informational uint64 `json:"1xx"`
	Success       uint64 `json:"2xx"`
	Redirect      uint64 `json:"3xx"`
	ClientError   uint64 `json:"4xx"`
	ServerError   uint64 `json:"5xx"`
	Other         uint64 `json:"other"`
}

type jsonRuntime struct {
	Goroutines int     `json:"goroutines"`
	HeapBytes  uint64  `json:"heap_bytes"`
	TotalBytes uint64  `json:"total_bytes"`
	GCCycles   uint64  `json:"gc_cycles"`
	GCPause    float64 `json:"gc_pause_seconds"`
}

func (s *Snapshot) jsonForm() *jsonSnapshot {
	routes := make([]jsonRoute, len(s.Routes))
	for i, r := range s.Routes {
		routes[i] = jsonRoute{
			Route: r.Route, Requests: r.Requests, Errors: r.Errors, Status: jsonStatus(r.Status), Bytes: r.Bytes,
			jsonPercentiles: percentiles(r.P50, r.P90, r.P99, r.P999),
			Recent:          recentJSON(r.Recent),
			Streams:         r.Streams,
		}
	}
	j := &jsonSnapshot{
		Routes:         routes,
		RoutesCapped:   s.RoutesCapped,
		Time:           s.Time,
		Start:          s.Start,
		Uptime:         s.Uptime.Seconds(),
		Requests:       s.Requests,
		InFlight:       s.InFlight,
		Connections:    s.Connections,
		SessionsActive: s.SessionsActive,
		Recent:         recentJSON(s.Recent),
		Window: jsonWindow{
			Start:       s.Window.Start,
			BucketWidth: s.Window.BucketWidth.Seconds(),
			Counts:      nonNil(s.Window.Counts),
			Total:       s.Window.Total,
			Errors:      nonNil(s.Window.Errors),
			P50:         seconds(s.Window.P50),
			P90:         seconds(s.Window.P90),
			P99:         seconds(s.Window.P99),
			NoDataAt:    nonNil(s.Window.NoDataAt),
			HeapBytes:   nonNil(s.Window.HeapBytes),
			Goroutines:  nonNil(s.Window.Goroutines),
		},
		Latency: jsonLatency{
			Samples:  s.Latency.Samples,
			Mean:     s.Latency.Mean.Seconds(),
			Min:      s.Latency.Min.Seconds(),
			MinBound: boundOf(s.Latency.Min),
			Max:      s.Latency.Max.Seconds(),
			MaxBound: boundOf(s.Latency.Max),
			P50:      s.Latency.P50.Seconds(),
			P50Bound: boundOf(s.Latency.P50),
			P90:      s.Latency.P90.Seconds(),
			P90Bound: boundOf(s.Latency.P90),
			P99:      s.Latency.P99.Seconds(),
			P99Bound: boundOf(s.Latency.P99),
		},
		Status:       jsonStatus(s.Status),
		BytesWritten: s.BytesWritten,
		Aborted:      s.Aborted,
		Runtime: jsonRuntime{
			Goroutines: s.Runtime.Goroutines,
			HeapBytes:  s.Runtime.HeapBytes,
			TotalBytes: s.Runtime.TotalBytes,
			GCCycles:   s.Runtime.GCCycles,
			GCPause:    s.Runtime.GCPause.Seconds(),
		},
	}
	j.UnmatchedSuccess, j.SelfRequests = s.UnmatchedSuccess, s.SelfRequests
	l := s.Live
	j.Live = jsonLive{Span: l.Span.Seconds(), Requests: l.Requests, Errors: l.Errors, Rate: l.Rate, Samples: l.Samples,
		P50: l.P50.Seconds(), P90: l.P90.Seconds(), P99: l.P99.Seconds(), Max: l.Max.Seconds()}
	j.Slowest = make([]jsonRequest, len(s.Slowest))
	for i, r := range s.Slowest {
		j.Slowest[i] = jsonRequest{Route: r.Route, Method: r.Method, Status: r.Status, Duration: r.Duration.Seconds(), End: r.End, TraceID: r.TraceID}
	}
	j.Streams = jsonStreams(s.Streams)
	j.Export = exportJSON(s.Export)
	return j
}
