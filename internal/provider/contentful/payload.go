package contentful

import (
	"encoding/json"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
)

// minimal is what a minimal payload keeps of an entity: its sys block's
// ids, type, versions, times and links to content type, space and
// environment (not the users who made the change), and no fields.
var minimal = webhook.Shape{"sys": {
	"id": nil, "type": nil, "version": nil, "publishedVersion": nil, "publishedCounter": nil,
	"createdAt": nil, "updatedAt": nil, "publishedAt": nil, "deletedAt": nil, "revision": nil,
	"contentType": {"sys": {"id": nil}}, "space": {"sys": {"id": nil}}, "environment": {"sys": {"id": nil}},
}}

// MinimizePayload is what the stored event of a delivery keeps of its
// body under mode: by default (and full) the entity as delivered, its
// minimal shape, or nothing.
func MinimizePayload(raw []byte, mode webhook.Payload) json.RawMessage {
	switch mode {
	case webhook.PayloadMinimal:
		return webhook.Keep(raw, minimal)
	case webhook.PayloadNone:
		return nil
	}
	return json.RawMessage(raw)
}
