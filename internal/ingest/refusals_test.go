package ingest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/ingest"
)

// Every delivery's answer reaches OnDelivery: a refused signature extends
// the streak of its topic, an accepted delivery ends it.
func TestDeliveriesFeedRefusalStreaks(t *testing.T) {
	t.Parallel()
	log := forecast.NewRefusalLog()
	f := setup(t, func(o *ingest.Options) { o.OnDelivery = log.Record })
	now := time.Now().UTC().Truncate(time.Second)

	for i, id := range []string{"evt-a", "evt-b"} {
		h, body := shopifyProduct("a-rotated-secret", id, 40+i, now)
		status, _, _ := f.post(t, "/v1/webhooks/shopify/acme", h, body)
		require.Equal(t, http.StatusUnauthorized, status)
	}
	streaks := log.Streaks("acme")
	require.Len(t, streaks, 1)
	require.Equal(t, "shopify", streaks[0].Provider)
	require.Equal(t, "products/update", streaks[0].Topic)
	require.Equal(t, 2, streaks[0].Count)
	require.Equal(t, http.StatusUnauthorized, streaks[0].LastStatus)

	h, body := shopifyProduct("shop-new-secret", "evt-c", 42, now)
	status, _, _ := f.post(t, "/v1/webhooks/shopify/acme", h, body)
	require.Equal(t, http.StatusOK, status)
	require.Empty(t, log.Streaks("acme"), "an accepted delivery ends the streak")

	// An unknown provider is not a subscription of anyone's.
	status, _, _ = f.post(t, "/v1/webhooks/nosuch/acme", h, body)
	require.Equal(t, http.StatusNotFound, status)
	require.Empty(t, log.Streaks("acme"))
}
