package vitals

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// sessionShards splits the session table so that concurrent requests of
// different sessions rarely wait on the same lock.
const sessionShards = 32

// sessions counts distinct session ids seen within a TTL.
//
// Ids are never stored: each is reduced to a 64-bit hash keyed with a
// per-process random seed, so the table cannot be used to recover a cookie
// value, and a hash from one process means nothing to another. The table is
// capped (MaxSessions, split across shards), so memory is bounded whatever
// ids clients send; a new id arriving at a full shard is counted in dropped.
//
// Each shard's map is guarded by its mutex, which TouchSession and the
// sweep take; no other recording path does.
type sessions struct {
	seed    maphash.Seed // immutable
	ttl     int64        // nanoseconds; immutable
	max     int          // immutable: MaxSessions
	dropped atomic.Uint64
	shards  [sessionShards]sessionShard
}

type sessionShard struct {
	mu   sync.Mutex
	seen map[uint64]int64 // keyed hash -> unix nanos when last touched
	_    [40]byte         // keep neighbouring shards' locks off one cache line
}

func newSessions(max int, ttl time.Duration) *sessions {
	return &sessions{seed: maphash.MakeSeed(), ttl: int64(ttl), max: max}
}

// shardCap is how many sessions shard i may hold: the shards' caps add up
// to exactly max.
func (s *sessions) shardCap(i uint64) int {
	c := s.max / sessionShards
	if i < uint64(s.max%sessionShards) {
		c++
	}
	return c
}

// touch marks id as seen at now (unix nanos).
func (s *sessions) touch(id string, now int64) {
	if id == "" {
		return
	}
	h := maphash.String(s.seed, id)
	i := h % sessionShards
	sh := &s.shards[i]
	sh.mu.Lock()
	if _, ok := sh.seen[h]; ok || len(sh.seen) < s.shardCap(i) {
		if sh.seen == nil {
			sh.seen = make(map[uint64]int64)
		}
		sh.seen[h] = now
	} else {
		s.dropped.Add(1)
	}
	sh.mu.Unlock()
}

// sweep deletes the sessions not seen since now-ttl and returns how many
// remain.
func (s *sessions) sweep(now int64) int {
	active := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for h, t := range sh.seen {
			if now-t > s.ttl {
				delete(sh.seen, h)
			}
		}
		active += len(sh.seen)
		sh.mu.Unlock()
	}
	return active
}
