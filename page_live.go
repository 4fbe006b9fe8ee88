package vitals

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The page's live figures drawn from the duration ring: the scatter of
// the last minute's requests, one dot each, and the table of the slowest
// requests of the recent window.

const (
	// scatterSpan is the most time the live scatter covers.
	scatterSpan = time.Minute
	// maxScatterDots bounds the dots the scatter draws (and so the page's
	// size): requests that fall on the same spot of the plot share a dot,
	// and the spots grow coarser until the dots fit.
	maxScatterDots = 1500
	// maxScatterPoints bounds the requests the scatter lays out: of a
	// larger ring (LiveRequests allows 1<<20), every n-th is drawn.
	maxScatterPoints = 1 << 16
	// scatterW and scatterH are the scatter's viewBox, in whole units so
	// that the dots' coordinates are integers, quick to write.
	scatterW, scatterH = 10000, 1000
)

// scatter is the live scatter: each request a dot, its end time across,
// its duration up on a log scale, coloured by status class.
type scatter struct {
	Title   string
	Dots    []line // one path per status class, errors drawn last
	Grid    []float64
	Axis    []string  // labels of the grid lines, top to bottom
	Live    float64   // x where the live window starts, -1 when it is off the plot
	LiveW   float64   // its width
	LiveKey string    // legend of the live window: "last 10 s"
	Ticks   [3]string // under the plot: oldest, middle, "now"
	Caption string    // how many requests, how many dots
	Keys    []statusKey
	Empty   string // shown instead of the plot when it has no dot
}

// statusKey is one status class of the scatter's legend.
type statusKey struct{ Label, Class string }

// scatterClasses are the status classes of the dots, in drawing order:
// errors last, on top.
var scatterClasses = []statusKey{{"1xx, other", "d1"}, {"2xx", "d2"}, {"3xx", "d3"}, {"4xx", "d4"}, {"5xx", "d5"}}

// scatterClass returns the index in scatterClasses of status.
func scatterClass(status int) int {
	if status >= 200 && status < 600 {
		return status/100 - 1
	}
	return 0
}

// newScatter lays out the live scatter of pts (the ring's requests, oldest
// first, streams left out) as of now. The plot covers the last
// scatterSpan, or less when the ring wrapped inside it (wrapped): then it
// starts at the oldest request the ring holds. live is LiveWindow, shaded
// at the right.
func newScatter(pts []livePoint, now time.Time, live time.Duration, wrapped bool) scatter {
	sc := scatter{Live: -1, LiveKey: "last " + formatSpan(live)}
	// The requests on the plot: those that ended in the span, not after now.
	lo, hi := 0, len(pts)
	for lo < hi && now.Sub(pts[lo].End) > scatterSpan {
		lo++
	}
	for hi > lo && pts[hi-1].End.After(now) {
		hi--
	}
	pts = pts[lo:hi]
	span := scatterSpan
	if wrapped && len(pts) > 0 {
		span = max(now.Sub(pts[0].End), time.Millisecond)
	}
	switch {
	case span < scatterSpan:
		sc.Title = "Each request of the last " + formatSpan(span) + ": all the ring holds"
	default:
		sc.Title = "Each request of the last minute"
	}
	sc.Ticks = [3]string{formatSpan(span) + " ago", formatSpan(span/2) + " ago", "now"}
	if live < span {
		sc.LiveW = math.Round(scatterW * live.Seconds() / span.Seconds())
		sc.Live = scatterW - sc.LiveW
	}
	if len(pts) == 0 {
		sc.Empty = "No request ended in the last " + formatSpan(span) + "."
		return sc
	}
	// The y scale: whole decades around the durations.
	dur := func(d time.Duration) float64 { return math.Log10(float64(max(d, 1))) }
	a, b := math.Inf(1), math.Inf(-1)
	for _, p := range pts {
		a, b = min(a, dur(p.Duration)), max(b, dur(p.Duration))
	}
	a, b = math.Floor(a), math.Ceil(b)
	if b <= a {
		b = a + 1
	}
	step := 1
	if b-a > 4 {
		step = 2
	}
	for k := b; k >= a; k-- {
		sc.Grid = append(sc.Grid, math.Round(scatterH*(97-94*(k-a)/(b-a))/100))
		label := ""
		if int(b-k)%step == 0 {
			label = formatDuration(time.Duration(math.Pow(10, k)))
		}
		sc.Axis = append(sc.Axis, label)
	}
	// Each request's spot, in viewBox units, once.
	type spot struct{ x, y, k int }
	stride := (len(pts) + maxScatterPoints - 1) / maxScatterPoints
	spots := make([]spot, 0, len(pts)/stride+1)
	for i := 0; i < len(pts); i += stride {
		p := pts[i]
		x := scatterW * (1 - now.Sub(p.End).Seconds()/span.Seconds())
		y := scatterH * (97 - 94*(dur(p.Duration)-a)/(b-a)) / 100
		spots = append(spots, spot{min(max(int(math.Round(x)), 0), scatterW), min(max(int(math.Round(y)), 0), scatterH), scatterClass(p.Status)})
	}
	// One dot per cell of the plot, with cells as fine as the cap on dots
	// allows: the first request of each cell is drawn.
	cw, ch := 40, 15
	var seen []uint64
	cell := func(p spot) (int, uint64) {
		cols, rows := scatterW/cw+1, scatterH/ch+1
		c := (p.k*rows+p.y/ch)*cols + p.x/cw
		return c / 64, 1 << (c % 64)
	}
	reset := func() {
		n := (scatterW/cw + 1) * (scatterH/ch + 1) * len(scatterClasses)
		seen = append(seen[:0], make([]uint64, (n+63)/64)...)
	}
	dots := 0
	for {
		reset()
		dots = 0
		for _, p := range spots {
			if i, bit := cell(p); seen[i]&bit == 0 {
				seen[i] |= bit
				dots++
			}
		}
		if dots <= maxScatterDots {
			break
		}
		cw, ch = cw*2, ch*2
	}
	reset()
	var paths [5][]byte
	for _, p := range spots {
		i, bit := cell(p)
		if seen[i]&bit != 0 {
			continue
		}
		seen[i] |= bit
		b := append(paths[p.k], 'M')
		b = strconv.AppendInt(b, int64(p.x), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(p.y), 10)
		paths[p.k] = append(b, "h0"...)
	}
	for k, key := range scatterClasses {
		if len(paths[k]) > 0 {
			sc.Dots = append(sc.Dots, line{D: string(paths[k]), Class: key.Class})
			sc.Keys = append(sc.Keys, key)
		}
	}
	sc.Caption = formatCount(uint64(len(pts))) + " requests (streams aside) in " + formatCount(uint64(dots)) +
		" dots: requests on the same spot share one."
	switch {
	case stride > 1:
		sc.Caption = formatCount(uint64(len(pts))) + " requests (streams aside): one in " + formatCount(uint64(stride)) +
			" drawn, in " + formatCount(uint64(dots)) + " dots: requests on the same spot share one."
	case dots == len(pts):
		sc.Caption = formatCount(uint64(len(pts))) + " requests, streams aside: one dot each."
	}
	return sc
}

// slowRow is one request of the slowest requests table.
type slowRow struct {
	Duration      string
	Route         []string // cut after each "/", where it may wrap
	Status        string
	Bad           bool // a 5xx
	When, WhenAt  string
	Trace, TraceT string // the trace id, and its title
}

// slowestRows lays out the slowest requests of s, slowest first.
func slowestRows(s *Snapshot) []slowRow {
	rows := make([]slowRow, 0, len(s.Slowest))
	for _, r := range s.Slowest {
		name := r.Route
		if r.Method != "" && !strings.HasPrefix(name, r.Method+" ") {
			name = r.Method + " " + name
		}
		row := slowRow{Duration: formatDuration(r.Duration), Route: strings.SplitAfter(name, "/"),
			Status: fmt.Sprint(r.Status), Bad: r.Status >= 500 && r.Status < 600,
			When: formatAgo(s.Time.Sub(r.End)), WhenAt: r.End.Format("15:04:05.000 MST")}
		if r.TraceID != "" { // the page shortens it; a copy takes it whole
			row.Trace, row.TraceT = r.TraceID, "trace id "+r.TraceID
		}
		rows = append(rows, row)
	}
	return rows
}

// formatAgo writes how long ago something happened, coarsely (the page
// gives the time in a title): "now", "48 s ago", "4 min ago", "2 h ago".
func formatAgo(d time.Duration) string {
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return formatSpan(d) + " ago"
	case d < time.Hour:
		return formatSpan(d.Truncate(time.Minute)) + " ago"
	}
	return formatSpan(d.Truncate(time.Hour)) + " ago"
}
