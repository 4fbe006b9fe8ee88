package vitals

import (
	"strconv"
	"time"
)

// The cards that lead the page: what the server does now. Each figure is
// the live one (the last LiveWindow, from Snapshot.Live) with the recent
// one (the last RecentWindow, from Snapshot.Recent) beside it.

// card is one figure of the top grid. To show another figure, append a
// card in nowCards; the template needs no change.
type card struct {
	Label, Value string
	Note         string // what the figure covers, and its context
	Recent       string // the same figure over the recent window, "" when none
	Bad          bool   // drawn as an alarm
	Warn         bool   // drawn as a warning: traffic stopped
}

// nowCards are the cards that lead the page. live is LiveWindow; lastEnd
// is when the newest request of the duration ring ended, zero when the
// ring holds none of the last minute; recent says what Snapshot.Recent
// covers, in short ("last 5 min", "" when it has no figures): the heading
// above the cards says it in full.
func nowCards(s *Snapshot, recent string, live time.Duration, lastEnd time.Time, ttl time.Duration) []card {
	l, r := &s.Live, &s.Recent
	lw := "last " + formatSpan(live)
	besides := func(f func() string) string {
		if recent == "" {
			return ""
		}
		if r.Requests == 0 {
			return recent + ": no requests"
		}
		return recent + ": " + f()
	}
	none := "no requests in the " + lw

	req := card{Label: "Requests", Value: formatPerSecond(l.Rate), Note: lw + " · " + formatCount(l.Requests) + " requests"}
	if l.Requests == 0 {
		req.Note = quietText(s, live, lastEnd)
		req.Warn = recent != "" && r.Requests > 0 // traffic stopped
	}
	if recent != "" {
		req.Recent = recent + ": " + formatRate(r.Requests, r.Span)
	}

	errs := card{Label: "Server errors (5xx)", Value: "—", Note: none,
		Recent: besides(func() string { return formatShare(r.Errors, r.Requests) })}
	if l.Requests > 0 {
		errs.Value = formatShare(l.Errors, l.Requests)
		errs.Note = formatCount(l.Errors) + " of " + formatCount(l.Requests) + " · " + lw
		errs.Bad = l.Errors > 0
	}

	// The percentiles cover the live window, or what the ring holds of it.
	covers := lw
	if l.Span > 0 && l.Span < live {
		covers = "of the " + formatCount(uint64(l.Samples)) + " requests of the last " + formatSpan(l.Span) + " only"
	}
	p50 := card{Label: "Latency p50", Value: "—", Note: none, Recent: besides(func() string { return latencyText(r.P50) })}
	p99 := card{Label: "Latency p99", Value: "—", Note: none, Recent: besides(func() string { return latencyText(r.P99) })}
	switch {
	case l.Samples > 0:
		p50.Value, p50.Note = formatDuration(l.P50), covers+" · p90 "+formatDuration(l.P90)
		p99.Value, p99.Note = formatDuration(l.P99), covers+" · max "+formatDuration(l.Max)
		if covers != lw {
			p99.Note = "p99 " + covers
		}
	case l.Requests > 0:
		p50.Note = "only streams in the " + lw + ": they have no latency"
		p99.Note = p50.Note
	}

	inflight := card{Label: "In flight", Value: formatCount(uint64(max(s.InFlight, 0))),
		Note: "now · " + formatCount(uint64(max(s.Connections, 0))) + " open connections"}
	if s.Streams.Open > 0 || s.Streams.Total > 0 {
		inflight.Recent = formatCount(uint64(max(s.Streams.Open, 0))) + " streams open, not in flight"
	}
	sess := card{Label: "Active sessions", Value: strconv.Itoa(s.SessionsActive), Note: "seen in the last " + formatSpan(ttl)}
	return []card{req, errs, p50, p99, inflight, sess}
}

// quietText says how long no request has ended, when none did within the
// live window: "no requests for 17 s" from the ring's newest request, or
// a bound where the ring cannot tell: it holds no request of the last
// minute, or streams (which it leaves out) may have ended since.
func quietText(s *Snapshot, live time.Duration, lastEnd time.Time) string {
	text := "no requests for > " + formatSpan(live)
	if gap := s.Time.Sub(lastEnd); !lastEnd.IsZero() && gap >= live {
		if s.Streams.Total == 0 {
			text = "no requests for " + formatSpan(gap)
		} else {
			text += " (the last non-stream one " + formatSpan(gap) + " ago)"
		}
	}
	if s.InFlight > 0 {
		text += " · " + formatCount(uint64(s.InFlight)) + " in flight"
	}
	return text
}
