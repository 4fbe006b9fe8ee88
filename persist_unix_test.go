//go:build unix

package vitals

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
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
