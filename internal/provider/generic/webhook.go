package generic

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/store"
)

// Name is the provider name of a binding and of the receiver path
// /v1/webhooks/generic/{client_id}.
const Name = "generic"

// The Standard Webhooks headers
// (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md).
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"
)

// secretPrefix marks a Standard Webhooks symmetric secret.
const secretPrefix = "whsec_"

// The verification errors (shared by every provider; see package webhook).
var (
	ErrMissingSignature = webhook.ErrMissingSignature
	ErrBadSignature     = webhook.ErrBadSignature
	ErrMalformed        = webhook.ErrMalformed
	ErrStale            = webhook.ErrStale
)

// ErrInvalidSecret: a secret is not "whsec_" followed by base64.
var ErrInvalidSecret = errors.New("webhook secret is not whsec_<base64>")

// key decodes a secret: the "whsec_" prefix (optional, as in the
// reference libraries) then standard base64 of the HMAC key.
func key(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil || len(k) == 0 {
		return nil, ErrInvalidSecret
	}
	return k, nil
}

func mac(key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the webhook-signature value "v1,<base64 HMAC-SHA256>" of a
// message id sent at t, the signed content being "<id>.<unix s>.<body>".
func Sign(secret, id string, t time.Time, body []byte) (string, error) {
	k, err := key(secret)
	if err != nil {
		return "", err
	}
	ts := strconv.FormatInt(t.Unix(), 10)
	return "v1," + base64.StdEncoding.EncodeToString(mac(k, id, ts, body)), nil
}

// Header returns the Standard Webhooks headers of a message, signed.
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

// Verify checks a Standard Webhooks delivery: webhook-timestamp (unix
// seconds) within webhook.Tolerance of now, then any "v1,<sig>" of the
// space-separated webhook-signature list against each active secret, in
// constant time. Other signature versions (v1a, asymmetric) are skipped.
// A secret that does not decode verifies nothing.
func Verify(secrets []string, headers http.Header, body []byte, now time.Time) error {
	sigs := headers.Get(HeaderSignature)
	if sigs == "" {
		return ErrMissingSignature
	}
	id, ts := headers.Get(HeaderID), headers.Get(HeaderTimestamp)
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
	var candidates [][]byte
	for _, s := range strings.Fields(sigs) {
		v, sig, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		if b, err := base64.StdEncoding.DecodeString(sig); err == nil && len(b) == sha256.Size {
			candidates = append(candidates, b)
		}
	}
	if len(candidates) == 0 {
		return webhook.Malformed("%s holds no v1,<base64> signature", HeaderSignature)
	}
	for _, secret := range secrets {
		k, err := key(secret)
		if err != nil {
			continue
		}
		want := mac(k, id, ts, body)
		for _, c := range candidates {
			if hmac.Equal(want, c) {
				return nil
			}
		}
	}
	return ErrBadSignature
}

// ChangeEvent is the body of a delivery: the spec's ContentChangeEvent.
type ChangeEvent struct {
	EventID      string          `json:"event_id,omitempty"`
	ClientID     string          `json:"client_id,omitempty"`
	ProviderName string          `json:"provider_name,omitempty"`
	EventType    string          `json:"event_type"`
	ContentID    string          `json:"content_id,omitempty"`
	ContentType  string          `json:"content_type,omitempty"`
	Timestamp    string          `json:"timestamp,omitempty"`
	Metadata     json.RawMessage `json:"metadata,omitempty"`
}

// Normalize turns a verified delivery into the event to store and, for a
// content.* event, its content-cache state.
//
//   - The event id is webhook-id, the Standard Webhooks idempotency key,
//     namespaced "generic:<client>:".
//   - event_type is required: content.created|updated|deleted, or a
//     provider-level type such as build.succeeded ("word.word", lower
//     case); content.* needs content_id.
//   - client_id, when the body has one, must be the receiver's.
//   - The provider of the stored event is "generic", whoever the body's
//     provider_name says relayed it: the receiver that verified the
//     signature is what a stack declared.
//   - The time is the body's timestamp (RFC 3339), or webhook-timestamp;
//     one in the future beyond the tolerance is now.
func Normalize(headers http.Header, raw []byte, clientID, stackID string, now time.Time) (store.Event, *store.ContentItem, error) {
	var ce ChangeEvent
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' || json.Unmarshal(raw, &ce) != nil {
		return store.Event{}, nil, webhook.Malformed("body is not a JSON ContentChangeEvent")
	}
	id := headers.Get(HeaderID)
	if err := webhook.CheckID(HeaderID, id); err != nil {
		return store.Event{}, nil, err
	}
	if !validEventType(ce.EventType) {
		return store.Event{}, nil, webhook.Malformed("event_type %q is not like content.updated", clip(ce.EventType))
	}
	if ce.ClientID != "" && ce.ClientID != clientID {
		return store.Event{}, nil, webhook.Malformed("client_id %q is not this receiver's client", clip(ce.ClientID))
	}
	content := webhook.IsContent(ce.EventType)
	switch ce.EventType {
	case webhook.ContentCreated, webhook.ContentUpdated, webhook.ContentDeleted:
	default:
		if content {
			return store.Event{}, nil, webhook.Malformed("event_type %q: content events are content.created, content.updated or content.deleted", ce.EventType)
		}
	}
	if content || ce.ContentID != "" {
		if err := webhook.CheckID("content_id", ce.ContentID); err != nil {
			return store.Event{}, nil, err
		}
	}
	if ce.ContentType != "" {
		if err := webhook.CheckID("content_type", ce.ContentType); err != nil {
			return store.Event{}, nil, err
		}
	}

	when := now
	if ce.Timestamp != "" {
		t, err := time.Parse(time.RFC3339Nano, ce.Timestamp)
		if err != nil {
			return store.Event{}, nil, webhook.Malformed("timestamp %q is not RFC 3339", clip(ce.Timestamp))
		}
		when = t
	} else if sec, err := strconv.ParseInt(headers.Get(HeaderTimestamp), 10, 64); err == nil {
		when = time.Unix(sec, 0)
	}
	if when.Sub(now) > webhook.Tolerance {
		when = now
	}

	ev := store.Event{
		EventID:      webhook.EventID(Name, clientID, id),
		ClientID:     clientID,
		StackID:      stackID,
		ProviderName: Name,
		EventType:    ce.EventType,
		ContentID:    ce.ContentID,
		ContentType:  ce.ContentType,
		Timestamp:    when,
		Payload:      json.RawMessage(raw),
		ReceivedAt:   now,
	}
	if !content {
		return ev, nil, nil
	}
	return ev, &store.ContentItem{
		ProviderName: Name,
		ContentID:    ce.ContentID,
		ContentType:  ce.ContentType,
		UpdatedAt:    when,
		Deleted:      ce.EventType == webhook.ContentDeleted,
	}, nil
}

// validEventType accepts dotted lower-case words: content.updated,
// build.succeeded, collection.deleted; at most 64 bytes.
func validEventType(s string) bool {
	if len(s) > 64 || !strings.Contains(s, ".") {
		return false
	}
	for _, w := range strings.Split(s, ".") {
		if w == "" || w[0] < 'a' || w[0] > 'z' {
			return false
		}
		for i := 0; i < len(w); i++ {
			if c := w[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
				return false
			}
		}
	}
	return true
}

// clip shortens a value for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
