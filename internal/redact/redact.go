// Package redact strips secrets from what reaches logs, errors and API
// answers: URLs carry them in userinfo, query strings and fragments (build
// hooks, tokens in query parameters), and net/http puts whole URLs in its
// errors.
package redact

import (
	"net/url"
	"strings"
)

// URL strips userinfo, query string and fragment from raw. A URL that does
// not parse is replaced whole.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid url>"
	}
	u.User = nil
	u.RawQuery = ""
	u.ForceQuery = false
	u.Fragment = ""
	u.RawFragment = ""
	return u.String()
}

// Text applies URL to every absolute URL (scheme://...) inside s, such as
// the ones net/http puts in its error messages.
func Text(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		start := i
		for start > 0 && isSchemeByte(s[start-1]) {
			start--
		}
		end := i + len("://")
		for end < len(s) && !isURLStop(s[end]) {
			end++
		}
		b.WriteString(s[:start])
		if start == i {
			// No scheme before "://": not a URL, keep the text as it is.
			b.WriteString(s[i:end])
		} else {
			b.WriteString(URL(s[start:end]))
		}
		s = s[end:]
	}
}

func isSchemeByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '+' || c == '-' || c == '.'
}

func isURLStop(c byte) bool {
	return c <= ' ' || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`'
}
