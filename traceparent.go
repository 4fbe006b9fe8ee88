package vitals

// A parser of the W3C Trace Context traceparent header
// (https://www.w3.org/TR/trace-context/#traceparent-header), shared by the
// features that link a request to its trace: Snapshot.Slowest and the
// exemplars (exemplar.go). It does not allocate, so a caller may run it on
// the request path; the middleware runs it only for a request that carries
// the header (a map lookup: see exemplar.go) and whose bucket's exemplar is
// stale, or that is a candidate for the slowest ones.

// traceID is the trace id of a traceparent header: 16 bytes.
type traceID [16]byte

// String returns the 32 lower-case hex digits of id ("" for the zero id).
func (id traceID) String() string {
	if id == (traceID{}) {
		return ""
	}
	var b [32]byte
	return string(appendHex(b[:0], id[:]))
}

// spanID is the parent id of a traceparent header (the caller's span):
// 8 bytes.
type spanID [8]byte

// String returns the 16 lower-case hex digits of id ("" for the zero id).
func (id spanID) String() string {
	if id == (spanID{}) {
		return ""
	}
	var b [16]byte
	return string(appendHex(b[:0], id[:]))
}

// appendHex appends the lower-case hex digits of p.
func appendHex(b []byte, p []byte) []byte {
	const digits = "0123456789abcdef"
	for _, v := range p {
		b = append(b, digits[v>>4], digits[v&15])
	}
	return b
}

// parseTraceparent returns the trace id and the parent (span) id of a
// traceparent header value, and whether the value is valid: version 00 is exactly
// 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>, lower-case hex
// only; a later version (01 to fe) has that prefix and, when longer, a '-'
// after it (the W3C rule for versions a parser does not know); version ff
// is invalid. An all-zero trace id or parent id is invalid.
func parseTraceparent(s string) (id traceID, span spanID, ok bool) {
	if len(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return id, span, false
	}
	v0, ok0 := hexDigit(s[0])
	v1, ok1 := hexDigit(s[1])
	if !ok0 || !ok1 || v0<<4|v1 == 0xff {
		return id, span, false
	}
	if v0<<4|v1 == 0 {
		if len(s) != 55 {
			return id, span, false
		}
	} else if len(s) > 55 && s[55] != '-' {
		return id, span, false
	}
	var nonzero byte
	for i := range id {
		hi, okh := hexDigit(s[3+2*i])
		lo, okl := hexDigit(s[4+2*i])
		if !okh || !okl {
			return traceID{}, spanID{}, false
		}
		id[i] = hi<<4 | lo
		nonzero |= id[i]
	}
	if nonzero == 0 {
		return traceID{}, spanID{}, false
	}
	nonzero = 0
	for i := range span {
		hi, okh := hexDigit(s[36+2*i])
		lo, okl := hexDigit(s[37+2*i])
		if !okh || !okl {
			return traceID{}, spanID{}, false
		}
		span[i] = hi<<4 | lo
		nonzero |= span[i]
	}
	_, okf0 := hexDigit(s[53])
	_, okf1 := hexDigit(s[54])
	if nonzero == 0 || !okf0 || !okf1 {
		return traceID{}, spanID{}, false
	}
	return id, span, true
}

// hexDigit returns the value of a lower-case hex digit.
func hexDigit(b byte) (byte, bool) {
	switch {
	case '0' <= b && b <= '9':
		return b - '0', true
	case 'a' <= b && b <= 'f':
		return b - 'a' + 10, true
	}
	return 0, false
}
