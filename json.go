package vitals

import (
	"encoding/json"
	"time"
)

// MarshalJSON encodes the snapshot with snake_case names and durations in
// seconds as floating-point numbers, so that clients in any language read
// them without parsing Go duration strings. The names are listed in the
// comments of Snapshot's fields and are stable.
func (s *Snapshot) MarshalJSON() ([]byte, error) {
	return json.Marshal(s.jsonForm())
}

type jsonSnapshot struct {
	Time            time.Time   `json:"time"`
	Start           time.Time   `json:"start"`
	Uptime          float64     `json:"uptime_seconds"`
	Requests        uint64      `json:"requests"`
	InFlight        int64       `json:"in_flight"`
	Connections     int64       `json:"connections"`
	SessionsActive  int         `json:"sessions_active"`
	SessionsDropped uint64      `json:"sessions_dropped"`
	Window          jsonWindow  `json:"window"`
	Latency         jsonLatency `json:"latency"`
	Status          jsonStatus  `json:"status"`
	BytesWritten    uint64      `json:"bytes_written"`
	Routes          []jsonRoute `json:"routes"`
	RoutesCapped    bool        `json:"routes_capped"`
	Runtime         jsonRuntime `json:"runtime"`

	// What the route figures may miss, and what was counted apart: see
	// Snapshot.
	UnmatchedSuccess uint64 `json:"unmatched_success"`
	SelfRequests     uint64 `json:"self_requests"`
}

type jsonRoute struct {
	Route    string     `json:"route"`
	Requests uint64     `json:"requests"`
	Errors   uint64     `json:"errors"`
	Status   jsonStatus `json:"status"`
	Bytes    uint64     `json:"bytes"`
	P50      float64    `json:"p50_seconds"`
	P90      float64    `json:"p90_seconds"`
	P99      float64    `json:"p99_seconds"`
}

type jsonWindow struct {
	Start       time.Time `json:"start"`
	BucketWidth float64   `json:"bucket_width_seconds"`
	Counts      []uint64  `json:"counts"`
	Total       uint64    `json:"total"`
}

type jsonLatency struct {
	Samples int     `json:"samples"`
	Mean    float64 `json:"mean_seconds"`
	Min     float64 `json:"min_seconds"`
	Max     float64 `json:"max_seconds"`
	P50     float64 `json:"p50_seconds"`
	P90     float64 `json:"p90_seconds"`
	P99     float64 `json:"p99_seconds"`
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
	counts := s.Window.Counts
	if counts == nil {
		counts = []uint64{}
	}
	routes := make([]jsonRoute, len(s.Routes))
	for i, r := range s.Routes {
		routes[i] = jsonRoute{
			Route: r.Route, Requests: r.Requests, Errors: r.Errors, Status: jsonStatus(r.Status), Bytes: r.Bytes,
			P50: r.P50.Seconds(), P90: r.P90.Seconds(), P99: r.P99.Seconds(),
		}
	}
	j := &jsonSnapshot{
		Routes:          routes,
		RoutesCapped:    s.RoutesCapped,
		Time:            s.Time,
		Start:           s.Start,
		Uptime:          s.Uptime.Seconds(),
		Requests:        s.Requests,
		InFlight:        s.InFlight,
		Connections:     s.Connections,
		SessionsActive:  s.SessionsActive,
		SessionsDropped: s.SessionsDropped,
		Window: jsonWindow{
			Start:       s.Window.Start,
			BucketWidth: s.Window.BucketWidth.Seconds(),
			Counts:      counts,
			Total:       s.Window.Total,
		},
		Latency: jsonLatency{
			Samples: s.Latency.Samples,
			Mean:    s.Latency.Mean.Seconds(),
			Min:     s.Latency.Min.Seconds(),
			Max:     s.Latency.Max.Seconds(),
			P50:     s.Latency.P50.Seconds(),
			P90:     s.Latency.P90.Seconds(),
			P99:     s.Latency.P99.Seconds(),
		},
		Status:       jsonStatus(s.Status),
		BytesWritten: s.BytesWritten,
		Runtime: jsonRuntime{
			Goroutines: s.Runtime.Goroutines,
			HeapBytes:  s.Runtime.HeapBytes,
			TotalBytes: s.Runtime.TotalBytes,
			GCCycles:   s.Runtime.GCCycles,
			GCPause:    s.Runtime.GCPause.Seconds(),
		},
	}
	j.UnmatchedSuccess, j.SelfRequests = s.UnmatchedSuccess, s.SelfRequests
	return j
}
