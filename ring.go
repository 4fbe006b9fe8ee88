package vitals

import "time"

// Latency summarises the request durations of the recent past, all routes
// and RecordDuration together: the same span as Snapshot.Recent, from the
// same high-resolution histogram. The percentiles are Recent's; Min and Max
// are estimated like them (the midpoint of the lowest and highest non-empty
// bucket, within ±1.1 %, or a bound: see LatencyFloor); Mean is exact. All
// zero when no request ended within the span: it ages out with Recent.
type Latency struct {
	Samples int           // number of durations summarised
	Mean    time.Duration // arithmetic mean
	Min     time.Duration
	Max     time.Duration
	P50     time.Duration // median
	P90     time.Duration
	P99     time.Duration
}

// livePoint is one finished request of the duration ring, as the page's
// live scatter draws it.
type livePoint struct {
	End      time.Time
	Duration time.Duration
	Status   int
}

// livePoints appends to dst the requests of the duration ring that ended
// at or after since, oldest first, streams left out, and returns it.
func (c *Collector) livePoints(dst []livePoint, since time.Time) []livePoint {
	return dst // filled in with the ring
}
