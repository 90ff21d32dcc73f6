package config

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDefaultPolicy(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	require.Equal(t, Duration(5*time.Minute), p.Schedule.Interval)
	require.Equal(t, "UTC", p.Schedule.Timezone)
	require.Equal(t, 2, p.Confirmation.Observations)
	require.Equal(t, Duration(30*time.Second), p.Confirmation.GracePeriod)
	require.NotNil(t, p.Confirmation.CriticalImmediate)
	require.True(t, *p.Confirmation.CriticalImmediate)
	require.False(t, p.AutoHeal.Enabled)
	require.Equal(t, "enforce", p.AutoHeal.Mode)
	require.Equal(t, 3, p.AutoHeal.MaxAttempts)
	require.Equal(t, "exponential", p.AutoHeal.BackoffStrategy)
	require.Equal(t, Duration(10*time.Second), p.AutoHeal.BackoffBase)
	require.Equal(t, Duration(10*time.Minute), p.AutoHeal.BackoffCap)
	require.Equal(t, []string{"provider_missing", "webhook_broken", "resource_unhealthy"}, p.AutoHeal.AllowedDriftTypes)
	require.Equal(t, []string{"cms_provider_change", "data_deletion", "resource_replacement"}, p.AutoHeal.RequireApproval)
	require.Equal(t, Duration(15*time.Minute), p.Content.MaxStaleness)
	require.Equal(t, Duration(30*24*time.Hour), p.Observability.MetricsRetention)
	require.Empty(t, p.Notifications.Channels)
	require.False(t, p.Predict.Enabled)
	require.Equal(t, Duration(72*time.Hour), p.Predict.NotifyLead)
	require.Empty(t, p.Predict.Preempt)

	// Each call is a fresh value.
	p.AutoHeal.AllowedDriftTypes[0] = "changed"
	*p.Confirmation.CriticalImmediate = false
	require.Equal(t, "provider_missing", DefaultPolicy().AutoHeal.AllowedDriftTypes[0])
	require.True(t, *DefaultPolicy().Confirmation.CriticalImmediate)
}

func TestEffectivePolicy(t *testing.T) {
	t.Parallel()
	no := false
	stack := &PolicySpec{
		Schedule:     Schedule{Interval: Duration(time.Minute)},
		Confirmation: Confirmation{CriticalImmediate: &no},
		AutoHeal: AutoHeal{
			Enabled:           true,
			MaxAttempts:       5,
			AllowedDriftTypes: []string{},
			RequireApproval:   []string{"data_deletion"},
		},
	}
	client := &PolicySpec{
		AutoHeal:      AutoHeal{Enabled: true, Mode: "dry_run", BackoffStrategy: "linear"},
		Notifications: Notifications{Channels: []ChannelSpec{{Ref: "ops"}}},
	}
	def := DefaultPolicy()

	withStack := def
	withStack.Schedule.Interval = Duration(time.Minute)
	withStack.Confirmation.CriticalImmediate = &no
	withStack.AutoHeal.Enabled = true
	withStack.AutoHeal.MaxAttempts = 5
	withStack.AutoHeal.AllowedDriftTypes = []string{}
	withStack.AutoHeal.RequireApproval = []string{"data_deletion"}

	withClient := def
	withClient.AutoHeal.Enabled = true
	withClient.AutoHeal.Mode = "dry_run"
	withClient.AutoHeal.BackoffStrategy = "linear"
	withClient.Notifications.Channels = []ChannelSpec{{Ref: "ops"}}

	tests := []struct {
		name          string
		stack, client *PolicySpec
		want          PolicySpec
	}{
		{"none", nil, nil, def},
		{"client only", nil, client, withClient},
		{"stack wins over client", stack, client, withStack},
		{"stack only", stack, nil, withStack},
		{"empty stack policy is the default", &PolicySpec{}, client, def},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := EffectivePolicy(tt.stack, tt.client)
			require.Equal(t, tt.want, got)
		})
	}

	// The result shares nothing with its input.
	got := EffectivePolicy(stack, nil)
	got.AutoHeal.RequireApproval[0] = "changed"
	*got.Confirmation.CriticalImmediate = true
	require.Equal(t, "data_deletion", stack.AutoHeal.RequireApproval[0])
	require.False(t, *stack.Confirmation.CriticalImmediate)
	got = EffectivePolicy(nil, client)
	got.Notifications.Channels[0].Ref = "changed"
	require.Equal(t, "ops", client.Notifications.Channels[0].Ref)
}

func TestConfigPolicyFor(t *testing.T) {
	t.Parallel()
	cfg := &Config{Policies: []Policy{
		{Metadata: PolicyMeta{ClientID: "acme"}, Spec: PolicySpec{AutoHeal: AutoHeal{MaxAttempts: 1}}},
		{Metadata: PolicyMeta{ClientID: "acme", StackID: "web"}, Spec: PolicySpec{AutoHeal: AutoHeal{MaxAttempts: 2}}},
		{Metadata: PolicyMeta{ClientID: "other", StackID: "web"}, Spec: PolicySpec{AutoHeal: AutoHeal{MaxAttempts: 3}}},
	}}
	tests := []struct {
		client, stack string
		want          int
	}{
		{"acme", "web", 2},
		{"acme", "shop", 1},
		{"acme", "", 1},
		{"other", "web", 3},
		{"other", "shop", DefaultPolicy().AutoHeal.MaxAttempts},
		{"nobody", "web", DefaultPolicy().AutoHeal.MaxAttempts},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, cfg.PolicyFor(tt.client, tt.stack).AutoHeal.MaxAttempts, "%s/%s", tt.client, tt.stack)
	}
}

func TestDecodePolicyJSON(t *testing.T) {
	t.Parallel()
	body := `{
	"schedule": {"interval": "10m", "timezone": "Europe/Berlin"},
	"auto_heal": {
		"enabled": true,
		"mode": "dry_run",
		"max_attempts": 4,
		"allowed_drift_types": [],
		"require_approval": ["data_deletion"]
	},
	"notifications": {"channels": [
		{"ref": "ops"},
		{"type": "slack", "webhook_url": "${SLACK_URL}", "severity_threshold": "high"}
	]},
	"observability": {"metrics_retention": "2w", "detailed_logging": false}
}`
	spec, err := DecodePolicyJSON([]byte(body))
	require.NoError(t, err)
	require.Equal(t, Duration(10*time.Minute), spec.Schedule.Interval)
	require.Equal(t, "Europe/Berlin", spec.Schedule.Timezone)
	require.True(t, spec.AutoHeal.Enabled)
	require.Equal(t, "dry_run", spec.AutoHeal.Mode)
	require.Equal(t, 4, spec.AutoHeal.MaxAttempts)
	require.NotNil(t, spec.AutoHeal.AllowedDriftTypes)
	require.Empty(t, spec.AutoHeal.AllowedDriftTypes)
	require.Equal(t, []string{"data_deletion"}, spec.AutoHeal.RequireApproval)
	require.Equal(t, "${SLACK_URL}", spec.Notifications.Channels[1].WebhookURL.Ref)
	require.False(t, spec.Notifications.Channels[1].WebhookURL.Resolved())
	require.Equal(t, Duration(14*24*time.Hour), spec.Observability.MetricsRetention)

	// An empty list means "none" and survives the store's JSON round trip.
	eff := EffectivePolicy(nil, spec)
	require.Empty(t, eff.AutoHeal.AllowedDriftTypes)
	stored, err := json.Marshal(spec)
	require.NoError(t, err)
	back, err := DecodePolicyJSON(stored)
	require.NoError(t, err)
	require.Equal(t, spec, back)
	require.Empty(t, EffectivePolicy(nil, back).AutoHeal.AllowedDriftTypes)
}

func TestDecodePolicyJSONRoundTrip(t *testing.T) {
	t.Parallel()
	cfg := loadExample(t)
	for _, p := range []PolicySpec{DefaultPolicy(), cfg.Policies[0].Spec, {}} {
		b, err := json.Marshal(p)
		require.NoError(t, err)
		got, err := DecodePolicyJSON(b)
		require.NoError(t, err, string(b))
		gotJSON, err := json.Marshal(got)
		require.NoError(t, err)
		require.JSONEq(t, string(b), string(gotJSON))
	}
}

func TestDecodePolicyJSONErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"empty", ``, []string{"the body must be a JSON object (a ReconciliationPolicy spec)"}},
		{"not an object", `[1, 2]`, []string{"1:1: the body must be a JSON object (a ReconciliationPolicy spec)"}},
		{"null", `null`, []string{"1:1: the body must be a JSON object (a ReconciliationPolicy spec)"}},
		{"invalid JSON", "{\n  \"auto_heal\": {\"enabled\": tru}\n}", []string{"2:31: invalid JSON: invalid character '}' in literal true (expecting 'e')"}},
		{"trailing garbage", `{} {}`, []string{"1:4: invalid JSON: invalid character '{' after top-level value"}},
		{
			"rules",
			"{\n\t\"auto_heal\": {\"max_attempts\": -1, \"mode\": \"fast\", \"allowed_drift_types\": [\"nope\"]},\n\t\"schedule\": {\"interval\": \"5 minutes\"},\n\t\"confirmation\": {\"observations\": 1.5},\n\t\"content\": {\"max_staleness\": 300}\n}",
			[]string{
				"2:32: auto_heal.max_attempts: must be >= 0",
				"2:44: auto_heal.mode: unknown value \"fast\" (want enforce or dry_run)",
				"2:76: auto_heal.allowed_drift_types[0]: unknown value \"nope\" (want provider_missing, provider_changed, webhook_broken, integration_mismatch, resource_unhealthy, resource_missing, content_stale, config_pending, provider_unauthorized, provider_unreachable or environment_divergence)",
				"3:27: schedule.interval: invalid duration \"5 minutes\" (want a number and a unit, one of ns, us, ms, s, m, h, d, w; for example 30s, 5m, 1h30m, 30d)",
				"4:35: confirmation.observations: expected an integer, got a number",
				"5:31: content.max_staleness: expected a duration such as 30s, 5m or 30d, got an integer",
			},
		},
		{
			"unknown and duplicate fields",
			`{"auto_heal": {"enabled": true, "enabled": false}, "spec": {}, "notifications": {"channels": [{"type": "email"}]}}`,
			[]string{
				"1:33: auto_heal: duplicate key \"enabled\"",
				"1:52: unknown field \"spec\" (known fields: schedule, confirmation, auto_heal, content, notifications, observability, events, predict, rollback)",
				"1:96: notifications.channels[0].addresses: is required for type email (a list of addresses)",
				"1:96: notifications.channels[0].smtp: is required for type email: the server to send through (host, port, username, password)",
			},
		},
		{
			"predict",
			`{"predict": {"enabled": "yes", "notify_lead": "3 days", "preempt": ["rebuild", "renew"]}}`,
			[]string{
				"1:25: predict.enabled: expected true or false, got a string",
				"1:47: predict.notify_lead: invalid duration \"3 days\" (want a number and a unit, one of ns, us, ms, s, m, h, d, w; for example 30s, 5m, 1h30m, 30d)",
				"1:80: predict.preempt[1]: unknown value \"renew\" (want reregister_subscription or rebuild)",
			},
		},
		{
			"secret syntax",
			`{"notifications": {"channels": [{"type": "pagerduty", "routing_key": "${KEY"}]}}`,
			[]string{"1:70: notifications.channels[0].routing_key: unterminated ${ (write $$ for a literal $)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec, err := DecodePolicyJSON([]byte(tt.body))
			require.Nil(t, spec)
			got := errorStrings(t, err)
			require.Equal(t, tt.want, got, strings.Join(got, "\n"))
		})
	}
}

func TestRetentionOf(t *testing.T) {
	t.Parallel()
	def := Retention{Events: 30 * 24 * time.Hour, History: 7 * 24 * time.Hour}
	for _, tc := range []struct {
		name string
		p    *PolicySpec
		want Retention
	}{
		{"no policy", nil, def},
		{"policy without retention", &PolicySpec{Observability: Observability{MetricsRetention: Duration(time.Hour)}}, def},
		{"events only", &PolicySpec{Events: EventsPolicy{Retention: Duration(48 * time.Hour)}}, Retention{Events: 48 * time.Hour, History: def.History}},
		{"history only", &PolicySpec{Observability: Observability{HistoryRetention: Duration(90 * 24 * time.Hour)}}, Retention{Events: def.Events, History: 90 * 24 * time.Hour}},
		{"both", &PolicySpec{Events: EventsPolicy{Retention: Duration(2 * time.Hour)}, Observability: Observability{HistoryRetention: Duration(3 * time.Hour)}}, Retention{Events: 2 * time.Hour, History: 3 * time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, RetentionOf(tc.p, def))
		})
	}
}
