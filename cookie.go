package vitals

import (
	"net/http"
	"strings"
)

// The session cookie: the middleware reads it from each request, without
// allocating, as net/http's Request.Cookie would.

// cookieValue returns the value of the named cookie as net/http's
// Request.Cookie would, without allocating (Request.Cookie parses every
// cookie into new values): the first cookie of that name whose value is
// valid, unquoted. It reports false when there is none or its value is
// empty. One difference, tested by TestCookieValueLimit: net/http ignores
// every cookie of a request that carries more than 3000 (GODEBUG
// httpcookiemaxnum); cookieValue does not count them. FuzzCookieValue
// compares the two.
func cookieValue(h http.Header, name string) (string, bool) {
	for _, line := range h["Cookie"] {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			k, v, _ := strings.Cut(trimASCIISpace(part), "=")
			if trimASCIISpace(k) != name {
				continue
			}
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if !validCookieValue(v) {
				continue // net/http skips it and reads on
			}
			return v, v != ""
		}
	}
	return "", false
}

// trimASCIISpace trims what net/textproto.TrimString trims.
func trimASCIISpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t' || s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

// validCookieValue reports whether every byte of v may be in a cookie
// value, as net/http decides it.
func validCookieValue(v string) bool {
	for i := range len(v) {
		if b := v[i]; b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' {
			return false
		}
	}
	return true
}
