package vitals

import "sync/atomic"

// The per-second counters of the last minute: requests and 5xx responses
// by the second they ended in, exact at any rate, for Snapshot.Live.
//
// Each counter word carries its second in its high 32 bits (unix seconds
// mod 2^32) and its count in the low 32 bits. The request path adds one to
// the word of its second (one atomic add each for requests and 5xx);
// the refresh goroutine resets the words of the next seconds ahead of the
// clock, like the window's prepared bucket, so the add finds its second
// already there. Should it not (a refresh late by more than two seconds),
// the request resets the word itself with a compare-and-swap (see bump):
// aging is lock-free and never loses a count of the last minute.

const (
	perSecondSlots = 64 // a power of two above the 61 seconds a LiveWindow of a minute reads
	secondAhead    = 2  // seconds the refresh prepares ahead of the clock
	countMask      = 1<<32 - 1
)

type perSecond struct {
	req, err [perSecondSlots]atomic.Uint64
}

// newPerSecond returns counters for a clock that reads second now. Every
// word starts with the tag of a second long before now (2^30 seconds, 34
// years): a zero word would claim second 0, which newer reads as later
// than every second from 2038 on and before 1970, and no request could
// ever reset it.
func newPerSecond(now int64) *perSecond {
	p := new(perSecond)
	old := secondTag(now - 1<<30)
	for i := range p.req {
		p.req[i].Store(old)
		p.err[i].Store(old)
	}
	return p
}

func secondTag(sec int64) uint64 { return uint64(uint32(sec)) << 32 }

// newer reports whether tag a is a later second than tag b.
func newer(a, b uint64) bool { return int32(uint32(a>>32)-uint32(b>>32)) > 0 }

// add counts one request that ended in second sec, and a 5xx if err.
func (p *perSecond) add(sec int64, err bool) {
	tag, i := secondTag(sec), sec&(perSecondSlots-1)
	bump(&p.req[i], tag)
	if err {
		bump(&p.err[i], tag)
	}
}

// bump adds one to the count of w for second tag: one atomic add when the
// word is prepared. Otherwise (rare) the add landed on a second at least a
// minute older, which no reader reads: it resets the word to tag with one
// count, or adds again if another request reset it first. A request whose
// second is over a minute older than the word's is not counted (it is
// outside every window), and its add is taken back.
func bump(w *atomic.Uint64, tag uint64) {
	v := w.Add(1)
	if v&^countMask == tag {
		return
	}
	if newer(v, tag) {
		w.Add(^uint64(0))
		return
	}
	for {
		v = w.Load()
		switch {
		case v&^countMask == tag:
			if w.Add(1)&^countMask != tag {
				w.Add(^uint64(0)) // reset for a later second meanwhile
			}
			return
		case newer(v, tag):
			return
		case w.CompareAndSwap(v, tag|1):
			return
		}
	}
}

// prepare resets the words of the seconds after now (unix seconds) ahead
// of the request path. Called by the refresh goroutine.
func (p *perSecond) prepare(now int64) {
	for s := now + 1; s <= now+secondAhead; s++ {
		tag, i := secondTag(s), s&(perSecondSlots-1)
		prepareWord(&p.req[i], tag)
		prepareWord(&p.err[i], tag)
	}
}

func prepareWord(w *atomic.Uint64, tag uint64) {
	if v := w.Load(); v&^countMask != tag && !newer(v, tag) {
		w.CompareAndSwap(v, tag)
	}
}

// sum returns the requests and 5xx of the seconds from..to (unix seconds).
func (p *perSecond) sum(from, to int64) (req, err uint64) {
	for s := from; s <= to; s++ {
		tag, i := secondTag(s), s&(perSecondSlots-1)
		if v := p.req[i].Load(); v&^countMask == tag {
			req += v & countMask
		}
		if v := p.err[i].Load(); v&^countMask == tag {
			err += v & countMask
		}
	}
	return req, err
}
