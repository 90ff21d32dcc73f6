package notify

import (
	"errors"
	"net/url"

	"github.com/blackwellio/blackwell/internal/redact"
)

// redactPath keeps scheme and host only: for URLs whose path is the secret,
// such as Slack's incoming webhooks (hooks.slack.com/services/T/B/XXXX).
func redactPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<invalid url>"
	}
	return u.Scheme + "://" + u.Host + "/<redacted>"
}

// transportError describes err from an HTTP client without the request URL
// that *url.Error carries (it would leak a secret URL), naming the
// endpoint as shown instead.
func transportError(shown string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &redactedError{msg: "post " + shown + ": " + redact.Text(err.Error()), err: err}
}

// redactedError keeps the cause for errors.Is (timeouts, cancellation) while
// its text is the sanitised one.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
