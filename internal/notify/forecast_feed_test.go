package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/bus"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/notify"
	"github.com/blackwellio/blackwell/internal/store"
)

func TestForecastDue(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	on := config.Predict{Enabled: true, NotifyLead: config.Duration(72 * time.Hour)}
	for _, tc := range []struct {
		name string
		p    config.Predict
		eta  time.Time
		want bool
	}{
		{"within the lead", on, now.Add(71 * time.Hour), true},
		{"at the lead", on, now.Add(72 * time.Hour), true},
		{"beyond the lead", on, now.Add(73 * time.Hour), false},
		{"past eta", on, now.Add(-time.Hour), true},
		{"predict disabled", config.Predict{NotifyLead: on.NotifyLead}, now.Add(time.Hour), false},
		{"unset lead is the default 72h", config.Predict{Enabled: true}, now.Add(70 * time.Hour), true},
		{"unset lead is not more", config.Predict{Enabled: true}, now.Add(80 * time.Hour), false},
		{"a short lead", config.Predict{Enabled: true, NotifyLead: config.Duration(time.Hour)}, now.Add(2 * time.Hour), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, notify.ForecastDue(tc.p, tc.eta, now))
		})
	}
}

// forecastSetup is a feed over a store with a webhook channel whose
// receiver records the CloudEvents, a clock and a predict policy the test
// sets.
type forecastSetup struct {
	st   store.Store
	feed *notify.Feed
	hook *fakeHTTP
	url  string

	mu      sync.Mutex
	now     time.Time
	predict config.Predict
}

const forecastSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func newForecastSetup(t *testing.T) *forecastSetup {
	t.Helper()
	s := &forecastSetup{st: openStore(t), now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	s.hook, s.url = newFakeWebhookReceiver(t, forecastSecret, s.clock)
	s.feed = s.newFeed(t)
	t.Cleanup(func() { _ = s.feed.Stop(context.Background()) })
	return s
}

func (s *forecastSetup) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// newFeed is a loaded feed over the store, announcing to the webhook
// channel (threshold high).
func (s *forecastSetup) newFeed(t *testing.T) *notify.Feed {
	t.Helper()
	f := notify.NewFeed(notify.FeedOptions{Store: s.st, Now: s.clock,
		Predict: func(_ context.Context, clientID, stackID string) (config.Predict, error) {
			if clientID+"/"+stackID != "acme/shop" {
				return config.Predict{}, fmt.Errorf("no stack %s/%s", clientID, stackID)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.predict, nil
		}})
	require.NoError(t, f.Load(context.Background()))
	ch, err := notify.NewWebhook("hooks", s.url, forecastSecret, notify.ChannelOptions{Now: s.clock})
	require.NoError(t, err)
	d, err := notify.NewDispatcher([]notify.Route{{Channel: ch, Threshold: drift.SeverityHigh}},
		notify.DispatcherOptions{Outbox: f.Outbox(), Durable: true, Now: s.clock})
	require.NoError(t, err)
	require.NoError(t, f.SetDispatcher(context.Background(), d))
	return f
}

func (s *forecastSetup) set(now time.Time, p config.Predict) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now, s.predict = now, p
}

// forecastAudit appends the entry the evaluator writes for a forecast.
func (s *forecastSetup) forecastAudit(t *testing.T, action, id string, code drift.Code, eta time.Time) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"forecast_id": id, "code": code, "component": "orders",
		"eta": eta, "confidence": 0.8, "class": "trend", "indicator": "webhook_refusals", "evidence": "5 refused deliveries"})
	require.NoError(t, err)
	require.NoError(t, s.st.AppendAudit(context.Background(), []store.AuditEntry{{
		Timestamp: s.now, Action: action, ClientID: "acme", StackID: "shop", TriggeredBy: "reconciler:schedule",
		Success: true, ChangesMade: b, ReconciliationID: "r-1", DriftID: "drift-of-" + id,
	}}))
}

type cloudEvent struct {
	ID   string         `json:"id"`
	Type string         `json:"type"`
	Data notify.Message `json:"data"`
}

func (s *forecastSetup) events(t *testing.T, n int) []cloudEvent {
	t.Helper()
	var out []cloudEvent
	for _, r := range s.hook.waitRequests(t, n) {
		var ev cloudEvent
		require.NoError(t, json.Unmarshal(r.body, &ev))
		out = append(out, ev)
	}
	return out
}

// TestForecastNotifiedThroughWebhook: a forecast whose eta is beyond the
// lead is streamed but not announced; a tick once its eta comes within
// the lead announces it (io.blackwell.forecast.raised) and its clearance
// follows (io.blackwell.forecast.cleared). Both go through the outbox.
func TestForecastNotifiedThroughWebhook(t *testing.T) {
	t.Parallel()
	s := newForecastSetup(t)
	t0 := s.now
	eta := t0.Add(5 * 24 * time.Hour)
	s.set(t0, config.Predict{Enabled: true, NotifyLead: config.Duration(72 * time.Hour)})
	s.forecastAudit(t, "forecast_raised", "fc-1", drift.WebhookBroken, eta)
	require.Equal(t, 1, poll(t, s.feed))
	require.NoError(t, s.feed.Tick(context.Background()))
	require.Empty(t, s.hook.requests(), "eta 5 days ahead: not yet within 72h")
	page, err := s.st.ReadStream(context.Background(), 0, 10)
	require.NoError(t, err)
	require.Len(t, page.Events, 1)
	require.Equal(t, "forecast.raised", page.Events[0].Kind, "the stream has it at once")
	require.Equal(t, "acme", page.Events[0].ClientID)

	// A restart keeps the pending forecast (its state is in the store).
	sub, err := s.st.GetSubscriber(context.Background(), notify.DefaultSubscriber)
	require.NoError(t, err)
	require.Contains(t, sub.States, "forecast:fc-1")
	s.feed = reload(t, s)
	s.set(eta.Add(-72*time.Hour), s.predict)
	require.NoError(t, s.feed.Tick(context.Background()))
	got := s.events(t, 1)
	require.Equal(t, strconv.FormatInt(eta.Add(-72*time.Hour).Unix(), 10), s.hook.requests()[0].header.Get("webhook-timestamp"),
		"sent when the eta came within the lead, not at the raise")
	require.Equal(t, "io.blackwell.forecast.raised", got[0].Type)
	require.Equal(t, "fc-1:forecast_raised:1", got[0].ID)
	require.Equal(t, notify.KindForecastRaised, got[0].Data.Kind)
	require.Equal(t, drift.SeverityHigh, got[0].Data.Severity, "webhook_broken's taxonomy severity")
	require.Equal(t, "drift-of-fc-1", got[0].Data.DriftID)
	require.NotNil(t, got[0].Data.Forecast)
	require.True(t, eta.Equal(got[0].Data.Forecast.ETA))
	require.Equal(t, "5 refused deliveries", got[0].Data.Forecast.Evidence)

	require.NoError(t, s.feed.Tick(context.Background()))
	s.forecastAudit(t, "forecast_cleared", "fc-1", drift.WebhookBroken, eta)
	require.Equal(t, 1, poll(t, s.feed))
	got = s.events(t, 2)
	require.Equal(t, "io.blackwell.forecast.cleared", got[1].Type)
	sub, err = s.st.GetSubscriber(context.Background(), notify.DefaultSubscriber)
	require.NoError(t, err)
	require.NotContains(t, sub.States, "forecast:fc-1", "a cleared forecast's state is deleted")
	require.Equal(t, "fc-1:forecast_cleared:2", got[1].ID)
	require.Eventually(t, func() bool { return len(pending(t, s.st)) == 0 }, 10*time.Second, 5*time.Millisecond)
}

func reload(t *testing.T, s *forecastSetup) *notify.Feed {
	t.Helper()
	require.NoError(t, s.feed.Stop(context.Background()))
	return s.newFeed(t)
}

// TestForecastNotAnnounced: predict disabled, a code under the channel's
// threshold, and a clearance of a forecast never announced make no
// message; all are streamed.
func TestForecastNotAnnounced(t *testing.T) {
	t.Parallel()
	s := newForecastSetup(t)
	soon := s.now.Add(time.Hour)
	s.set(s.now, config.Predict{Enabled: false, NotifyLead: config.Duration(72 * time.Hour)})
	s.forecastAudit(t, "forecast_raised", "fc-off", drift.WebhookBroken, soon)
	require.Equal(t, 1, poll(t, s.feed))
	s.set(s.now, config.Predict{Enabled: true, NotifyLead: config.Duration(72 * time.Hour)})
	s.forecastAudit(t, "forecast_raised", "fc-low", drift.ContentStale, soon) // medium: under the high threshold
	s.forecastAudit(t, "forecast_cleared", "fc-off", drift.WebhookBroken, soon)
	s.forecastAudit(t, "forecast_raised", "fc-on", drift.WebhookBroken, soon)
	require.Equal(t, 3, poll(t, s.feed))
	got := s.events(t, 1)
	require.Equal(t, "fc-on:forecast_raised:1", got[0].ID, "only the forecast announced under an enabled policy at or above the threshold")
	require.NoError(t, s.feed.Tick(context.Background()))
	require.Eventually(t, func() bool { return len(pending(t, s.st)) == 0 }, 10*time.Second, 5*time.Millisecond)
	require.Len(t, s.hook.requests(), 1, "the disabled one was cleared before predict was on; nothing is owed")

	page, err := s.st.ReadStream(context.Background(), 0, 10)
	require.NoError(t, err)
	var kinds []string
	for _, e := range page.Events {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []string{"forecast.raised", "forecast.raised", "forecast.cleared", "forecast.raised"}, kinds)
}

// TestForecastUpdateMovesTheAnnouncement: a forecast raised beyond the
// lead is announced as soon as an update brings its eta within it; an
// update that moved the eta by little is not streamed, one that moved it
// materially is (forecast.updated, with the new eta).
func TestForecastUpdateMovesTheAnnouncement(t *testing.T) {
	t.Parallel()
	s := newForecastSetup(t)
	s.set(s.now, config.Predict{Enabled: true, NotifyLead: config.Duration(24 * time.Hour)})
	s.forecastAudit(t, "forecast_raised", "fc-u", drift.WebhookBroken, s.now.Add(10*24*time.Hour))
	require.Equal(t, 1, poll(t, s.feed))
	require.NoError(t, s.feed.Tick(context.Background()))
	// An hour on an eta ten days off: not material.
	s.forecastAudit(t, "forecast_updated", "fc-u", drift.WebhookBroken, s.now.Add(10*24*time.Hour+time.Hour))
	require.Equal(t, 1, poll(t, s.feed))
	s.forecastAudit(t, "forecast_updated", "fc-u", drift.WebhookBroken, s.now.Add(2*time.Hour))
	require.Equal(t, 1, poll(t, s.feed))
	got := s.events(t, 1)
	require.Equal(t, "fc-u:forecast_raised:1", got[0].ID)
	require.True(t, s.now.Add(2*time.Hour).Equal(got[0].Data.Forecast.ETA), "the eta as updated")
	page, err := s.st.ReadStream(context.Background(), 0, 10)
	require.NoError(t, err)
	require.Len(t, page.Events, 2, "the raise and the material update are on the stream")
	require.Equal(t, "forecast.raised", page.Events[0].Kind)
	require.Equal(t, "forecast.updated", page.Events[1].Kind)
	var upd bus.ForecastEvent
	require.NoError(t, json.Unmarshal(page.Events[1].Data, &upd))
	require.Equal(t, "fc-u", upd.ForecastID)
	require.True(t, s.now.Add(2*time.Hour).Equal(upd.ETA), "the stream carries the new eta")

	// The next small move is measured from what the stream said last
	// (2 h off: more than the 5 min default interval is material).
	s.forecastAudit(t, "forecast_updated", "fc-u", drift.WebhookBroken, s.now.Add(2*time.Hour+3*time.Minute))
	s.forecastAudit(t, "forecast_updated", "fc-u", drift.WebhookBroken, s.now.Add(2*time.Hour+6*time.Minute))
	s.forecastAudit(t, "forecast_updated", "fc-u", drift.WebhookBroken, s.now.Add(2*time.Hour+14*time.Minute))
	require.Equal(t, 3, poll(t, s.feed))
	page, err = s.st.ReadStream(context.Background(), 0, 10)
	require.NoError(t, err)
	require.Len(t, page.Events, 3, "3 and 6 min are within the interval or a tenth of the 2 h left; 14 min is not")
	require.NoError(t, json.Unmarshal(page.Events[2].Data, &upd))
	require.True(t, s.now.Add(2*time.Hour+14*time.Minute).Equal(upd.ETA))
}

// TestForecastOfADeletedStackIsForgotten: a pending forecast of a stack
// that is deleted is never announced, and its state goes.
func TestForecastOfADeletedStackIsForgotten(t *testing.T) {
	t.Parallel()
	s := newForecastSetup(t)
	t0 := s.now
	s.set(t0, config.Predict{Enabled: true, NotifyLead: config.Duration(time.Hour)})
	s.forecastAudit(t, "forecast_raised", "fc-d", drift.WebhookBroken, t0.Add(48*time.Hour))
	require.NoError(t, s.st.AppendAudit(context.Background(), []store.AuditEntry{{
		Timestamp: t0, Action: "stack_deleted", ClientID: "acme", StackID: "shop", TriggeredBy: "ops", Success: true}}))
	require.Equal(t, 2, poll(t, s.feed))
	sub, err := s.st.GetSubscriber(context.Background(), notify.DefaultSubscriber)
	require.NoError(t, err)
	require.NotContains(t, sub.States, "forecast:fc-d")

	s.set(t0.Add(47*time.Hour+30*time.Minute), s.predict) // within the lead now
	s.forecastAudit(t, "forecast_raised", "fc-e", drift.WebhookBroken, s.clock().Add(time.Minute))
	require.Equal(t, 1, poll(t, s.feed))
	require.NoError(t, s.feed.Tick(context.Background()))
	got := s.events(t, 1)
	require.Equal(t, "fc-e:forecast_raised:1", got[0].ID, "the deleted stack's forecast is not announced first")
	require.Eventually(t, func() bool { return len(pending(t, s.st)) == 0 }, 10*time.Second, 5*time.Millisecond)
	require.Len(t, s.hook.requests(), 1)
}
