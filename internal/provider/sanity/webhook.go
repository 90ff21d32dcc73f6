package sanity

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/store"
)

// Name is the provider name of a binding and of the receiver path
// /v1/webhooks/sanity/{client_id}.
const Name = "sanity"

// The headers of a GROQ-powered webhook delivery
// (https://www.sanity.io/docs/webhooks, https://www.sanity.io/docs/webhook-best-practices).
const (
	HeaderSignature       = "Sanity-Webhook-Signature"
	HeaderOperation       = "Sanity-Operation" // create | update | delete
	HeaderDocumentID      = "Sanity-Document-Id"
	HeaderProjectID       = "Sanity-Project-Id"
	HeaderDataset         = "Sanity-Dataset"
	HeaderTransactionID   = "Sanity-Transaction-Id"
	HeaderTransactionTime = "Sanity-Transaction-Time"
	HeaderWebhookID       = "Sanity-Webhook-Id"
	HeaderIdempotencyKey  = "Idempotency-Key"
)

// The verification errors (shared by every provider; see package webhook).
var (
	ErrMissingSignature = webhook.ErrMissingSignature
	ErrBadSignature     = webhook.ErrBadSignature
	ErrMalformed        = webhook.ErrMalformed
	ErrStale            = webhook.ErrStale
)

// minTimestamp is 2021-01-01 in unix milliseconds: Sanity's verifier
// rejects earlier signature timestamps as malformed (sanity-io/webhook-toolkit,
// src/signature.ts, MINIMUM_TIMESTAMP), which also catches a timestamp sent
// in seconds.
const minTimestamp = 1609459200000

// Sign returns the sanity-webhook-signature value for a body sent at t:
// "t=<unix ms>,v1=<sig>", sig being unpadded base64url of HMAC-SHA256 keyed
// with the webhook's secret over "<unix ms>.<raw body>"
// (sanity-io/webhook-toolkit, src/signature.ts, encodeSignatureHeader).
func Sign(secret string, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.UnixMilli(), 10)
	return "t=" + ts + ",v1=" + base64.RawURLEncoding.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// parseSignature reads "t=<digits>,v1=<sig>" as Sanity's verifier does
// (the pattern ^t=(\d+)[, ]+v1=([^, ]+)$). exact is false when the
// separator is not the single comma Sanity writes: its verifier compares
// the whole recomputed header, so such a header never verifies.
func parseSignature(h string) (ts string, sig string, exact bool, ok bool) {
	rest, found := strings.CutPrefix(h, "t=")
	if !found {
		return "", "", false, false
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 {
		return "", "", false, false
	}
	ts, rest = rest[:i], rest[i:]
	j := 0
	for j < len(rest) && (rest[j] == ',' || rest[j] == ' ') {
		j++
	}
	if j == 0 {
		return "", "", false, false
	}
	exact = rest[:j] == ","
	sig, found = strings.CutPrefix(rest[j:], "v1=")
	if !found || sig == "" || strings.ContainsAny(sig, ", ") {
		return "", "", false, false
	}
	return ts, sig, exact, true
}

// Verify checks the sanity-webhook-signature header: its format as
// Sanity's verifier reads it (malformed: 400), the signed timestamp within
// webhook.Tolerance of now (Sanity's own library has no replay check; we
// add the Standard Webhooks' five minutes), then the signature against each
// active secret in constant time.
func Verify(secrets []string, headers http.Header, body []byte, now time.Time) error {
	h := headers.Get(HeaderSignature)
	if h == "" {
		return ErrMissingSignature
	}
	ts, sig, exact, ok := parseSignature(h)
	if !ok {
		return webhook.Malformed("%s is not t=<unix ms>,v1=<signature>", HeaderSignature)
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ms < minTimestamp {
		return webhook.Malformed("%s timestamp is not unix milliseconds after 2021", HeaderSignature)
	}
	if err := webhook.CheckTimestamp(time.UnixMilli(ms), now); err != nil {
		return err
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || len(got) != sha256.Size || !exact {
		return ErrBadSignature
	}
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		if hmac.Equal(mac(secret, ts, body), got) {
			return nil
		}
	}
	return ErrBadSignature
}

// Delivery describes a delivery's headers, for fakes and tests that send
// one the way Sanity does.
type Delivery struct {
	Operation       string // create | update | delete
	DocumentID      string
	ProjectID       string
	Dataset         string
	TransactionID   string
	TransactionTime time.Time
	WebhookID       string
	IdempotencyKey  string
	// SentAt is the signature's timestamp.
	SentAt time.Time
}

// Header returns the delivery's headers with the body signed by secret.
func (d Delivery) Header(secret string, body []byte) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	set := func(k, v string) {
		if v != "" {
			h.Set(k, v)
		}
	}
	set(HeaderOperation, d.Operation)
	set(HeaderDocumentID, d.DocumentID)
	set(HeaderProjectID, d.ProjectID)
	set(HeaderDataset, d.Dataset)
	set(HeaderTransactionID, d.TransactionID)
	if !d.TransactionTime.IsZero() {
		h.Set(HeaderTransactionTime, d.TransactionTime.UTC().Format(time.RFC3339Nano))
	}
	set(HeaderWebhookID, d.WebhookID)
	set(HeaderIdempotencyKey, d.IdempotencyKey)
	h.Set(HeaderSignature, Sign(secret, body, d.SentAt))
	return h
}

// document is the part of a delivered document (the GROQ projection; by
// default the whole document) that normalisation reads.
type document struct {
	ID        string `json:"_id"`
	Type      string `json:"_type"`
	UpdatedAt string `json:"_updatedAt"`
}

// Normalize turns a verified delivery into the event to store and the
// document's content-cache state.
//
//   - The event id is the idempotency-key header (the same on every retry
//     of one delivery), or "<transaction id>:<document id>" without one,
//     namespaced "sanity:<client>:".
//   - sanity-operation create|update|delete is content.created|updated|
//     deleted (update when the header is absent); the content id is the
//     body's _id (or sanity-document-id), the content type its _type.
//     Drafts and release versions (ids "drafts.…", "versions.…") are not
//     on the site: they become draft.created|updated|deleted, with no
//     content-cache state.
//   - The time is sanity-transaction-time, or the body's _updatedAt, or
//     now; one in the future beyond the tolerance is now.
//
// Note that Sanity signs only the body and the timestamp: the headers read
// here are not covered by the signature.
func Normalize(headers http.Header, raw []byte, clientID, stackID string, now time.Time) (store.Event, *store.ContentItem, error) {
	if !json.Valid(raw) {
		return store.Event{}, nil, webhook.Malformed("body is not valid JSON")
	}
	var doc document
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		if err := json.Unmarshal(raw, &doc); err != nil {
			return store.Event{}, nil, webhook.Malformed("body's _id, _type or _updatedAt is not a string")
		}
	}
	contentID := doc.ID
	if contentID == "" {
		contentID = headers.Get(HeaderDocumentID)
	}
	if err := webhook.CheckID("document id (_id or "+HeaderDocumentID+")", contentID); err != nil {
		return store.Event{}, nil, err
	}
	if doc.Type != "" {
		if err := webhook.CheckID("_type", doc.Type); err != nil {
			return store.Event{}, nil, err
		}
	}

	deliveryID := headers.Get(HeaderIdempotencyKey)
	if deliveryID == "" {
		if tx := headers.Get(HeaderTransactionID); tx != "" {
			deliveryID = tx + ":" + contentID
		}
	}
	if err := webhook.CheckID(HeaderIdempotencyKey, deliveryID); err != nil {
		return store.Event{}, nil, err
	}

	var eventType string
	op := headers.Get(HeaderOperation)
	switch op {
	case "create":
		eventType = webhook.ContentCreated
	case "update", "":
		op, eventType = "update", webhook.ContentUpdated
	case "delete":
		eventType = webhook.ContentDeleted
	default:
		return store.Event{}, nil, webhook.Malformed("%s %q is not create, update or delete", HeaderOperation, clip(op))
	}

	when := now
	if t, err := time.Parse(time.RFC3339Nano, headers.Get(HeaderTransactionTime)); err == nil {
		when = t
	} else if t, err := time.Parse(time.RFC3339Nano, doc.UpdatedAt); err == nil {
		when = t
	}
	if when.Sub(now) > webhook.Tolerance {
		when = now
	}

	ev := store.Event{
		EventID:      webhook.EventID(Name, clientID, deliveryID),
		ClientID:     clientID,
		StackID:      stackID,
		ProviderName: Name,
		EventType:    eventType,
		ContentID:    contentID,
		ContentType:  doc.Type,
		Timestamp:    when,
		Payload:      json.RawMessage(raw),
		ReceivedAt:   now,
	}
	if strings.HasPrefix(contentID, "drafts.") || strings.HasPrefix(contentID, "versions.") {
		ev.EventType = "draft." + op + "d"
		return ev, nil, nil
	}
	source := headers.Get(HeaderProjectID)
	if ds := headers.Get(HeaderDataset); ds != "" {
		source += "/" + ds
	}
	if source != "" {
		if err := webhook.CheckID(HeaderProjectID+"/"+HeaderDataset, source); err != nil {
			return store.Event{}, nil, err
		}
	}
	return ev, &store.ContentItem{
		ProviderName: Name,
		Source:       source,
		ContentID:    contentID,
		ContentType:  doc.Type,
		UpdatedAt:    when,
		Deleted:      op == "delete",
	}, nil
}

// clip shortens a header value for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
