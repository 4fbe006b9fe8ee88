package vitals

import (
	"net/http"
	"strings"
	"testing"
)

// netHTTPCookie is what net/http's Request.Cookie says of the header
// lines.
func netHTTPCookie(lines []string, name string) (string, bool) {
	r := &http.Request{Header: http.Header{"Cookie": lines}}
	c, err := r.Cookie(name)
	if err != nil {
		return "", false
	}
	return c.Value, c.Value != ""
}

func TestCookieValue(t *testing.T) {
	tests := []struct {
		name, header string
		want         string
		wantOK       bool
	}{
		{"plain", "sid=abc", "abc", true},
		{"among others", "a=1; sid=abc; b=2", "abc", true},
		{"quoted", `sid="abc"`, "abc", true},
		{"space around the name", "a=1; sid =abc", "abc", true},
		{"tab and newline trimmed", "a=1;\tsid=abc\r\n", "abc", true},
		{"not a prefix", "sidx=abc", "", false},
		{"empty", "sid=", "", false},
		{"first wins", "sid=one; sid=two", "one", true},
		{"first empty wins", "sid=; sid=two", "", false},
		{"invalid value skipped", "sid=a\\b; sid=two", "two", true},
		{"non-ASCII value skipped", "sid=é; sid=two", "two", true},
		{"lone quote skipped", `sid="; sid=two`, "two", true},
		{"inner quote skipped", `sid=a"b; sid=two`, "two", true},
		{"vertical tab is not space", "\vsid=abc", "", false},
		{"no-break space is not space", "\u00a0sid=abc", "", false},
		{"space inside the value kept", "sid=a b", "a b", true},
		{"leading space of the value kept", "sid= abc", " abc", true},
		{"no equals", "sid", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := cookieValue(http.Header{"Cookie": {tt.header}}, "sid")
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("cookieValue = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
			if v, ok := netHTTPCookie([]string{tt.header}, "sid"); v != got || ok != tt.wantOK {
				t.Errorf("net/http says %q, %v", v, ok)
			}
		})
	}
}

// TestCookieValueLimit is the documented difference: net/http ignores all
// cookies of a request carrying more than 3000; cookieValue finds the
// session cookie anyway.
func TestCookieValueLimit(t *testing.T) {
	lines := []string{strings.Repeat("x=1; ", 3000) + "sid=abc"}
	if v, ok := netHTTPCookie(lines, "sid"); ok {
		t.Fatalf("net/http read %q past its cookie limit: the difference is gone", v)
	}
	if v, ok := cookieValue(http.Header{"Cookie": lines}, "sid"); v != "abc" || !ok {
		t.Errorf("cookieValue = %q, %v; want abc", v, ok)
	}
}

func TestCookieValueAllocs(t *testing.T) {
	h := http.Header{"Cookie": {"theme=dark; lang=en", `a=1; sid="3f2a9c81d07e4b55"`}}
	if a := testing.AllocsPerRun(100, func() { cookieValue(h, "sid") }); a != 0 {
		t.Errorf("cookieValue allocates %v times", a)
	}
}

// FuzzCookieValue compares cookieValue with net/http's cookie parsing on
// any header: the same value or none, except past net/http's limit of
// 3000 cookies (TestCookieValueLimit). A NUL in the input splits it into
// several Cookie header lines.
func FuzzCookieValue(f *testing.F) {
	for _, s := range []string{
		"sid=abc", "a=1; sid=abc; b=2", `sid="abc"`, "sid =abc", " sid=abc ",
		"sid=; sid=x", "sid=a\\b; sid=two", "sid=é", `sid="`, "\vsid=abc",
		"sid", "a=1\x00sid=2", "session_id=x;sid=y", ";;;sid=\t",
	} {
		f.Add(s, uint8(0))
	}
	names := []string{"sid", "session_id", "a", "SID"}
	f.Fuzz(func(t *testing.T, header string, n uint8) {
		name := names[int(n)%len(names)]
		lines := strings.Split(header, "\x00")
		if strings.Count(header, ";")+len(lines) > 3000 {
			return // the documented difference
		}
		got, ok := cookieValue(http.Header{"Cookie": lines}, name)
		want, wantOK := netHTTPCookie(lines, name)
		if got != want || ok != wantOK {
			t.Errorf("cookieValue(%q, %q) = %q, %v; net/http says %q, %v", lines, name, got, ok, want, wantOK)
		}
	})
}
