package vitals

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// Tests of the state file (persist.go): bad, newer and misplaced files,
// the lock, and saving on close and every SaveInterval.

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

// kill stops c as kill -9 would: no save on the way out, the lock
// released as the process's end releases it.
func kill(c *Collector) {
	close(c.done)
	<-c.exited
	<-c.saverExited
	c.unlock()
}

// TestNoDataAcrossRestarts: the downtime seen by one restart is still "no
// data" after the next. A saves at 12:01:30 and is killed; B starts at
// 12:11:30 (12:02 to 12:10 are no data), saves and is closed; in C,
// 12:02 to 12:10 must still be no data, not zero requests.
func TestNoDataAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vitals.state")
	clk := newFakeClock()
	o := Options{StateFile: path, Now: clk.Now, WindowBuckets: 60, RefreshInterval: 30 * time.Second, SaveInterval: time.Hour, StrictState: true}
	open := func() *Collector {
		t.Helper()
		c, err := Open(o)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	down := func(s *Snapshot) (nd []bool, counts []uint64) {
		first := time.Date(2026, 3, 1, 12, 2, 0, 0, time.UTC)
		i := int(first.Sub(s.Window.Start) / s.Window.BucketWidth)
		return s.Window.NoDataAt[i : i+9], s.Window.Counts[i : i+9]
	}
	allDown := func(nd []bool) bool { return !slices.Contains(nd, false) }

	a := open()
	serveN(a, "GET /x", 200, 3)
	clk.Add(90 * time.Second) // 12:01:30
	serveN(a, "GET /x", 200, 4)
	a.Refresh()
	if err := a.saveFile(); err != nil {
		t.Fatal(err)
	}
	kill(a)

	clk.Add(10 * time.Minute) // 12:11:30
	b := open()
	serveN(b, "GET /x", 200, 1)
	if nd, _ := down(b.Refresh()); !allDown(nd) {
		t.Fatalf("B: 12:02 to 12:10 no data %v, want all", nd)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	clk.Add(10 * time.Second) // 12:11:40
	c := open()
	defer c.Close()
	s := c.Refresh()
	if nd, counts := down(s); !allDown(nd) {
		t.Errorf("C: 12:02 to 12:10 no data %v (counts %v), want all", nd, counts)
	}
	if s.Requests != 8 {
		t.Errorf("C: %d requests, want 8", s.Requests)
	}
}
