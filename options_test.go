package vitals

import (
	"strings"
	"testing"
	"time"
)

// TestDefaultRecentWindow checks that the default RecentWindow fits any
// BucketWidth: 5 minutes, a bucket if longer, at most 60 buckets.
func TestDefaultRecentWindow(t *testing.T) {
	tests := []struct {
		width, want time.Duration
	}{
		{2 * time.Millisecond, 120 * time.Millisecond},
		{time.Second, time.Minute},
		{2 * time.Second, 2 * time.Minute},
		{5 * time.Second, 5 * time.Minute},
		{time.Minute, 5 * time.Minute},
		{10 * time.Minute, 10 * time.Minute},
	}
	for _, tt := range tests {
		c, err := Open(Options{BucketWidth: tt.width, RefreshInterval: time.Millisecond})
		if err != nil {
			t.Errorf("BucketWidth %v: %v", tt.width, err)
			continue
		}
		if got := c.opts.RecentWindow; got != tt.want {
			t.Errorf("BucketWidth %v: RecentWindow %v, want %v", tt.width, got, tt.want)
		}
		c.Close()
	}
	// Only BucketWidth set, every other field its default.
	for _, w := range []time.Duration{time.Second, 2 * time.Second} {
		c, err := Open(Options{BucketWidth: w})
		if err != nil {
			t.Errorf("Open(Options{BucketWidth: %v}) = %v", w, err)
			continue
		}
		if got := c.opts.RefreshInterval; got != min(DefaultRefreshInterval, w/2) {
			t.Errorf("BucketWidth %v: RefreshInterval %v, want %v", w, got, min(DefaultRefreshInterval, w/2))
		}
		c.Close()
	}
}

func TestOptionsRejected(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"tiny refresh", Options{RefreshInterval: time.Nanosecond}, "RefreshInterval"},
		{"negative refresh", Options{RefreshInterval: -time.Second}, "RefreshInterval"},
		{"tiny bucket", Options{BucketWidth: time.Microsecond}, "BucketWidth"},
		{"bucket below refresh", Options{BucketWidth: time.Second, RefreshInterval: 2 * time.Second}, "below twice RefreshInterval"},
		{"bucket equal to refresh", Options{BucketWidth: time.Second, RefreshInterval: time.Second}, "below twice RefreshInterval"},
		{"refresh over half a bucket", Options{BucketWidth: time.Minute, RefreshInterval: 31 * time.Second}, "below twice RefreshInterval"},
		{"recent window of 61 buckets", Options{RecentWindow: 61 * time.Minute}, "RecentWindow"},
		{"negative recent window", Options{RecentWindow: -time.Minute}, "RecentWindow"},
		{"huge window", Options{WindowBuckets: 1 << 30}, "WindowBuckets"},
		{"negative window", Options{WindowBuckets: -1}, "WindowBuckets"},
		{"negative ttl", Options{SessionTTL: -time.Second}, "SessionTTL"},
		{"empty buckets", Options{Buckets: []float64{}}, "Buckets"},
		{"unsorted buckets", Options{Buckets: []float64{1, 0.5}}, "increasing"},
		{"negative bucket", Options{Buckets: []float64{-1}}, "Buckets[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Open(tt.opts)
			if err == nil {
				c.Close()
				t.Fatal("Open accepted the options")
			}
			if !strings.HasPrefix(err.Error(), "vitals: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}
	defer func() {
		if recover() == nil {
			t.Error("New did not panic on invalid options")
		}
	}()
	New(Options{WindowBuckets: -1})
}
