package vitals

import (
	"net/http"
	"strings"
	"sync/atomic"
)

// The counters of one route (recorder), written by the request path with
// atomics, and the one method table by which they are kept.

// methods are the request methods counted apart, by method index: the
// nine standard ones. Methods are case-sensitive (RFC 9110), so "get" is
// not GET. Every other method has index methodUnknown, so a client
// inventing methods cannot add series or route names. The one method
// table: methodNames and methodRoute derive from it, and methodIndex is
// its lookup.
var methods = [...]string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace,
}

// methodNames are the values of the method label, by method index: the
// methods in lower case (as promhttp writes them) and "unknown" for
// anything else.
var methodNames = func() (names [len(methods) + 1]string) {
	for i, m := range methods {
		names[i] = strings.ToLower(m)
	}
	names[methodUnknown] = "unknown"
	return names
}()

const (
	numMethods    = len(methodNames)
	methodUnknown = len(methods)
	numClasses    = 9 // status classes 1xx to 9xx: net/http accepts codes 100 to 999
	class5xx      = 4 // the index of the 5xx class: the server errors
)

// methodIndex returns the index of m in methods, or methodUnknown, without
// allocating. It runs on every request, so it is a switch, which compares
// with constants inline (about 1.5 ns for GET where a loop over methods
// takes 6 ns); TestMethodTable checks that it agrees with methods.
func methodIndex(m string) int {
	switch m {
	case http.MethodGet:
		return 0
	case http.MethodHead:
		return 1
	case http.MethodPost:
		return 2
	case http.MethodPut:
		return 3
	case http.MethodPatch:
		return 4
	case http.MethodDelete:
		return 5
	case http.MethodConnect:
		return 6
	case http.MethodOptions:
		return 7
	case http.MethodTrace:
		return 8
	}
	return methodUnknown
}

// codeBlock counts the responses of one method within one status class:
// element i counts status class*100 + i.
type codeBlock [100]atomic.Uint64

// recorder holds the counters of one route (or of the requests recorded
// without the middleware, Collector.manual).
//
// Since-start counters of this process, read by the Prometheus exposition
// and the snapshot: requests by exact status code and method, the classic
// duration histogram (Options.Buckets) and bytes written. Code blocks are
// allocated on first use of a (method, class) pair and published with a
// compare-and-swap, so a route that only ever answers GET 2xx holds one
// 800-byte block rather than all 90.
//
// Recent counters: a ring of time slices, each with the status classes,
// the high-resolution histogram and the sum of the durations of the
// requests that ended in one bucket of time. The ring covers the buckets
// that Options.RecentWindow reaches into, the current one and one
// prepared ahead (window.n slices, not one per bucket of the window's
// history); bucket a uses slice a mod n. The request path adds to the
// slice of its own clock reading (Collector.slotAt). Before a slice is
// reused, Collector.rotate (run by the refresh goroutine, or by a request
// that finds it late: see window) drains it into retired (the since-start
// high-resolution histogram and sum of durations are retired plus the
// live slices) and into the window's per-bucket figures.
//
// The request path adds with atomics; readers load them.
type recorder struct {
	name   string          // the route as shown: valid UTF-8, at most maxRouteLen bytes
	hist   []atomic.Uint64 // per bucket (not cumulative); the last is +Inf
	codes  [numMethods][numClasses]atomic.Pointer[codeBlock]
	slices []slice       // the recent time slices; see Collector.slotAt
	_      [64]byte      // the counter below is written by every request: keep it off the lines read above
	bytes  atomic.Uint64 // response body bytes written
	// streams counts the streams that ended (see Snapshot.Streams): they
	// are in codes and the slices' classes, not in the histograms.
	streams atomic.Uint64
	// exemplars are the route's exemplars, one per classic bucket,
	// allocated by its first traced request (exemplar.go).
	exemplars atomic.Pointer[exemplarSlots]
	// exemplarLook is when (unix nanos) a request of this route last
	// looked for a traceparent header (exemplar.go): written at most about
	// once per exemplarLookEvery, read by every request.
	exemplarLook atomic.Int64

	// Guarded by Collector.mu: written when a slice is drained (rotate).
	retired         histCopy // durations (and their sum) of the slices that expired, in this process
	retiredRequests uint64   // IncrementRequests of the slices that expired (manual only)
	// retiredClasses are the responses by status class of the slices
	// that expired: since start, by class, is these plus the live slices'
	// (which the refresh reads anyway), without loading every code block.
	retiredClasses [numClasses]uint64
	restored       *restoredStats
}

// slice is what one recorder counted in one bucket of time.
type slice struct {
	classes  [numClasses]atomic.Uint64 // responses by status class
	requests atomic.Uint64             // IncrementRequests (Collector.manual only)
	sumNs    atomic.Uint64             // sum of durations in nanoseconds
	hist     hist
}

func newRecorder(name string, bounds, slices int) *recorder {
	return &recorder{name: name, hist: make([]atomic.Uint64, bounds+1), slices: make([]slice, slices)}
}

// observe counts one finished request in the since-start counters and in
// time slice slot, and returns the index of its classic bucket. code must
// be in 100..999 and d non-negative. Safe for concurrent use.
func (s *recorder) observe(slot, method, code int, d int64, bytes int64, bounds []int64) int {
	class := code/100 - 1
	b := s.codes[method][class].Load()
	if b == nil {
		b = s.block(method, class)
	}
	b[code%100].Add(1)
	i := 0
	for i < len(bounds) && d > bounds[i] {
		i++
	}
	// The classic bucket is written before the time slice: a protobuf
	// scrape reads the slices (the native histogram) first and the
	// classic buckets second, so the classic side holds every request the
	// native side does (see trimClassic). Keep this order.
	s.hist[i].Add(1)
	s.bytes.Add(uint64(bytes))
	sl := &s.slices[slot]
	sl.classes[class].Add(1)
	sl.sumNs.Add(uint64(d))
	sl.hist.observe(d)
	return i
}

// observeStream counts one finished stream (see Snapshot.Streams) in
// time slice slot: its status and bytes, and in streams, but in no
// histogram. Safe for concurrent use.
func (s *recorder) observeStream(slot, method, code int, bytes int64) {
	class := code/100 - 1
	b := s.codes[method][class].Load()
	if b == nil {
		b = s.block(method, class)
	}
	b[code%100].Add(1)
	s.bytes.Add(uint64(bytes))
	s.streams.Add(1)
	s.slices[slot].classes[class].Add(1)
}

// block returns the code block of (method, class), allocating it on first
// use. Of two goroutines racing here, the CAS keeps one block and both use
// it.
func (s *recorder) block(method, class int) *codeBlock {
	nb := new(codeBlock)
	if s.codes[method][class].CompareAndSwap(nil, nb) {
		return nb
	}
	return s.codes[method][class].Load()
}

// loadHist loads the histogram's buckets into dst, which must have room
// for them, and returns their total: the requests this route finished.
func (s *recorder) loadHist(dst []uint64) (total uint64) {
	for i := range s.hist {
		dst[i] = s.hist[i].Load()
		total += dst[i]
	}
	return total
}

// sumNs returns the sum of the durations this process recorded, in
// nanoseconds: retired plus the live slices. Called with Collector.mu held.
func (s *recorder) sumNs() uint64 {
	t := s.retired.sumNs
	for i := range s.slices {
		t += s.slices[i].sumNs.Load()
	}
	return t
}

// sinceStart adds to dst the high-resolution histogram of every duration
// this process recorded, retired plus the live slices, with their sum:
// what a Prometheus native histogram of the route exposes (restored state
// is not in it). Read dst with total (for count) and forEachBucket. Called
// with Collector.mu held.
func (s *recorder) sinceStart(dst *histCopy) {
	dst.merge(&s.retired)
	for i := range s.slices {
		s.slices[i].hist.addTo(dst)
		dst.sumNs += s.slices[i].sumNs.Load()
	}
}

// forEachCode calls f for every (method, code) pair with a non-zero count,
// in method then code order.
func (s *recorder) forEachCode(f func(method, code int, n uint64)) {
	for m := range s.codes {
		for cl := range s.codes[m] {
			b := s.codes[m][cl].Load()
			if b == nil {
				continue
			}
			for i := range b {
				if n := b[i].Load(); n != 0 {
					f(m, (cl+1)*100+i, n)
				}
			}
		}
	}
}
