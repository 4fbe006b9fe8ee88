//go:build !unix

package vitals

import (
	"fmt"
	"os"
)

// The platform primitives of the state file (persist.go) on other systems
// than Unix (Windows, Plan 9, WebAssembly): a lock file created
// exclusively, a plain open and no directory sync.

// lockFile creates path exclusively as a lock: a second collector fails
// while it exists. Unlike flock on Unix, a lock file left by a process that
// crashed must be removed by hand; the error says so.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("in use by another collector, or one crashed: %s exists (%v)", path, err)
	}
	return func() { f.Close(); os.Remove(path) }, nil
}

// openNoBlock opens path for reading. Here no open blocks on the kinds of
// files that can block on Unix; the caller checks the type first anyway.
func openNoBlock(path string) (*os.File, error) {
	return os.Open(path)
}

// syncDir is a no-op where directories cannot be synced.
func syncDir(string) error { return nil }
