package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/notify"
	"github.com/blackwellio/blackwell/internal/stdwebhook"
)

func TestSlackSendsBlockKit(t *testing.T) {
	t.Parallel()
	fake, hook := newFakeSlack(t)
	ch, err := notify.NewSlack("ops-slack", hook, notify.ChannelOptions{})
	require.NoError(t, err)

	require.NoError(t, ch.Send(t.Context(), testMessage("d1", drift.SeverityHigh)))

	reqs := fake.requests()
	require.Len(t, reqs, 1)
	require.Equal(t, "application/json", reqs[0].header.Get("Content-Type"))
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"text"`
			Fields []struct {
				Text string `json:"text"`
			} `json:"fields"`
			Elements []struct {
				Text string `json:"text"`
			} `json:"elements"`
		} `json:"blocks"`
	}
	require.NoError(t, json.Unmarshal(reqs[0].body, &msg))
	require.Contains(t, msg.Text, "webhook_broken")
	require.Equal(t, "header", msg.Blocks[0].Type)
	require.Equal(t, "plain_text", msg.Blocks[0].Text.Type)
	require.Contains(t, msg.Blocks[0].Text.Text, "HIGH")
	require.Contains(t, msg.Blocks[0].Text.Text, "webhook_broken")

	var fields, action, link string
	for _, b := range msg.Blocks {
		for _, f := range b.Fields {
			fields += f.Text + "\n"
		}
		if b.Text != nil {
			action += b.Text.Text + "\n"
		}
		for _, e := range b.Elements {
			link += e.Text
		}
	}
	require.Contains(t, fields, "*Expected*")
	require.Contains(t, fields, "products/update")
	require.Contains(t, fields, "*Observed*")
	require.Contains(t, action, "*What the reconciler did*\nRecreated the webhook subscription.")
	require.Contains(t, link, "<https://blackwell.example/?client_id=acme-corp&amp;drift_id=d1&amp;stack_id=cms-ecom-prod|Open in the dashboard>")
	require.Contains(t, link, "d1:detected:1")
}

func TestSlackAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		answer     answer
		permanent  bool
		retryAfter time.Duration
	}{
		{"rate limited", answer{status: 429, header: http.Header{"Retry-After": {"30"}}, body: "rate_limited"}, false, 30 * time.Second},
		{"invalid payload", answer{status: 400, body: "invalid_payload"}, true, 0},
		{"action prohibited", answer{status: 403, body: "action_prohibited"}, true, 0},
		{"channel not found", answer{status: 404, body: "channel_not_found"}, true, 0},
		{"channel archived", answer{status: 410, body: "channel_is_archived"}, true, 0},
		{"rollup error", answer{status: 500, body: "rollup_error"}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, hook := newFakeSlack(t, tc.answer)
			ch, err := notify.NewSlack("ops-slack", hook, notify.ChannelOptions{})
			require.NoError(t, err)
			err = ch.Send(t.Context(), testMessage("d1", drift.SeverityHigh))
			require.Error(t, err)
			require.Equal(t, tc.permanent, notify.IsPermanent(err), "%v", err)
			require.Equal(t, tc.retryAfter, notify.RetryAfterOf(err))
			require.Contains(t, err.Error(), tc.answer.body)
			requireNoSecret(t, err.Error(), "XXXXSECRETXXXX")
		})
	}
}

func TestSlackUnreachableKeepsURLSecret(t *testing.T) {
	t.Parallel()
	_, hook := newFakeSlack(t)
	ch, err := notify.NewSlack("ops-slack", hook, notify.ChannelOptions{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = ch.Send(ctx, testMessage("d1", drift.SeverityHigh))
	require.Error(t, err)
	require.False(t, notify.IsPermanent(err))
	require.ErrorIs(t, err, context.Canceled)
	requireNoSecret(t, err.Error(), "XXXXSECRETXXXX", "T000")
}

func TestPagerDutyEvents(t *testing.T) {
	t.Parallel()
	fake := newFakePagerDuty(t)
	const key = "R0UT1NGKEY0123456789abcdefABCDEF"
	ch, err := notify.NewPagerDuty("ops-pagerduty", key, notify.ChannelOptions{PagerDutyURL: fake.srv.URL + "/v2/enqueue"})
	require.NoError(t, err)

	detected := testMessage("d1", drift.SeverityHigh)
	require.NoError(t, ch.Send(t.Context(), detected))
	escalated := detected
	escalated.Kind, escalated.Severity, escalated.Sequence = notify.KindEscalated, drift.SeverityCritical, 2
	require.NoError(t, ch.Send(t.Context(), escalated))
	resolved := detected
	resolved.Kind, resolved.Sequence = notify.KindResolved, 3
	require.NoError(t, ch.Send(t.Context(), resolved))

	reminder := detected
	reminder.Kind = notify.KindReminder
	require.False(t, ch.Accepts(reminder), "PagerDuty re-notifies by itself")
	require.True(t, ch.Accepts(detected))

	reqs := fake.requests()
	require.Len(t, reqs, 3)
	type event struct {
		RoutingKey  string `json:"routing_key"`
		EventAction string `json:"event_action"`
		DedupKey    string `json:"dedup_key"`
		Payload     *struct {
			Summary       string         `json:"summary"`
			Source        string         `json:"source"`
			Severity      string         `json:"severity"`
			Timestamp     string         `json:"timestamp"`
			Class         string         `json:"class"`
			CustomDetails notify.Message `json:"custom_details"`
		} `json:"payload"`
		Links []struct {
			Href string `json:"href"`
		} `json:"links"`
	}
	var evs []event
	for _, r := range reqs {
		var e event
		require.NoError(t, json.Unmarshal(r.body, &e))
		require.Equal(t, key, e.RoutingKey)
		require.Equal(t, "d1", e.DedupKey, "dedup_key is the drift id")
		evs = append(evs, e)
	}
	require.Equal(t, "trigger", evs[0].EventAction)
	require.Equal(t, "error", evs[0].Payload.Severity)
	require.Equal(t, "webhook_broken", evs[0].Payload.Class)
	require.Equal(t, "blackwell/acme-corp/cms-ecom-prod", evs[0].Payload.Source)
	require.Equal(t, "2026-11-03T10:00:00Z", evs[0].Payload.Timestamp)
	require.Equal(t, "rec-42", evs[0].Payload.CustomDetails.ReconciliationID)
	require.Equal(t, detected.DashboardURL, evs[0].Links[0].Href)
	require.Equal(t, "trigger", evs[1].EventAction)
	require.Equal(t, "critical", evs[1].Payload.Severity)
	require.Equal(t, "resolve", evs[2].EventAction)
	require.Nil(t, evs[2].Payload)
}

func TestPagerDutySeverityMapping(t *testing.T) {
	t.Parallel()
	for sev, want := range map[drift.Severity]string{
		drift.SeverityCritical: "critical", drift.SeverityHigh: "error",
		drift.SeverityMedium: "warning", drift.SeverityLow: "info",
	} {
		require.Equal(t, want, notify.PagerDutySeverity(sev), sev)
	}
}

func TestPagerDutyAnswers(t *testing.T) {
	t.Parallel()
	const key = "R0UT1NGKEY0123456789abcdefABCDEF"
	for _, tc := range []struct {
		name       string
		answers    []answer
		key        string
		permanent  bool
		retryAfter time.Duration
	}{
		{"invalid event", nil, "short-key", true, 0},
		{"rate limited", []answer{{status: 429, header: http.Header{"Retry-After": {"12"}}}}, key, false, 12 * time.Second},
		{"rate limited without retry-after", []answer{{status: 429}}, key, false, 0},
		{"server error", []answer{{status: 503}}, key, false, 0},
		{"forbidden", []answer{{status: 403}}, key, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := newFakePagerDuty(t, tc.answers...)
			ch, err := notify.NewPagerDuty("pd", tc.key, notify.ChannelOptions{PagerDutyURL: fake.srv.URL + "/v2/enqueue"})
			require.NoError(t, err)
			err = ch.Send(t.Context(), testMessage("d1", drift.SeverityCritical))
			require.Error(t, err)
			require.Equal(t, tc.permanent, notify.IsPermanent(err), "%v", err)
			require.Equal(t, tc.retryAfter, notify.RetryAfterOf(err))
			requireNoSecret(t, err.Error(), tc.key)
		})
	}
}

// A channel whose secret is not whsec_<base64> is refused, and the error
// does not hold the secret. (The scheme's vector is stdwebhook's.)
func TestWebhookRefusesABadSecret(t *testing.T) {
	t.Parallel()
	_, err := notify.NewWebhook("hooks", "https://example.com/hook", "whsec_not base64!", notify.ChannelOptions{})
	require.ErrorIs(t, err, stdwebhook.ErrInvalidSecret)
	require.NotContains(t, err.Error(), "not base64!")
}

func TestWebhookSignedCloudEvent(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	now := func() time.Time { return time.Date(2026, 11, 3, 10, 0, 5, 0, time.UTC) }
	fake, u := newFakeWebhookReceiver(t, secret, now)
	ch, err := notify.NewWebhook("hooks", u, secret, notify.ChannelOptions{Now: now})
	require.NoError(t, err)

	m := testMessage("d1", drift.SeverityMedium)
	require.NoError(t, ch.Send(t.Context(), m))
	require.NoError(t, ch.Send(t.Context(), m), "a redelivery")

	reqs := fake.requests()
	require.Len(t, reqs, 2)
	for _, r := range reqs {
		require.Equal(t, "application/cloudevents+json; charset=UTF-8", r.header.Get("Content-Type"))
		require.Equal(t, "d1:detected:1", r.header.Get("webhook-id"), "the same id on every delivery")
		require.Equal(t, "1793700005", r.header.Get("webhook-timestamp"))
		require.NoError(t, stdwebhook.Verify([]string{secret}, r.header, r.body, now()))
	}
	var ev struct {
		SpecVersion     string         `json:"specversion"`
		ID              string         `json:"id"`
		Source          string         `json:"source"`
		Type            string         `json:"type"`
		Subject         string         `json:"subject"`
		Time            time.Time      `json:"time"`
		DataContentType string         `json:"datacontenttype"`
		Data            notify.Message `json:"data"`
	}
	require.NoError(t, json.Unmarshal(reqs[0].body, &ev))
	require.Equal(t, "1.0", ev.SpecVersion)
	require.Equal(t, "d1:detected:1", ev.ID)
	require.Equal(t, "/blackwell/clients/acme-corp/stacks/cms-ecom-prod", ev.Source)
	require.Equal(t, "io.blackwell.drift.detected", ev.Type)
	require.Equal(t, "d1", ev.Subject)
	require.Equal(t, "application/json", ev.DataContentType)
	require.Equal(t, m.Timestamp, ev.Time)
	require.Equal(t, "acme-corp", ev.Data.ClientID)
	require.Equal(t, drift.TypeIntegration, ev.Data.DriftType)
	require.Equal(t, "rec-42", ev.Data.ReconciliationID)
	require.True(t, ev.Data.AutoHealAttempted)

	// The spec's drift event fields are all in the data.
	var raw struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	require.NoError(t, json.Unmarshal(reqs[0].body, &raw))
	for _, k := range []string{"client_id", "stack_id", "drift_type", "expected", "observed", "severity",
		"timestamp", "auto_heal_attempted", "reconciliation_id", "drift_id", "code", "component", "kind",
		"idempotency_key", "dashboard_url"} {
		require.Contains(t, raw.Data, k)
	}
}

func TestWebhookWrongSecretIsRejected(t *testing.T) {
	t.Parallel()
	now := func() time.Time { return time.Date(2026, 11, 3, 10, 0, 5, 0, time.UTC) }
	_, u := newFakeWebhookReceiver(t, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", now)
	ch, err := notify.NewWebhook("hooks", u, "whsec_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ=", notify.ChannelOptions{Now: now})
	require.NoError(t, err)
	err = ch.Send(t.Context(), testMessage("d1", drift.SeverityLow))
	require.True(t, notify.IsPermanent(err), "%v", err)
	require.Contains(t, err.Error(), "401")
}

func TestWebhookAnswers(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	now := func() time.Time { return time.Date(2026, 11, 3, 10, 0, 5, 0, time.UTC) }
	for _, tc := range []struct {
		name       string
		answer     answer
		permanent  bool
		retryAfter time.Duration
	}{
		{"throttled", answer{status: 429, header: http.Header{"Retry-After": {"Tue, 03 Nov 2026 10:01:05 GMT"}}}, false, time.Minute},
		{"bad gateway", answer{status: 502}, false, 0},
		{"gateway timeout", answer{status: 504, header: http.Header{"Retry-After": {"3"}}}, false, 3 * time.Second},
		{"gone: disable the endpoint", answer{status: 410}, true, 0},
		{"redirect is not followed", answer{status: 307, header: http.Header{"Location": {"https://elsewhere.example/"}}}, true, 0},
		{"unsupported media type", answer{status: 415}, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake, u := newFakeWebhookReceiver(t, secret, now, tc.answer)
			ch, err := notify.NewWebhook("hooks", u, secret, notify.ChannelOptions{Now: now})
			require.NoError(t, err)
			err = ch.Send(t.Context(), testMessage("d1", drift.SeverityLow))
			require.Error(t, err)
			require.Equal(t, tc.permanent, notify.IsPermanent(err), "%v", err)
			require.Equal(t, tc.retryAfter, notify.RetryAfterOf(err))
			requireNoSecret(t, err.Error(), "QUERYSECRET", "MfKQ9r8")
			require.Len(t, fake.requests(), 1)
		})
	}
}

func TestNewChannelFromSpec(t *testing.T) {
	t.Parallel()
	_, hook := newFakeSlack(t)
	for _, tc := range []struct {
		spec config.ChannelSpec
		want any
	}{
		{config.ChannelSpec{Type: "slack", WebhookURL: config.NewSecret(hook)}, &notify.Slack{}},
		{config.ChannelSpec{Type: "pagerduty", RoutingKey: config.NewSecret("R0UT1NGKEY0123456789abcdefABCDEF")}, &notify.PagerDuty{}},
		{config.ChannelSpec{Type: "webhook", URL: "https://hooks.example/x", Secret: config.NewSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")}, &notify.Webhook{}},
		{config.ChannelSpec{Type: "email", Addresses: []string{"ops@acme.example"}, SMTP: &config.SMTP{Host: "smtp.example"}}, &notify.Email{}},
		{config.ChannelSpec{Type: "nats", Subject: "blackwell.drift-events"}, &notify.NATS{}},
	} {
		ch, err := notify.NewChannel("c", tc.spec, notify.ChannelOptions{})
		require.NoError(t, err, tc.spec.Type)
		require.IsType(t, tc.want, ch)
		require.Equal(t, "c", ch.Name())
	}
	// Unresolved secrets and refs are configuration errors that hold no secret.
	_, err := notify.NewChannel("c", config.ChannelSpec{Type: "slack", WebhookURL: config.NewSecret("${SLACK_URL}")}, notify.ChannelOptions{})
	require.Error(t, err)
	_, err = notify.NewChannel("c", config.ChannelSpec{Ref: "ops"}, notify.ChannelOptions{})
	require.Error(t, err)
	_, err = notify.NewChannel("c", config.ChannelSpec{Type: "webhook", URL: "https://u:PASSWORD@hooks.example/x", Secret: config.NewSecret("whsec_!!")}, notify.ChannelOptions{})
	require.Error(t, err)
	requireNoSecret(t, err.Error(), "PASSWORD", "whsec_!!")
	var perm *notify.PermanentError
	require.False(t, errors.As(err, &perm))
}
