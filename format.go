package vitals

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The words and numbers of the page: every figure it shows is written by
// one of these formatters, as a person reads it ("1,234", "1.2ms", "37/s",
// "0.2%", "5 min", "3.4 MiB"), latencies with their bounds.

// Latency figures that vitals cannot know are shown as bounds.
//
// The collector reports a percentile that fell into its histogram's zero
// bucket as exactly LatencyFloor (954ns) and one above its top as exactly
// LatencyCeiling (68m16s); no estimate ever equals either. boundOf tells
// the bounds from the estimates, for the JSON form and for the page, which
// writes them as "< 1µs" (true, as the value is at most 954ns) and
// "> 1.1h".

// latencyBound returns how to show percentile d of a population that has
// requests: the figure, and boundOf's "<" or ">" where it is a bound. A
// figure outside the histogram's range (0 for requests without durations,
// as IncrementRequests counts them) is shown as the bound beyond it.
func latencyBound(d time.Duration) (time.Duration, string) {
	d = min(max(d, LatencyFloor), LatencyCeiling)
	b := boundOf(d)
	if b == "<" {
		d = time.Microsecond
	}
	return d, b
}

// latencyText formats percentile d of a population that has requests.
func latencyText(d time.Duration) string {
	return formatLatency(latencyBound(d))
}

// formatLatency formats a latency figure, as a bound where b, as boundOf
// returns it, says it is one: "38µs", "< 1µs", "> 1h".
func formatLatency(d time.Duration, b string) string {
	if b == "" {
		return formatDuration(d)
	}
	return b + " " + formatDuration(d)
}

// durationUnits are the units formatDuration writes, smallest first, each
// with the value at which the next one takes over.
var durationUnits = []struct {
	size time.Duration
	name string
	next float64
}{
	{time.Nanosecond, "ns", 1000},
	{time.Microsecond, "µs", 1000},
	{time.Millisecond, "ms", 1000},
	{time.Second, "s", 60},
	{time.Minute, "min", 60},
	{time.Hour, "h", math.Inf(1)},
}

// formatDuration writes d as a person reads it: in the largest unit that
// keeps the number at least 1, with one decimal below 10 and none above:
// "850ns", "38µs", "1.2ms", "480ms", "2.5s", "1.5min". Zero is "0".
func formatDuration(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	i := 0
	for i+1 < len(durationUnits) && d >= durationUnits[i+1].size {
		i++
	}
	for {
		u := durationUnits[i]
		v := roundFigure(float64(d) / float64(u.size))
		if v >= u.next && i+1 < len(durationUnits) {
			i++ // 999.7µs rounds to 1000µs: that is 1ms
			continue
		}
		return formatFigure(v) + u.name
	}
}

// roundFigure rounds v to one decimal below 10 and to a whole number above.
func roundFigure(v float64) float64 {
	if v < 10 {
		return math.Round(v*10) / 10
	}
	return math.Round(v)
}

// formatFigure writes a value rounded by roundFigure, without a trailing
// ".0", and with digits grouped from 1,000 up.
func formatFigure(v float64) string {
	if v >= 1000 {
		return formatCount(uint64(v))
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// formatSpan writes the length of a time window: "5 min", "42 s", "1 h",
// "2 min 30 s", and below a second "80 ms" (a live window the ring covers
// only in part).
func formatSpan(d time.Duration) string {
	if d < time.Second {
		if ms := d.Round(time.Millisecond); ms >= time.Millisecond {
			return strconv.FormatInt(int64(ms/time.Millisecond), 10) + " ms"
		}
		return "< 1 ms"
	}
	d = d.Round(time.Second)
	h, m, sec := d/time.Hour, d%time.Hour/time.Minute, d%time.Minute/time.Second
	var parts []string
	if h > 0 {
		parts = append(parts, strconv.FormatInt(int64(h), 10)+" h")
	}
	if m > 0 {
		parts = append(parts, strconv.FormatInt(int64(m), 10)+" min")
	}
	if sec > 0 && h == 0 {
		parts = append(parts, strconv.FormatInt(int64(sec), 10)+" s")
	}
	return strings.Join(parts, " ")
}

// formatRate writes n requests over span as a rate per second, the page's
// one unit of rate: "1,250/s", "12/s", "1.2/s", and below one a second
// with two significant digits: "0.6/s", "0.0067/s".
func formatRate(n uint64, span time.Duration) string {
	if span <= 0 {
		return "—"
	}
	return formatPerSecond(float64(n) / span.Seconds())
}

// formatPerSecond writes a rate per second as formatRate does.
func formatPerSecond(perSec float64) string {
	switch {
	case perSec <= 0 || math.IsNaN(perSec):
		return "0/s"
	case perSec >= 1:
		return formatFigure(roundFigure(perSec)) + "/s"
	}
	scale := math.Pow(10, 1-math.Floor(math.Log10(perSec)))
	return strconv.FormatFloat(math.Round(perSec*scale)/scale, 'f', -1, 64) + "/s"
}

// formatShare writes n of total as a percentage: "0%", "< 0.1%", "1.5%",
// "12%", "100%".
func formatShare(n, total uint64) string {
	if n == 0 || total == 0 {
		return "0%"
	}
	p := 100 * float64(n) / float64(total)
	switch {
	case p < 0.1:
		return "< 0.1%"
	case n < total && p > 99.9:
		return "> 99.9%"
	}
	return formatFigure(roundFigure(p)) + "%"
}

// bucketName names a bucket width in "per minute": "second", "minute",
// "hour", or its span ("10 min").
func bucketName(w time.Duration) string {
	switch w {
	case time.Second:
		return "second"
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	}
	return formatSpan(w)
}

// formatUptime writes how long the process has been up: "3h4m5s",
// "2d 5h".
func formatUptime(d time.Duration) string {
	d = d.Round(time.Second)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	if days > 0 {
		return fmt.Sprintf("%dd %dh", days, d/time.Hour)
	}
	return d.String()
}

// formatBytes writes a size in binary units: "512 B", "3.4 MiB".
func formatBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	f := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= unit
		if f < unit {
			return strconv.FormatFloat(f, 'f', 1, 64) + " " + u
		}
	}
	return strconv.FormatFloat(f, 'f', 0, 64) + " TiB"
}

// formatCount groups digits in threes: 1234567 is "1,234,567".
func formatCount(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	return string(b)
}
