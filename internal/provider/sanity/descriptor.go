package sanity

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/provider"
)

// Descriptor is Sanity as blackwell knows it: its driver and its GROQ
// webhooks' scheme.
func Descriptor() provider.Descriptor {
	return provider.Descriptor{
		Name:      Name,
		NewDriver: func(api provider.APIClientOptions) provider.Driver { return New(Options{API: api}) },
		Verify: func(secrets []string, r *http.Request, body []byte, now time.Time) error {
			return Verify(secrets, r.Header, body, now)
		},
		Normalize: Normalize,
		Minimize: func(_ http.Header, body []byte, mode webhook.Payload) json.RawMessage {
			return MinimizePayload(body, mode)
		},
	}
}
