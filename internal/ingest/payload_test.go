package ingest_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/ingest"
	"github.com/blackwellio/blackwell/internal/provider/shopify"
	"github.com/blackwellio/blackwell/internal/store"
)

// shopifyOrder returns a signed orders/create delivery carrying a
// customer's email, name and address.
func shopifyOrder(eventID string, id int) (http.Header, []byte) {
	body := []byte(fmt.Sprintf(`{"id":%d,"email":"buyer-%s@example.com","name":"#%d","financial_status":"paid",`+
		`"created_at":"2025-04-22T14:30:00Z","updated_at":"2025-04-22T14:30:00Z",`+
		`"customer":{"id":77,"email":"buyer-%s@example.com","first_name":"Ann"},`+
		`"shipping_address":{"address1":"1 Elm St."}}`, id, eventID, id, eventID))
	d := shopify.Delivery{Topic: "orders/create", ShopDomain: "acme.myshopify.com", APIVersion: "2025-07",
		WebhookID: "wh-" + eventID, EventID: eventID, TriggeredAt: time.Now()}
	return d.Header("shop-new-secret", body), body
}

// TestPayloadFollowsPolicy: the stored event keeps what events.payload of
// the stacks' policies allows: minimal by default for orders, full when the
// client's policy asks for it, nothing when the stack's own policy says
// none (the stack's policy wins over the client's, as for passes).
func TestPayloadFollowsPolicy(t *testing.T) {
	t.Parallel()
	f := setup(t)
	byID := func() map[string]store.Event {
		out := map[string]store.Event{}
		for _, e := range f.events(t) {
			out[e.EventID] = e
		}
		return out
	}
	send := func(eventID string, id int) {
		t.Helper()
		h, body := shopifyOrder(eventID, id)
		status, ans, _ := f.post(t, "/v1/webhooks/shopify/acme", h, body)
		require.Equal(t, http.StatusOK, status, ans)
	}

	send("o1", 1001)
	require.JSONEq(t, `{"id":1001,"name":"#1001","financial_status":"paid","created_at":"2025-04-22T14:30:00Z",`+
		`"updated_at":"2025-04-22T14:30:00Z","customer":{"id":77}}`, string(byID()["shopify:acme:o1"].Payload),
		"orders are minimal by default")

	f.apply(t, `apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  events: {payload: full}
`)
	send("o2", 1002)
	_, full := shopifyOrder("o2", 1002)
	require.Equal(t, string(full), string(byID()["shopify:acme:o2"].Payload), "the client asked for full payloads")

	require.NoError(t, f.state.PutPolicy(context.Background(), "acme", "shop",
		config.PolicySpec{Events: config.EventsPolicy{Payload: "none"}}, "test"))
	send("o3", 1003)
	ev := byID()["shopify:acme:o3"]
	require.Nil(t, ev.Payload, "the stack's own policy keeps no payload")
	require.Equal(t, "order.created", ev.EventType, "the event itself is kept")
	require.Equal(t, "1003", ev.ContentID)
}

// TestRetentionFollowsPolicy: a client's events.retention sets how long its
// events are kept (their TTL, which the sweeper enforces); without one,
// the gateway's retention holds.
func TestRetentionFollowsPolicy(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ttlOf := func(eventID string) time.Duration {
		t.Helper()
		for _, e := range f.events(t) {
			if e.EventID == eventID {
				return time.Unix(e.TTLTimestamp, 0).Sub(e.ReceivedAt)
			}
		}
		t.Fatalf("no event %s", eventID)
		return 0
	}
	send := func(eventID string, id int) {
		t.Helper()
		h, body := shopifyOrder(eventID, id)
		status, ans, _ := f.post(t, "/v1/webhooks/shopify/acme", h, body)
		require.Equal(t, http.StatusOK, status, ans)
	}

	send("r1", 2001)
	require.InDelta(t, ingest.DefaultRetention.Seconds(), ttlOf("shopify:acme:r1").Seconds(), 2, "the gateway's retention")

	f.apply(t, `apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  events: {retention: 48h}
`)
	send("r2", 2002)
	require.InDelta(t, (48 * time.Hour).Seconds(), ttlOf("shopify:acme:r2").Seconds(), 2, "the client's retention")
}
