package generic

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/stdwebhook"
)

// Descriptor is the spec's Integration API as blackwell knows it: its
// driver, deliveries signed with Standard Webhooks, bodies that are
// ContentChangeEvents.
func Descriptor() provider.Descriptor {
	return provider.Descriptor{
		Name:      Name,
		NewDriver: func(api provider.APIClientOptions) provider.Driver { return New(Options{API: api}) },
		Verify: func(secrets []string, r *http.Request, body []byte, now time.Time) error {
			return stdwebhook.Verify(secrets, r.Header, body, now)
		},
		Normalize: Normalize,
		Minimize: func(_ http.Header, body []byte, mode webhook.Payload) json.RawMessage {
			return MinimizePayload(body, mode)
		},
	}
}
