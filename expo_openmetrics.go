package vitals

import (
	"strconv"
	"strings"
	"sync"
	"time"
)

// The OpenMetrics 1.0.0 text exposition: openMetricsWriter, the exposition
// writer of the face Prometheus asks for first. It is the text exposition
// (expo_text.go) with what OpenMetrics adds: a counter family is named
// without its _total suffix, which its samples carry; every counter and
// histogram series has a _created sample, the start of the count (see
// startSeconds); a family whose name ends in a unit (_seconds, _bytes)
// says so in a UNIT line; the answer ends with "# EOF". The text 0.0.4
// never carries _created: a Prometheus reading it would store _created as
// a series of its own.

// openMetricsType is the media type of the OpenMetrics exposition.
const openMetricsType = "application/openmetrics-text"

// openMetricsContentType returns the Content-Type of the OpenMetrics
// answer to a media range with the parameters params: version 1.0.0 (or
// 0.0.1 where the range names it, the draft of the same text), and the
// name escaping scheme the range asked for, if it named a known one, as
// Prometheus' escaping scheme says. vitals' names are legacy-valid, so the
// scheme changes nothing but this header.
func openMetricsContentType(params string) string {
	version := "1.0.0"
	for p := params; p != ""; {
		var k, v string
		k, v, p = nextParam(p)
		if equalFoldASCII(k, "version") && strings.Trim(v, `"`) == "0.0.1" {
			version = "0.0.1"
		}
	}
	ct := openMetricsType + "; version=" + version + "; charset=utf-8"
	if e := escaping(params); e != "" {
		ct += "; escaping=" + e
	}
	return ct
}

// appendOpenMetrics appends the OpenMetrics 1.0.0 exposition.
func (c *Collector) appendOpenMetrics(b []byte, s *Snapshot) []byte {
	return c.expose(newOpenMetricsWriter(b, c.promNamespace, c.promConstant, c.start), s)
}

// openMetricsWriter appends the OpenMetrics exposition to b: the text
// writer's series lines, with OpenMetrics' family lines, _created samples
// and end.
type openMetricsWriter struct {
	text    textWriter
	typ     int        // the type of the family being written
	created [32]byte   // the _created value, unix seconds, written once
	nc      int        // bytes of created used
	ex      []exemplar // exemplarSpace's, kept with the writer in its pool
}

var openMetricsWriters = sync.Pool{New: func() any { return new(openMetricsWriter) }}

// newOpenMetricsWriter returns an OpenMetrics writer that appends to b,
// with the start of every counter and histogram at start.
func newOpenMetricsWriter(b []byte, namespace, constant string, start time.Time) *openMetricsWriter {
	w := openMetricsWriters.Get().(*openMetricsWriter)
	*w = openMetricsWriter{text: textWriter{b: b, namespace: namespace, constant: constant}, ex: w.ex}
	w.nc = len(strconv.AppendFloat(w.created[:0], startSeconds(start), 'f', -1, 64))
	return w
}

// startSeconds is the start timestamp of the counters and histograms, in
// unix seconds: the collector's start, since each process counts from
// zero.
func startSeconds(start time.Time) float64 {
	return float64(start.UnixNano()) / 1e9
}

// familyName returns the OpenMetrics name of a family: a counter's without
// its _total suffix.
func familyName(name string, typ int) string {
	if typ == typeCounter {
		return strings.TrimSuffix(name, "_total")
	}
	return name
}

// unitOf returns the unit a family name ends in, or "".
func unitOf(name string) string {
	for _, u := range [...]string{"seconds", "bytes"} {
		if strings.HasSuffix(name, "_"+u) {
			return u
		}
	}
	return ""
}

// family writes the TYPE, UNIT (where the name has one) and HELP lines.
func (w *openMetricsWriter) family(name string, typ int, help string) {
	w.typ = typ
	name = familyName(name, typ)
	b := w.text.b
	b = append(b, "# TYPE "...)
	b = append(b, w.text.namespace...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, typeNames[typ]...)
	if u := unitOf(name); u != "" {
		b = append(b, "\n# UNIT "...)
		b = append(b, w.text.namespace...)
		b = append(b, name...)
		b = append(b, ' ')
		b = append(b, u...)
	}
	b = append(b, "\n# HELP "...)
	b = append(b, w.text.namespace...)
	b = append(b, name...)
	b = append(b, ' ')
	b = appendEscaped(b, help, true) // OpenMetrics escapes " in HELP too
	w.text.b = append(b, '\n')
}

// createdLine writes the _created sample of the series just written, of
// family name: the labels are the last line's, copied as they were escaped.
func (w *openMetricsWriter) createdLine(name string) {
	t := &w.text
	start, end := t.labels, t.labelsEnd
	t.b = append(t.b, t.namespace...)
	t.b = append(t.b, familyName(name, w.typ)...)
	t.b = append(t.b, "_created"...)
	t.b = append(t.b, t.b[start:end]...) // within b: append copies before it can move
	t.b = append(t.b, ' ')
	t.b = append(t.b, w.created[:w.nc]...)
	t.b = append(t.b, '\n')
}

func (w *openMetricsWriter) uint(name string, v uint64, l labelPairs) {
	w.text.uint(name, v, l)
	if w.typ == typeCounter {
		w.createdLine(name)
	}
}

func (w *openMetricsWriter) int(name string, v int64, l labelPairs) {
	w.text.int(name, v, l)
	if w.typ == typeCounter {
		w.createdLine(name)
	}
}

func (w *openMetricsWriter) float(name string, v float64, l labelPairs) {
	w.text.float(name, v, l)
	if w.typ == typeCounter {
		w.createdLine(name)
	}
}

func (w *openMetricsWriter) summary(name string, sum float64, count uint64) {
	w.text.summary(name, sum, count)
}

// histogram writes the classic buckets, the sum and count as the text
// does, then _created.
func (w *openMetricsWriter) histogram(name string, h histData, l labelPairs) {
	w.text.histogram(name, h, l)
	w.createdLine(name)
}

func (w *openMetricsWriter) nativeSpace() *nativeScratch { return nil }

// exemplarSpace: the classic buckets carry exemplars (the text writer
// writes them when h.ex is set, which expose does for OpenMetrics only).
func (w *openMetricsWriter) exemplarSpace(n int) []exemplar {
	w.ex = growExemplars(w.ex, n)
	return w.ex
}

func (w *openMetricsWriter) finish() []byte {
	b := append(w.text.b, "# EOF\n"...)
	*w = openMetricsWriter{ex: w.ex} // the pool keeps no answer alive
	openMetricsWriters.Put(w)
	return b
}
