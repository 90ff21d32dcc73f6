// Package webhook is what every provider's webhook receiver shares: the
// verification errors that the ingest gateway turns into HTTP answers, the
// replay tolerance, event-id namespacing and the event types. The
// providers' own schemes live in internal/provider/<name>/webhook.go, the
// Standard Webhooks one in internal/stdwebhook.
package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Verification and parsing errors. Providers wrap them with a detail that
// names headers or fields, never a secret or a signature value.
var (
	// ErrMissingSignature: the delivery carries no signature (401).
	ErrMissingSignature = errors.New("missing signature")
	// ErrBadSignature: no active secret verifies the signature (401).
	ErrBadSignature = errors.New("bad signature")
	// ErrMalformed: the signature header, a required header or the body
	// cannot be read (400).
	ErrMalformed = errors.New("malformed delivery")
	// ErrStale: the signed timestamp is outside the tolerance, a replay or
	// a badly skewed clock (400).
	ErrStale = errors.New("timestamp outside the tolerance")
	// ErrMismatch: the signature verifies, but an unsigned header does not
	// fit the binding or the signed body (a foreign shop, a body replayed
	// under another topic); refused like a bad signature (401).
	ErrMismatch = errors.New("delivery does not match its binding or its signed body")
)

// Tolerance is how far a signed timestamp may be from the receiver's clock,
// either way: five minutes, as the Standard Webhooks libraries hard-code.
const Tolerance = 5 * time.Minute

// CheckTimestamp returns ErrStale when ts is more than Tolerance from now.
func CheckTimestamp(ts, now time.Time) error {
	if d := now.Sub(ts); d > Tolerance || d < -Tolerance {
		return fmt.Errorf("%w: signed at %s, now %s (tolerance %s)", ErrStale,
			ts.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), Tolerance)
	}
	return nil
}

// Malformed wraps ErrMalformed with a detail.
func Malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// EventID is the stored id of a delivery: the provider's own id namespaced
// by provider and client ("shopify:acme:<id>"), so ids of different
// providers or clients never collide in the event mirror.
func EventID(provider, clientID, id string) string {
	return provider + ":" + clientID + ":" + id
}

// The normalised content event types (the spec's ContentChangeEvent).
const (
	ContentCreated = "content.created"
	ContentUpdated = "content.updated"
	ContentDeleted = "content.deleted"
)

// IsContent reports whether an event type is a content change.
func IsContent(eventType string) bool { return strings.HasPrefix(eventType, "content.") }

// MaxIDLength bounds a provider's delivery id and a content id: longer ones
// are malformed, so that an attacker-sized header cannot become a key.
const MaxIDLength = 256

// CheckID validates a delivery or content id taken from a header or body:
// non-empty, at most MaxIDLength bytes, valid UTF-8 without control
// characters (so it is safe to log and to use as a key).
func CheckID(what, id string) error {
	if id == "" {
		return Malformed("%s is empty", what)
	}
	if len(id) > MaxIDLength {
		return Malformed("%s is longer than %d bytes", what, MaxIDLength)
	}
	if !utf8.ValidString(id) {
		return Malformed("%s is not valid UTF-8", what)
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return Malformed("%s has a control character", what)
		}
	}
	return nil
}

// TopLevel finds the values of the named keys of a JSON object without
// decoding the rest: raw[i] is the raw JSON value of keys[i] (nil when
// absent; the last occurrence wins, as encoding/json decides). ok is false
// when body is not valid JSON or not an object. A key written with escapes
// is matched after unescaping. Webhook bodies are mostly nested data the
// normalisation does not read; this validates once and skips it.
func TopLevel(body []byte, keys ...string) (raw [][]byte, ok bool) {
	if !json.Valid(body) {
		return nil, false
	}
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, false
	}
	raw = make([][]byte, len(keys))
	i = skipSpace(body, i+1)
	for i < len(body) && body[i] != '}' {
		// A key: a string (valid JSON, so it ends).
		end := skipString(body, i)
		key := body[i+1 : end-1]
		var name string
		if bytes.IndexByte(key, '\\') >= 0 {
			if err := json.Unmarshal(body[i:end], &name); err != nil {
				return nil, false
			}
		}
		i = skipSpace(body, end)
		i = skipSpace(body, i+1) // ':'
		vend := skipValue(body, i)
		for k, want := range keys {
			if (name == "" && string(key) == want) || (name != "" && name == want) {
				raw[k] = body[i:vend]
			}
		}
		i = skipSpace(body, vend)
		if i < len(body) && body[i] == ',' {
			i = skipSpace(body, i+1)
		}
	}
	return raw, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] ('"').
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index after the (valid) JSON value at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	default: // number, true, false, null
		for i < len(b) && !(b[i] == ',' || b[i] == '}' || b[i] == ']' || b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
			i++
		}
		return i
	}
}
