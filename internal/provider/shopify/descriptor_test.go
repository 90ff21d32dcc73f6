package shopify_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/provider/shopify"
)

// TestDescriptorPrivacy: the descriptor reads Shopify's privacy webhooks
// as the erasures and data requests they are: customers/redact erases a
// customer (email, phone, id and orders), shop/redact a shop, and
// customers/data_request only reports.
func TestDescriptorPrivacy(t *testing.T) {
	t.Parallel()
	privacy := shopify.Descriptor().Privacy
	for _, c := range []struct {
		topic, body string
		want        provider.Privacy
		ok          bool
		err         error
	}{
		{"customers/redact", redactBody, provider.Privacy{Topic: "customers/redact", Erase: true,
			Values: []string{"john@example.com", "555-625-1199"}, IDs: []string{"191167", "299938", "280263", "220458"}}, true, nil},
		{"customers/data_request", dataRequestBody, provider.Privacy{Topic: "customers/data_request",
			Values: []string{"john@example.com", "555-625-1199"}, IDs: []string{"191167", "299938"}}, true, nil},
		{"shop/redact", shopRedactBody, provider.Privacy{Topic: "shop/redact", Erase: true, Shop: "acme.myshopify.com"}, true, nil},
		{"orders/create", orderBody, provider.Privacy{}, false, nil},
		{"shop/redact", `{"shop_id":1}`, provider.Privacy{}, true, webhook.ErrMalformed},
	} {
		t.Run(c.topic, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			h.Set(shopify.HeaderTopic, c.topic)
			got, ok, err := privacy(h, []byte(c.body))
			require.ErrorIs(t, err, c.err)
			require.Equal(t, c.ok, ok)
			require.Equal(t, c.want, got)
		})
	}
}
