package contentful

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/provider"
)

// Descriptor is Contentful as blackwell knows it: its driver and its
// webhooks' scheme, whose signature covers the method and path too.
func Descriptor() provider.Descriptor {
	return provider.Descriptor{
		Name:      Name,
		NewDriver: func(api provider.APIClientOptions) provider.Driver { return New(Options{API: api}) },
		Verify: func(secrets []string, r *http.Request, body []byte, now time.Time) error {
			return Verify(secrets, r.Method, RequestPath(r.URL), r.Header, body, now)
		},
		Normalize: Normalize,
		Minimize: func(_ http.Header, body []byte, mode webhook.Payload) json.RawMessage {
			return MinimizePayload(body, mode)
		},
	}
}
