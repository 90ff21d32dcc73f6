package policy_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/policy"
)

func TestPreempt(t *testing.T) {
	t.Parallel()
	both := config.Predict{Enabled: true, Preempt: []string{"reregister_subscription", "rebuild"}}
	expected := func(code drift.Code) drift.Drift {
		d := confirmed(code, "orders")
		d.Confirmed = false // Preempt confirms the drift a forecast expects
		return d
	}
	in := func(code drift.Code, p config.Predict, f func(*policy.PreemptInput)) policy.PreemptInput {
		x := policy.PreemptInput{Input: policy.Input{Drift: expected(code), Policy: enabled(), Now: now}, Predict: p}
		if f != nil {
			f(&x)
		}
		return x
	}
	cases := []struct {
		name     string
		in       policy.PreemptInput
		outcome  policy.Outcome
		reason   string
		action   string
		approval string
	}{
		{"webhook_broken re-registers the subscription", in(drift.WebhookBroken, both, nil), policy.Heal, "allowed by policy", "reregister_subscription", ""},
		{"content_stale rebuilds", in(drift.ContentStale, both, nil), policy.Heal, "allowed by policy", "rebuild", ""},
		{"predict disabled", in(drift.WebhookBroken, config.Predict{Preempt: both.Preempt}, nil), policy.AlertOnly, "predict disabled", "reregister_subscription", ""},
		{"not listed in preempt", in(drift.ContentStale, config.Predict{Enabled: true, Preempt: []string{"reregister_subscription"}}, nil),
			policy.AlertOnly, "rebuild not in predict.preempt", "rebuild", ""},
		{"a dated certificate forecast only notifies", in(drift.ResourceUnhealthy, both, nil), policy.AlertOnly, "no pre-emptive heal for resource_unhealthy", "", ""},
		{"an api version forecast only notifies", in(drift.IntegrationMismatch, both, nil), policy.AlertOnly, "no pre-emptive heal for integration_mismatch", "", ""},
		{"preempted already", in(drift.WebhookBroken, both, func(x *policy.PreemptInput) { x.Preempted = true }), policy.Suppressed, "preempted already", "reregister_subscription", ""},
		{"auto_heal off", in(drift.WebhookBroken, both, func(x *policy.PreemptInput) { x.Policy.Enabled = false }), policy.AlertOnly, "auto_heal disabled", "reregister_subscription", ""},
		{"code not allowed", in(drift.ContentStale, both, func(x *policy.PreemptInput) { x.Policy.AllowedDriftTypes = []string{"webhook_broken"} }),
			policy.AlertOnly, "content_stale not in allowed_drift_types", "rebuild", ""},
		{"attempts used up, no escalation", in(drift.WebhookBroken, both, func(x *policy.PreemptInput) { x.History.Attempts = 3 }),
			policy.Suppressed, "heal_exhausted: 3 of 3 attempts used", "reregister_subscription", ""},
		{"breaker open", in(drift.WebhookBroken, both, func(x *policy.PreemptInput) { x.History.BreakerOpen = true }), policy.Suppressed, policy.ReasonBreakerOpen, "reregister_subscription", ""},
		{"a heal in flight", in(drift.WebhookBroken, both, func(x *policy.PreemptInput) { x.History.InFlight = true }), policy.Suppressed, policy.ReasonInFlight, "reregister_subscription", ""},
		{"backoff after a failed attempt", in(drift.WebhookBroken, both, func(x *policy.PreemptInput) {
			x.History.Attempts, x.History.LastAttempt = 1, now.Add(-time.Second)
		}), policy.Suppressed, policy.ReasonBackoff, "reregister_subscription", ""},
		{"preempt needs approval", in(drift.ContentStale, both, func(x *policy.PreemptInput) { x.Policy.RequireApproval = []string{"preempt"} }),
			policy.NeedsApproval, "preempt requires approval", "rebuild", "preempt"},
		{"approved", in(drift.ContentStale, both, func(x *policy.PreemptInput) {
			x.Policy.RequireApproval, x.History.Approved = []string{"preempt"}, true
		}), policy.Heal, "allowed by policy", "rebuild", ""},
		{"dry run", in(drift.ContentStale, both, func(x *policy.PreemptInput) { x.Policy.Mode = "dry_run" }), policy.Heal, "allowed by policy", "rebuild", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := policy.Preempt(tc.in)
			require.Equal(t, tc.outcome, d.Outcome, d.Reason)
			require.Contains(t, d.Reason, tc.reason)
			require.Equal(t, tc.action, d.Action)
			require.Equal(t, tc.approval, d.ApprovalClass)
			require.Empty(t, d.Escalate, "a forecast is never escalated")
			if d.Outcome == policy.Heal {
				require.Equal(t, 1, d.Attempt)
				require.Equal(t, tc.in.Policy.Mode == "dry_run", d.DryRun)
			}
		})
	}
}
