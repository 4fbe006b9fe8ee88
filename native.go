package vitals

// Native histograms: nativeHist, the sparse histogram the protobuf
// exposition carries, and building it from a route's high-resolution
// histogram (hist.go), whose buckets are those of a native histogram of
// schema histSchema: they are exposed exactly as recorded. Writing a
// nativeHist on the wire (nativeHist.append: spans of consecutive indexes,
// deltas between counts) stays in expo_proto.go with the protobuf writer:
// spans and deltas are how metrics.proto encodes buckets, made of that
// file's field numbers and varints, not part of what a histogram is.

// nativeHist is a Prometheus native histogram as the protobuf exposition
// carries it: exponential buckets of base 2^(2^-schema), bucket index i
// covering (base^(i-1), base^i], plus a zero bucket for values at or below
// zeroThreshold.
type nativeHist struct {
	schema        int32
	zeroThreshold float64 // must be positive: an empty histogram is native only by it
	zeroCount     uint64
	count         uint64 // every observation, zero bucket included
	sum           float64
	buckets       []nativeBucket // ascending by index, counts above zero
}

type nativeBucket struct {
	index int32
	count uint64
}

// nativeScratch is one scrape's space for reading the routes' native
// histograms; kept in the pooled protobuf writer, so a scrape allocates
// nothing for them once the pool holds one grown to the routes' size.
type nativeScratch struct {
	h  histCopy
	nh nativeHist
}

// processHist reads into dst the high-resolution histogram of the requests
// route r finished in this process: its retired slices plus the live ones
// (the counts restored from a saved state are not Prometheus'). It holds
// c.mu, under which the refresh goroutine moves expiring slices into
// retired, so that no count is read twice or missed; the request path
// never waits for c.mu (a late refresh's catch-up only tries it).
func (c *Collector) processHist(r *recorder, dst *histCopy) {
	dst.reset()
	c.mu.Lock()
	defer c.mu.Unlock()
	r.sinceStart(dst)
}

// nativeOf returns route r's native histogram, built in sc.
//
// The durations above the histogram's range (over 2^12 s, 68 minutes) go
// into the bucket just above it, (2^12, 2^(12+1/32)] s, so that the count
// is the sum of the buckets: Prometheus then places them at about 68
// minutes, a lower bound of what they took.
func (c *Collector) nativeOf(r *recorder, sc *nativeScratch) *nativeHist {
	c.processHist(r, &sc.h)
	nh := &sc.nh
	nh.schema = histSchema
	nh.zeroThreshold = histZeroThreshold
	nh.zeroCount = sc.h.zero
	nh.count = sc.h.total()
	nh.sum = float64(sc.h.sumNs) / 1e9
	nh.buckets = nh.buckets[:0]
	sc.h.forEachBucket(func(i int32, n uint64) {
		nh.buckets = append(nh.buckets, nativeBucket{i, n})
	})
	if sc.h.over > 0 {
		nh.buckets = append(nh.buckets, nativeBucket{histMaxIndex + 1, sc.h.over})
	}
	return nh
}
