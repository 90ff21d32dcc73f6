package ingest_test

import (
	"crypto/subtle"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/ingest"
	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/provider/catalog"
	"github.com/blackwellio/blackwell/internal/store"
)

// wiki is a fifth provider, known to the gateway by its descriptor alone:
// a delivery carries its secret in X-Wiki-Secret and its id in X-Wiki-Id.
func wiki() provider.Descriptor {
	return provider.Descriptor{
		Name: "wiki",
		Verify: func(secrets []string, r *http.Request, _ []byte, _ time.Time) error {
			got := r.Header.Get("X-Wiki-Secret")
			if got == "" {
				return webhook.ErrMissingSignature
			}
			for _, s := range secrets {
				if subtle.ConstantTimeCompare([]byte(s), []byte(got)) == 1 {
					return nil
				}
			}
			return webhook.ErrBadSignature
		},
		Normalize: func(h http.Header, body []byte, clientID, stackID string, now time.Time) (store.Event, *store.ContentItem, error) {
			id := h.Get("X-Wiki-Id")
			if err := webhook.CheckID("X-Wiki-Id", id); err != nil {
				return store.Event{}, nil, err
			}
			return store.Event{EventID: webhook.EventID("wiki", clientID, id), ClientID: clientID, StackID: stackID,
				ProviderName: "wiki", EventType: webhook.ContentUpdated, ContentID: "page-1", Timestamp: now, Payload: body}, nil, nil
		},
	}
}

// TestAFifthProviderIsOneDescriptor: a provider the gateway is given in its
// list is received, verified, stored, counted and named like the others;
// the gateway knows no provider by any other means.
func TestAFifthProviderIsOneDescriptor(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *ingest.Options) { o.Providers = append(catalog.Providers(), wiki()) })
	f.apply(t, testConfig+`---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: docs, environment: prod}
spec:
  providers:
    cms: {name: wiki, webhook_secret: "${SANITY_SECRET}"}
`)
	body := []byte(`{"page":"home"}`)
	h := http.Header{"Content-Type": {"application/json"}, "X-Wiki-Id": {"w1"}, "X-Wiki-Secret": {testEnv["SANITY_SECRET"]}}

	status, ans, _ := f.post(t, "/v1/webhooks/wiki/acme/docs", h, body)
	require.Equal(t, http.StatusOK, status, ans)
	require.Equal(t, "wiki:acme:w1", ans["event_id"])
	require.Equal(t, []string{"acme/docs"}, f.triggers.take())
	evs := f.events(t)
	require.Len(t, evs, 1)
	require.Equal(t, "wiki", evs[0].ProviderName)
	require.Equal(t, "prod", evs[0].Environment)
	require.Equal(t, 1.0, f.count("wiki", "accepted"))

	bad := h.Clone()
	bad.Set("X-Wiki-Secret", "guess")
	status, ans, _ = f.post(t, "/v1/webhooks/wiki/acme/docs", bad, body)
	require.Equal(t, http.StatusUnauthorized, status, ans)
	require.Equal(t, 1.0, f.count("wiki", "bad_signature"))

	status, ans, _ = f.post(t, "/v1/webhooks/wordpress/acme", h, body)
	require.Equal(t, http.StatusNotFound, status, ans)
	require.Equal(t, `no webhook receiver for provider "wordpress" (shopify, sanity, contentful, generic, wiki)`,
		ans["error"].(map[string]any)["message"])

	// Without it in the list, the same delivery is for an unknown provider.
	g := setup(t, func(o *ingest.Options) { o.Providers = catalog.Providers() })
	status, ans, _ = g.post(t, "/v1/webhooks/wiki/acme/docs", h, body)
	require.Equal(t, http.StatusNotFound, status, ans)
	require.Equal(t, 1.0, g.count("unknown", "unknown_provider"))
}
