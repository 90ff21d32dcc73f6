package notify

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/redact"
)

// RetryableError is a failure worth retrying later: a 429, a 5xx, a network
// error. RetryAfter is the receiver's Retry-After (0 when it gave none); the
// dispatcher waits at least that long.
type RetryableError struct {
	Err        error
	RetryAfter time.Duration
}

func (e *RetryableError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%v (retry after %s)", e.Err, e.RetryAfter)
	}
	return e.Err.Error()
}

func (e *RetryableError) Unwrap() error { return e.Err }

// PermanentError is a failure that retrying cannot fix: the receiver
// rejected the message or the channel is misconfigured (a 400, a 404, a
// revoked webhook, bad credentials).
type PermanentError struct {
	Err error
}

func (e *PermanentError) Error() string { return e.Err.Error() }

func (e *PermanentError) Unwrap() error { return e.Err }

// Retryable wraps err as a RetryableError.
func Retryable(err error, after time.Duration) error {
	return &RetryableError{Err: err, RetryAfter: after}
}

// Permanent wraps err as a PermanentError.
func Permanent(err error) error { return &PermanentError{Err: err} }

// IsPermanent reports whether err is (or wraps) a PermanentError. Other
// errors, untyped ones included, are retried.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// RetryAfterOf is the RetryAfter of a RetryableError in err's chain, or 0.
func RetryAfterOf(err error) time.Duration {
	var r *RetryableError
	if errors.As(err, &r) {
		return r.RetryAfter
	}
	return 0
}

// maxRetryAfter bounds a receiver's Retry-After, so that a bogus answer
// cannot park a channel for days.
const maxRetryAfter = time.Hour

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP-date
// (RFC 9110 §10.2.3). It returns 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}

// bodySnippet is the start of an error answer, on one line, for an error
// message. Receivers answer with short codes ("invalid_payload"); the
// snippet is sanitised in case one echoes a URL.
func bodySnippet(b []byte) string {
	const max = 200
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + "..."
	}
	s = strings.Join(strings.Fields(s), " ")
	return redact.Text(s)
}
