package vitals

import (
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// DefaultSaveInterval is how often the state file is written when
// Options.SaveInterval is zero.
const DefaultSaveInterval = 10 * time.Second

// openState locks the state file, restores from it if it exists, and
// starts the goroutine that saves it every SaveInterval until Close. A file that cannot be decoded is
// renamed aside, never overwritten, and reported.
func (c *Collector) openState() error {
	path := c.opts.StateFile
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return err
	}
	// Temporary files of a process that died mid-save; the lock says no
	// one is writing them now.
	if stale, err := filepath.Glob(globEscape(path) + ".tmp-*"); err == nil {
		for _, f := range stale {
			os.Remove(f)
		}
	}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// First start: nothing to restore.
	case err != nil:
		unlock()
		return fmt.Errorf("vitals: reading state file: %w", err)
	case len(data) > maxStateSize:
		unlock()
		return c.setAside(path, fmt.Sprintf("larger than %d bytes", maxStateSize))
	default:
		st, err := decodeState(data)
		if err != nil {
			unlock()
			return c.setAside(path, err.Error())
		}
		c.apply(st)
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

// setAside renames a state file that cannot be used, so that the next start
// neither reads nor overwrites it, and returns an error naming both files.
func (c *Collector) setAside(path, why string) error {
	aside := path + ".bad-" + strconv.FormatInt(c.opts.Now().Unix(), 10)
	if err := os.Rename(path, aside); err != nil {
		return fmt.Errorf("vitals: state file %s: %s; it could not be set aside (%v), so it was left in place and not used", path, why, err)
	}
	return fmt.Errorf("vitals: state file %s: %s; kept as %s, and the next start begins empty", path, why, aside)
}

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
