package policy_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/policy"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) // a Wednesday

func confirmed(code drift.Code, component string) drift.Drift {
	cl, _ := drift.Classify(code)
	return drift.Drift{ID: "d1", Code: code, Type: cl.Type, Severity: cl.Severity, Component: component, Confirmed: true}
}

func enabled() config.AutoHeal {
	ah := config.DefaultPolicy().AutoHeal
	ah.Enabled = true
	ah.AllowedDriftTypes = []string{"provider_missing", "provider_changed", "webhook_broken", "integration_mismatch",
		"resource_unhealthy", "resource_missing", "content_stale", "config_pending"}
	ah.RequireApproval = []string{"cms_provider_change", "data_deletion", "resource_replacement"}
	return ah
}

func TestDecide(t *testing.T) {
	t.Parallel()
	withAH := func(f func(*config.AutoHeal)) config.AutoHeal { ah := enabled(); f(&ah); return ah }
	cases := []struct {
		name    string
		in      policy.Input
		outcome policy.Outcome
		reason  string // substring
		check   func(t *testing.T, d policy.Decision)
	}{
		{name: "heal allowed", in: policy.Input{Drift: confirmed(drift.WebhookBroken, "shop"), Policy: enabled()},
			outcome: policy.Heal, check: func(t *testing.T, d policy.Decision) {
				require.Equal(t, 1, d.Attempt)
				require.Equal(t, "d1/1", d.IdempotencyKey)
				require.Equal(t, "recreate_subscription", d.Action)
				require.False(t, d.DryRun)
			}},
		{name: "a returned drift's attempts have their own keys", in: policy.Input{Drift: func() drift.Drift {
			d := confirmed(drift.WebhookBroken, "shop")
			d.FirstSeen = time.UnixMicro(1764072000000001)
			return d
		}(), Policy: enabled()},
			outcome: policy.Heal, check: func(t *testing.T, d policy.Decision) { require.Equal(t, "d1@1764072000000001/1", d.IdempotencyKey) }},
		{name: "unconfirmed", in: policy.Input{Drift: func() drift.Drift { d := confirmed(drift.WebhookBroken, "s"); d.Confirmed = false; return d }(), Policy: enabled()},
			outcome: policy.Suppressed, reason: policy.ReasonUnconfirmed},
		{name: "auto_heal disabled", in: policy.Input{Drift: confirmed(drift.WebhookBroken, "s"), Policy: withAH(func(a *config.AutoHeal) { a.Enabled = false })},
			outcome: policy.AlertOnly, reason: "auto_heal disabled"},
		{name: "type not allowed", in: policy.Input{Drift: confirmed(drift.ContentStale, "post"), Policy: withAH(func(a *config.AutoHeal) { a.AllowedDriftTypes = []string{"webhook_broken"} })},
			outcome: policy.AlertOnly, reason: "content_stale not in allowed_drift_types"},
		{name: "provider_unauthorized is never healed, even when allowed", in: policy.Input{Drift: confirmed(drift.ProviderUnauthorized, "ecommerce"),
			Policy: withAH(func(a *config.AutoHeal) {
				a.AllowedDriftTypes = []string{"provider_unauthorized", "provider_unreachable"}
			})},
			outcome: policy.AlertOnly, reason: "no heal action for provider_unauthorized"},
		{name: "provider_unreachable is never healed, even when allowed", in: policy.Input{Drift: confirmed(drift.ProviderUnreachable, "cms"),
			Policy: withAH(func(a *config.AutoHeal) {
				a.AllowedDriftTypes = []string{"provider_unauthorized", "provider_unreachable"}
			})},
			outcome: policy.AlertOnly, reason: "no heal action for provider_unreachable"},
		{name: "empty allowed list allows nothing", in: policy.Input{Drift: confirmed(drift.WebhookBroken, "s"), Policy: withAH(func(a *config.AutoHeal) { a.AllowedDriftTypes = []string{} })},
			outcome: policy.AlertOnly},
		{name: "acknowledged", in: policy.Input{Drift: func() drift.Drift { d := confirmed(drift.WebhookBroken, "s"); d.Acknowledged = true; return d }(), Policy: enabled()},
			outcome: policy.Suppressed, reason: policy.ReasonAcknowledged},
		{name: "unobserved this pass", in: policy.Input{Drift: confirmed(drift.WebhookBroken, "s"), Policy: enabled(), Unobserved: true},
			outcome: policy.Suppressed, reason: policy.ReasonUnobserved},
		{name: "in flight", in: policy.Input{Drift: confirmed(drift.WebhookBroken, "s"), Policy: enabled(), History: policy.History{InFlight: true, Attempts: 1}},
			outcome: policy.Suppressed, reason: policy.ReasonInFlight},
		{name: "exhausted escalates", in: policy.Input{Drift: confirmed(drift.WebhookBroken, "s"), Policy: enabled(), History: policy.History{Attempts: 3, LastAttempt: now.Add(-time.Hour)}},
			outcome: policy.Suppressed, reason: "heal_exhausted: 3 of 3 attempts used", check: func(t *testing.T, d policy.Decision) {
				require.Equal(t, drift.SeverityCritical, d.Escalate, "high escalates to critical")
			}},
		{name: "exhausted medium escalates to high", in: policy.Input{Drift: confirmed(drift.IntegrationMismatch, "s"), Policy: withAH(func(a *config.AutoHeal) { a.MaxAttempts = 1 }), History: policy.History{Attempts: 1}},
			outcome: policy.Suppressed, reason: policy.ReasonExhausted, check: func(t *testing.T, d policy.Decision) { require.Equal(t, drift.SeverityHigh, d.Escalate) }},
		{name: "max_attempts 0 is unlimited", in: policy.Input{Drift: confirmed(drift.WebhookBroken, "s"), Policy: withAH(func(a *config.AutoHeal) { a.MaxAttempts = 0 }), History: policy.History{Attempts: 50, LastAttempt: now.Add(-24 * time.Hour)}, Now: now},
			outcome: policy.Heal, check: func(t *testing.T, d policy.Decision) { require.Equal(t, 51, d.Attempt) }},
		{name: "breaker open", in: policy.Input{Drift: confirmed(drift.WebhookBroken, "s"), Policy: enabled(), History: policy.History{BreakerOpen: true}},
			outcome: policy.Suppressed, reason: policy.ReasonBreakerOpen},
		{name: "exponential backoff pending", in: policy.Input{Drift: confirmed(drift.WebhookBroken, "s"), Policy: enabled(), History: policy.History{Attempts: 2, LastAttempt: now.Add(-15 * time.Second)}, Now: now},
			outcome: policy.Suppressed, reason: policy.ReasonBackoff, check: func(t *testing.T, d policy.Decision) {
				require.Equal(t, now.Add(5*time.Second), d.NotBefore, "2nd attempt waits base×2 = 20s")
			}},
		{name: "exponential backoff over", in: policy.Input{Drift: confirmed(drift.WebhookBroken, "s"), Policy: enabled(), History: policy.History{Attempts: 2, LastAttempt: now.Add(-20 * time.Second)}, Now: now},
			outcome: policy.Heal, check: func(t *testing.T, d policy.Decision) { require.Equal(t, "d1/3", d.IdempotencyKey) }},
		{name: "cancelled attempts cost no budget but keep their keys", in: policy.Input{Drift: confirmed(drift.WebhookBroken, "s"), Policy: enabled(), History: policy.History{Attempts: 1, Cancelled: 2, LastAttempt: now.Add(-time.Hour)}, Now: now},
			outcome: policy.Heal, check: func(t *testing.T, d policy.Decision) {
				require.Equal(t, 2, d.Attempt)
				require.Equal(t, "d1/4", d.IdempotencyKey)
			}},
		{name: "linear backoff pending", in: policy.Input{Drift: confirmed(drift.WebhookBroken, "s"), Policy: withAH(func(a *config.AutoHeal) { a.BackoffStrategy = "linear"; a.MaxAttempts = 5 }),
			History: policy.History{Attempts: 3, LastAttempt: now.Add(-29 * time.Second)}, Now: now},
			outcome: policy.Suppressed, reason: policy.ReasonBackoff, check: func(t *testing.T, d policy.Decision) { require.Equal(t, now.Add(time.Second), d.NotBefore) }},
		{name: "approval class listed", in: policy.Input{Drift: confirmed(drift.ProviderChanged, "cms"), Policy: enabled(), Environment: "dev"},
			outcome: policy.NeedsApproval, check: func(t *testing.T, d policy.Decision) { require.Equal(t, "cms_provider_change", d.ApprovalClass) }},
		{name: "provider change of another role in dev heals", in: policy.Input{Drift: confirmed(drift.ProviderChanged, "ecommerce"), Policy: enabled(), Environment: "dev"},
			outcome: policy.Heal},
		{name: "provider change of any role in prod needs approval", in: policy.Input{Drift: confirmed(drift.ProviderChanged, "ecommerce"), Policy: enabled(), Environment: "prod"},
			outcome: policy.NeedsApproval, check: func(t *testing.T, d policy.Decision) { require.Equal(t, "ecommerce_provider_change", d.ApprovalClass) }},
		{name: "resource replacement needs approval", in: policy.Input{Drift: confirmed(drift.ResourceMissing, "site"), Policy: enabled(), Environment: "dev"},
			outcome: policy.NeedsApproval, check: func(t *testing.T, d policy.Decision) { require.Equal(t, "resource_replacement", d.ApprovalClass) }},
		{name: "replacement unlisted in dev heals", in: policy.Input{Drift: confirmed(drift.ResourceMissing, "site"), Policy: withAH(func(a *config.AutoHeal) { a.RequireApproval = []string{} }), Environment: "dev"},
			outcome: policy.Heal},
		{name: "replacement unlisted in prod still needs approval", in: policy.Input{Drift: confirmed(drift.ResourceMissing, "site"), Policy: withAH(func(a *config.AutoHeal) { a.RequireApproval = []string{} }), Environment: "prod"},
			outcome: policy.NeedsApproval},
		{name: "approved heal runs", in: policy.Input{Drift: confirmed(drift.ProviderChanged, "cms"), Policy: enabled(), Environment: "prod", History: policy.History{Approved: true}},
			outcome: policy.Heal},
		{name: "flapping needs approval", in: policy.Input{Drift: confirmed(drift.ResourceUnhealthy, "site"), Policy: enabled(), History: policy.History{Returns: 4}},
			outcome: policy.NeedsApproval, reason: "flapping: returned 4 times within 1h0m0s"},
		{name: "at the flapping threshold still heals", in: policy.Input{Drift: confirmed(drift.ResourceUnhealthy, "site"), Policy: enabled(), History: policy.History{Returns: 3}},
			outcome: policy.Heal},
		{name: "flapping off", in: policy.Input{Drift: confirmed(drift.ResourceUnhealthy, "site"), Policy: withAH(func(a *config.AutoHeal) { a.Flapping.Threshold = 0 }), History: policy.History{Returns: 40}},
			outcome: policy.Heal},
		{name: "dry run", in: policy.Input{Drift: confirmed(drift.ResourceUnhealthy, "site"), Policy: withAH(func(a *config.AutoHeal) { a.Mode = "dry_run" })},
			outcome: policy.Heal, check: func(t *testing.T, d policy.Decision) { require.True(t, d.DryRun) }},
		{name: "maintenance window", in: policy.Input{Drift: confirmed(drift.ResourceUnhealthy, "site"), Now: now,
			Policy: withAH(func(a *config.AutoHeal) {
				a.MaintenanceWindows = []config.MaintenanceWindow{{Days: []string{"wed"}, Start: "11:30", Duration: config.Duration(time.Hour)}}
			})},
			outcome: policy.Suppressed, reason: policy.ReasonMaintenance, check: func(t *testing.T, d policy.Decision) { require.Equal(t, now.Add(30*time.Minute), d.NotBefore) }},
		{name: "window past midnight", in: policy.Input{Drift: confirmed(drift.ResourceUnhealthy, "site"), Now: now,
			Policy: withAH(func(a *config.AutoHeal) {
				a.MaintenanceWindows = []config.MaintenanceWindow{{Days: []string{"tue"}, Start: "20:00", Duration: config.Duration(17 * time.Hour)}}
			})},
			outcome: policy.Suppressed, reason: policy.ReasonMaintenance},
		{name: "window in another timezone", in: policy.Input{Drift: confirmed(drift.ResourceUnhealthy, "site"), Now: now,
			Location: time.FixedZone("UTC+10", 10*3600), // 22:00 there
			Policy: withAH(func(a *config.AutoHeal) {
				a.MaintenanceWindows = []config.MaintenanceWindow{{Days: []string{"wed"}, Start: "11:30", Duration: config.Duration(time.Hour)}}
			})},
			outcome: policy.Heal},
		{name: "outside the window", in: policy.Input{Drift: confirmed(drift.ResourceUnhealthy, "site"), Now: now,
			Policy: withAH(func(a *config.AutoHeal) {
				a.MaintenanceWindows = []config.MaintenanceWindow{{Days: []string{"thu", "sat"}, Start: "11:30", Duration: config.Duration(time.Hour)}}
			})},
			outcome: policy.Heal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := policy.Decide(tc.in)
			require.Equal(t, tc.outcome, got.Outcome, "reason: %s", got.Reason)
			require.Contains(t, got.Reason, tc.reason)
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	exp := config.AutoHeal{BackoffStrategy: "exponential", BackoffBase: config.Duration(10 * time.Second), BackoffCap: config.Duration(time.Minute)}
	lin := config.AutoHeal{BackoffStrategy: "linear", BackoffBase: config.Duration(10 * time.Second), BackoffCap: config.Duration(25 * time.Second)}
	for _, tc := range []struct {
		ah       config.AutoHeal
		attempts int
		want     time.Duration
	}{
		{exp, 0, 0}, {exp, 1, 10 * time.Second}, {exp, 2, 20 * time.Second}, {exp, 3, 40 * time.Second},
		{exp, 4, time.Minute}, {exp, 100, time.Minute},
		{lin, 1, 10 * time.Second}, {lin, 2, 20 * time.Second}, {lin, 3, 25 * time.Second},
		{config.AutoHeal{BackoffStrategy: "exponential"}, 64, time.Duration(1<<63 - 1)},
	} {
		require.Equal(t, tc.want, policy.Backoff(tc.ah, tc.attempts), "%s after %d", tc.ah.BackoffStrategy, tc.attempts)
	}
}
