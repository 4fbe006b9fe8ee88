package vitals

// The sharded table that counted sessions before the sketches of
// sessions.go, kept only as the baseline of BenchmarkTouchSession.

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// legacyShards splits the session table so that concurrent requests of
// different sessions rarely wait on the same lock.
const legacyShards = 32

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
type legacySessions struct {
	seed    maphash.Seed // immutable
	ttl     int64        // nanoseconds; immutable
	max     int          // immutable: MaxSessions
	dropped atomic.Uint64
	shards  [legacyShards]legacyShard
}

type legacyShard struct {
	mu   sync.Mutex
	seen map[uint64]int64 // keyed hash -> unix nanos when last touched
	_    [40]byte         // keep neighbouring shards' locks off one cache line
}

func newLegacySessions(max int, ttl time.Duration) *legacySessions {
	return &legacySessions{seed: maphash.MakeSeed(), ttl: int64(ttl), max: max}
}

// shardCap is how many sessions shard i may hold: the shards' caps add up
// to exactly max.
func (s *legacySessions) shardCap(i uint64) int {
	c := s.max / legacyShards
	if i < uint64(s.max%legacyShards) {
		c++
	}
	return c
}

// touch marks id as seen at now (unix nanos).
func (s *legacySessions) touch(id string, now int64) {
	if id == "" {
		return
	}
	h := maphash.String(s.seed, id)
	i := h % legacyShards
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

func (s *legacySessions) touchAt(now int64) func(string) {
	return func(id string) { s.touch(id, now) }
}
