package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
)

// cloudEventSink is a webhook channel's receiver: it keeps the type and
// subject of every CloudEvent posted to it.
type cloudEventSink struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []string // "type subject"
}

func newCloudEventSink(t *testing.T) *cloudEventSink {
	s := &cloudEventSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ Type, Subject string }
		if json.NewDecoder(r.Body).Decode(&ev) == nil {
			s.mu.Lock()
			s.got = append(s.got, ev.Type+" "+ev.Subject)
			s.mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *cloudEventSink) has(event string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.got, event)
}

// seedWebhookForecast writes a webhook_broken forecast of the stack's
// Shopify integration with its audit entry, as the forecast evaluator
// does, and returns its id.
func seedWebhookForecast(t *testing.T, w *worldE2E, n int) string {
	t.Helper()
	now := time.Now()
	f := forecast.Forecast{
		ID: fmt.Sprintf("fc-e2e-%d", n), ClientID: "acme", StackID: "web", Code: drift.WebhookBroken, Component: "shop-products",
		ETA: now.Add(3 * time.Hour), Confidence: 0.6, Class: forecast.ClassTrend, RaisedAt: now,
		Evidence: forecast.Evidence{Indicator: forecast.IndicatorRefusals, Detail: "5 consecutive deliveries refused"},
	}
	changes, err := json.Marshal(map[string]any{"forecast_id": f.ID, "code": f.Code, "component": f.Component, "eta": f.ETA,
		"confidence": f.Confidence, "class": f.Class, "indicator": f.Evidence.Indicator, "evidence": f.Evidence.Detail})
	require.NoError(t, err)
	_, err = w.srv.store.WriteForecasts(context.Background(), store.ForecastWrite{Raise: []forecast.Forecast{f}, Audit: []store.AuditEntry{{
		Timestamp: now, Action: "forecast_raised", ClientID: "acme", StackID: "web", TriggeredBy: "reconciler:test",
		Success: true, ChangesMade: changes, DriftID: drift.ID("acme", "web", drift.TypeIntegration, "shop-products"),
	}}})
	require.NoError(t, err)
	return f.ID
}

// TestE2EForecastIsAnnouncedStreamedAndPreempted: a webhook_broken
// forecast within predict.notify_lead reaches a webhook channel as
// io.blackwell.forecast.raised and the stream log as forecast.raised; the
// next pass re-registers the Shopify subscription ahead of it
// (reregister_subscription, triggered by the forecast: the sim's webhook
// gets a new id); and when the evaluator clears it (no indicator holds
// it), io.blackwell.forecast.cleared follows.
func TestE2EForecastIsAnnouncedStreamedAndPreempted(t *testing.T) {
	t.Parallel()
	sink := newCloudEventSink(t)
	pol := healPolicy(fmt.Sprintf(`  predict: {enabled: true, notify_lead: 72h, preempt: [reregister_subscription]}
  notifications:
    channels:
      - {type: webhook, url: "%s/hook", severity_threshold: high}
`, sink.srv.URL))
	w := startWorldWith(t, sim.CMSSanity, pol, fastHeals)
	before := w.shopIDs["products/update"]
	ctx := context.Background()

	// The evaluator clears a forecast that no indicator holds after the
	// next pass; one seeded while a pass was between its decision and its
	// evaluation is cleared before any pass decided on it: seed again.
	var preempt *store.HealAttempt
	for n := 1; n <= 5 && preempt == nil; n++ {
		seedWebhookForecast(t, w, n)
		poll.Until(t, time.Minute, "the forecast decided on or cleared", func() bool {
			hs, _, err := w.srv.store.ListHeals(ctx, store.HealQuery{ClientID: "acme", StackID: "web"})
			require.NoError(t, err)
			for i := range hs {
				if hs[i].Action == "reregister_subscription" {
					preempt = &hs[i]
					return true
				}
			}
			open, _, err := w.srv.store.ListForecasts(ctx, store.ForecastQuery{ClientID: "acme", StackID: "web"})
			require.NoError(t, err)
			return len(open) == 0
		})
	}
	require.NotNil(t, preempt, "a pass decided a pre-emptive heal")
	require.Equal(t, "forecast", preempt.TriggeredBy)
	require.Equal(t, drift.WebhookBroken, preempt.Code)
	w.waitHeal(t, "webhook_broken", "succeeded")
	after := w.world.Shop.Webhooks()
	require.False(t, slices.ContainsFunc(after, func(h sim.ShopifyWebhook) bool { return h.ID == before }), "the subscription was replaced")
	require.Len(t, after, len(w.shopIDs), "by fresh ones, at the same address")
	for _, h := range after {
		require.True(t, strings.HasSuffix(h.Address, "/v1/webhooks/shopify/acme"), h.Address)
	}

	subject := drift.ID("acme", "web", drift.TypeIntegration, "shop-products")
	poll.Until(t, time.Minute, "the forecast announced and its clearance", func() bool {
		return sink.has("io.blackwell.forecast.raised "+subject) && sink.has("io.blackwell.forecast.cleared "+subject)
	})
	page, err := w.srv.store.ReadStream(ctx, 0, store.MaxLimit)
	require.NoError(t, err)
	var kinds []string
	for _, e := range page.Events {
		if e.ClientID == "acme" && (e.Kind == "forecast.raised" || e.Kind == "forecast.cleared") {
			kinds = append(kinds, e.Kind)
		}
	}
	require.Contains(t, kinds, "forecast.raised")
	require.Contains(t, kinds, "forecast.cleared")
}

// TestDashboardShowsForecasts: a forecast raised while the dashboard
// shows the overview arrives in its live events (the stream); the stack
// page and the client page list it. The schedule is an hour, so no pass
// clears it meanwhile (nothing indicates it).
func TestDashboardShowsForecasts(t *testing.T) {
	t.Parallel()
	w := startWorldWith(t, sim.CMSSanity, `---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  schedule: {interval: 1h}
  confirmation: {observations: 1}
`, nil)
	b := newBrowser(t)
	b.do(t, chromedp.Navigate(w.srv.dashboardURL()))
	b.waitJS(t, 10*time.Second, "the stream live", `document.querySelector("#stream-status").dataset.state === "live"`)
	id := seedWebhookForecast(t, w, 1)
	b.waitJS(t, 20*time.Second, "the forecast in the live events", `document.querySelector("#events")?.textContent.includes("webhook_broken on shop-products forecast by")`)

	b.do(t, chromedp.Navigate(w.base+"/#/stacks/acme/web"))
	row := `document.querySelector('#forecasts tr[data-forecast="` + id + `"]')`
	b.waitJS(t, 10*time.Second, "the forecast on the stack page", row+`?.dataset.code === "webhook_broken"`)
	require.Contains(t, eval[string](t, b, row+`.textContent`), "5 consecutive deliveries refused")
	require.Contains(t, eval[string](t, b, row+`.textContent`), "60%")

	b.do(t, chromedp.Navigate(w.base+"/#/clients/acme"))
	b.waitJS(t, 10*time.Second, "the forecast on the client page", row+`?.querySelector('a[href="#/stacks/acme/web"]')`)
}
