package notify

import (
	"errors"
	"net/url"
	"strings"
)

// sanitizeURL strips userinfo, query string and fragment from raw: the
// places URLs carry secrets. A URL that does not parse is replaced whole.
func sanitizeURL(raw string) string {
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

// redactPath keeps scheme and host only: for URLs whose path is the secret,
// such as Slack's incoming webhooks (hooks.slack.com/services/T/B/XXXX).
func redactPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<invalid url>"
	}
	return u.Scheme + "://" + u.Host + "/<redacted>"
}

// sanitizeText sanitises every absolute URL (scheme://...) inside s, such as
// the ones net/http and nats.go put in their errors.
func sanitizeText(s string) string {
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
			b.WriteString(s[i:end])
		} else {
			b.WriteString(sanitizeURL(s[start:end]))
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

// transportError describes err from an HTTP client without the request URL
// that *url.Error carries (it would leak a secret URL), naming the
// endpoint as shown instead.
func transportError(shown string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &redactedError{msg: "post " + shown + ": " + sanitizeText(err.Error()), err: err}
}

// redactedError keeps the cause for errors.Is (timeouts, cancellation) while
// its text is the sanitised one.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
