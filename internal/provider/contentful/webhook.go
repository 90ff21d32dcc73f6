package contentful

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/store"
)

// Name is the provider name of a binding and of the receiver path
// /v1/webhooks/contentful/{client_id}.
const Name = "contentful"

// The headers of a delivery: the predefined ones
// (https://www.contentful.com/developers/docs/extensibility/webhooks/headers/),
// the idempotency key (changelog "Idempotency key headers for webhook
// requests") and those of request verification
// (https://www.contentful.com/developers/docs/extensibility/webhooks/request-verification/).
// Names are lower case, as the canonical request writes them.
const (
	HeaderTopic          = "x-contentful-topic"
	HeaderWebhookName    = "x-contentful-webhook-name"
	HeaderIdempotencyKey = "x-contentful-idempotency-key"
	HeaderSignature      = "x-contentful-signature"
	HeaderSignedHeaders  = "x-contentful-signed-headers"
	HeaderTimestamp      = "x-contentful-timestamp"
)

// MediaType is the Content-Type of a delivery.
const MediaType = "application/vnd.contentful.management.v1+json"

// The verification errors (shared by every provider; see package webhook).
var (
	ErrMissingSignature = webhook.ErrMissingSignature
	ErrBadSignature     = webhook.ErrBadSignature
	ErrMalformed        = webhook.ErrMalformed
	ErrStale            = webhook.ErrStale
)

// canonical builds the string Contentful signs
// (contentful/node-apps-toolkit, src/requests/sign-request.ts and
// utils.ts): METHOD, the normalised path, "name:value" of the signed
// headers sorted by name and joined with ";", and the raw body, joined with
// newlines. headers maps lower-case names to trimmed values and already
// holds x-contentful-timestamp and x-contentful-signed-headers.
func canonical(method, path string, headers map[string]string, body []byte) []byte {
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	slices.Sort(names)
	var b bytes.Buffer
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(normalizePath(path))
	b.WriteByte('\n')
	for i, k := range names {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(k)
		b.WriteByte(':')
		b.WriteString(headers[k])
	}
	b.WriteByte('\n')
	b.Write(body)
	return b.Bytes()
}

// normalizePath is the toolkit's getNormalizedEncodedURI: the query (up to
// a second '?') escaped as Node's querystring.escape does, then the whole
// encoded as JavaScript's encodeURI does (so "?x=1" signs as "?x%253D1").
func normalizePath(uri string) string {
	pathname, search, _ := strings.Cut(uri, "?")
	search, _, _ = strings.Cut(search, "?")
	if search != "" {
		pathname += "?" + escape(search, "-_.!~*'()")
	}
	return escape(pathname, "-_.!~*'();,/?:@&=+$#")
}

// escape percent-encodes the UTF-8 bytes of s except ASCII letters, digits
// and keep, in upper-case hex, as encodeURIComponent and encodeURI do.
func escape(s, keep string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c < 0x80 && strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func sign(secret string, canonical []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(canonical)
	return hex.EncodeToString(m.Sum(nil))
}

// Sign signs a request as Contentful does for a space with a signing
// secret: it returns the request's headers plus x-contentful-timestamp
// (unix ms), x-contentful-signed-headers (every header of h, lower case,
// sorted) and x-contentful-signature (lower-case hex HMAC-SHA256 of the
// canonical request). path is the request URI's path and query.
func Sign(secret, method, path string, h http.Header, body []byte, t time.Time) http.Header {
	signed := map[string]string{}
	for k, vs := range h {
		if len(vs) > 0 {
			signed[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(vs[0])
		}
	}
	delete(signed, HeaderSignature)
	signed[HeaderTimestamp] = strconv.FormatInt(t.UnixMilli(), 10)
	names := make([]string, 0, len(signed)+1)
	for k := range signed {
		names = append(names, k)
	}
	if _, ok := signed[HeaderSignedHeaders]; !ok {
		names = append(names, HeaderSignedHeaders)
	}
	slices.Sort(names)
	signed[HeaderSignedHeaders] = strings.Join(names, ",")

	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	out.Set(HeaderTimestamp, signed[HeaderTimestamp])
	out.Set(HeaderSignedHeaders, signed[HeaderSignedHeaders])
	out.Set(HeaderSignature, sign(secret, canonical(method, path, signed, body)))
	return out
}

// Verify checks Contentful's request verification: the signature over the
// canonical request, built from the headers x-contentful-signed-headers
// names, and the signed timestamp within webhook.Tolerance of now
// (node-apps-toolkit's verifyRequest defaults to 30 s; retries come 30 s
// apart, each signed anew, so five minutes loses nothing and tolerates
// clock skew). Like verifyRequest, it takes the named headers that are
// present and recomputes the signed-headers list from them, so what is
// verified is exactly the set of headers the signer signed. method and path (with the query, as
// received) are part of what Contentful signs, unlike the other providers.
func Verify(secrets []string, method, path string, headers http.Header, body []byte, now time.Time) error {
	sig := strings.TrimSpace(headers.Get(HeaderSignature))
	if sig == "" {
		return ErrMissingSignature
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return webhook.Malformed("%s is not a hex HMAC-SHA256", HeaderSignature)
	}
	ts := strings.TrimSpace(headers.Get(HeaderTimestamp))
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ms <= 0 {
		return webhook.Malformed("%s is not unix milliseconds", HeaderTimestamp)
	}
	if err := webhook.CheckTimestamp(time.UnixMilli(ms), now); err != nil {
		return err
	}
	list := strings.TrimSpace(headers.Get(HeaderSignedHeaders))
	if list == "" {
		return webhook.Malformed("%s is missing", HeaderSignedHeaders)
	}
	signed := map[string]string{}
	for _, name := range strings.Split(list, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == HeaderSignature {
			continue
		}
		if vs := headers.Values(name); len(vs) > 0 {
			signed[name] = strings.TrimSpace(vs[0])
		}
	}
	signed[HeaderTimestamp] = ts
	names := make([]string, 0, len(signed)+1)
	for k := range signed {
		if k != HeaderSignedHeaders {
			names = append(names, k)
		}
	}
	names = append(names, HeaderSignedHeaders)
	slices.Sort(names)
	signed[HeaderSignedHeaders] = strings.Join(names, ",")
	msg := canonical(strings.ToUpper(method), path, signed, body)
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(msg)
		if hmac.Equal(m.Sum(nil), got) {
			return nil
		}
	}
	return ErrBadSignature
}

// Delivery describes a delivery's headers, for fakes and tests that send
// one the way Contentful does.
type Delivery struct {
	Topic          string // ContentManagement.Entry.publish
	WebhookName    string
	IdempotencyKey string
	// SentAt is the signature's timestamp.
	SentAt time.Time
}

// Header returns the delivery's headers signed with secret for a POST to
// path (the receiver URL's path and query).
func (d Delivery) Header(secret, path string, body []byte) http.Header {
	h := http.Header{}
	h.Set("Content-Type", MediaType)
	h.Set(HeaderTopic, d.Topic)
	if d.WebhookName != "" {
		h.Set(HeaderWebhookName, d.WebhookName)
	}
	if d.IdempotencyKey != "" {
		h.Set(HeaderIdempotencyKey, d.IdempotencyKey)
	}
	return Sign(secret, http.MethodPost, path, h, body, d.SentAt)
}

// link is a Contentful link ({"sys":{"id":...}}).
type link struct {
	Sys struct {
		ID string `json:"id"`
	} `json:"sys"`
}

// entity is the part of a delivered entity that normalisation reads: its
// sys block (https://www.contentful.com/developers/docs/references/content-management-api/#/introduction/common-resource-attributes).
// Unpublish and delete send a tombstone (sys.type DeletedEntry or
// DeletedAsset, with deletedAt).
type entity struct {
	Sys struct {
		ID               string `json:"id"`
		Type             string `json:"type"`
		Version          int64  `json:"version"`
		PublishedCounter int64  `json:"publishedCounter"`
		UpdatedAt        string `json:"updatedAt"`
		PublishedAt      string `json:"publishedAt"`
		DeletedAt        string `json:"deletedAt"`
		ContentType      link   `json:"contentType"`
		Space            link   `json:"space"`
		Environment      link   `json:"environment"`
	} `json:"sys"`
}

// Normalize turns a verified delivery into the event to store and, for an
// entry or asset that was published, unpublished or deleted, its
// content-cache state.
//
//   - The event id is X-Contentful-Idempotency-Key, or without one
//     "<topic>:<sys.id>:<sys.version>:<time>" (a retry resends the same
//     payload), namespaced "contentful:<client>:".
//   - What the site shows is published content, so Entry and Asset
//     publish is content.created (first publish, sys.publishedCounter 1)
//     or content.updated, and unpublish and delete are content.deleted with
//     a tombstone. Every other topic, drafts included (create, save,
//     auto_save, archive), is "<entity>.<action>" in snake case:
//     entry.auto_save, content_type.publish, task.create.
//   - The content id is sys.id; the content type sys.contentType.sys.id
//     for an entry, "asset" for an asset.
//   - The time is sys.deletedAt, sys.updatedAt or sys.publishedAt, or
//     now; one in the future beyond the tolerance is now. The version is
//     sys.version, which orders states of one instant.
func Normalize(headers http.Header, raw []byte, clientID, stackID string, now time.Time) (store.Event, *store.ContentItem, error) {
	topic := headers.Get(HeaderTopic)
	parts := strings.Split(topic, ".")
	if len(parts) != 3 || !validTopicPart(parts[0]) || !validTopicPart(parts[1]) || !validTopicPart(parts[2]) {
		return store.Event{}, nil, webhook.Malformed("%s %q is not <family>.<entity>.<action>", HeaderTopic, clip(topic))
	}
	kind, action := parts[1], strings.ToLower(parts[2])

	var e entity
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' || json.Unmarshal(raw, &e) != nil {
		return store.Event{}, nil, webhook.Malformed("body is not a JSON object of a Contentful entity")
	}
	when := now
	for _, v := range []string{e.Sys.DeletedAt, e.Sys.UpdatedAt, e.Sys.PublishedAt} {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			when = t
			break
		}
	}
	if when.Sub(now) > webhook.Tolerance {
		when = now
	}

	deliveryID := headers.Get(HeaderIdempotencyKey)
	if deliveryID == "" && e.Sys.ID != "" {
		deliveryID = topic + ":" + e.Sys.ID + ":" + strconv.FormatInt(e.Sys.Version, 10) + ":" + strconv.FormatInt(when.UnixMilli(), 10)
	}
	if err := webhook.CheckID(HeaderIdempotencyKey, deliveryID); err != nil {
		return store.Event{}, nil, err
	}
	if e.Sys.ID != "" {
		if err := webhook.CheckID("sys.id", e.Sys.ID); err != nil {
			return store.Event{}, nil, err
		}
	}

	ev := store.Event{
		EventID:      webhook.EventID(Name, clientID, deliveryID),
		ClientID:     clientID,
		StackID:      stackID,
		ProviderName: Name,
		EventType:    snake(kind) + "." + action,
		ContentID:    e.Sys.ID,
		Timestamp:    when,
		Payload:      json.RawMessage(raw),
		ReceivedAt:   now,
	}
	switch kind {
	case "Entry":
		ev.ContentType = e.Sys.ContentType.Sys.ID
	case "Asset":
		ev.ContentType = "asset"
	default:
		return ev, nil, nil
	}
	if ev.ContentType != "" {
		if err := webhook.CheckID("sys.contentType", ev.ContentType); err != nil {
			return store.Event{}, nil, err
		}
	}
	deleted := false
	switch action {
	case "publish":
		ev.EventType = webhook.ContentUpdated
		if e.Sys.PublishedCounter == 1 {
			ev.EventType = webhook.ContentCreated
		}
	case "unpublish", "delete":
		ev.EventType, deleted = webhook.ContentDeleted, true
	default:
		return ev, nil, nil
	}
	if e.Sys.ID == "" {
		return store.Event{}, nil, webhook.Malformed("%s body has no sys.id", topic)
	}
	item := &store.ContentItem{
		ProviderName: Name,
		Source:       e.Sys.Space.Sys.ID,
		ContentID:    e.Sys.ID,
		ContentType:  ev.ContentType,
		UpdatedAt:    when,
		Deleted:      deleted,
	}
	if !deleted {
		item.Version = e.Sys.Version
	}
	if env := e.Sys.Environment.Sys.ID; env != "" {
		item.Source += "/" + env
	}
	if item.Source != "" {
		if err := webhook.CheckID("sys.space/sys.environment", item.Source); err != nil {
			return store.Event{}, nil, err
		}
	}
	return ev, item, nil
}

// validTopicPart accepts a part of a topic: letters, digits and
// underscores, at most 64 bytes.
func validTopicPart(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// snake turns an entity name into snake case: ContentType -> content_type.
func snake(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// clip shortens a header value for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// RequestPath is the path and query of a received request as Contentful
// signed it: the URL as sent, escapes kept.
func RequestPath(u *url.URL) string {
	p := u.EscapedPath()
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	return p
}
