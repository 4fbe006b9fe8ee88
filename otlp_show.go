package vitals

import (
	"net/url"
	"time"
)

// How the OTLP push shows: the JSON form of Snapshot.Export and the
// page's line.

type jsonExport struct {
	Sent        uint64     `json:"sent"`
	Failed      uint64     `json:"failed"`
	LastError   string     `json:"last_error"`
	LastSuccess *time.Time `json:"last_success"` // null if never
}

func exportJSON(x Export) jsonExport {
	j := jsonExport{Sent: x.Sent, Failed: x.Failed, LastError: x.LastError}
	if !x.LastSuccess.IsZero() {
		t := x.LastSuccess
		j.LastSuccess = &t
	}
	return j
}

// exportLine is the page's line on the OTLP push: where to, how often,
// how many exports went and failed, and the last error; "" without a
// push.
func (c *Collector) exportLine(s *Snapshot) string {
	if c.exp == nil {
		return ""
	}
	x := s.Export
	l := "Pushed to " + shownEndpoint(c.exp.cfg.endpoint) + " (OTLP) every " + formatSpan(c.exp.cfg.interval) + ": " +
		formatCount(x.Sent) + " sent, " + formatCount(x.Failed) + " failed since this process started"
	if !x.LastSuccess.IsZero() {
		l += "; last sent " + x.LastSuccess.Format("15:04:05")
	}
	if x.LastError != "" {
		l += "; the last export failed: " + x.LastError
	}
	return l + "."
}

// shownEndpoint is the endpoint without its user information and query,
// which may hold secrets.
func shownEndpoint(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the endpoint"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
