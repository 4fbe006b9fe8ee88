package vitals

import (
	"io"
	"net/http"
	"reflect"
	"slices"
	"sync/atomic"
)

// Which optional interfaces the middleware's writer offers: the bits of
// the writer it wraps (features), found once per writer type
// (featureCache), and what http.ResponseController would find down its
// Unwrap chain (featuresOf). writer_gen.go picks the wrapper type by them.

// Optional interface bits, as used by writer_gen.go.
const (
	hasFlusher = 1 << iota // with FlushError, see gen_writer.go
	hasHijacker
	hasReaderFrom
	hasPusher
	hasCloseNotifier

	// canUnwrap marks, in featureCache only, a type with an Unwrap method,
	// below which http.ResponseController may find a Flush or a Hijack.
	canUnwrap
)

// features returns the optional interface bits that inner has itself:
// hasFlusher for Flush or FlushError (http.ResponseController.Flush takes
// either).
func features(inner http.ResponseWriter) int {
	f := 0
	switch inner.(type) {
	case http.Flusher, flushErrorer:
		f |= hasFlusher
	}
	if _, ok := inner.(http.Hijacker); ok {
		f |= hasHijacker
	}
	if _, ok := inner.(io.ReaderFrom); ok {
		f |= hasReaderFrom
	}
	if _, ok := inner.(http.Pusher); ok {
		f |= hasPusher
	}
	if _, ok := inner.(closeNotifier); ok {
		f |= hasCloseNotifier
	}
	return f
}

// typeFeatures are the features of the inner writers of one dynamic type,
// with canUnwrap.
type typeFeatures struct {
	t reflect.Type
	f int
}

// maxFeatureTypes bounds featureCache. A server hands the middleware
// writers of a few types (net/http's HTTP/1 and HTTP/2 writers, those of a
// middleware above it); past that many, the features of a new type are
// found per request, as features does.
const maxFeatureTypes = 8

// featureCache holds the features of the inner writer types seen so far,
// in the order first seen: a slice never modified once published, which a
// new type replaces with a longer copy. Requests only load it, so once the
// server's writer types are in it, choosing the wrapper takes no lock and
// writes nothing. Shared by every collector: a type's features are the
// same for all.
var featureCache atomic.Pointer[[]typeFeatures]

// featuresOf returns the features the wrapper of inner offers: those of
// inner itself, plus Flush (with FlushError) and Hijack when
// http.ResponseController would find them farther down inner's Unwrap
// chain. A wrapper without them would let the controller go past it
// (an access-log writer with Unwrap and no Flush above the middleware),
// and the status the flush or the hijack sends would not be recorded.
//
// A type's own features are found once per dynamic type (what interfaces a
// type has never changes), so a request looks its writer's type up instead
// of asserting five interfaces (BenchmarkWrapperChoice). The chain below an
// Unwrap can change from request to request, so it is walked per request,
// and only while a Flush or a Hijack is missing: a few type look-ups, for
// writers with Unwrap only. Safe for concurrent use; no allocation once the
// types are in featureCache.
func featuresOf(inner http.ResponseWriter) int {
	f := ownFeatures(inner)
	const found = hasFlusher | hasHijacker
	for w, i := inner, 0; f&canUnwrap != 0 && f&found != found && i < maxUnwrap; i++ {
		if w = w.(unwrapper).Unwrap(); w == nil {
			break
		}
		g := ownFeatures(w)
		f = f&^canUnwrap | g&(found|canUnwrap)
	}
	return f &^ canUnwrap
}

// ownFeatures returns features(inner), with canUnwrap, found once per
// dynamic type of inner.
func ownFeatures(inner http.ResponseWriter) int {
	t := reflect.TypeOf(inner)
	if p := featureCache.Load(); p != nil {
		for i := range *p {
			if e := &(*p)[i]; e.t == t {
				return e.f
			}
		}
	}
	return cacheFeatures(t, inner)
}

// cacheFeatures returns the features of inner, with canUnwrap, and enters
// them for type t, unless featureCache is full. The slow path of
// ownFeatures, apart so that the lookup stays small.
func cacheFeatures(t reflect.Type, inner http.ResponseWriter) int {
	f := features(inner)
	if _, ok := inner.(unwrapper); ok {
		f |= canUnwrap
	}
	old := featureCache.Load()
	if old != nil {
		if len(*old) >= maxFeatureTypes || slices.ContainsFunc(*old, func(e typeFeatures) bool { return e.t == t }) {
			return f // full, or another request entered t meanwhile
		}
	}
	var next []typeFeatures
	if old != nil {
		next = append(next, *old...)
	}
	next = append(next, typeFeatures{t, f})
	// Losing to another request adding a type only means finding this one
	// again next time.
	featureCache.CompareAndSwap(old, &next)
	return f
}
