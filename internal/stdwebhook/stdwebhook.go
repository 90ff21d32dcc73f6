// Package stdwebhook is the Standard Webhooks 1.0 signature scheme
// (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md),
// written once for everything that speaks it: the generic provider's
// receiver, the webhook notification channel, and the fakes of package sim.
//
// A message is signed with HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<body>"
// (the timestamp in Unix seconds), keyed with the base64-decoded secret
// after its "whsec_" prefix; webhook-signature holds space-separated
// "v1,<base64>" entries, so a sender rotating its secret can sign with
// both. A receiver accepts a timestamp within webhook.Tolerance (five
// minutes, as the reference libraries) of its clock.
package stdwebhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
)

// The Standard Webhooks headers.
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"
)

// SecretPrefix marks a Standard Webhooks symmetric secret.
const SecretPrefix = "whsec_"

// Secret errors. They never hold the secret.
var (
	// ErrInvalidSecret: the secret is not "whsec_" followed by base64.
	ErrInvalidSecret = errors.New("not a Standard Webhooks secret (whsec_ followed by base64)")
	// ErrEmptySecret: the secret decodes to no key at all.
	ErrEmptySecret = errors.New("empty Standard Webhooks secret")
)

// Key is a decoded secret: the HMAC key.
type Key []byte

// ParseSecret decodes a secret: the "whsec_" prefix (optional, as in the
// reference libraries) then standard base64 of the key.
func ParseSecret(secret string) (Key, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return nil, ErrInvalidSecret
	}
	if len(k) == 0 {
		return nil, ErrEmptySecret
	}
	return Key(k), nil
}

// Sign returns the webhook-signature value "v1,<base64 HMAC-SHA256>" of
// message id sent at t (Unix seconds) with body.
func (k Key) Sign(id string, t time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(k.mac(id, strconv.FormatInt(t.Unix(), 10), body))
}

func (k Key) mac(id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, k)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the webhook-signature value of message id sent at t with
// body, signed with secret (whsec_<base64>).
func Sign(secret, id string, t time.Time, body []byte) (string, error) {
	k, err := ParseSecret(secret)
	if err != nil {
		return "", err
	}
	return k.Sign(id, t, body), nil
}

// Header returns the headers of a JSON message, signed: Content-Type
// application/json, webhook-id, webhook-timestamp and webhook-signature.
func Header(secret, id string, t time.Time, body []byte) (http.Header, error) {
	sig, err := Sign(secret, id, t, body)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(t.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h, nil
}

// Verify checks a delivery: webhook-timestamp (Unix seconds) within
// webhook.Tolerance of now, then any "v1,<sig>" of the space-separated
// webhook-signature list against each secret, in constant time. Other
// signature versions (v1a, asymmetric) are skipped; a secret that does
// not decode verifies nothing. The errors are package webhook's:
// ErrMissingSignature, ErrMalformed, ErrStale, ErrBadSignature.
func Verify(secrets []string, h http.Header, body []byte, now time.Time) error {
	sigs := h.Get(HeaderSignature)
	if sigs == "" {
		return webhook.ErrMissingSignature
	}
	id, ts := h.Get(HeaderID), h.Get(HeaderTimestamp)
	if id == "" || ts == "" {
		return webhook.Malformed("%s and %s are required", HeaderID, HeaderTimestamp)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return webhook.Malformed("%s is not unix seconds", HeaderTimestamp)
	}
	if err := webhook.CheckTimestamp(time.Unix(sec, 0), now); err != nil {
		return err
	}
	candidates := signatures(sigs)
	if len(candidates) == 0 {
		return webhook.Malformed("%s holds no v1,<base64> signature", HeaderSignature)
	}
	for _, secret := range secrets {
		k, err := ParseSecret(secret)
		if err != nil {
			continue
		}
		want := k.mac(id, ts, body)
		for _, c := range candidates {
			if hmac.Equal(want, c) {
				return nil
			}
		}
	}
	return webhook.ErrBadSignature
}

// signatures decodes the "v1,<base64>" entries of a webhook-signature
// list that can be HMAC-SHA256 values; the rest are skipped.
func signatures(list string) [][]byte {
	var out [][]byte
	for _, s := range strings.Fields(list) {
		v, sig, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		if b, err := base64.StdEncoding.DecodeString(sig); err == nil && len(b) == sha256.Size {
			out = append(out, b)
		}
	}
	return out
}
