package vitals

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	testSpan  = "00f067aa0ba902b7"
)

func tracedRequest(trace, span string) *http.Request {
	r := httptest.NewRequest("GET", "/t", nil)
	r.Header.Set("Traceparent", "00-"+trace+"-"+span+"-01")
	return r
}

// TestExemplarFaces: requests through the middleware with a traceparent
// lend it to the bucket their duration fell into, shown on that bucket's
// line in OpenMetrics, with the duration in it, never in the text.
func TestExemplarFaces(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /t", func(http.ResponseWriter, *http.Request) {})
	h := c.Middleware(mux)
	h.ServeHTTP(newTestInner(), tracedRequest(testTrace, testSpan))
	c.refresh()
	om := string(c.appendOpenMetrics(nil, c.Snapshot()))
	var lines []string
	for line := range strings.Lines(om) {
		if strings.Contains(line, " # {") {
			lines = append(lines, line)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("want one exemplar line, got %q", lines)
	}
	line := lines[0]
	want := `# {trace_id="` + testTrace + `",span_id="` + testSpan + `"} `
	if !strings.HasPrefix(line, `http_request_duration_seconds_bucket{route="GET /t",le="`) || !strings.Contains(line, want) {
		t.Fatalf("exemplar line %q", line)
	}
	le, _ := strconv.ParseFloat(line[strings.Index(line, `le="`)+4:strings.Index(line, `"} `)], 64)
	f := strings.Fields(line[strings.Index(line, " # {"):])
	v, _ := strconv.ParseFloat(f[len(f)-2], 64)
	ts, _ := strconv.ParseFloat(f[len(f)-1], 64)
	prev := 0.0
	for _, b := range c.opts.Buckets {
		if b < le {
			prev = b
		}
	}
	if !(v > prev && v <= le) {
		t.Errorf("exemplar value %v outside its bucket (%v, %v]", v, prev, le)
	}
	if now := float64(c.opts.Now().UnixNano()) / 1e9; ts < now-60 || ts > now+60 {
		t.Errorf("exemplar time %v, the clock says %v", ts, now)
	}
	if text := string(c.appendPrometheus(nil, c.Snapshot())); strings.Contains(text, "trace_id") {
		t.Error("the text 0.0.4 carries an exemplar")
	}
	if pb := c.appendProtobuf(nil, c.Snapshot()); !strings.Contains(string(pb), testTrace) || !strings.Contains(string(pb), testSpan) {
		t.Error("the protobuf lacks the exemplar")
	}
}

// TestExemplarNotLent: without a traceparent, with an invalid one or with
// two, nothing is lent and the route gets no slots.
func TestExemplarNotLent(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	h := c.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	bad := httptest.NewRequest("GET", "/t", nil)
	bad.Header.Set("Traceparent", "00-"+strings.ToUpper(testTrace)+"-"+testSpan+"-01")
	two := tracedRequest(testTrace, testSpan)
	two.Header.Add("Traceparent", "00-"+testTrace+"-"+testSpan+"-01")
	for _, r := range []*http.Request{httptest.NewRequest("GET", "/t", nil), bad, two} {
		h.ServeHTTP(newTestInner(), r)
	}
	for _, rec := range c.routes.list() {
		if rec.exemplars.Load() != nil {
			t.Errorf("route %q has exemplar slots", rec.name)
		}
	}
	c.refresh()
	if strings.Contains(string(c.appendOpenMetrics(nil, c.Snapshot())), "trace_id") {
		t.Error("an exemplar without a valid traceparent")
	}
}

// TestExemplarNewest: a bucket shows the newest exemplar lent to it, but
// for one lent within exemplarRefresh of it; a bucket that counts no
// request after trimClassic shows none.
func TestExemplarNewest(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	rec := c.routes.get("r")
	ms := int64(time.Millisecond)
	var i int
	for k, tr := range []string{testTrace, "0af7651916cd43dd8448eb211c80319c"} {
		i = rec.observe(c.slotNow(), 0, 200, 3*ms, 0, c.bounds)
		lendExemplar(rec, i, 3*ms, int64(k+1)*1e9, tracedRequest(tr, testSpan))
	}
	i = rec.observe(c.slotNow(), 0, 200, 3*ms, 0, c.bounds) // 99 ms later: kept out
	lendExemplar(rec, i, 3*ms, 2e9+99*ms, tracedRequest("11111111111111111111111111111111", testSpan))
	c.refresh()
	om := string(c.appendOpenMetrics(nil, c.Snapshot()))
	if strings.Contains(om, testTrace) || strings.Contains(om, "1111111111") || !strings.Contains(om, `le="0.005"} 3 # {trace_id="0af7651916cd43dd8448eb211c80319c",span_id="`+testSpan+`"} 0.003 2`+"\n") {
		t.Errorf("want the newest exemplar on the 5 ms bucket:\n%s", om)
	}
	h := histData{bounds: c.opts.Buckets, counts: make([]uint64, len(c.opts.Buckets)+1), ex: make([]exemplar, len(c.opts.Buckets)+1)}
	rec.loadHist(h.counts)
	rec.loadExemplars(h.ex)
	if h.exemplar(i) == nil {
		t.Fatalf("bucket %d has no exemplar", i)
	}
	trimClassic(h.counts, 0)
	if h.exemplar(i) != nil {
		t.Error("an exemplar on a bucket trimmed to no request")
	}
}

// TestExemplarLookEvery: a route's requests look for a traceparent at
// most once per exemplarLookEvery: a traced request ending moments after
// the last look lends nothing, one ending later does, and a clock that
// went back looks again.
func TestExemplarLookEvery(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	rec := c.routes.get("r")
	ms := int64(time.Millisecond)
	lend := func(end int64, trace string) {
		i := rec.observe(c.slotNow(), 0, 200, 3*ms, 0, c.bounds)
		lendExemplar(rec, i, 3*ms, end, tracedRequest(trace, testSpan))
	}
	has := func(trace string) bool {
		c.refresh()
		return strings.Contains(string(c.appendOpenMetrics(nil, c.Snapshot())), trace)
	}
	lend(1e9, "00000000000000000000000000000001")
	if !has("00000000000000000000000000000001") {
		t.Fatal("the first traced request lent nothing")
	}
	plain := httptest.NewRequest("GET", "/t", nil)
	i := rec.observe(c.slotNow(), 0, 200, 3*ms, 0, c.bounds)
	lendExemplar(rec, i, 3*ms, 2e9, plain) // looks, finds no header
	lend(2e9+exemplarLookEvery-1, "00000000000000000000000000000002")
	if has("00000000000000000000000000000002") {
		t.Error("a traced request right after a look lent its exemplar")
	}
	lend(2e9+exemplarLookEvery, "00000000000000000000000000000003")
	if !has("00000000000000000000000000000003") {
		t.Error("a traced request a look interval later lent nothing")
	}
	// The clock went back: the request looks again (what the slot then
	// keeps is the slot's rule, TestExemplarNewest).
	lend(1e9+exemplarRefresh, "00000000000000000000000000000004")
	if rec.exemplarLook.Load() != 1e9+exemplarRefresh {
		t.Errorf("a clock that went back did not look again: last look %d", rec.exemplarLook.Load())
	}
}

// TestExemplarNoTornRead: writers lend exemplars whose fields all derive
// from one number while readers load them; every read is one exemplar,
// whole (run with -race too: every field is a typed atomic).
func TestExemplarNoTornRead(t *testing.T) {
	var x exemplarSlot
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for k := int64(w*1e6 + 1); ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				var tr traceID
				var sp spanID
				for i := range tr {
					tr[i] = byte(k)
				}
				for i := range sp {
					sp[i] = byte(k)
				}
				x.put(tr, sp, k, k)
				runtime.Gosched() // let the reader in between writes too
			}
		})
	}
	for x.seq.Load() == 0 { // the first write
		runtime.Gosched()
	}
	reads := 0
	for n := 0; n < 1e7 && reads < 2000; n++ {
		var e exemplar
		x.load(&e)
		if !e.ok {
			continue
		}
		reads++
		b := byte(e.dur)
		for i := range e.trace {
			if e.trace[i] != b || e.span[i%8] != b {
				t.Fatalf("torn read: %+v", e)
			}
		}
		if e.end != e.dur {
			t.Fatalf("torn read: %+v", e)
		}
	}
	close(stop)
	wg.Wait()
	if reads == 0 {
		t.Error("no read succeeded")
	}
}

// TestExemplarAllocs: once a route's slots exist, a traced request
// allocates nothing more than an untraced one.
func TestExemplarAllocs(t *testing.T) {
	c, _ := newTestCollector(t, Options{})
	h := c.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	plain := httptest.NewRequest("GET", "/t", nil)
	traced := tracedRequest(testTrace, testSpan)
	w := newTestInner()
	h.ServeHTTP(w, traced) // the route's slots
	base := testing.AllocsPerRun(200, func() { h.ServeHTTP(w, plain) })
	with := testing.AllocsPerRun(200, func() { h.ServeHTTP(w, traced) })
	if with > base {
		t.Errorf("a traced request allocates %v, an untraced one %v", with, base)
	}
}

func TestAppendUnixSeconds(t *testing.T) {
	for ns, want := range map[int64]string{
		0: "0", 1733462400123000000: "1733462400.123", 1733462400000000001: "1733462400.000000001",
		5e9: "5", -1.5e9: "-1.5",
	} {
		if got := string(appendUnixSeconds(nil, ns)); got != want {
			t.Errorf("appendUnixSeconds(%d) = %q, want %q", ns, got, want)
		}
	}
}

// BenchmarkExemplarLend is what the middleware adds per request for the
// exemplars: without the header (one map lookup), with it while the
// bucket's exemplar is fresh (the lookup and two loads), and with it on
// every request replacing (the parse and the seqlock write).
func BenchmarkExemplarLend(b *testing.B) {
	rec := benchCollector(b).routes.get("r")
	plain := httptest.NewRequest("GET", "/t", nil)
	plain.Header.Set("Accept", "*/*")
	plain.Header.Set("User-Agent", "bench")
	traced := tracedRequest(testTrace, testSpan)
	// A request a microsecond after the last: the route looked moments
	// ago (at a million requests a second, one in 10,000 looks).
	b.Run("none", func(b *testing.B) {
		end := int64(1e9)
		b.ReportAllocs()
		for b.Loop() {
			end += 1000
			lendExemplar(rec, 3, 1000, end, plain)
		}
	})
	// Every request looks for the header (one each exemplarLookEvery or
	// slower): the map lookup.
	b.Run("none-looking", func(b *testing.B) {
		end := int64(1e9)
		b.ReportAllocs()
		for b.Loop() {
			end += exemplarLookEvery
			lendExemplar(rec, 3, 1000, end, plain)
		}
	})
	// A traced request that looks and finds its bucket's exemplar fresh.
	b.Run("fresh", func(b *testing.B) {
		lendExemplar(rec, 3, 1000, 1e9, traced)
		b.ReportAllocs()
		for b.Loop() {
			rec.exemplarLook.Store(0) // as if no request looked lately
			lendExemplar(rec, 3, 1000, 1e9, traced)
		}
	})
	b.Run("replace", func(b *testing.B) {
		end := int64(1e9)
		b.ReportAllocs()
		for b.Loop() {
			end += exemplarRefresh
			lendExemplar(rec, 3, 1000, end, traced)
		}
	})
}
