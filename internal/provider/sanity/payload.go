package sanity

import (
	"encoding/json"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
)

// minimal is what a minimal payload keeps of a document: its id, type,
// revision, times and slug (https://www.sanity.io/docs/document-type).
var minimal = webhook.Shape{
	"_id": nil, "_type": nil, "_rev": nil, "_createdAt": nil, "_updatedAt": nil,
	"slug": {"current": nil},
}

// MinimizePayload is what the stored event of a delivery keeps of its
// body under mode: by default (and full) the body as delivered, the
// document's minimal shape, or nothing. Sanity bodies are whatever the
// webhook's projection selects, documents of the site's content: no
// default minimises them.
func MinimizePayload(raw []byte, mode webhook.Payload) json.RawMessage {
	switch mode {
	case webhook.PayloadMinimal:
		return webhook.Keep(raw, minimal)
	case webhook.PayloadNone:
		return nil
	}
	return json.RawMessage(raw)
}
