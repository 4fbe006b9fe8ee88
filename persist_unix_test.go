//go:build unix

package vitals

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStateFileFIFOAndSocket: a StateFile that is a FIFO or a socket is
// refused as a directory is (TestStateFileNotRegular), and a FIFO never
// blocks Open, which would wait forever for a writer if it opened it.
func TestStateFileFIFOAndSocket(t *testing.T) {
	for _, kind := range []string{"fifo", "socket"} {
		for _, strict := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/strict=%v", kind, strict), func(t *testing.T) {
				// Short: a socket path must fit in about 100 bytes.
				dir, err := os.MkdirTemp("", "vs")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(dir) })
				path := filepath.Join(dir, "state")
				what := "a named pipe"
				if kind == "fifo" {
					if err := syscall.Mkfifo(path, 0o600); err != nil {
						t.Skip(err)
					}
				} else {
					what = "a socket"
					l, err := net.Listen("unix", path)
					if err != nil {
						t.Skip(err)
					}
					t.Cleanup(func() { l.Close() })
				}
				checkNotRegularRefused(t, path, strict, what)
			})
		}
	}
}

// TestOpenNoBlockFIFO: the open that loadStateFile uses returns at once on
// a FIFO (one put in place after the type was checked), and its type shows
// on the open file, where loadStateFile checks it again.
func TestOpenNoBlockFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skip(err)
	}
	type opened struct {
		f   *os.File
		err error
	}
	done := make(chan opened, 1)
	go func() {
		f, err := openNoBlock(path) // a blocking open waits for a writer
		done <- opened{f, err}
	}()
	var o opened
	select {
	case o = <-done:
	case <-time.After(time.Minute): // a guard against a hang, not a measure of speed
		if w, err := os.OpenFile(path, os.O_RDWR, 0); err == nil { // releases it
			defer w.Close()
		}
		t.Fatal("openNoBlock on a FIFO is still blocked after a minute")
	}
	if o.err != nil {
		t.Fatal(o.err)
	}
	f := o.f
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().IsRegular() {
		t.Errorf("a FIFO opened as %v, a regular file", fi.Mode())
	}
	if msg := notRegular(fi).Error(); !strings.Contains(msg, "named pipe") {
		t.Errorf("notRegular says %q, want it to name a named pipe", msg)
	}
}

// TestStateFileReadOnlyDirectory: a StateFile in a directory where its lock
// file cannot be created (read-only, or not writable by this process) is
// a configuration error, as a missing directory is: Open fails, the error
// names StateFile and the cause, and Open's doc and the README say so.
func TestStateFileReadOnlyDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	if f, err := os.Create(filepath.Join(dir, "probe")); err == nil {
		// Root writes anyway: sysfs refuses new files even to root.
		f.Close()
		dir = "/sys"
		if f, err := os.Create(filepath.Join(dir, "vitals-probe")); err == nil || !errors.Is(err, fs.ErrPermission) && !errors.Is(err, syscall.EROFS) {
			if err == nil {
				f.Close()
			}
			t.Skip("no directory this process cannot write")
		}
	}
	path := filepath.Join(dir, "vitals.state")
	c, err := Open(Options{StateFile: path})
	if err == nil {
		c.Close()
		t.Fatal("Open succeeded where the lock file cannot be created")
	}
	if msg := err.Error(); !strings.Contains(msg, "StateFile "+path) || !strings.Contains(msg, "lock file") {
		t.Errorf("error %q should name StateFile %s and its lock file", msg, path)
	}
	src, err := os.ReadFile("collector.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(src[:bytes.Index(src, []byte("\nfunc Open("))])
	doc = doc[strings.LastIndex(doc, "\n\n"):]
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(doc, "lock file cannot be created") || !bytes.Contains(readme, []byte("read-only file system")) {
		t.Errorf("Open's doc and the README should say that Open fails where the lock file cannot be created:\n%s", doc)
	}
}
