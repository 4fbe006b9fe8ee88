//go:build unix

package vitals

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
// go backwards: a crash loses at most the last save, never the file. The
// moments come from a seed that the test logs; VITALS_SEED sets it, to draw
// the same moments again (the child's progress still varies with timing).
func TestCrashSafety(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the child")
	}
	kills := 200
	if testing.Short() {
		kills = 20
	}
	path := filepath.Join(t.TempDir(), "vitals.state")
	rng := rand.New(rand.NewPCG(randomSeed(t), 7)) // the moments of the kills
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

const counterChildEnv = "VITALS_COUNTER_CHILD_STATE"

// TestCounterChild is the child of TestCountersAcrossCrash: it restores
// the state file, then serves batches of requests through the middleware,
// saving after every third and printing after each what a scrape of http_requests_total
// sums to and how many requests this process served, until killed. It
// waits for a line on stdin before each batch, so that it is idle, not
// serving and saving more, when the parent kills it.
func TestCounterChild(t *testing.T) {
	path := os.Getenv(counterChildEnv)
	if path == "" {
		t.Skip("run by TestCountersAcrossCrash")
	}
	c, err := Open(Options{StateFile: path, SaveInterval: time.Hour})
	if err != nil {
		t.Fatalf("child Open: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /x", func(w http.ResponseWriter, r *http.Request) {})
	h := c.Middleware(mux)
	req := httptest.NewRequest("GET", "/x", nil)
	var served int
	in := bufio.NewReader(os.Stdin)
	for batch := 1; ; batch++ {
		if _, err := in.ReadString('\n'); err != nil {
			return // the parent is gone
		}
		for range 10 {
			h.ServeHTTP(httptest.NewRecorder(), req)
			served++
		}
		// Saves are rarer than scrapes, as with the defaults (10s and
		// 15s or less): a scrape often sees more than the file holds.
		if batch%3 == 0 {
			if err := c.saveFile(); err != nil {
				t.Fatalf("child save: %v", err)
			}
		}
		fmt.Printf("scrape %d %d %d\n", scrapeRequests(c), served, c.Refresh().Requests)
	}
}

// scrapeRequests sums the http_requests_total samples of the Prometheus
// text, as a scrape would read them.
func scrapeRequests(c *Collector) uint64 {
	var total uint64
	for line := range strings.Lines(string(c.appendPrometheus(nil, c.Snapshot()))) {
		if strings.HasPrefix(line, "http_requests_total{") {
			v, _ := strconv.ParseUint(strings.TrimSpace(line[strings.LastIndexByte(line, ' ')+1:]), 10, 64)
			total += v
		}
	}
	return total
}

// TestCountersAcrossCrash scrapes a child, kills it with SIGKILL, restarts
// it on the same state file and scrapes again, several times, and computes
// what Prometheus' increase() says over each restart: a counter that drops
// is a reset, so the increase is the new value. It must never exceed the
// requests the new process really served, while the snapshot's since-start
// total keeps what was saved. (With the restored totals in the counters, a
// scrape after the restart read less than the one before, and increase()
// counted everything restored as new.)
func TestCountersAcrossCrash(t *testing.T) {
	if os.Getenv(counterChildEnv) != "" || os.Getenv(crashChildEnv) != "" {
		t.Skip("in a child")
	}
	path := filepath.Join(t.TempDir(), "vitals.state")
	type scrape struct{ counter, served, total uint64 }
	var next io.WriteCloser // the running child's stdin
	start := func() (*exec.Cmd, *bufio.Reader) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCounterChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), counterChildEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if next, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, bufio.NewReader(out)
	}
	// read lets the child serve one batch and returns its scrape.
	read := func(r *bufio.Reader) scrape {
		if _, err := io.WriteString(next, "\n"); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadString('\n')
		var s scrape
		if _, err2 := fmt.Sscanf(line, "scrape %d %d %d", &s.counter, &s.served, &s.total); err != nil || err2 != nil {
			t.Fatalf("child said %q (%v, %v)", line, err, err2)
		}
		return s
	}
	var prev scrape // the last scrape before a kill
	for round := range 4 {
		cmd, r := start()
		first := read(r)
		if round > 0 {
			// Prometheus' increase() between the last scrape before the
			// kill and the first after the restart.
			increase := first.counter - prev.counter
			if first.counter < prev.counter {
				increase = first.counter // a reset
			}
			t.Logf("restart %d: scraped %d before the kill, %d after; increase %d for %d served since the restart",
				round, prev.counter, first.counter, increase, first.served)
			if increase > first.served {
				t.Errorf("restart %d: increase() = %d exceeds the %d requests served since the restart", round, increase, first.served)
			}
			// The snapshot's since-start total restores what was saved:
			// something, and never more than was counted before the kill.
			if restored := first.total - first.served; first.total <= first.served || restored > prev.total {
				t.Errorf("restart %d: since-start total %d with %d served now: restored %d, want 1..%d",
					round, first.total, first.served, restored, prev.total)
			}
		}
		last := first
		for range 4 + round {
			last = read(r)
		}
		if last.counter != last.served {
			t.Errorf("round %d: scrape %d, want the %d requests this process served", round, last.counter, last.served)
		}
		prev = last
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
}
