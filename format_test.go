package vitals

import (
	"regexp"
	"testing"
	"time"
)

func TestFormatDuration(t *testing.T) {
	us, ms := time.Microsecond, time.Millisecond
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0"},
		{-time.Second, "0"},
		{1, "1ns"},
		{850, "850ns"},
		{999, "999ns"},
		{999_960, "1ms"}, // rounds to 1000µs: the next unit
		{us, "1µs"},
		{1250, "1.3µs"},
		{38 * us, "38µs"},
		{38_400, "38µs"},
		{999 * us, "999µs"},
		{ms, "1ms"},
		{1200 * us, "1.2ms"},
		{9960 * us, "10ms"},
		{480 * ms, "480ms"},
		{999_600 * us, "1s"},
		{2500 * ms, "2.5s"},
		{12 * time.Second, "12s"},
		{59_700 * ms, "1min"},
		{90 * time.Second, "1.5min"},
		{45 * time.Minute, "45min"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1.5h"},
		{2000 * time.Hour, "2,000h"},
	} {
		if got := formatDuration(tt.d); got != tt.want {
			t.Errorf("formatDuration(%d) = %q, want %q", int64(tt.d), got, tt.want)
		}
	}
	// At every scale: a number from 1 to 999 (one decimal below 10, never
	// "0.0" or an exponent) and a unit.
	shape := regexp.MustCompile(`^([1-9]\.[0-9]|[1-9]|[1-9][0-9]{1,2})(ns|µs|ms|s|min)$|^[0-9,.]+h$`)
	for d := time.Duration(1); d < 1000*time.Hour; d = d*21/20 + 1 {
		if got := formatDuration(d); !shape.MatchString(got) {
			t.Fatalf("formatDuration(%d) = %q", int64(d), got)
		}
	}
}

func TestFormatLatencyBounds(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		b    string
		want string
	}{
		{38 * time.Microsecond, "", "38µs"},
		{time.Microsecond, "<", "< 1µs"},
		{time.Hour, ">", "> 1h"},
		{time.Minute, ">", "> 1min"},
	} {
		if got := formatLatency(tt.d, tt.b); got != tt.want {
			t.Errorf("formatLatency(%v, %q) = %q, want %q", tt.d, tt.b, got, tt.want)
		}
	}
	// The collector reports a percentile outside its resolved range as
	// exactly LatencyFloor or LatencyCeiling: the page shows them as bounds.
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{LatencyFloor, "< 1µs"},
		{time.Microsecond, "1µs"},
		{1200 * time.Microsecond, "1.2ms"},
		{time.Hour, "1h"},
		{LatencyCeiling - time.Second, "1.1h"},
		{LatencyCeiling, "> 1.1h"},
		// Outside the range: 0 when the requests had no durations
		// (IncrementRequests), and no figure beyond the ceiling.
		{0, "< 1µs"},
		{LatencyFloor - 1, "< 1µs"},
		{LatencyFloor + 1, "955ns"},
		{LatencyCeiling + time.Hour, "> 1.1h"},
	} {
		if got := latencyText(tt.d); got != tt.want {
			t.Errorf("latencyText(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestFormatRateShareSpan(t *testing.T) {
	m := time.Minute
	for _, tt := range []struct {
		n    uint64
		span time.Duration
		want string
	}{
		{0, 5 * m, "0/s"},
		{11_210, 5 * m, "37/s"},
		{375_000, 5 * m, "1,250/s"},
		{360, 5 * m, "1.2/s"},
		{180, 5 * m, "0.6/s"}, // one unit everywhere: never per minute
		{2, 5 * m, "0.0067/s"},
		{1, 4 * time.Hour, "0.000069/s"},
		{299, 5 * m, "1/s"},
		{5, 0, "—"},
	} {
		if got := formatRate(tt.n, tt.span); got != tt.want {
			t.Errorf("formatRate(%d, %v) = %q, want %q", tt.n, tt.span, got, tt.want)
		}
	}
	for _, tt := range []struct {
		n, total uint64
		want     string
	}{
		{0, 0, "0%"}, {0, 10, "0%"}, {1, 1235, "< 0.1%"}, {18, 11_210, "0.2%"},
		{15, 100, "15%"}, {9999, 10000, "> 99.9%"}, {10, 10, "100%"},
	} {
		if got := formatShare(tt.n, tt.total); got != tt.want {
			t.Errorf("formatShare(%d, %d) = %q, want %q", tt.n, tt.total, got, tt.want)
		}
	}
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{5 * m, "5 min"}, {42 * time.Second, "42 s"}, {150 * time.Second, "2 min 30 s"},
		{time.Hour, "1 h"}, {90 * m, "1 h 30 min"},
		{300 * time.Millisecond, "300 ms"}, {80*time.Millisecond + 400*time.Microsecond, "80 ms"}, {400 * time.Microsecond, "< 1 ms"},
	} {
		if got := formatSpan(tt.d); got != tt.want {
			t.Errorf("formatSpan(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestFormatCountBytesUptime(t *testing.T) {
	for _, tt := range []struct {
		n    uint64
		want string
	}{
		{0, "0"}, {999, "999"}, {1000, "1,000"}, {1_234_567, "1,234,567"}, {18_446_744_073_709_551_615, "18,446,744,073,709,551,615"},
	} {
		if got := formatCount(tt.n); got != tt.want {
			t.Errorf("formatCount(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	for _, tt := range []struct {
		n    uint64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {3_565_158, "3.4 MiB"}, {5 << 30, "5.0 GiB"}, {1 << 50, "1024 TiB"},
	} {
		if got := formatBytes(tt.n); got != tt.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {90*time.Second + 400*time.Millisecond, "1m30s"}, {49*time.Hour + 30*time.Minute, "2d 1h"},
	} {
		if got := formatUptime(tt.d); got != tt.want {
			t.Errorf("formatUptime(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{time.Second, "second"}, {time.Minute, "minute"}, {time.Hour, "hour"}, {10 * time.Minute, "10 min"}, {90 * time.Second, "1 min 30 s"},
	} {
		if got := bucketName(tt.d); got != tt.want {
			t.Errorf("bucketName(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
