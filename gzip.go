package vitals

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strconv"
	"sync"
)

// Sending an answer: its Content-Length, and gzip for the Prometheus faces
// when the client accepts it (acceptsGzip, in negotiate.go).

// gzipPool keeps gzip writers between scrapes: a new one costs about
// 800 KB of compressor state, a reset one nothing.
var gzipPool = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // the level is valid
	return zw
}}

// gzipBufPool keeps the buffers of compressed answers, apart from bufPool's
// larger ones so that each pool's buffers keep their size.
var gzipBufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// gzipTo writes p to dst, gzipped. Metrics text and protobuf repeat their
// names and labels, so the fastest level already shrinks them several
// times over.
func gzipTo(dst *bytes.Buffer, p []byte) {
	zw := gzipPool.Get().(*gzip.Writer)
	zw.Reset(dst)
	_, _ = zw.Write(p) // a bytes.Buffer does not fail
	_ = zw.Close()
	zw.Reset(nil) // drop dst, so the pool does not keep it alive
	gzipPool.Put(zw)
}

// writeBody writes p as the body of the answer to r, with its
// Content-Length, and nothing for HEAD. When compressible (the Prometheus
// faces) it says Vary: Accept-Encoding, and gzips p if r accepts gzip.
func writeBody(w http.ResponseWriter, r *http.Request, p []byte, compressible bool) {
	h := w.Header()
	if compressible {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Values("Accept-Encoding")) {
			zbuf := getBuffer(&gzipBufPool)
			defer putBuffer(&gzipBufPool, zbuf)
			gzipTo(zbuf, p)
			h.Set("Content-Encoding", "gzip")
			p = zbuf.Bytes()
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(p)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(p)
}
