package vitals

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// loadedCollector records a known mix of requests on a fake clock.
func loadedCollector(t *testing.T, o Options) (*Collector, *fakeClock) {
	t.Helper()
	c, clk := newTestCollector(t, o)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /a/{id}", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("hello")) })
	mux.HandleFunc("POST /b", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	h := c.Middleware(mux)
	for i := range 30 {
		h.ServeHTTP(newTestInner(), httptest.NewRequest([]string{"GET", "POST", "GET"}[i%3], []string{"/a/1", "/b", "/nope"}[i%3], nil))
		c.RecordDuration(time.Duration(i) * time.Millisecond)
		if i%10 == 9 {
			clk.Add(time.Minute)
			c.refresh()
		}
	}
	c.IncrementRequests()
	c.refresh()
	return c, clk
}

// carried returns the parts of a snapshot that a restore must carry: the
// since-start figures (not Recent and Latency, this process's only).
func carried(s *Snapshot) string {
	routes := make([]string, len(s.Routes))
	for i, r := range s.Routes {
		routes[i] = fmt.Sprintf("%s %d %d %+v %d p50=%v p90=%v p99=%v p999=%v",
			r.Route, r.Requests, r.Errors, r.Status, r.Bytes, r.P50, r.P90, r.P99, r.P999)
	}
	w := s.Window
	return fmt.Sprintf("requests=%d window=%v errors=%v p50=%v p90=%v p99=%v status=%+v bytes=%d routes=%v start=%d",
		s.Requests, w.Counts, w.Errors, w.P50, w.P90, w.P99, s.Status, s.BytesWritten, routes, s.Start.UnixNano())
}

// TestStateVersion1Loads restores testdata/state-v1.bin, written by format
// 1 (by loadedCollector with WindowBuckets 5: its window ends at 12:03 with
// [0 10 10 10 1]; saved at 12:05), and checks every figure it carries.
func TestStateVersion1Loads(t *testing.T) {
	data, err := os.ReadFile("testdata/state-v1.bin")
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != 1 {
		t.Fatalf("the fixture is format %d, want 1", v)
	}
	c, clk := newTestCollector(t, Options{WindowBuckets: 5})
	clk.Add(5 * time.Minute) // 12:05, when it was saved
	c.Refresh()
	if err := c.Restore(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	s := c.Refresh()
	got := fmt.Sprintf("requests=%d window=%v status=%+v bytes=%d latency=%d start=%v",
		s.Requests, s.Window.Counts, s.Status, s.BytesWritten, s.Latency.Samples, s.Start.UTC())
	want := "requests=31 window=[10 10 1 0 0] status={Informational:0 Success:10 Redirect:0 ClientError:10 ServerError:10 Other:0} bytes=240 latency=0 start=2026-03-01 12:00:00 +0000 UTC"
	if got != want {
		t.Errorf("restored:\n%s\nwant:\n%s", got, want)
	}
	var routes []string
	for _, r := range s.Routes {
		routes = append(routes, fmt.Sprintf("%s %d %d %d", r.Route, r.Requests, r.Errors, r.Bytes))
	}
	if want := []string{"GET /a/{id} 10 0 50", "POST /b 10 10 0", "unmatched 10 0 190"}; !slices.Equal(routes, want) {
		t.Errorf("routes %q, want %q", routes, want)
	}
	// Saved again, it is format 2 and carries the same.
	var buf bytes.Buffer
	if err := c.Save(&buf); err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint32(buf.Bytes()[8:]); v != stateVersion {
		t.Errorf("saved as format %d, want %d", v, stateVersion)
	}
	d, _ := newTestCollector(t, Options{WindowBuckets: 5, Now: clk.Now})
	if err := d.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if a, b := carried(d.Refresh()), carried(s); a != b {
		t.Errorf("format 2 of a format 1 state:\n%s\nwant:\n%s", a, b)
	}
}

func TestStateRoundTrip(t *testing.T) {
	a, clk := loadedCollector(t, Options{WindowBuckets: 5})
	var buf bytes.Buffer
	if err := a.Save(&buf); err != nil {
		t.Fatal(err)
	}
	b, _ := newTestCollector(t, Options{WindowBuckets: 5, Now: clk.Now})
	if err := b.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	b.refresh()
	if got, want := carried(b.Snapshot()), carried(a.Snapshot()); got != want {
		t.Errorf("restored:\n%s\nwant:\n%s", got, want)
	}
	// The Prometheus counters start from zero in each process: what was
	// restored is in the snapshot, not in them.
	pb := string(b.appendPrometheus(nil, b.Snapshot()))
	if strings.Contains(pb, "http_requests_total{") || strings.Contains(pb, "http_request_duration_seconds_bucket{") ||
		!strings.Contains(pb, "http_response_size_bytes_total 0\n") {
		t.Errorf("restored counts reach the Prometheus counters:\n%s", pb)
	}
}

func TestStateRestartAfterGap(t *testing.T) {
	// Counting starts at 12:00; the state is saved at 12:03.
	tests := []struct {
		name       string
		gap        time.Duration
		wantWindow []uint64
		// the buckets before 12:00, and those the process was down for
		// (from the save to the restart): no data, not zero requests
		wantNoDataAt []bool
	}{
		{"no gap", 0, []uint64{0, 10, 10, 10, 1}, []bool{true, false, false, false, false}},
		{"two minutes down", 2 * time.Minute, []uint64{10, 10, 1, 0, 0}, []bool{false, false, false, true, false}},
		{"down longer than the window", time.Hour, []uint64{0, 0, 0, 0, 0}, []bool{true, true, true, true, false}},
		// (Start stays this collector's: the shifted buckets are not
		// checked for no data.)
		{"clock moved back: read as saved now", -10 * time.Minute, []uint64{0, 10, 10, 10, 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, clk := loadedCollector(t, Options{WindowBuckets: 5})
			var buf bytes.Buffer
			if err := a.Save(&buf); err != nil {
				t.Fatal(err)
			}
			clk.Add(tt.gap)
			b, _ := newTestCollector(t, Options{WindowBuckets: 5, Now: clk.Now})
			if err := b.Restore(&buf); err != nil {
				t.Fatal(err)
			}
			b.refresh()
			s := b.Snapshot()
			if !slices.Equal(s.Window.Counts, tt.wantWindow) {
				t.Errorf("window %v, want %v", s.Window.Counts, tt.wantWindow)
			}
			if tt.wantNoDataAt != nil && !slices.Equal(s.Window.NoDataAt, tt.wantNoDataAt) {
				t.Errorf("NoDataAt %v, want %v", s.Window.NoDataAt, tt.wantNoDataAt)
			}
			if s.Requests != 31 {
				t.Errorf("Requests = %d, want 31 whatever the gap", s.Requests)
			}
			if s.Start.After(s.Time) {
				t.Errorf("counting started %v, after now %v", s.Start, s.Time)
			}
			if tt.gap >= 0 && !s.Start.Equal(a.Snapshot().Start) {
				t.Errorf("Start = %v, want the first start %v", s.Start, a.Snapshot().Start)
			}
		})
	}
}

func TestStateOtherBounds(t *testing.T) {
	a, clk := loadedCollector(t, Options{})
	var buf bytes.Buffer
	_ = a.Save(&buf)
	b, _ := newTestCollector(t, Options{Buckets: []float64{0.001, 0.1}, Now: clk.Now})
	if err := b.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	var total uint64
	b.mu.Lock()
	for _, r := range b.routes.list() {
		if r.restored != nil {
			total += sum(r.restored.hist)
		}
	}
	b.mu.Unlock()
	if total != 30 {
		t.Errorf("histogram holds %d requests after re-bucketing, want 30", total)
	}
}

// stateBytes returns a valid state file's bytes.
func stateBytes(t *testing.T) []byte {
	t.Helper()
	a, _ := loadedCollector(t, Options{})
	var buf bytes.Buffer
	if err := a.Save(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func resum(b []byte) []byte {
	end := len(b) - 4
	binary.LittleEndian.PutUint32(b[end:], crc32.Checksum(b[:end], crcTable))
	return b
}

func TestStateFileBad(t *testing.T) {
	good := stateBytes(t)
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 0x40
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"foreign", []byte("{\"requests\": 12}\n"), "not a vitals state file"},
		{"truncated header", good[:10], "truncated header"},
		{"truncated payload", good[:len(good)-9], "truncated"},
		{"trailing bytes", append(append([]byte(nil), good...), 0), "unexpected bytes"},
		{"corrupt", flipped, "checksum mismatch"},
		{"method -1", frame(testPayload(map[string]any{"method": uint64(math.MaxUint64)})), "method"},
	}
	for _, tt := range tests {
		for _, strict := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/strict=%v", tt.name, strict), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "vitals.state")
				if err := os.WriteFile(path, tt.data, 0o600); err != nil {
					t.Fatal(err)
				}
				clk := newFakeClock()
				var reported []error
				o := Options{StateFile: path, Now: clk.Now, StrictState: strict, OnError: func(err error) { reported = append(reported, err) }}
				c, err := Open(o)
				if strict {
					if err == nil {
						c.Close()
						t.Fatal("Open with StrictState accepted the bad file")
					}
				} else {
					if err != nil {
						t.Fatalf("Open failed on a bad file instead of starting empty: %v", err)
					}
					if len(reported) != 1 {
						t.Fatalf("OnError got %v, want the bad file reported once", reported)
					}
					err = reported[0]
					if s := c.Snapshot(); s.Requests != 0 || s.Status != (Status{}) {
						t.Errorf("started with %d requests, %+v, want empty", s.Requests, s.Status)
					}
					c.IncrementRequests()
					if err := c.Close(); err != nil {
						t.Fatal(err)
					}
					if st := readState(t, path); st.retired+sum(st.window) != 1 {
						t.Errorf("saved %d requests, want the 1 counted after the bad file", st.retired+sum(st.window))
					}
				}
				aside := fmt.Sprintf("%s.bad-%d", path, clk.Now().Unix())
				if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, tt.want) || !strings.Contains(msg, aside) {
					t.Errorf("error %q should name the file, %q and %s", msg, tt.want, aside)
				}
				if kept, err := os.ReadFile(aside); err != nil || !bytes.Equal(kept, tt.data) {
					t.Errorf("bad file not kept whole as %s: %v", aside, err)
				}
				if !strict {
					return
				}
				if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("bad file still at %s: %v", path, err)
				}
				// The next start begins empty and saves a good file.
				c, err = Open(o)
				if err != nil {
					t.Fatalf("second Open: %v", err)
				}
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
				if data, _ := os.ReadFile(path); !bytes.HasPrefix(data, []byte(stateMagic)) {
					t.Error("no state saved after the bad file was set aside")
				}
			})
		}
	}
}

// TestStateFileAsideUnique sets three bad files aside within the same
// second: each keeps a name of its own.
func TestStateFileAsideUnique(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vitals.state")
	clk := newFakeClock()
	o := Options{StateFile: path, Now: clk.Now, OnError: func(error) {}}
	for i := range 3 {
		if err := os.WriteFile(path, []byte(fmt.Sprint("bad file ", i)), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Open(o)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		os.Remove(path) // the good file that Close saved
	}
	base := fmt.Sprintf("%s.bad-%d", path, clk.Now().Unix())
	for i, name := range []string{base, base + "-2", base + "-3"} {
		if data, err := os.ReadFile(name); err != nil || string(data) != fmt.Sprint("bad file ", i) {
			t.Errorf("%s holds %q (%v), want bad file %d", name, data, err, i)
		}
	}
}

// TestStateFileNewerVersion: a state file written by a newer version of
// vitals (the binary was rolled back) is not damaged: it is left in place,
// never overwritten, and the collector runs without persistence, saying so
// through OnError, or Open fails with StrictState.
func TestStateFileNewerVersion(t *testing.T) {
	newer := resum(stateBytes(t))
	binary.LittleEndian.PutUint32(newer[8:], stateVersion+1)
	resum(newer)
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vitals.state")
			if err := os.WriteFile(path, newer, 0o600); err != nil {
				t.Fatal(err)
			}
			var reported []error
			o := Options{StateFile: path, StrictState: strict, SaveInterval: 10 * time.Millisecond, OnError: func(err error) { reported = append(reported, err) }}
			c, err := Open(o)
			if strict {
				if err == nil {
					c.Close()
					t.Fatal("Open with StrictState accepted a newer state file")
				}
			} else {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if len(reported) != 1 {
					t.Fatalf("OnError got %v, want the newer file reported once", reported)
				}
				err = reported[0]
				c.IncrementRequests()
				if s := c.Refresh(); s.Requests != 1 {
					t.Errorf("counted %d requests, want 1", s.Requests)
				}
				if err := c.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				if len(reported) != 1 {
					t.Errorf("OnError got %v after Close, want nothing more", reported[1:])
				}
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "newer version") || !strings.Contains(msg, "without persistence") {
				t.Errorf("error %q should name the file, say it is from a newer version and that nothing is saved", msg)
			}
			if !errors.Is(err, errNewerState) {
				t.Errorf("error %v does not wrap errNewerState", err)
			}
			if data, err := os.ReadFile(path); err != nil || !bytes.Equal(data, newer) {
				t.Errorf("the newer file was not left in place untouched: %v", err)
			}
			if aside, _ := filepath.Glob(path + ".*"); len(aside) != 1 || aside[0] != path+".lock" {
				t.Errorf("files beside the state file: %v, want only the lock", aside)
			}
			// The lock was released: once the file is moved away, the next
			// Open persists again.
			if err := os.Rename(path, path+".keep"); err != nil {
				t.Fatal(err)
			}
			o.StrictState = true
			c, err = Open(o)
			if err != nil {
				t.Fatalf("Open after the newer file was moved: %v", err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			readState(t, path)
		})
	}
}

// TestStateFileNotRegular: a StateFile that names a directory (here, and
// through a symlink) is a configuration error: Open fails, StrictState or
// not, with an error naming it, and the directory is neither read, renamed
// nor replaced. persist_unix_test.go does FIFOs and sockets.
func TestStateFileNotRegular(t *testing.T) {
	for _, link := range []bool{false, true} {
		for _, strict := range []bool{false, true} {
			t.Run(fmt.Sprintf("symlink=%v/strict=%v", link, strict), func(t *testing.T) {
				dir := t.TempDir()
				target := filepath.Join(dir, "data")
				if err := os.Mkdir(target, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(target, "important"), []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
				path := target
				if link {
					path = filepath.Join(dir, "vitals.state")
					if err := os.Symlink(target, path); err != nil {
						t.Skip(err)
					}
				}
				checkNotRegularRefused(t, path, strict, "a directory")
				if data, err := os.ReadFile(filepath.Join(target, "important")); err != nil || string(data) != "x" {
					t.Errorf("the directory's content is gone: %v", err)
				}
			})
		}
	}
}

// checkNotRegularRefused opens a collector on path, which is not a regular
// file, and checks that Open fails with an error naming it and what it is,
// reports nothing, and leaves it where it was, as it was.
func checkNotRegularRefused(t *testing.T, path string, strict bool, what string) {
	t.Helper()
	before, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	var reported []error
	done := make(chan error, 1)
	go func() {
		c, err := Open(Options{StateFile: path, StrictState: strict, OnError: func(err error) { reported = append(reported, err) }})
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(time.Minute): // a guard against a hang, not a measure of speed
		t.Fatalf("Open on %s is still blocked after a minute", what)
	}
	if err == nil {
		t.Fatalf("Open accepted a StateFile that is %s", what)
	}
	if msg := err.Error(); !strings.Contains(msg, "StateFile "+path) || !strings.Contains(msg, what) {
		t.Errorf("error %q should name StateFile %s and say it is %s", msg, path, what)
	}
	if len(reported) != 0 {
		t.Errorf("OnError got %v, want nothing: Open's error says it", reported)
	}
	after, err := os.Lstat(path)
	if err != nil || !os.SameFile(before, after) || after.Mode() != before.Mode() {
		t.Errorf("%s was moved or replaced: %v", path, err)
	}
	if aside, _ := filepath.Glob(globEscape(path) + ".bad-*"); len(aside) != 0 {
		t.Errorf("set aside: %v", aside)
	}
}

// TestStateFileNotSetAside: a bad file that cannot be renamed (its
// directory is read-only) is left in place, not overwritten, and the
// collector runs without persistence.
func TestStateFileNotSetAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vitals.state")
	if err := os.WriteFile(path, []byte("bad"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The lock file must exist before the directory turns read-only.
	if err := os.WriteFile(path+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	if f, err := os.Create(filepath.Join(dir, "probe")); err == nil {
		f.Close()
		t.Skip("the directory is still writable (running as root?)")
	}
	var reported error
	c, err := Open(Options{StateFile: path, OnError: func(err error) { reported = err }})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	c.IncrementRequests()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if reported == nil || !strings.Contains(reported.Error(), "left in place") {
		t.Errorf("reported %v, want the file left in place", reported)
	}
	if data, _ := os.ReadFile(path); string(data) != "bad" {
		t.Errorf("the bad file was overwritten: %q", data)
	}
}

func TestStateFileMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "vitals.state")
	c, err := Open(Options{StateFile: path})
	if err == nil {
		c.Close()
		t.Fatal("Open succeeded in a directory that does not exist")
	}
	if msg := err.Error(); !strings.Contains(msg, "StateFile "+path) || strings.Contains(msg, ".lock") {
		t.Errorf("error %q should name StateFile %s, not the lock file", msg, path)
	}
}

// TestStateFileHugeNotRead: Open refuses a 512 MiB state file by its size,
// without reading it into memory.
func TestStateFileHugeNotRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vitals.state")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(512 << 20); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	var reported error
	allocated := allocatedBy(func() {
		c, err := Open(Options{StateFile: path, RefreshInterval: 30 * time.Second, OnError: func(err error) { reported = err }})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	})
	if reported == nil || !strings.Contains(reported.Error(), "larger than") {
		t.Errorf("reported %v, want the file refused for its size", reported)
	}
	t.Logf("Open of a 512 MiB state file allocated %d KiB", allocated>>10)
	if allocated > 4<<20 {
		t.Errorf("Open of a 512 MiB state file allocated %d MiB: it read the file", allocated>>20)
	}
}

// allocatedBy returns the bytes allocated while f runs.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// testPayload returns a small valid state payload, one route with one
// code, with the named fields replaced: each field's value is a uint64,
// written as a varint, or a []uint64 for a list.
func testPayload(set map[string]any) []byte {
	fields := []struct {
		name string
		v    any
	}{
		{"savedAt", uint64(1_700_000_000e9)},
		{"firstStart", uint64(1_699_000_000e9)},
		{"width", uint64(time.Minute)},
		{"abs", uint64(1_700_000_000 / 60)},
		{"retired", uint64(3)},
		{"window", []uint64{1, 2}},
		{"ringNext", uint64(2)},
		{"ring", []uint64{5e6, 7e6}},
		{"bounds", []uint64{1e6, 1e9}},
		{"routes", uint64(1)},
		{"name", "GET /a"},
		{"codes", uint64(1)},
		{"method", uint64(0)},
		{"code", uint64(200)},
		{"n", uint64(2)},
		{"hist", []uint64{0, 2, 0}},
		{"sumNs", uint64(12e6)},
		{"bytes", uint64(10)},
	}
	var b []byte
	for _, f := range fields {
		v := f.v
		if s, ok := set[f.name]; ok {
			v = s
		}
		switch v := v.(type) {
		case uint64:
			b = binary.AppendUvarint(b, v)
		case string:
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		case []uint64:
			b = binary.AppendUvarint(b, uint64(len(v)))
			for _, n := range v {
				b = binary.AppendUvarint(b, n)
			}
		}
	}
	return b
}

// TestStateHostileNumbers feeds checksum-valid states with one number out
// of its range: each is refused with an error that names it, and neither
// Restore nor Open panics or changes anything.
func TestStateHostileNumbers(t *testing.T) {
	const maxU = uint64(math.MaxUint64)
	tests := []struct {
		name string
		set  map[string]any
		want string
	}{
		{"method -1", map[string]any{"method": maxU}, "method"},
		{"method too high", map[string]any{"method": uint64(numMethods)}, "method"},
		{"code -1", map[string]any{"code": maxU}, "status code"},
		{"code 99", map[string]any{"code": uint64(99)}, "status code"},
		{"code 1000", map[string]any{"code": uint64(1000)}, "status code"},
		{"save time negative", map[string]any{"savedAt": maxU}, "save time"},
		{"start time negative", map[string]any{"firstStart": maxU - 5}, "start time"},
		{"width zero", map[string]any{"width": uint64(0)}, "bucket width"},
		{"width -1", map[string]any{"width": maxU}, "bucket width"},
		{"window position overflows", map[string]any{"abs": maxU >> 1}, "window position"},
		{"window before the epoch", map[string]any{"abs": uint64(0)}, "window length"},
		{"empty window", map[string]any{"window": []uint64{}}, "window length"},
		{"window counts wrap", map[string]any{"window": []uint64{maxU, 2}}, "add up"},
		{"ring sample negative", map[string]any{"ring": []uint64{maxU, 1}}, "duration"},
		{"ring longer than its position", map[string]any{"ringNext": uint64(1)}, "duration ring"},
		{"ring too long", map[string]any{"ringNext": maxU, "ring": make([]uint64, ringSize+1)}, "duration ring"},
		{"no bounds", map[string]any{"bounds": []uint64{}, "hist": []uint64{2}}, "histogram bounds"},
		{"bound zero", map[string]any{"bounds": []uint64{0, 1e9}}, "histogram bound"},
		{"bound -1", map[string]any{"bounds": []uint64{1e6, maxU}}, "histogram bound"},
		{"bounds equal", map[string]any{"bounds": []uint64{1e6, 1e6}}, "not increasing"},
		{"bounds decreasing", map[string]any{"bounds": []uint64{1e9, 1e6}}, "not increasing"},
		{"too many routes", map[string]any{"routes": maxU}, "routes length"},
		{"hist short", map[string]any{"hist": []uint64{0, 2}}, "route histogram"},
		{"hist wraps", map[string]any{"hist": []uint64{maxU, 2, 0}}, "add up"},
		{"name too long", map[string]any{"name": strings.Repeat("a", maxRouteLen+1)}, "route name"},
		{"name not UTF-8", map[string]any{"name": "GET /\xff"}, "UTF-8"},
		{"too many codes", map[string]any{"codes": uint64(maxStateCodes + 1)}, "route codes"},
	}
	good := frame(testPayload(nil))
	if _, err := decodeState(good); err != nil {
		t.Fatalf("the unedited test state does not decode: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := frame(testPayload(tt.set))
			if _, err := decodeState(data); err == nil || !errors.Is(err, errBadState) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("decodeState: %v, want a bad state naming %q", err, tt.want)
			}
			c, _ := newTestCollector(t, Options{})
			before := carried(c.Snapshot())
			if err := c.Restore(bytes.NewReader(data)); err == nil {
				t.Error("Restore accepted the state")
			}
			c.refresh()
			if after := carried(c.Snapshot()); after != before {
				t.Errorf("a refused Restore changed the collector:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

// hostileRoutes returns a checksum-valid state of about size bytes made of
// routes that each hold every (method, code) pair: what costs a decoder
// that materialises codes the most memory per input byte.
func hostileRoutes(size int) []byte {
	var routes []byte
	n := 0
	for len(routes) < size {
		r := routeState{name: fmt.Sprint("r", n), hist: []uint64{0, 0, 0}}
		for m := range numMethods {
			for code := 100; code <= 999; code++ {
				r.codes = append(r.codes, codeCount{m, code, 0})
			}
		}
		routes = appendRoute(routes, &r)
		n++
	}
	st := &state{
		savedAt: 1_700_000_000e9, firstStart: 1_700_000_000e9, width: int64(time.Minute),
		abs: 1_700_000_000 / 60, window: []uint64{1}, bounds: []int64{1e6, 1e9},
		nroutes: n, routes: routes,
	}
	return st.encode()
}

// TestStateDecodeMemory: decoding and restoring a hostile state allocates
// a bounded amount, not a multiple of the codes it holds, even with every
// route slot free (MaxRoutes 10000).
func TestStateDecodeMemory(t *testing.T) {
	data := hostileRoutes(16 << 20)
	c, _ := newTestCollector(t, Options{MaxRoutes: 10000})
	allocated := allocatedBy(func() {
		if err := c.Restore(bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("Restore of a %d KiB state of dense routes allocated %d KiB", len(data)>>10, allocated>>10)
	// Restore holds the input once and allocates the collector's own
	// routes (about 600 here), whose codes are kept only when non-zero:
	// nothing in proportion to the codes in the file.
	if limit := 2 * uint64(len(data)); allocated > limit {
		t.Errorf("Restore of %d MiB allocated %d MiB, want at most %d MiB", len(data)>>20, allocated>>20, limit>>20)
	}
	decoded := allocatedBy(func() {
		if _, err := decodeState(data); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("decodeState of it allocated %d KiB", decoded>>10)
	if decoded > 2<<20 {
		t.Errorf("decodeState of %d MiB allocated %d KiB, want under 2 MiB whatever the size", len(data)>>20, decoded>>10)
	}
}

// routesState returns a state of n routes named r0, r1, …, each with
// codes (method, code) pairs counted count times (in one classic bucket).
func routesState(n, codes int, count uint64) []byte {
	var routes []byte
	for i := range n {
		r := routeState{name: fmt.Sprint("r", i), hist: []uint64{uint64(codes) * count, 0, 0}}
		for k := range codes {
			r.codes = append(r.codes, codeCount{k % numMethods, 100 + k/numMethods%9*100 + k/90, count})
		}
		routes = appendRoute(routes, &r)
	}
	st := &state{
		savedAt: 1_700_000_000e9, firstStart: 1_700_000_000e9, width: int64(time.Minute),
		abs: 1_700_000_000 / 60, window: []uint64{uint64(n*codes) * count}, bounds: []int64{1e6, 1e9},
		nroutes: n, routes: routes,
	}
	return st.encode()
}

// TestRestoredCodes: restored codes keep only non-zero counts, one entry
// per (method, code), in method then code order, however they come.
func TestRestoredCodes(t *testing.T) {
	var r restoredStats
	r.addCodes([]codeCount{{0, 200, 0}, {9, 999, 0}})
	if r.codes != nil {
		t.Errorf("zero counts stored: %v", r.codes)
	}
	r.addCodes([]codeCount{{2, 503, 1}, {0, 404, 2}, {2, 503, 3}, {0, 200, 0}})
	r.addCodes([]codeCount{{0, 200, 4}, {0, 404, 5}})
	var got []string
	r.forEachCode(func(method, code int, n uint64) {
		got = append(got, fmt.Sprintf("%s %d %d", methodNames[method], code, n))
	})
	if want := []string{"get 200 4", "get 404 7", "post 503 4"}; !slices.Equal(got, want) {
		t.Errorf("codes %q, want %q", got, want)
	}
}

var statsSink *recorder // keeps what a test allocates on the heap

// TestStateRestoreManyRoutes restores 10000 routes with MaxRoutes 10000:
// the routes enter the table in one batch, not one copy of the table per
// route, and each costs a live route's counters plus its non-zero codes,
// not a block of 100 counters per (method, status class).
func TestStateRestoreManyRoutes(t *testing.T) {
	const n = 10000
	data := routesState(n, 90, 1)
	c, _ := newTestCollector(t, Options{MaxRoutes: n})
	route := allocatedBy(func() { statsSink = newRecorder("r", len(c.bounds), c.win.n) })
	allocated := allocatedBy(func() {
		if err := c.Restore(bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	})
	beyond := int64(allocated) - n*int64(route)
	t.Logf("Restore of %d routes (%d KiB) allocated %d KiB: %d KiB for the routes' live counters (%d B each), %d KiB more (%.1fx the input)",
		n, len(data)>>10, allocated>>10, n*route>>10, route, beyond>>10, float64(beyond)/float64(len(data)))
	// The input, read into memory, and 16 bytes per non-zero code, which
	// takes at least 3 bytes of the input.
	if limit := 8 * int64(len(data)); beyond > limit {
		t.Errorf("beyond the routes' counters, Restore of %d KiB allocated %d KiB, want at most 8x the input", len(data)>>10, beyond>>10)
	}
	s := c.Refresh()
	if len(s.Routes) != n || s.Requests != n*90 || s.Status.Success != n*10 {
		t.Errorf("restored %d routes, %d requests, %+v; want %d routes, %d requests", len(s.Routes)-1, s.Requests, s.Status, n, n*90)
	}
}

// TestStateRestoredRoutesKeepLiveSlots: the routes of a restored state do
// not take the MaxRoutes slots of the routes this process serves; they are
// capped apart, at MaxRoutes, and those beyond count under RouteOther.
func TestStateRestoredRoutesKeepLiveSlots(t *testing.T) {
	serve := func(c *Collector, paths ...string) {
		h := c.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		for _, p := range paths {
			h.ServeHTTP(newTestInner(), httptest.NewRequest("GET", p, nil))
		}
	}
	counts := func(s *Snapshot) map[string]uint64 {
		m := map[string]uint64{}
		for _, r := range s.Routes {
			m[r.Route] = r.Requests
		}
		return m
	}
	byPath := func(r *http.Request) string { return r.URL.Path[1:] }

	t.Run("default", func(t *testing.T) {
		c, _ := newTestCollector(t, Options{Route: byPath})
		if err := c.Restore(bytes.NewReader(routesState(DefaultMaxRoutes, 1, 1))); err != nil {
			t.Fatal(err)
		}
		serve(c, "/real")
		got := counts(c.Refresh())
		if got["real"] != 1 || got[RouteOther] != 0 || got["r0"] != 1 || got["r99"] != 1 {
			t.Errorf("after restoring %d routes, a live one: %v; want real 1, other 0, r0…r99 1", DefaultMaxRoutes, got)
		}
	})
	t.Run("capped apart", func(t *testing.T) {
		c, _ := newTestCollector(t, Options{Route: byPath, MaxRoutes: 3})
		if err := c.Restore(bytes.NewReader(routesState(5, 1, 1))); err != nil {
			t.Fatal(err)
		}
		// r0 is restored: live requests to it count there and take no
		// slot; a, b and c take the three live slots, d is other.
		serve(c, "/r0", "/a", "/b", "/c", "/d")
		got := counts(c.Refresh())
		want := map[string]uint64{"r0": 2, "r1": 1, "r2": 1, "a": 1, "b": 1, "c": 1, RouteOther: 2 + 1}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("routes %v, want %v", got, want)
		}
	})
}

func TestStateFileSaveOnCloseAndRestore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vitals.state")
	clk := newFakeClock()
	o := Options{StateFile: path, Now: clk.Now, RefreshInterval: 30 * time.Second, SaveInterval: time.Hour}
	c, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	for range 7 {
		c.IncrementRequests()
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	if tmp, _ := filepath.Glob(path + ".tmp-*"); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	clk.Add(time.Second)
	c, err = Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if s := c.Snapshot(); s.Requests != 7 || !s.Start.Equal(clk.Now().Add(-time.Second)) || s.Uptime != 0 {
		t.Errorf("restored Requests %d Start %v Uptime %v", s.Requests, s.Start, s.Uptime)
	}
}

func TestStateFileLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vitals.state")
	a, err := Open(Options{StateFile: path})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := Open(Options{StateFile: path}); err == nil || !strings.Contains(err.Error(), "in use") {
		if b != nil {
			b.Close()
		}
		t.Fatalf("second Open on a locked state file: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := Open(Options{StateFile: path})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	b.Close()
}

// TestStatePeriodicSaveAndErrors runs the save goroutine in a synctest
// bubble: it saves every SaveInterval, reports a failing save through
// OnError, and retries on the next tick.
func TestStatePeriodicSaveAndErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "sub", "vitals.state")
		if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 10)
		c, err := Open(Options{StateFile: path, SaveInterval: 10 * time.Second, OnError: func(err error) { errs <- err }})
		if err != nil {
			t.Fatal(err)
		}
		c.IncrementRequests()
		time.Sleep(10*time.Second + time.Millisecond)
		synctest.Wait()
		if st := readState(t, path); st.retired+sum(st.window) != 1 {
			t.Errorf("after one interval the file holds %d requests, want 1", st.retired+sum(st.window))
		}
		// Take the directory away: the next save fails and is reported,
		// and requests are still recorded.
		if err := os.Rename(filepath.Dir(path), filepath.Join(dir, "gone")); err != nil {
			t.Fatal(err)
		}
		c.IncrementRequests()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		select {
		case err := <-errs:
			if !strings.Contains(err.Error(), path) {
				t.Errorf("save error %q does not name the file", err)
			}
		default:
			t.Fatal("a failing save was not reported")
		}
		// Put it back: the next tick saves again.
		if err := os.Rename(filepath.Join(dir, "gone"), filepath.Dir(path)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if st := readState(t, path); st.retired+sum(st.window) != 2 {
			t.Errorf("after the retry the file holds %d requests, want 2", st.retired+sum(st.window))
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

func readState(t *testing.T, path string) *state {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := decodeState(data)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func FuzzDecodeState(f *testing.F) {
	c := New(Options{RefreshInterval: 30 * time.Second})
	for i := range 20 {
		c.routes.get(fmt.Sprint("r", i%3)).observe(c.slotNow(), i%numMethods, 200+i, int64(i)*1e6, 10, c.bounds)
		c.RecordDuration(time.Duration(i))
		c.IncrementRequests()
	}
	c.Close()
	good := c.capture().encode()
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[stateHeader : len(good)-4]) // a bare payload: framed below
	f.Add([]byte(stateMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
		// The checksum rejects almost every mutation before the payload
		// parser sees it; framing the input as a payload with a correct
		// header and checksum fuzzes the parser itself.
		checkDecode(t, frame(data))
	})
}

// FuzzStateFields is structure-aware: it takes a valid encoded state apart
// into its fields (numbers and strings, by the format's grammar), gives one
// field a hostile value, deletes or repeats it, and frames the result with
// a valid header and checksum, so every field of the payload, not only the
// bytes that survive a checksum, meets extreme values. It is seeded with
// real encoded states.
func FuzzStateFields(f *testing.F) {
	for _, good := range seedStates() {
		f.Add(good, uint16(0), uint8(0), uint64(0))
		for i := range 40 {
			f.Add(good, uint16(i*7), uint8(i%6), uint64(math.MaxUint64-uint64(i)))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, field uint16, op uint8, val uint64) {
		if len(data) < stateHeader+4 {
			checkDecode(t, data)
			return
		}
		payload := data[stateHeader : len(data)-4]
		spans, ok := stateFields(payload)
		if !ok || len(spans) == 0 {
			checkDecode(t, frame(payload))
			return
		}
		checkDecode(t, frame(mutateField(payload, spans, int(field)%len(spans), op, val)))
	})
}

// TestStateFieldsSeeds: the fuzz target's field parser takes every seed
// apart whole, so its mutations reach every field.
func TestStateFieldsSeeds(t *testing.T) {
	for i, good := range seedStates() {
		spans, ok := stateFields(good[stateHeader : len(good)-4])
		if !ok || len(spans) < 20 {
			t.Errorf("seed %d: %d fields, ok %v", i, len(spans), ok)
		}
	}
}

// seedStates returns real encoded states: an empty collector's, a loaded
// one's with several routes and codes, and one with other bounds.
func seedStates() [][]byte {
	var out [][]byte
	for _, o := range []Options{{}, {Buckets: []float64{0.01, 1}, WindowBuckets: 3}} {
		c := New(Options{RefreshInterval: 30 * time.Second, Buckets: o.Buckets, WindowBuckets: o.WindowBuckets})
		out = append(out, c.capture().encode())
		for i := range 20 {
			c.routes.get(fmt.Sprint("GET /r", i%3, "/é")).observe(c.slotNow(), i%numMethods, 200+i*17, int64(i)*1e6, 10, c.bounds)
			c.RecordDuration(time.Duration(i) * time.Millisecond)
			c.IncrementRequests()
		}
		c.Close()
		out = append(out, c.capture().encode())
	}
	return out
}

// stateFields splits a payload into the spans of its fields by the
// format's grammar; a string is one field (its length and bytes). It
// reports false where the payload does not follow the grammar.
func stateFields(p []byte) (spans [][2]int, ok bool) {
	pos := 0
	uv := func() uint64 {
		v, n := binary.Uvarint(p[pos:])
		if n <= 0 {
			ok = false
			return 0
		}
		spans = append(spans, [2]int{pos, pos + n})
		pos += n
		return v
	}
	list := func() {
		n := uv()
		for i := uint64(0); ok && i < n; i++ {
			uv()
		}
	}
	ok = true
	for range 5 { // savedAt firstStart width abs retired
		uv()
	}
	list() // window
	uv()   // ringNext
	list() // ring
	list() // bounds
	for nr := uv(); ok && nr > 0; nr-- {
		start := pos
		n, k := binary.Uvarint(p[pos:])
		if k <= 0 || uint64(len(p)-pos-k) < n {
			return spans, false
		}
		pos += k + int(n)
		spans = append(spans, [2]int{start, pos})
		for nc := uv(); ok && nc > 0; nc-- {
			uv()
			uv()
			uv()
		}
		list() // hist
		uv()   // sumNs
		uv()   // bytes
	}
	if !ok || pos == len(p) {
		return spans, ok // format 1
	}
	for nf := uv(); ok && nf > 0; nf-- { // window figures
		for range 6 {
			uv()
		}
	}
	for nh := uv(); ok && nh > 0; nh-- { // route histograms
		uv() // zero
		uv() // over
		for nb := uv(); ok && nb > 0; nb-- {
			uv() // gap
			uv() // count
		}
	}
	return spans, ok && pos == len(p)
}

// v1Payload reports whether a payload is complete after the routes, as in
// format 1.
func v1Payload(p []byte) bool {
	d := decoder{b: p}
	for range 5 {
		d.uv()
	}
	d.uvs("", 0, math.MaxInt)
	d.uv()
	d.uvs("", 0, math.MaxInt)
	bounds := d.uvs("", 0, math.MaxInt)
	var r routeState
	for n := d.count("", 0, math.MaxInt); d.err == nil && n > 0; n-- {
		d.route(&r, len(bounds))
		if d.err != nil {
			return false
		}
	}
	return d.err == nil && len(d.b) == 0
}

// mutateField returns a copy of payload with field i changed by op: given
// the value val, its negation, or its complement (so a fuzzer's small
// numbers also reach the top of the range), deleted, repeated, or val
// inserted before it.
func mutateField(payload []byte, spans [][2]int, i int, op uint8, val uint64) []byte {
	s := spans[i]
	out := append([]byte(nil), payload[:s[0]]...)
	switch op % 6 {
	case 0:
		out = binary.AppendUvarint(out, val)
	case 1:
		out = binary.AppendUvarint(out, -val)
	case 2:
		out = binary.AppendUvarint(out, ^val)
	case 3: // deleted
	case 4:
		out = append(out, payload[s[0]:s[1]]...)
		out = append(out, payload[s[0]:s[1]]...)
	case 5:
		out = binary.AppendUvarint(out, val)
		out = append(out, payload[s[0]:s[1]]...)
	}
	return append(out, payload[s[1]:]...)
}

// frame wraps payload in a valid header and checksum.
func frame(payload []byte) []byte {
	b := make([]byte, stateHeader, stateHeader+len(payload)+4)
	copy(b, stateMagic)
	version := uint32(stateVersion)
	if v1Payload(payload) {
		version = 1
	}
	binary.LittleEndian.PutUint32(b[8:], version)
	binary.LittleEndian.PutUint64(b[12:], uint64(len(payload)))
	b = append(b, payload...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

func checkDecode(t *testing.T, data []byte) {
	{
		st, err := decodeState(data)
		if err != nil {
			if st != nil || !errors.Is(err, errBadState) {
				t.Fatalf("error %v with state %v", err, st)
			}
			return
		}
		// What decodes re-encodes to a state that decodes the same way
		// and can be applied without panicking.
		again, err := decodeState(st.encode())
		if err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
		if fmt.Sprint(again) != fmt.Sprint(st) {
			t.Fatal("re-encoded state differs")
		}
		c := New(Options{RefreshInterval: 30 * time.Second})
		c.apply(st)
		c.Close()
	}
}

// TestRestoreReaders: Restore reads a state from a reader that does not
// say its size, and refuses an endless one after 64 MiB.
func TestRestoreReaders(t *testing.T) {
	good := stateBytes(t)
	c, _ := newTestCollector(t, Options{})
	if err := c.Restore(io.MultiReader(bytes.NewReader(good[:7]), bytes.NewReader(good[7:]))); err != nil {
		t.Errorf("Restore from a reader of unknown size: %v", err)
	}
	endless := &countingReader{}
	if err := c.Restore(endless); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Restore of an endless reader: %v", err)
	}
	if endless.n > maxStateSize+1 {
		t.Errorf("Restore read %d bytes of an endless reader", endless.n)
	}
}

// countingReader is an endless reader of zeros that counts what it gives.
type countingReader struct{ n int64 }

func (r *countingReader) Read(p []byte) (int, error) {
	clear(p)
	r.n += int64(len(p))
	return len(p), nil
}

// TestNoDataAfterRestart checks that the buckets a crashed process was down
// for are "no data" in the window, in JSON and on the page, not zero
// requests: from the last save to the restart.
func TestNoDataAfterRestart(t *testing.T) {
	clk := newFakeClock()
	a, _ := newTestCollector(t, Options{Now: clk.Now, WindowBuckets: 60})
	clk.Add(90 * time.Second) // 12:01:30
	serveN(a, "GET /x", 200, 4)
	a.Refresh()
	var buf bytes.Buffer
	if err := a.Save(&buf); err != nil {
		t.Fatal(err)
	}
	clk.Add(30 * time.Minute) // down until 12:31:30
	b, _ := newTestCollector(t, Options{Now: clk.Now, WindowBuckets: 60})
	if err := b.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	s := b.Refresh()
	// The window is 11:32 to 12:31: 28 buckets before counting started at
	// 12:00, 12:00 and 12:01 counted, 12:02 to 12:30 down, 12:31 counted.
	want := make([]bool, 60)
	for i := range want {
		want[i] = i < 28 || i >= 30 && i < 59
	}
	if !slices.Equal(s.Window.NoDataAt, want) {
		t.Errorf("NoDataAt = %v, want %v", s.Window.NoDataAt, want)
	}
	if s.Window.Counts[29] != 4 {
		t.Errorf("12:01 count %d, want 4", s.Window.Counts[29])
	}
	j, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(j, []byte(`"no_data_at":[true,`)) {
		t.Errorf("JSON has no no_data_at: %s", j)
	}
	body := renderSample(t, s, "")
	wantIn(t, body,
		`<rect class="nd" x="0" y="0" width="28" height="100"/>`,
		`<rect class="nd" x="30" y="0" width="29" height="100"/>`,
		"no data: before counting started at 12:00; not counting 12:02–12:31",
		"12:02–12:03: no data (not counting: the process was down)",
		"12:31–12:32: 0 requests",
	)
}
