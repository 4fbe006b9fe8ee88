package vitals

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The OTLP push: the exporter's goroutine, which every interval encodes
// the figures (otlp_encode.go), gzips them and posts them, retrying what
// the protocol says to retry; its configuration is in otlp_config.go.
//
// A push never hurts the server: it runs on its own goroutine, reads the
// figures the way a Prometheus scrape does (the request path never waits
// on it), has at most one export in flight and queues nothing (a tick
// missed while an export runs is dropped: the figures are cumulative, so
// the next export carries what a skipped one would have), reuses its
// buffers, and bounds each attempt by a timeout and each export, retries
// included, by the interval.

// Export counts the pushes to the OTLP endpoint (Options.OTLP): zero
// when there is no push.
type Export struct {
	// Sent and Failed count the exports that the endpoint accepted and
	// those that it did not, after retries ("sent", "failed").
	Sent, Failed uint64
	// LastError is why the latest export failed; "" when it succeeded
	// ("last_error").
	LastError string
	// LastSuccess is when an export was last accepted; zero if never
	// ("last_success").
	LastSuccess time.Time
}

// Limits of the push.
const (
	otlpCloseTimeout = 5 * time.Second  // Close's last export, retries included
	otlpBackoffMin   = time.Second      // the first wait before a retry, before jitter
	otlpBackoffMax   = 30 * time.Second // the longest
	otlpMaxResponse  = 64 << 10         // bytes of a response read
	otlpMaxRequest   = 20 << 20         // bytes of a request: receivers refuse more
)

// exporter pushes a collector's figures to an OTLP endpoint.
type exporter struct {
	c      *Collector
	cfg    *otlpConfig
	client *http.Client

	// Owned by the exporter's goroutine.
	enc    *otlpEncoder
	zw     *gzip.Writer
	body   bytes.Buffer
	logged string // the kind of failure last logged (a status, or "net"); "" after a success
	final  bool   // the export under way is Close's last one

	// What Snapshot.Export shows: written by the exporter's goroutine.
	sent, failed atomic.Uint64
	lastErr      atomic.Pointer[string]
	lastSuccess  atomic.Int64 // unix nanos, 0 if never

	ctx    context.Context // cancelled by stop
	cancel context.CancelFunc
	exited chan struct{} // closed by the goroutine as it returns
}

// startExporter starts pushing c's figures as cfg says.
func startExporter(c *Collector, cfg *otlpConfig) *exporter {
	t := cfg.transport
	if t == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 1, 1
		tr.MaxResponseHeaderBytes = otlpMaxResponse
		tr.ResponseHeaderTimeout = cfg.timeout
		t = tr
	}
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // the level is valid
	e := &exporter{
		c:      c,
		cfg:    cfg,
		client: &http.Client{Transport: t, Timeout: cfg.timeout},
		enc:    newOTLPEncoder(c.start, cfg.resource),
		zw:     zw,
		exited: make(chan struct{}),
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	go e.run()
	return e
}

// run exports every interval until stop, then once more.
func (e *exporter) run() {
	defer close(e.exited)
	t := time.NewTicker(e.cfg.interval)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			e.final = true
			ctx, cancel := context.WithTimeout(context.Background(), otlpCloseTimeout)
			e.export(ctx)
			cancel()
			return
		case <-t.C:
			// Retries end before the next tick is due, with a tenth of
			// the interval to spare.
			ctx, cancel := context.WithTimeout(e.ctx, e.cfg.interval-e.cfg.interval/10)
			e.export(ctx)
			cancel()
			select {
			case <-t.C: // missed while exporting: dropped, nothing queued
			default:
			}
		}
	}
}

// stop cancels the export in flight, makes the last one (within
// otlpCloseTimeout) and waits for the goroutine to return.
func (e *exporter) stop() {
	e.cancel()
	<-e.exited
}

// stats returns what Snapshot.Export shows.
func (e *exporter) stats() Export {
	x := Export{Sent: e.sent.Load(), Failed: e.failed.Load()}
	if p := e.lastErr.Load(); p != nil {
		x.LastError = *p
	}
	if t := e.lastSuccess.Load(); t != 0 {
		x.LastSuccess = time.Unix(0, t)
	}
	return x
}

// export encodes the figures now and posts them, retrying within ctx's
// deadline.
func (e *exporter) export(ctx context.Context) {
	c := e.c
	now := time.Now()
	if c.fakeClock {
		now = c.opts.Now()
	}
	body := e.enc.encode(c, c.Snapshot(), now)
	e.body.Reset()
	e.zw.Reset(&e.body)
	_, _ = e.zw.Write(body) // a bytes.Buffer does not fail
	_ = e.zw.Close()
	if e.body.Len() > otlpMaxRequest {
		e.fail("size", fmt.Errorf("the export is %d bytes gzipped, over the %d a receiver takes", e.body.Len(), otlpMaxRequest))
		return
	}
	backoff := otlpBackoffMin
	for {
		retryAfter, retry, err := e.post(ctx, e.body.Bytes())
		if err == nil {
			e.sent.Add(1)
			e.lastSuccess.Store(time.Now().UnixNano())
			e.lastErr.Store(nil)
			e.logged = ""
			return
		}
		if !retry {
			e.fail(failureKind(err), err)
			return
		}
		// After Retry-After when given (at least otlpBackoffMin, so that
		// "0" does not make a busy loop), else an exponential backoff with
		// jitter.
		wait := max(retryAfter, otlpBackoffMin)
		if retryAfter < 0 {
			wait = backoff/2 + rand.N(backoff)
			backoff = min(2*backoff, otlpBackoffMax)
		}
		if deadline, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(deadline) {
			e.fail(failureKind(err), fmt.Errorf("%w; the next retry (in %v) would come after the export's deadline", err, wait.Round(time.Millisecond)))
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			e.fail(failureKind(err), fmt.Errorf("%w; gave up: %v", err, context.Cause(ctx)))
			return
		case <-t.C:
		}
	}
}

// otlpError is an answer of the endpoint other than a success.
type otlpError struct {
	status int
	msg    string
}

func (e *otlpError) Error() string {
	if e.msg == "" {
		return fmt.Sprintf("HTTP %d", e.status)
	}
	return fmt.Sprintf("HTTP %d: %s", e.status, e.msg)
}

// failureKind names the kind of a failure, so that each kind is logged
// once until an export succeeds.
func failureKind(err error) string {
	var oe *otlpError
	if errors.As(err, &oe) {
		return strconv.Itoa(oe.status)
	}
	return "net"
}

// fail counts a failed export and logs it if its kind was not logged
// since the last success; a periodic export that Close cut short is
// counted, not logged.
func (e *exporter) fail(kind string, err error) {
	e.failed.Add(1)
	msg := err.Error()
	e.lastErr.Store(&msg)
	if kind != e.logged && (e.final || e.ctx.Err() == nil) {
		e.logged = kind
		e.c.reportError(fmt.Errorf("vitals: OTLP export to %s failed: %v", shownEndpoint(e.cfg.endpoint), err))
	}
}

// post sends one export and reads the answer: nil for a success (a
// partial success is logged); otherwise whether to retry, and after how
// long when the endpoint said (Retry-After), else -1.
func (e *exporter) post(ctx context.Context, body []byte) (retryAfter time.Duration, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.endpoint, bytes.NewReader(body))
	if err != nil {
		return -1, false, err // checked by resolveOTLP: not reached
	}
	req.Header = e.cfg.header
	resp, err := e.client.Do(req)
	if err != nil {
		// Unreachable, refused, timed out: transient. The error names the
		// endpoint as the page does, without its user info or query, which
		// may hold a secret (an API key).
		var ue *url.Error
		if errors.As(err, &ue) {
			err = fmt.Errorf("%s %s: %w", ue.Op, shownEndpoint(e.cfg.endpoint), ue.Err)
		}
		return -1, true, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, otlpMaxResponse))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, otlpMaxResponse)) // reuse the connection if cheap
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if n, msg := partialSuccess(data, resp.Header.Get("Content-Type")); n > 0 || msg != "" {
			e.c.reportError(fmt.Errorf("vitals: OTLP export to %s: partial success: %d data points rejected: %s", shownEndpoint(e.cfg.endpoint), n, msg))
		}
		return -1, false, nil
	}
	oe := &otlpError{status: resp.StatusCode, msg: statusMessage(data, resp.Header.Get("Content-Type"))}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), true, oe
	}
	return -1, false, oe
}

// parseRetryAfter reads a Retry-After header, seconds or an HTTP date, as
// the wait from now; -1 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return -1
		}
		return time.Duration(min(s, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return -1
}

// partialSuccess reads the partial_success of an
// ExportMetricsServiceResponse: the data points rejected and why.
func partialSuccess(data []byte, contentType string) (rejected int64, msg string) {
	if !strings.Contains(contentType, "protobuf") {
		return 0, "" // a JSON answer to a protobuf export: not read
	}
	ps, _ := protoField(data, 1) // ExportMetricsServiceResponse.partial_success
	n, _ := protoField(ps, 1)    // ExportMetricsPartialSuccess.rejected_data_points
	m, _ := protoField(ps, 2)    // .error_message
	v, _ := readVarint(n)        // protoField returns a varint's bytes
	return int64(v), cleanMessage(m)
}

// statusMessage returns the message of an error answer: a google.rpc.Status
// in protobuf (its message, field 2), else the text.
func statusMessage(data []byte, contentType string) string {
	if strings.Contains(contentType, "protobuf") {
		if m, ok := protoField(data, 2); ok {
			return cleanMessage(m)
		}
	}
	return cleanMessage(data)
}

// cleanMessage makes a receiver's message fit a log line: valid UTF-8,
// one line, at most 256 bytes.
func cleanMessage(b []byte) string {
	s := strings.ToValidUTF8(strings.TrimSpace(string(b[:min(len(b), 1024)])), "?")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 256 {
		s = strings.ToValidUTF8(s[:256], "") + "…"
	}
	return s
}

// protoField returns the last occurrence of field num in the protobuf
// message b: a length-delimited field's bytes, or a varint's bytes as
// they are on the wire. It reads no further than b and stops at anything
// malformed.
func protoField(b []byte, num uint64) (v []byte, ok bool) {
	for len(b) > 0 {
		tag, n := readVarint(b)
		if n == 0 {
			return v, ok
		}
		b = b[n:]
		var val []byte
		switch tag & 7 {
		case wireVarint:
			_, n = readVarint(b)
			if n == 0 {
				return v, ok
			}
			val, b = b[:n], b[n:]
		case wireFixed64, 5: // 5: fixed32
			size := 8
			if tag&7 == 5 {
				size = 4
			}
			if len(b) < size {
				return v, ok
			}
			val, b = b[:size], b[size:]
		case wireBytes:
			l, n := readVarint(b)
			if n == 0 || uint64(len(b)-n) < l {
				return v, ok
			}
			val, b = b[n:n+int(l)], b[n+int(l):]
		default:
			return v, ok
		}
		if tag>>3 == num {
			v, ok = val, true
		}
	}
	return v, ok
}

// readVarint reads a varint from b: its value and length, 0 if malformed.
func readVarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}
