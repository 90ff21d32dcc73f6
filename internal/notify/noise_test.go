package notify_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/notify"
)

var t0 = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)

// step is one event at t0+at and the kinds it must produce ("" for none;
// "suppressed" for a suppressed repeat).
type step struct {
	at    time.Duration
	ev    notify.Event
	want  []notify.Kind
	sev   drift.Severity // severity of the (single) message, when set
	quiet bool           // the outcome is a suppressed repeat
}

func observed(sev drift.Severity, failed int) notify.Event {
	return notify.Event{Type: notify.EventObserved, Drift: testDrift("d1", sev), FailedHeals: failed,
		AutoHealAttempted: failed > 0, ReconciliationID: "rec"}
}

func unconfirmed() notify.Event {
	d := testDrift("d1", drift.SeverityHigh)
	d.Confirmed = false
	return notify.Event{Type: notify.EventObserved, Drift: d}
}

func event(typ notify.EventType) notify.Event {
	return notify.Event{Type: typ, Drift: testDrift("d1", drift.SeverityHigh)}
}

func kinds(ms []notify.Message) []notify.Kind {
	var out []notify.Kind
	for _, m := range ms {
		out = append(out, m.Kind)
	}
	return out
}

func TestStep(t *testing.T) {
	t.Parallel()
	const (
		det = notify.KindDetected
		rem = notify.KindReminder
		esc = notify.KindEscalated
		res = notify.KindResolved
	)
	high := drift.SeverityHigh
	hourly := notify.NoisePolicy{ReminderInterval: time.Hour}
	for _, tc := range []struct {
		name   string
		policy notify.NoisePolicy
		steps  []step
	}{
		{"unconfirmed drift is not announced", hourly, []step{
			{at: 0, ev: unconfirmed()},
			{at: time.Minute, ev: unconfirmed()},
			{at: 2 * time.Minute, ev: observed(high, 0), want: []notify.Kind{det}},
		}},
		{"repeats are suppressed", hourly, []step{
			{at: 0, ev: observed(high, 0), want: []notify.Kind{det}},
			{at: time.Minute, ev: observed(high, 0), quiet: true},
			{at: 59 * time.Minute, ev: observed(high, 0), quiet: true},
		}},
		{"reminders on schedule", hourly, []step{
			{at: 0, ev: observed(high, 0), want: []notify.Kind{det}},
			{at: 30 * time.Minute, ev: event(notify.EventTick)},
			{at: time.Hour, ev: event(notify.EventTick), want: []notify.Kind{rem}},
			{at: time.Hour + time.Minute, ev: observed(high, 0), quiet: true},
			{at: 2*time.Hour - time.Second, ev: event(notify.EventTick)},
			{at: 2 * time.Hour, ev: observed(high, 0), want: []notify.Kind{rem}},
		}},
		{"no reminders when the interval is 0", notify.NoisePolicy{}, []step{
			{at: 0, ev: observed(high, 0), want: []notify.Kind{det}},
			{at: 100 * time.Hour, ev: event(notify.EventTick)},
		}},
		{"acknowledged drift gets no reminders", hourly, []step{
			{at: 0, ev: observed(high, 0), want: []notify.Kind{det}},
			{at: time.Minute, ev: event(notify.EventAcknowledged)},
			{at: 5 * time.Hour, ev: event(notify.EventTick)},
			{at: 5 * time.Hour, ev: observed(high, 0), quiet: true},
			{at: 6 * time.Hour, ev: event(notify.EventResolved), want: []notify.Kind{res}},
		}},
		{"acknowledged flag on the observation counts too", hourly, []step{
			{at: 0, ev: observed(high, 0), want: []notify.Kind{det}},
			{at: time.Minute, ev: func() notify.Event {
				e := observed(high, 0)
				e.Drift.Acknowledged = true
				return e
			}(), quiet: true},
			{at: 3 * time.Hour, ev: event(notify.EventTick)},
		}},
		{"one resolution", hourly, []step{
			{at: 0, ev: observed(high, 0), want: []notify.Kind{det}},
			{at: time.Minute, ev: event(notify.EventResolved), want: []notify.Kind{res}},
			{at: 2 * time.Minute, ev: event(notify.EventResolved)},
			{at: 3 * time.Hour, ev: event(notify.EventTick)},
		}},
		{"resolution of a drift never announced is silent", hourly, []step{
			{at: 0, ev: unconfirmed()},
			{at: time.Minute, ev: event(notify.EventResolved)},
		}},
		{"an observation with resolved_at resolves", hourly, []step{
			{at: 0, ev: observed(high, 0), want: []notify.Kind{det}},
			{at: time.Minute, ev: func() notify.Event {
				e := observed(high, 0)
				at := t0.Add(time.Minute)
				e.Drift.ResolvedAt = &at
				return e
			}(), want: []notify.Kind{res}},
		}},
		{"a drift that returns is a new episode", hourly, []step{
			{at: 0, ev: observed(high, 0), want: []notify.Kind{det}},
			{at: time.Minute, ev: event(notify.EventResolved), want: []notify.Kind{res}},
			{at: 2 * time.Minute, ev: observed(high, 0), want: []notify.Kind{det}},
		}},
		{"escalation after N failed heals, one step per N", notify.NoisePolicy{EscalateAfterFailedHeals: 3}, []step{
			{at: 0, ev: observed(drift.SeverityMedium, 0), want: []notify.Kind{det}, sev: drift.SeverityMedium},
			{at: time.Minute, ev: observed(drift.SeverityMedium, 1), quiet: true},
			{at: 2 * time.Minute, ev: observed(drift.SeverityMedium, 2), quiet: true},
			{at: 3 * time.Minute, ev: observed(drift.SeverityMedium, 3), want: []notify.Kind{esc}, sev: drift.SeverityHigh},
			{at: 4 * time.Minute, ev: observed(drift.SeverityMedium, 4), quiet: true},
			{at: 5 * time.Minute, ev: observed(drift.SeverityMedium, 6), want: []notify.Kind{esc}, sev: drift.SeverityCritical},
			{at: 6 * time.Minute, ev: observed(drift.SeverityMedium, 9), quiet: true},
			{at: 7 * time.Minute, ev: event(notify.EventResolved), want: []notify.Kind{res}, sev: drift.SeverityCritical},
		}},
		{"escalation after time T open", notify.NoisePolicy{EscalateAfter: time.Hour}, []step{
			{at: 0, ev: observed(drift.SeverityLow, 0), want: []notify.Kind{det}, sev: drift.SeverityLow},
			{at: 59 * time.Minute, ev: event(notify.EventTick)},
			{at: time.Hour, ev: event(notify.EventTick), want: []notify.Kind{esc}, sev: drift.SeverityMedium},
			{at: 90 * time.Minute, ev: event(notify.EventTick)},
			{at: 2 * time.Hour, ev: event(notify.EventTick), want: []notify.Kind{esc}, sev: drift.SeverityHigh},
		}},
		{"acknowledged drift is not escalated", notify.NoisePolicy{EscalateAfterFailedHeals: 1, EscalateAfter: time.Minute}, []step{
			{at: 0, ev: observed(high, 0), want: []notify.Kind{det}},
			{at: time.Second, ev: event(notify.EventAcknowledged)},
			{at: time.Hour, ev: observed(high, 5), quiet: true},
		}},
		{"critical drift has nowhere to escalate", notify.NoisePolicy{EscalateAfterFailedHeals: 1}, []step{
			{at: 0, ev: observed(drift.SeverityCritical, 0), want: []notify.Kind{det}},
			{at: time.Minute, ev: observed(drift.SeverityCritical, 5), quiet: true},
		}},
		{"a rising severity escalates at once", hourly, []step{
			{at: 0, ev: observed(drift.SeverityMedium, 0), want: []notify.Kind{det}, sev: drift.SeverityMedium},
			{at: time.Minute, ev: observed(drift.SeverityCritical, 0), want: []notify.Kind{esc}, sev: drift.SeverityCritical},
			{at: 2 * time.Minute, ev: observed(drift.SeverityCritical, 0), quiet: true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var st notify.DriftState
			for i, s := range tc.steps {
				var out notify.Outcome
				st, out = notify.Step(st, s.ev, t0.Add(s.at), tc.policy)
				require.Equal(t, s.want, kinds(out.Messages), "step %d", i)
				require.Equal(t, s.quiet, out.Suppressed, "step %d suppressed", i)
				if s.sev != "" {
					require.Equal(t, s.sev, out.Messages[0].Severity, "step %d severity", i)
				}
			}
		})
	}
}

func TestStepMessageFields(t *testing.T) {
	t.Parallel()
	p := notify.NoisePolicy{EscalateAfterFailedHeals: 2}
	var st notify.DriftState
	ev := observed(drift.SeverityHigh, 0)
	ev.Action = "Recreated the subscription; Shopify answered 422."
	st, out := notify.Step(st, ev, t0, p)
	require.Len(t, out.Messages, 1)
	m := out.Messages[0]
	require.Equal(t, notify.Message{
		ClientID: "acme-corp", StackID: "cms-ecom-prod", DriftType: drift.TypeIntegration,
		Expected: ev.Drift.Expected, Observed: nil, Severity: drift.SeverityHigh, Timestamp: t0,
		ReconciliationID: "rec", DriftID: "d1", Code: drift.WebhookBroken, Component: "shopify.products/update",
		Kind: notify.KindDetected, Sequence: 1, IdempotencyKey: "d1:detected:1",
		Action: "Recreated the subscription; Shopify answered 422.", DetectedAt: ev.Drift.DetectedAt,
	}, m)

	st, out = notify.Step(st, observed(drift.SeverityHigh, 2), t0.Add(time.Minute), p)
	require.Len(t, out.Messages, 1)
	e := out.Messages[0]
	require.Equal(t, notify.KindEscalated, e.Kind)
	require.Equal(t, drift.SeverityCritical, e.Severity)
	require.Equal(t, drift.SeverityHigh, e.EscalatedFrom)
	require.Equal(t, notify.ReasonFailedHeals, e.Reason)
	require.Equal(t, 2, e.FailedHeals)
	require.True(t, e.AutoHealAttempted)
	require.Equal(t, "d1:escalated:2", e.IdempotencyKey)

	// A resolution that names only the drift keeps what is known of it.
	_, out = notify.Step(st, notify.Event{Type: notify.EventResolved, Drift: drift.Drift{ID: "d1"}, ReconciliationID: "rec-9"},
		t0.Add(2*time.Minute), p)
	require.Equal(t, "d1:resolved:3", out.Messages[0].IdempotencyKey)
	require.Equal(t, "acme-corp", out.Messages[0].ClientID)
	require.Equal(t, drift.WebhookBroken, out.Messages[0].Code)
	require.Equal(t, "rec-9", out.Messages[0].ReconciliationID)
	require.Equal(t, drift.SeverityCritical, out.Messages[0].Severity, "resolved reaches the channels the escalation reached")
}

func TestTrackerThousandRepeatsOneMessage(t *testing.T) {
	t.Parallel()
	tr := notify.NewTracker(notify.NoisePolicy{ReminderInterval: 4 * time.Hour}, "https://blackwell.example")
	var msgs []notify.Message
	suppressed := 0
	for i := range 1000 {
		out := tr.Handle(t0.Add(time.Duration(i)*time.Second), observed(drift.SeverityHigh, 0))
		msgs = append(msgs, out.Messages...)
		if out.Suppressed {
			suppressed++
		}
	}
	require.Len(t, msgs, 1)
	require.Equal(t, notify.KindDetected, msgs[0].Kind)
	require.Equal(t, "https://blackwell.example/?client_id=acme-corp&drift_id=d1&stack_id=cms-ecom-prod", msgs[0].DashboardURL)
	require.Equal(t, 999, suppressed)

	out := tr.Handle(t0.Add(1000*time.Second), event(notify.EventResolved))
	require.Equal(t, []notify.Kind{notify.KindResolved}, kinds(out.Messages))
	out = tr.Handle(t0.Add(1001*time.Second), event(notify.EventResolved))
	require.Empty(t, out.Messages)
}

func TestTrackerTickRemindsOnSchedule(t *testing.T) {
	t.Parallel()
	tr := notify.NewTracker(notify.NoisePolicy{ReminderInterval: time.Hour}, "")
	for _, id := range []string{"d2", "d1"} {
		ev := observed(drift.SeverityHigh, 0)
		ev.Drift.ID = id
		require.Len(t, tr.Handle(t0, ev).Messages, 1)
	}
	var reminders []string
	for m := time.Duration(0); m <= 3*time.Hour; m += 10 * time.Minute {
		for _, msg := range tr.Tick(t0.Add(m)) {
			require.Equal(t, notify.KindReminder, msg.Kind)
			reminders = append(reminders, fmt.Sprintf("%s@%s", msg.DriftID, m))
		}
	}
	require.Equal(t, []string{"d1@1h0m0s", "d2@1h0m0s", "d1@2h0m0s", "d2@2h0m0s", "d1@3h0m0s", "d2@3h0m0s"}, reminders)

	// A restored tracker does not announce open drifts again.
	tr2 := notify.NewTracker(notify.NoisePolicy{ReminderInterval: time.Hour}, "")
	tr2.Restore(tr.Snapshot())
	out := tr2.Handle(t0.Add(3*time.Hour+time.Minute), observed(drift.SeverityHigh, 0))
	require.Empty(t, out.Messages)
	require.True(t, out.Suppressed)
}

func TestRateGateDigest(t *testing.T) {
	t.Parallel()
	g := notify.NewRateGate("ops-slack", rate.Every(time.Minute), 2, 10*time.Minute)
	admitted := 0
	for i := range 10 {
		m := testMessage(fmt.Sprintf("d%d", i), drift.SeverityMedium)
		if i == 7 {
			m.Severity = drift.SeverityHigh
		}
		if g.Admit(t0.Add(time.Duration(i)*time.Second), m) {
			admitted++
		}
	}
	require.Equal(t, 2, admitted, "the burst")
	require.Equal(t, 8, g.Held())

	resolved := testMessage("d0", drift.SeverityMedium)
	resolved.Kind = notify.KindResolved
	require.True(t, g.Admit(t0.Add(10*time.Second), resolved), "resolutions are never held")

	digests := g.Flush(t0.Add(20 * time.Second))
	require.Len(t, digests, 1)
	d := digests[0]
	require.Equal(t, notify.KindDigest, d.Kind)
	require.Equal(t, "acme-corp", d.ClientID)
	require.Equal(t, drift.SeverityHigh, d.Severity, "the highest held severity")
	require.Equal(t, 8, d.Digest.Held)
	require.Equal(t, map[notify.Kind]int{notify.KindDetected: 8}, d.Digest.ByKind)
	require.Len(t, d.Digest.Items, 8)
	require.Equal(t, "d2", d.Digest.Items[0].DriftID)
	require.Equal(t, t0.Add(2*time.Second), d.Digest.Since)
	require.Equal(t, t0.Add(9*time.Second), d.Digest.Until)
	require.Equal(t, 0, g.Held())
	require.True(t, g.Admit(t0.Add(20*time.Second), d), "digests are never held")

	// At most one digest per interval per client.
	require.False(t, g.Admit(t0.Add(30*time.Second), testMessage("x", drift.SeverityLow)))
	require.Empty(t, g.Flush(t0.Add(5*time.Minute)))
	later := g.Flush(t0.Add(11 * time.Minute))
	require.Len(t, later, 1)
	require.Equal(t, 1, later[0].Digest.Held)
	require.NotEqual(t, d.IdempotencyKey, later[0].IdempotencyKey)

	// Tokens come back with time.
	require.True(t, g.Admit(t0.Add(time.Hour), testMessage("y", drift.SeverityLow)))
}

func TestRateGateUnlimited(t *testing.T) {
	t.Parallel()
	g := notify.NewRateGate("bus", rate.Inf, 0, time.Minute)
	for i := range 1000 {
		require.True(t, g.Admit(t0, testMessage(fmt.Sprint(i), drift.SeverityLow)))
	}
	require.Empty(t, g.Flush(t0))
}
