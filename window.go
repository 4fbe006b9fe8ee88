package vitals

import (
	"sync/atomic"
	"time"
)

// window counts requests in fixed-width time buckets (one minute by
// default), the last n of them, as a ring.
//
// The request path loads idx and adds one to buckets[idx]. Only the refresh
// goroutine (holding Collector.mu) rotates: it zeroes the buckets that the
// clock has moved past and then publishes the new idx. The fields below the
// line are its private state.
//
// Totals are exact: every Add lands in some bucket, and every bucket is
// emptied with Swap, whose result moves to retired, so
// retired + sum(buckets) is the number of requests ever counted.
type window struct {
	idx     atomic.Uint64   // slot of the current bucket; written by rotate, read by the request path
	buckets []atomic.Uint64 // requests per bucket; added to by the request path

	// Owned by the refresh goroutine (under Collector.mu).
	width   time.Duration
	abs     int64  // absolute number of the current bucket: unix nanos / width
	retired uint64 // requests in buckets that have been recycled
}

func newWindow(n int, width time.Duration, now time.Time) *window {
	w := &window{buckets: make([]atomic.Uint64, n), width: width}
	w.abs = w.bucketOf(now)
	return w
}

// bucketOf returns the absolute bucket number of t. Buckets are aligned to
// the Unix epoch, so with one-minute buckets each one is a calendar minute.
func (w *window) bucketOf(t time.Time) int64 {
	return floorDiv(t.UnixNano(), int64(w.width))
}

// add counts n requests in the current bucket. Safe for concurrent use.
func (w *window) add(n uint64) {
	w.buckets[w.idx.Load()].Add(n)
}

// rotate moves the window to the bucket that holds now. It follows the
// clock, not a count of calls: after a pause of k bucket widths it advances
// k buckets and zeroes each one it passes (all of them, once, if k is at
// least the window's length). A clock that moved backwards leaves the
// window as it is.
//
// The order matters: each bucket is zeroed before idx points at it, so no
// request-path Add can land in a bucket between its publication and its
// zeroing (that Add would be wiped). A writer that loaded the old idx just
// before the Store adds to the previous bucket, which is not zeroed: the
// request is counted, one bucket early at worst. When the pause is a whole
// window, the current bucket is itself zeroed while writers may still add to
// it; Swap moves what it held into retired and later adds stay in the
// bucket, so again nothing is lost or counted twice.
//
// Called only with Collector.mu held.
func (w *window) rotate(now time.Time) {
	target := w.bucketOf(now)
	steps := target - w.abs
	if steps <= 0 {
		return
	}
	n := int64(len(w.buckets))
	if steps > n {
		steps = n
	}
	pos := w.idx.Load()
	for range steps {
		pos++
		if pos == uint64(n) {
			pos = 0
		}
		w.retired += w.buckets[pos].Swap(0)
	}
	w.idx.Store(pos)
	w.abs = target
}

// total returns the number of requests ever counted.
// Called only with Collector.mu held.
func (w *window) total() uint64 {
	t := w.retired
	for i := range w.buckets {
		t += w.buckets[i].Load()
	}
	return t
}

// counts appends the buckets to dst, oldest first, the current (partial)
// bucket last. Called only with Collector.mu held.
func (w *window) counts(dst []uint64) []uint64 {
	n := uint64(len(w.buckets))
	pos := w.idx.Load()
	for i := uint64(1); i <= n; i++ {
		dst = append(dst, w.buckets[(pos+i)%n].Load())
	}
	return dst
}

// start returns the start of the oldest bucket in the window.
// Called only with Collector.mu held.
func (w *window) start() time.Time {
	first := w.abs - int64(len(w.buckets)) + 1
	return time.Unix(0, first*int64(w.width))
}
