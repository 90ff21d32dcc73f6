package generic

import (
	"encoding/json"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
)

// minimal is what a minimal payload keeps of a ContentChangeEvent: every
// field but metadata.
var minimal = webhook.Shape{
	"event_id": nil, "client_id": nil, "provider_name": nil, "event_type": nil,
	"content_id": nil, "content_type": nil, "timestamp": nil,
}

// MinimizePayload is what the stored event of a delivery keeps of its
// body under mode: by default (and full) the event as delivered, its
// minimal shape (without metadata), or nothing.
func MinimizePayload(raw []byte, mode webhook.Payload) json.RawMessage {
	switch mode {
	case webhook.PayloadMinimal:
		return webhook.Keep(raw, minimal)
	case webhook.PayloadNone:
		return nil
	}
	return json.RawMessage(raw)
}
