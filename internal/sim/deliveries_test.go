package sim_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/provider/contentful"
	"github.com/blackwellio/blackwell/internal/provider/sanity"
	"github.com/blackwellio/blackwell/internal/provider/shopify"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/stdwebhook"
)

// The fakes sign deliveries with code of their own; the provider packages
// verify them with theirs. Each checks the other here. Standard Webhooks is
// the exception: both sides use package stdwebhook, checked against the
// reference library's vector there.

// receiver answers 200 when verify accepts a delivery, else 401.
func receiver(t *testing.T, verify func(r *http.Request, body []byte) error) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := verify(r, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1/webhooks/p/acme"
}

func requireDelivered(t *testing.T, res []sim.DeliveryResult, ok bool) {
	t.Helper()
	require.NotEmpty(t, res)
	for _, r := range res {
		require.NoError(t, r.Err)
		require.Equal(t, ok, r.OK(), "status %d", r.Status)
	}
}

func TestShopifyDeliveriesVerify(t *testing.T) {
	t.Parallel()
	shop, err := sim.NewShopify(sim.ShopifyOptions{})
	require.NoError(t, err)
	t.Cleanup(shop.Close)
	good := receiver(t, func(r *http.Request, body []byte) error {
		return shopify.Verify([]string{"old-secret", shop.ClientSecret()}, r.Header, body, time.Now())
	})
	bad := receiver(t, func(r *http.Request, body []byte) error {
		return shopify.Verify([]string{"wrong"}, r.Header, body, time.Now())
	})
	shop.AddWebhook("products/update", good)
	body := []byte(`{"id":9554194432293,"title":"T-Shirt","status":"active","updated_at":"2025-04-22T14:30:00-05:00"}`)
	requireDelivered(t, shop.Deliver(context.Background(), "products/update", body), true)

	shop.AddWebhook("products/create", bad)
	requireDelivered(t, shop.Deliver(context.Background(), "products/create", body), false)

	shop.StopEvents()
	require.Empty(t, shop.Deliver(context.Background(), "products/update", body))
}

func TestSanityDeliveriesVerify(t *testing.T) {
	t.Parallel()
	cms, err := sim.NewSanity(sim.SanityOptions{})
	require.NoError(t, err)
	t.Cleanup(cms.Close)
	url := receiver(t, func(r *http.Request, body []byte) error {
		return sanity.Verify([]string{"hook-secret"}, r.Header, body, time.Now())
	})
	cms.AddHook(sim.SanityHook{Name: "ours", URL: url, Secret: "hook-secret", Rule: sim.SanityRule{Filter: `_type in ["post"]`}})
	cms.AddHook(sim.SanityHook{Name: "wrong secret", URL: url, Secret: "other", Rule: sim.SanityRule{Filter: `_type == "page"`}})
	requireDelivered(t, cms.Deliver(context.Background(), "update", []byte(`{"_id":"p1","_type":"post"}`)), true)
	requireDelivered(t, cms.Deliver(context.Background(), "update", []byte(`{"_id":"p2","_type":"page"}`)), false)
}

func TestContentfulDeliveriesVerify(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("k", 64)
	cms, err := sim.NewContentful(sim.ContentfulOptions{SigningSecret: secret})
	require.NoError(t, err)
	t.Cleanup(cms.Close)
	url := receiver(t, func(r *http.Request, body []byte) error {
		return contentful.Verify([]string{secret}, r.Method, contentful.RequestPath(r.URL), r.Header, body, time.Now())
	})
	cms.AddWebhook(sim.ContentfulWebhook{Name: "ours", URL: url, Topics: []string{"Entry.*"}, Active: true})
	body := []byte(`{"sys":{"id":"entry1","type":"Entry","contentType":{"sys":{"id":"post"}}}}`)
	requireDelivered(t, cms.Deliver(context.Background(), "Entry.publish", body), true)

	cms.SetSigningSecret(strings.Repeat("x", 64))
	requireDelivered(t, cms.Deliver(context.Background(), "Entry.publish", body), false)
}

func TestStandardWebhooksDeliveriesVerify(t *testing.T) {
	t.Parallel()
	api, err := sim.NewIntegrationAPI(sim.IntegrationAPIOptions{})
	require.NoError(t, err)
	t.Cleanup(api.Close)
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	url := receiver(t, func(r *http.Request, body []byte) error {
		return stdwebhook.Verify([]string{secret}, r.Header, body, time.Now())
	})
	api.AddIntegration(sim.GenericIntegration{Name: "legacy", ClientID: "acme", Address: url, Enabled: true, Secret: secret,
		Topics: []string{"content.*"}})
	requireDelivered(t, api.Deliver(context.Background(), sim.GenericEvent{ClientID: "acme", ProviderName: "generic",
		EventType: "content.updated", ContentID: "c1", ContentType: "post"}), true)
}
