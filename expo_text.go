package vitals

import (
	"math"
	"strconv"
	"sync"
	"unicode/utf8"
)

// The Prometheus text exposition, format 0.0.4: textWriter, the exposition
// writer of the text face, and the text's numbers and escaping.

// prometheusContentType is the media type of the text exposition,
// version 0.0.4.
const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

// textWriter appends the text exposition to b. Every series is one line:
// its name, its labels (the constant ones first) and its value.
type textWriter struct {
	b         []byte
	namespace string // with its trailing underscore, or empty
	constant  string // `name="value",` for each constant label, sorted

	// The last series' labels, escaped, are b[labels:labelsEnd] (empty
	// without labels): OpenMetrics copies them to the _created sample.
	labels, labelsEnd int
}

// textWriters keeps text writers between scrapes: through the exposition
// interface a writer escapes to the heap.
var textWriters = sync.Pool{New: func() any { return new(textWriter) }}

// newTextWriter returns a text writer that appends to b.
func newTextWriter(b []byte, namespace, constant string) *textWriter {
	w := textWriters.Get().(*textWriter)
	*w = textWriter{b: b, namespace: namespace, constant: constant}
	return w
}

var typeNames = [...]string{typeCounter: "counter", typeGauge: "gauge", typeSummary: "summary", typeHistogram: "histogram"}

// family writes the HELP and TYPE lines of a family, whether or not
// series follow.
func (w *textWriter) family(name string, typ int, help string) {
	w.b = append(w.b, "# HELP "...)
	w.b = append(w.b, w.namespace...)
	w.b = append(w.b, name...)
	w.b = append(w.b, ' ')
	w.b = appendEscaped(w.b, help, false)
	w.b = append(w.b, "\n# TYPE "...)
	w.b = append(w.b, w.namespace...)
	w.b = append(w.b, name...)
	w.b = append(w.b, ' ')
	w.b = append(w.b, typeNames[typ]...)
	w.b = append(w.b, '\n')
}

// series starts a sample line: name and suffix, then the constant labels
// and l's. Values are escaped here.
func (w *textWriter) series(name, suffix string, l *labelPairs) {
	w.b = append(w.b, w.namespace...)
	w.b = append(w.b, name...)
	w.b = append(w.b, suffix...)
	w.labels = len(w.b)
	if w.constant == "" && l.n == 0 {
		w.labelsEnd = len(w.b)
		w.b = append(w.b, ' ')
		return
	}
	w.b = append(w.b, '{')
	w.b = append(w.b, w.constant...)
	for i := 0; i+1 < l.n; i += 2 {
		w.b = append(w.b, l.kv[i]...)
		w.b = append(w.b, `="`...)
		w.b = appendEscaped(w.b, l.kv[i+1], true)
		w.b = append(w.b, `",`...)
	}
	w.b[len(w.b)-1] = '}' // replaces the last comma
	w.labelsEnd = len(w.b)
	w.b = append(w.b, ' ')
}

func (w *textWriter) uint(name string, v uint64, l labelPairs) {
	w.series(name, "", &l)
	w.b = strconv.AppendUint(w.b, v, 10)
	w.b = append(w.b, '\n')
}

func (w *textWriter) int(name string, v int64, l labelPairs) {
	w.series(name, "", &l)
	w.b = strconv.AppendInt(w.b, v, 10)
	w.b = append(w.b, '\n')
}

func (w *textWriter) float(name string, v float64, l labelPairs) {
	w.series(name, "", &l)
	w.b = appendFloat(w.b, v)
	w.b = append(w.b, '\n')
}

func (w *textWriter) summary(name string, sum float64, count uint64) {
	var none labelPairs
	w.series(name, "_sum", &none)
	w.b = appendFloat(w.b, sum)
	w.b = append(w.b, '\n')
	w.series(name, "_count", &none)
	w.b = strconv.AppendUint(w.b, count, 10)
	w.b = append(w.b, '\n')
}

// histogram writes the classic buckets, cumulative, each with its le
// label last, then the sum and the count. The text cannot carry native
// histograms.
func (w *textWriter) histogram(name string, h histData, l labelPairs) {
	le := l
	le.kv[le.n] = "le"
	le.n += 2
	var cum uint64
	for i, n := range h.counts {
		cum += n
		le.kv[le.n-1] = h.les[i]
		w.series(name, "_bucket", &le)
		w.b = strconv.AppendUint(w.b, cum, 10)
		if h.ex != nil && h.ex[i].ok && n != 0 { // OpenMetrics only: the text's h.ex is nil
			w.b = appendOpenMetricsExemplar(w.b, &h.ex[i])
		}
		w.b = append(w.b, '\n')
	}
	w.series(name, "_sum", &l)
	w.b = appendFloat(w.b, h.sum)
	w.b = append(w.b, '\n')
	w.series(name, "_count", &l)
	w.b = strconv.AppendUint(w.b, cum, 10)
	w.b = append(w.b, '\n')
}

func (w *textWriter) nativeSpace() *nativeScratch { return nil }

func (w *textWriter) exemplarSpace(int) []exemplar { return nil }

func (w *textWriter) finish() []byte {
	b := w.b
	*w = textWriter{} // the pool keeps no answer alive
	textWriters.Put(w)
	return b
}

// appendFloat appends v as the text writes numbers: the shortest decimal
// or exponent form that reads back exactly, and +Inf, -Inf or NaN.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// appendEscaped escapes per the text format: backslash and line feed in
// HELP text; backslash, double quote and line feed in label values. Invalid
// UTF-8 becomes U+FFFD, since the format is UTF-8.
func appendEscaped(b []byte, s string, quote bool) []byte {
	for _, r := range s {
		switch {
		case r == '\\':
			b = append(b, `\\`...)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}
