//go:build unix

package vitals

import (
	"bufio"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

const crashChildEnv = "VITALS_CRASH_CHILD_STATE"

// TestCrashChild is the child of TestCrashSafety: it restores the state
// file, says it is ready, and records and saves in a loop until killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("run by TestCrashSafety")
	}
	c, err := Open(Options{StateFile: path, SaveInterval: time.Hour})
	if err != nil {
		t.Fatalf("child Open: %v", err)
	}
	os.Stdout.WriteString("ready\n")
	for {
		for range 100 {
			c.IncrementRequests()
			c.RecordDuration(time.Millisecond)
		}
		if err := c.saveFile(); err != nil {
			t.Fatalf("child save: %v", err)
		}
	}
}

// TestCrashSafety kills a child that saves in a loop at random moments,
// many times. Every time, the state file must load, and its total must not
// go backwards: a crash loses at most the last save, never the file.
func TestCrashSafety(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the child")
	}
	kills := 200
	if testing.Short() {
		kills = 20
	}
	path := filepath.Join(t.TempDir(), "vitals.state")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var last uint64
	for i := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(out).ReadString('\n')
		if line != "ready\n" {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("kill %d: the child did not start: %q", i, line)
		}
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond) // a random moment
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("kill %d: the child ended by itself: %v", i, err)
		}
		data, err := os.ReadFile(path)
		if os.IsNotExist(err) && last == 0 {
			continue // killed before its first save
		}
		if err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		st, err := decodeState(data)
		if err != nil {
			t.Fatalf("kill %d: the state file does not load: %v", i, err)
		}
		total := st.retired + sum(st.window)
		if total < last {
			t.Fatalf("kill %d: total went back from %d to %d", i, last, total)
		}
		last = total
	}
	if last == 0 {
		t.Fatal("no child saved anything: the test proved nothing")
	}
	// The next start removes the temporary files of killed saves.
	c, err := Open(Options{StateFile: path})
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Snapshot(); s.Requests != last {
		t.Errorf("restored %d requests, want %d", s.Requests, last)
	}
	c.Close()
	if tmp, _ := filepath.Glob(path + ".tmp-*"); len(tmp) != 0 {
		t.Errorf("%d temporary files left after a clean start", len(tmp))
	}
	t.Logf("%d kills; final total %d requests", kills, last)
}
