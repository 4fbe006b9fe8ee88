package conformance

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/vitalsgo/vitals"
)

// What Prometheus 2.42 sends, with native histograms on and off.
const (
	acceptNative  = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
	acceptClassic = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)

// scrape gets the Prometheus exposition as Prometheus asks for it (gzip
// included) and returns the gunzipped body and its format.
func scrape(t testing.TB, h http.Handler, accept string) ([]byte, expfmt.Format) {
	t.Helper()
	r := httptest.NewRequest("GET", "/metrics?format=prometheus", nil)
	r.Header.Set("Accept", accept)
	r.Header.Set("Accept-Encoding", "gzip")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("scrape: %d, Content-Encoding %q", w.Code, w.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return body, expfmt.ResponseFormat(w.Header())
}

// decodeProto decodes a delimited stream with the official decoder.
func decodeProto(t testing.TB, body []byte) []*dto.MetricFamily {
	t.Helper()
	dec := expfmt.NewDecoder(bytes.NewReader(body), expfmt.NewFormat(expfmt.TypeProtoDelim))
	var fams []*dto.MetricFamily
	for {
		mf := new(dto.MetricFamily)
		err := dec.Decode(mf)
		if err == io.EOF {
			return fams
		}
		if err != nil {
			t.Fatalf("decoding protobuf: %v", err)
		}
		fams = append(fams, mf)
	}
}

// decodeText parses the text face with the official parser, strict about
// names.
func decodeText(t testing.TB, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parsing text: %v\n%s", err, body)
	}
	return fams
}

// series renders one metric of a family as a comparable string: its
// labels sorted, then its value or its classic histogram or summary.
// Floats are written exactly (their bits), so equal strings mean equal
// values.
func series(mf *dto.MetricFamily, m *dto.Metric) string {
	var b strings.Builder
	labels := slices.Clone(m.GetLabel())
	slices.SortFunc(labels, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	for _, l := range labels {
		fmt.Fprintf(&b, "%s=%q,", l.GetName(), l.GetValue())
	}
	f := func(v float64) string { return strconv.FormatUint(math.Float64bits(v), 16) }
	switch mf.GetType() {
	case dto.MetricType_COUNTER:
		fmt.Fprintf(&b, " counter %s", f(m.GetCounter().GetValue()))
	case dto.MetricType_GAUGE:
		fmt.Fprintf(&b, " gauge %s", f(m.GetGauge().GetValue()))
	case dto.MetricType_SUMMARY:
		s := m.GetSummary()
		fmt.Fprintf(&b, " summary %d %s %d", s.GetSampleCount(), f(s.GetSampleSum()), len(s.GetQuantile()))
	case dto.MetricType_HISTOGRAM:
		h := m.GetHistogram()
		fmt.Fprintf(&b, " histogram %d %s", h.GetSampleCount(), f(h.GetSampleSum()))
		for _, bk := range h.GetBucket() {
			if math.IsInf(bk.GetUpperBound(), 1) {
				continue // the text writes the +Inf bucket, protobuf leaves it to the count
			}
			fmt.Fprintf(&b, " %s:%d", f(bk.GetUpperBound()), bk.GetCumulativeCount())
		}
	default:
		fmt.Fprintf(&b, " type %v", mf.GetType())
	}
	return b.String()
}

// compareFaces checks that the protobuf face has exactly the families and
// series of the text face, and returns the protobuf families.
func compareFaces(t testing.TB, h http.Handler) []*dto.MetricFamily {
	t.Helper()
	pbBody, pbFormat := scrape(t, h, acceptNative)
	txBody, txFormat := scrape(t, h, acceptClassic)
	if pbFormat.FormatType() != expfmt.TypeProtoDelim || txFormat.FormatType() != expfmt.TypeTextPlain {
		t.Fatalf("formats %q and %q, want delimited protobuf and text", pbFormat, txFormat)
	}
	proto := decodeProto(t, pbBody)
	text := decodeText(t, txBody)
	if len(proto) != len(text) {
		t.Errorf("%d families in protobuf, %d in text", len(proto), len(text))
	}
	for _, pf := range proto {
		tf := text[pf.GetName()]
		if tf == nil {
			t.Errorf("family %s only in protobuf", pf.GetName())
			continue
		}
		if pf.GetHelp() != tf.GetHelp() || pf.GetType() != tf.GetType() {
			t.Errorf("%s: protobuf %v %q, text %v %q", pf.GetName(), pf.GetType(), pf.GetHelp(), tf.GetType(), tf.GetHelp())
		}
		var ps, ts []string
		for _, m := range pf.GetMetric() {
			ps = append(ps, series(pf, m))
		}
		for _, m := range tf.GetMetric() {
			ts = append(ts, series(tf, m))
		}
		slices.Sort(ps)
		slices.Sort(ts)
		if !slices.Equal(ps, ts) {
			t.Errorf("%s differs:\nprotobuf %q\ntext     %q", pf.GetName(), ps, ts)
		}
		if pf.GetType() == dto.MetricType_HISTOGRAM {
			for _, m := range pf.GetMetric() {
				checkNative(t, m.GetHistogram())
			}
		}
	}
	return proto
}

// checkNative checks a protobuf histogram's native part, when it has one:
// a positive zero threshold (so Prometheus reads even an empty one as
// native), spans whose lengths match the deltas, and bucket counts that
// add up with the zero bucket to the count.
func checkNative(t testing.TB, h *dto.Histogram) {
	t.Helper()
	if h.Schema == nil {
		return
	}
	if h.GetZeroThreshold() <= 0 {
		t.Errorf("zero threshold %v, want it positive", h.GetZeroThreshold())
	}
	var spanned uint32
	for i, s := range h.GetPositiveSpan() {
		if i > 0 && s.GetOffset() < 0 {
			t.Errorf("span %d has a negative offset %d", i, s.GetOffset())
		}
		spanned += s.GetLength()
	}
	if int(spanned) != len(h.GetPositiveDelta()) {
		t.Errorf("spans cover %d buckets, %d deltas", spanned, len(h.GetPositiveDelta()))
	}
	total, count := h.GetZeroCount(), int64(0)
	for _, d := range h.GetPositiveDelta() {
		count += d
		if count <= 0 {
			t.Errorf("a bucket count of %d", count)
		}
		total += uint64(count)
	}
	if total != h.GetSampleCount() {
		t.Errorf("native buckets hold %d observations, sample count %d", total, h.GetSampleCount())
	}
}

// serve sends one request through the collector's middleware.
func serve(h http.Handler, method, route string, code int) {
	r := httptest.NewRequest(method, "/", nil)
	r.Header.Set("X-Route", route)
	r.Header.Set("X-Code", strconv.Itoa(code))
	h.ServeHTTP(httptest.NewRecorder(), r)
}

// routed returns a collector whose route and status come from request
// headers, and its middleware.
func routed(t testing.TB, o vitals.Options) (*vitals.Collector, http.Handler) {
	t.Helper()
	c, h, err := openRouted(t, o)
	if err != nil {
		t.Fatal(err)
	}
	return c, h
}

func openRouted(t testing.TB, o vitals.Options) (*vitals.Collector, http.Handler, error) {
	o.Route = func(r *http.Request) string { return r.Header.Get("X-Route") }
	c, err := vitals.Open(o)
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.Header.Get("X-Code"))
		w.WriteHeader(code)
		_, _ = w.Write([]byte("ok"))
	})), nil
}

// TestProtobufMatchesText decodes both faces of the same state with
// Prometheus' own decoders and compares every family and series.
func TestProtobufMatchesText(t *testing.T) {
	for _, o := range []vitals.Options{
		{},
		{Namespace: "shop", ConstLabels: map[string]string{"role": `web "a"\b`, "az": "eu-1\nx", "empty": ""}},
		{Buckets: []float64{1e-6, 0.1, 1e9}},
	} {
		c, h := routed(t, o)
		routes := []string{"GET /items/{id}", "", `POST /say/"hi"\n`, "ünï cödé", strings.Repeat("x", 300)}
		methods := []string{"GET", "POST", "BREW", "DELETE"}
		for i := range 200 {
			serve(h, methods[i%len(methods)], routes[i%len(routes)], []int{200, 404, 500, 201, 302, 999}[i%6])
		}
		_ = c.Close() // the last snapshot, and no refresh between the two scrapes
		fams := compareFaces(t, c.Handler())
		names := make([]string, len(fams))
		for i, f := range fams {
			names[i] = f.GetName()
		}
		want := o.Namespace
		if want != "" {
			want += "_"
		}
		for _, n := range []string{"http_requests_total", "http_request_duration_seconds", "http_requests_in_flight", "go_gc_duration_seconds"} {
			if !slices.Contains(names, want+n) {
				t.Errorf("family %s missing: %v", want+n, names)
			}
		}
	}
}

// FuzzFaces feeds hostile route names and constant labels through both
// faces: the text and the protobuf must decode, agree series for series,
// and give back the route and the label value exactly as vitals promises
// (a route cut to 200 bytes and made valid UTF-8; an empty one unmatched).
func FuzzFaces(f *testing.F) {
	f.Add("GET /items/{id}", "role", "web")
	f.Add(`"\n\\{}=,`, "a", `"\n\\{}=,`)
	f.Add("\xff\xfe", "b", "ü\x00\r\t")
	f.Add("", "le_", "")
	f.Add(strings.Repeat("é", 150), "x", strings.Repeat("\\", 1024))
	f.Fuzz(func(t *testing.T, route, labelName, labelValue string) {
		c, h, err := openRouted(t, vitals.Options{ConstLabels: map[string]string{labelName: labelValue}})
		if err != nil {
			// Refused with an error: a name Prometheus would not take, or
			// a value that is not UTF-8 or is over 1024 bytes.
			if model.LegacyValidation.IsValidLabelName(labelName) && !strings.HasPrefix(labelName, "__") &&
				utf8.ValidString(labelValue) && len(labelValue) <= 1024 &&
				!slices.Contains([]string{"code", "method", "route", "le", "quantile"}, labelName) {
				t.Errorf("Open refused a valid label %s=%q: %v", labelName, labelValue, err)
			}
			return
		}
		serve(h, "GET", route, 200)
		_ = c.Close()
		fams := compareFaces(t, c.Handler())

		want := route
		if len(want) > 200 {
			want = want[:200]
		}
		want = strings.ToValidUTF8(want, "\uFFFD")
		if want == "" {
			want = vitals.RouteUnmatched
		}
		for _, mf := range fams {
			if mf.GetName() != "http_requests_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				got := map[string]string{}
				for _, l := range m.GetLabel() {
					got[l.GetName()] = l.GetValue()
				}
				if got["route"] != want || got[labelName] != labelValue {
					t.Errorf("route %q, %s=%q; want %q, %q", got["route"], labelName, got[labelName], want, labelValue)
				}
				if !utf8.ValidString(got["route"]) {
					t.Errorf("route %q is not UTF-8", got["route"])
				}
			}
		}
	})
}
