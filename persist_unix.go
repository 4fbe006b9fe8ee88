//go:build unix

package vitals

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// The platform primitives of the state file (persist.go) on Unix: an
// flock lock, a non-blocking open and a directory sync.

// lockFile takes an exclusive advisory lock (flock) on path, creating it,
// and returns the function that releases it. A second process, or a second
// Collector in this one, gets an error at once rather than waiting.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("in use by another collector: %s is locked", path)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil // closing the file releases the lock
}

// openNoBlock opens path for reading without blocking: a FIFO opens at
// once instead of waiting for a writer. Reads of a regular file are not
// affected.
func openNoBlock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
