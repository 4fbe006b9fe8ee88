package vitals

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// The state file (Options.StateFile): opening it under its lock, loading
// it, setting a bad one aside, and saving it atomically every SaveInterval.
// The lock, a non-blocking open and a directory sync are platform
// primitives, in persist_unix.go and persist_other.go.

// DefaultSaveInterval is how often the state file is written when
// Options.SaveInterval is zero.
const DefaultSaveInterval = 10 * time.Second

// openState locks the state file, restores from it if it exists, and
// starts the goroutine that saves it every SaveInterval until Close.
//
// A file that cannot be read or decoded is renamed aside, never
// overwritten, and reported: through OnError, after which the collector
// starts empty, or, with Options.StrictState, as Open's error. A file that
// cannot even be set aside is left in place and, without StrictState, the
// collector runs without persistence rather than overwrite it; so is a
// file written by a newer version, which is not set aside. A StateFile
// that is not a regular file (a directory, FIFO, socket, device) is a
// configuration error: Open fails and nothing is read or moved.
func (c *Collector) openState() error {
	path := c.opts.StateFile
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("vitals: StateFile %s: its directory cannot be used: %w", path, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("vitals: StateFile %s: %s is not a directory", path, dir)
	}
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return fmt.Errorf("vitals: StateFile %s: %w", path, err)
	}
	// Temporary files of a process that died mid-save; the lock says no
	// one is writing them now.
	if stale, err := filepath.Glob(globEscape(path) + ".tmp-*"); err == nil {
		for _, f := range stale {
			os.Remove(f)
		}
	}
	st, bad, err := loadStateFile(path)
	switch {
	case err != nil: // not a file vitals may read, set aside or replace
		unlock()
		return fmt.Errorf("vitals: StateFile %s: %w", path, err)
	case st != nil:
		c.apply(st)
	case errors.Is(bad, errNewerState):
		// Left in place for the version that wrote it (a rollback): no
		// saver, which would overwrite it.
		unlock()
		err := fmt.Errorf("vitals: state file %s: %w; it was left in place and is not used, and this collector runs without persistence (nothing is saved) until it is moved away", path, bad)
		if c.opts.StrictState {
			return err
		}
		c.reportError(err)
		return nil
	case bad != nil:
		kept, err := c.setAside(path, bad.Error())
		if c.opts.StrictState {
			unlock()
			return err
		}
		c.reportError(err)
		if !kept {
			unlock()
			return nil // no saver: it would overwrite the file left in place
		}
	}
	c.unlock = unlock
	c.saverExited = make(chan struct{})
	go c.every(c.opts.SaveInterval, func() {
		if err := c.saveFile(); err != nil {
			c.reportError(err)
		}
	}, c.saverExited)
	return nil
}

// loadStateFile reads and decodes the state file at path. It returns the
// state; or, in bad, why the file cannot be used; or neither when there is
// no file. It returns err, and touches nothing, when path is not a regular
// file (a directory, FIFO, device or socket, after following symlinks):
// that is a configuration error, not a damaged file, and such a thing must
// be neither read, which could block forever, nor renamed away.
//
// It checks the type before opening and again on the open file, which is
// opened without blocking (openNoBlock), so a FIFO put in place meanwhile
// cannot hang it either. It checks the size before reading, so a huge file
// is never read into memory, and reads at most maxStateSize+1 bytes even
// if the file grows meanwhile.
func loadStateFile(path string) (st *state, bad, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil // first start: nothing to restore
	}
	if err != nil {
		return nil, err, nil
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, notRegular(fi)
	}
	f, err := openNoBlock(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, err, nil
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err, nil
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, notRegular(fi)
	}
	if fi.Size() > maxStateSize {
		return nil, fmt.Errorf("larger than %d bytes (%d)", maxStateSize, fi.Size()), nil
	}
	data, err := readLimited(f, fi.Size())
	if err != nil {
		return nil, err, nil
	}
	if st, err = decodeState(data); err != nil {
		return nil, err, nil
	}
	return st, nil, nil
}

// notRegular is the error for a StateFile that is not a regular file.
func notRegular(fi fs.FileInfo) error {
	what := "not a regular file"
	switch t := fi.Mode().Type(); {
	case t&fs.ModeDir != 0:
		what = "a directory"
	case t&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case t&fs.ModeSocket != 0:
		what = "a socket"
	case t&fs.ModeDevice != 0:
		what = "a device"
	}
	return fmt.Errorf("is %s, not a regular file; it was left untouched: name a file (which Open creates) instead", what)
}

// readLimited reads r to its end into a buffer sized for size bytes,
// growing it only if r holds more, and reads at most maxStateSize+1 bytes;
// more than maxStateSize is an error.
func readLimited(r io.Reader, size int64) ([]byte, error) {
	buf := make([]byte, 0, min(max(size, 0), maxStateSize)+1) // +1: room to see the end
	lr := io.LimitReader(r, maxStateSize+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(buf) > maxStateSize {
		return nil, fmt.Errorf("larger than %d bytes", maxStateSize)
	}
	return buf, nil
}

// globEscape escapes the pattern characters of filepath.Match in s.
func globEscape(s string) string {
	var b []byte
	for i := range len(s) {
		switch s[i] {
		case '*', '?', '[', '\\':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// setAside renames a state file that cannot be used to a name no file
// has, so that the next start neither reads nor overwrites it, and returns
// whether it was kept aside and an error naming both files. The name is
// path.bad-<unix seconds>, with -2, -3, … added when that is taken; the
// state file's lock, held by the caller, keeps other collectors from
// choosing the same name meanwhile.
func (c *Collector) setAside(path, why string) (kept bool, err error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		// Replaced meanwhile by something that is not a file: never move it.
		return false, fmt.Errorf("vitals: state file %s: %s; it %w", path, why, notRegular(fi))
	}
	base := path + ".bad-" + strconv.FormatInt(c.opts.Now().Unix(), 10)
	aside := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(aside); errors.Is(err, fs.ErrNotExist) {
			break
		}
		if i > 10000 {
			return false, fmt.Errorf("vitals: state file %s: %s; it could not be set aside (%s-2 … -%d are taken), so it was left in place and not used", path, why, base, i-1)
		}
		aside = base + "-" + strconv.Itoa(i)
	}
	if err := os.Rename(path, aside); err != nil {
		return false, fmt.Errorf("vitals: state file %s: %s; it could not be set aside (%v), so it was left in place and not used", path, why, err)
	}
	return true, fmt.Errorf("vitals: state file %s: %s; kept as %s, and counting starts empty", path, why, aside)
}

// reportError passes err to Options.OnError, or logs it without one.
func (c *Collector) reportError(err error) {
	if c.opts.OnError != nil {
		c.opts.OnError(err)
		return
	}
	log.Print(err)
}

// saveFile writes the state file atomically: a temporary file in the same
// directory, written, synced, renamed over the old one, then the directory
// synced, so a crash at any moment leaves either the old file or the new
// one, whole.
func (c *Collector) saveFile() error {
	path := c.opts.StateFile
	data := c.capture().encode()
	if err := writeFileAtomic(path, data); err != nil {
		return fmt.Errorf("vitals: saving state file %s: %w", path, err)
	}
	return nil
}

// writeFileAtomic replaces the file at path with data, as saveFile says.
func writeFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+".tmp-*") // mode 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}
