package vitals

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// The page's hour chart, laid out as SVG coordinates: requests, 5xx and
// latency per bucket of the window. The template only places it.

// hourChart is the window of the recent past, one column per bucket, in
// rows that share the time axis: requests, 5xx and latency. Each row is an
// SVG whose viewBox is one unit per bucket wide and 100 high, stretched to
// the page's width, so its labels are HTML and stay readable on a phone.
type hourChart struct {
	Title   string
	N       int // buckets
	Rows    []chartRow
	Ticks   [3]string // under the rows: oldest, middle and "now"
	NoData  string    // legend text for the no-data region, "" when none
	Partial string    // legend text for the partial buckets, "" when none
	Latency bool      // the legend shows the latency lines
	Hits    []hit     // one column over all rows per bucket
}

// chartRow is one row of the hour chart: its heading, axis labels and
// paths, W buckets wide.
type chartRow struct {
	Heading string
	Class   string   // of the SVG: the row's height
	Axis    []string // labels spread evenly from top to bottom
	Grid    []float64
	NoData  []band // the no-data regions
	Partial []band // the partial buckets, one wide each
	Bars    []line
	Lines   []line
	W       int
}

// line is an SVG path and its class.
type line struct{ D, Class string }

// band is a run of buckets from X, W wide.
type band struct{ X, W int }

// hit is a column that shows a bucket's figures on hover.
type hit struct {
	X     int
	Title string
}

// maxChartBuckets caps the buckets the page draws: a longer window
// (WindowBuckets allows 100,000) is shown by its most recent buckets, so
// the page stays small.
const maxChartBuckets = 720

// shownWindow returns the part of w that the page draws: its last
// maxChartBuckets buckets, with the aligned figures cut to match.
func shownWindow(w *Window) *Window {
	n := len(w.Counts)
	cut := n - maxChartBuckets
	if cut <= 0 {
		return w
	}
	v := *w
	v.Start = w.Start.Add(time.Duration(cut) * w.BucketWidth)
	v.Counts = w.Counts[cut:]
	v.Errors = tail(w.Errors, n, cut)
	v.P50, v.P90, v.P99 = tail(w.P50, n, cut), tail(w.P90, n, cut), tail(w.P99, n, cut)
	v.HeapBytes, v.Goroutines = tail(w.HeapBytes, n, cut), tail(w.Goroutines, n, cut)
	v.NoDataAt = tail(w.NoDataAt, n, cut)
	v.Total = 0
	for _, c := range v.Counts {
		v.Total += c
	}
	return &v
}

// tail returns xs without its first cut values if it is aligned with n
// buckets, else nil.
func tail[T any](xs []T, n, cut int) []T {
	if len(xs) != n {
		return nil
	}
	return xs[cut:]
}

// newHourChart lays out the hour chart of s: the buckets it shows, which
// hold no data, the partial one, and the rows.
func newHourChart(s *Snapshot) hourChart {
	w := shownWindow(&s.Window)
	n := len(w.Counts)
	ch := hourChart{N: n, Title: "Last " + windowSpan(w) + ", per " + bucketName(w.BucketWidth)}
	if n == 0 {
		return ch
	}
	// The buckets without data (NoDataAt): the leading ones, which end
	// before counting started (Snapshot.Start), and a restart's after them.
	nd := make([]bool, n)
	noData := 0
	for i := range nd {
		nd[i] = len(w.NoDataAt) == n && w.NoDataAt[i]
		if nd[i] && noData == i && !w.Start.Add(time.Duration(i+1)*w.BucketWidth).After(s.Start) {
			noData++
		}
	}
	var bands []band
	for i := 0; i < n; i++ {
		if !nd[i] {
			continue
		}
		j := i
		for j < n && nd[j] {
			j++
		}
		bands = append(bands, band{X: i, W: j - i})
		i = j
	}
	at := func(i int) time.Time { return w.Start.Add(time.Duration(i) * w.BucketWidth) }
	layout := "15:04"
	switch {
	case time.Duration(n)*w.BucketWidth > 24*time.Hour:
		layout = "Jan 2 15:04"
	case w.BucketWidth%time.Minute != 0:
		layout = "15:04:05"
	}
	ch.Ticks = [3]string{at(0).Format(layout), at(0).Add(time.Duration(n) * w.BucketWidth / 2).Format(layout), "now"}
	var why []string
	for _, b := range bands {
		if b.X < noData {
			why = append(why, "before counting started at "+s.Start.Format(layout))
		} else {
			why = append(why, "not counting "+at(b.X).Format(layout)+"–"+at(b.X+b.W).Format(layout))
		}
	}
	if len(why) > 0 {
		ch.NoData = "no data: " + strings.Join(why, "; ")
	}
	part, secs, partWhy := partialBuckets(s, w, nd)
	if len(partWhy) > 0 {
		ch.Partial = "partial " + bucketName(w.BucketWidth) + "s, not dips: " + strings.Join(partWhy, "; ")
	}
	var partBands []band
	for i, p := range part {
		if p != "" {
			partBands = append(partBands, band{X: i, W: 1})
		}
	}
	errs := aligned(w.Errors, n)
	p50, p90, p99 := aligned(w.P50, n), aligned(w.P90, n), aligned(w.P99, n)

	// Each bucket's figures, on hover.
	ch.Hits = make([]hit, n)
	for i := range n {
		t := at(i).Format(layout) + "–" + at(i+1).Format(layout)
		switch {
		case i < noData:
			t += ": no data (before counting started)"
		case nd[i]:
			t += ": no data (not counting: the process was down)"
		default:
			t += ": " + formatCount(w.Counts[i]) + " requests (" + formatPerSecond(float64(w.Counts[i])/secs[i]) + ")"
			if errs != nil {
				t += ", " + formatCount(errs[i]) + " 5xx"
			}
			if p50 != nil && p90 != nil && p99 != nil && w.Counts[i] > 0 {
				t += ", p50 " + latencyText(p50[i]) + ", p90 " + latencyText(p90[i]) + ", p99 " + latencyText(p99[i])
			}
			if part[i] != "" {
				t += " (partial: " + part[i] + ")"
			}
		}
		ch.Hits[i] = hit{X: i, Title: t}
	}
	newRow := func(heading, class string) chartRow {
		return chartRow{Heading: heading, Class: class, NoData: bands, Partial: partBands, W: n}
	}

	req := newRow("Requests per second, by "+bucketName(w.BucketWidth), "tall")
	req.Bars, req.Axis = rateBars(w.Counts, secs, nd, part, "b")
	ch.Rows = append(ch.Rows, req)
	if errs != nil {
		e := newRow("5xx per second, by "+bucketName(w.BucketWidth), "short")
		e.Bars, e.Axis = rateBars(errs, secs, nd, part, "e")
		var sum uint64
		for _, x := range errs {
			sum += x
		}
		if sum == 0 {
			e.Heading += ": none"
		}
		ch.Rows = append(ch.Rows, e)
	}
	if p50 != nil && p99 != nil {
		l := newRow("Latency p50 and p99, by "+bucketName(w.BucketWidth)+" (log scale)", "tall")
		l.Lines, l.Grid, l.Axis = latencyLines(w.Counts, p50, p99)
		if l.Lines == nil {
			l.Heading = "Latency per " + bucketName(w.BucketWidth) + ": no requests"
		}
		ch.Latency = l.Lines != nil
		ch.Rows = append(ch.Rows, l)
	}
	return ch
}

// windowSpan names the time the window covers: "hour", "2 h", "10 min".
func windowSpan(w *Window) string {
	d := time.Duration(len(w.Counts)) * w.BucketWidth
	if d == time.Hour {
		return "hour"
	}
	return formatSpan(d)
}

// aligned returns xs if it has one value per bucket, else nil: a figure
// the snapshot does not carry is left out rather than drawn as zero.
func aligned[T any](xs []T, n int) []T {
	if len(xs) != n {
		return nil
	}
	return xs
}

// partialBuckets finds the buckets that hold only part of their traffic,
// which plain bars would show as dips: the current one (so far), the one
// in which counting started, and those around a restart: the one in
// which this process started, and the last one counted before it, by the
// process before, which may have counted less than its whole traffic
// before it stopped. It returns them, with the seconds each bucket's
// count covers (so the bars are rates) and why each is partial.
func partialBuckets(s *Snapshot, w *Window, nd []bool) (part []string, secs []float64, why []string) {
	n := len(w.Counts)
	part, secs = make([]string, n), make([]float64, n)
	for i := range secs {
		secs[i] = w.BucketWidth.Seconds()
	}
	at := func(i int) time.Time { return w.Start.Add(time.Duration(i) * w.BucketWidth) }
	bucket := func(t time.Time) int {
		if t.Before(w.Start) {
			return -1
		}
		return int(t.Sub(w.Start) / w.BucketWidth)
	}
	mark := func(i int, reason string) bool {
		if i < 0 || i >= n || nd[i] {
			return false
		}
		if part[i] != "" {
			part[i] += "; "
		}
		part[i] += reason
		return true
	}
	if i := bucket(s.Start); i >= 0 && i < n && s.Start.After(at(i)) {
		r := "counting started " + s.Start.Format("15:04:05")
		if mark(i, r) {
			end := at(i + 1)
			if s.Time.Before(end) {
				end = s.Time
			}
			secs[i] = max(end.Sub(s.Start).Seconds(), 1)
			why = append(why, r)
		}
	}
	// A restart: this process started after counting did.
	if proc := s.Time.Add(-s.Uptime); proc.Sub(s.Start) > time.Second {
		if i := bucket(proc); i >= 0 && i < n {
			j := i - 1
			for j >= 0 && nd[j] {
				j--
			}
			r := "around the restart at " + proc.Format("15:04:05")
			if a, b := mark(i, r), mark(j, r); a || b {
				why = append(why, r)
			}
		}
	}
	// Earlier restarts: the buckets either side of a gap in the data after
	// counting started.
	gap := false
	for i := 1; i < n; i++ {
		if nd[i] && !nd[i-1] && part[i-1] == "" {
			gap = mark(i-1, "before a gap in the data") || gap
		}
		if !nd[i] && nd[i-1] && at(i).After(s.Start) && part[i] == "" {
			gap = mark(i, "after a gap in the data") || gap
		}
	}
	if gap {
		why = append(why, "either side of a gap in the data")
	}
	if elapsed := s.Time.Sub(at(n - 1)); elapsed >= 0 && elapsed < w.BucketWidth {
		r := "this " + bucketName(w.BucketWidth) + " so far (" + formatSpan(elapsed) + ")"
		if mark(n-1, "so far") {
			secs[n-1] = min(secs[n-1], max(elapsed.Seconds(), 1))
			why = append(why, r)
		}
	}
	return part, secs, why
}

// rateBars draws counts as bars of their rate per second (each count over
// the seconds it covers) scaled to their peak, skipping the no-data
// buckets, and returns them with the axis labels. The bars are one path
// (the partial buckets' another), so the page stays small.
func rateBars(counts []uint64, secs []float64, nd []bool, part []string, class string) ([]line, []string) {
	var peak float64
	for i, c := range counts {
		if !nd[i] {
			peak = max(peak, float64(c)/secs[i])
		}
	}
	var full, partial strings.Builder
	for i := range counts {
		if counts[i] == 0 || nd[i] {
			continue
		}
		sb := &full
		if part[i] != "" {
			sb = &partial
		}
		fmt.Fprintf(sb, "M%g 100V%gh.76V100z", float64(i)+0.12, r2(100-96*float64(counts[i])/secs[i]/peak))
	}
	var bars []line
	if full.Len() > 0 {
		bars = append(bars, line{D: full.String(), Class: class})
	}
	if partial.Len() > 0 {
		bars = append(bars, line{D: partial.String(), Class: class + " part"})
	}
	return bars, []string{formatPerSecond(peak), "0"}
}

// latencyLines draws p50 and p99 per bucket as steps on a log scale whose
// grid lines are whole decades, leaving gaps at buckets without requests.
func latencyLines(counts []uint64, p50, p99 []time.Duration) ([]line, []float64, []string) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, c := range counts {
		if c == 0 {
			continue
		}
		for _, d := range []time.Duration{p50[i], p99[i]} {
			d, _ = latencyBound(d)
			lo, hi = min(lo, float64(d)), max(hi, float64(d))
		}
	}
	if math.IsInf(lo, 1) {
		return nil, nil, nil
	}
	a, b := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if b <= a {
		b = a + 1
	}
	y := func(d time.Duration) float64 {
		d, _ = latencyBound(d)
		return r2(97 - 94*(math.Log10(float64(d))-a)/(b-a))
	}
	step := 1 // label every decade, or every other one when there are many
	if b-a > 4 {
		step = 2
	}
	var grid []float64
	var axis []string
	for k := b; k >= a; k-- {
		grid = append(grid, r2(97-94*(k-a)/(b-a)))
		label := ""
		if int(b-k)%step == 0 {
			label = formatDuration(time.Duration(math.Pow(10, k)))
		}
		axis = append(axis, label)
	}
	steps := func(ps []time.Duration) string {
		return stepPath(len(counts), func(i int) (float64, bool) {
			if counts[i] == 0 {
				return 0, false
			}
			return y(ps[i]), true
		})
	}
	return []line{{D: steps(p99), Class: "p99"}, {D: steps(p50), Class: "p50"}}, grid, axis
}

// stepPath draws a line of steps over n buckets, one unit wide each: at
// height y(i) across bucket i, with a gap at each bucket where y says
// there is no value. One path, so the page stays small.
func stepPath(n int, y func(i int) (float64, bool)) string {
	var sb strings.Builder
	open := false
	for i := range n {
		yy, ok := y(i)
		if !ok {
			open = false
			continue
		}
		if open {
			fmt.Fprintf(&sb, "V%gH%d", yy, i+1)
		} else {
			fmt.Fprintf(&sb, "M%d %gH%d", i, yy, i+1)
		}
		open = true
	}
	return sb.String()
}

// r2 rounds a coordinate or a bar width to two decimals, so the page stays
// small.
func r2(x float64) float64 { return math.Round(x*100) / 100 }
