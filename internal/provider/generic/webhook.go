package generic

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/stdwebhook"
	"github.com/blackwellio/blackwell/internal/store"
)

// Name is the provider name of a binding and of the receiver path
// /v1/webhooks/generic/{client_id}.
const Name = "generic"

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
	id := headers.Get(stdwebhook.HeaderID)
	if err := webhook.CheckID(stdwebhook.HeaderID, id); err != nil {
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
	} else if sec, err := strconv.ParseInt(headers.Get(stdwebhook.HeaderTimestamp), 10, 64); err == nil {
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
