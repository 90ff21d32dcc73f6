package reconcile

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/policy"
	"github.com/blackwellio/blackwell/internal/store"
)

func TestJudgeHeals(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	before, after := now.Add(-time.Second), now.Add(time.Second)
	open := []drift.Drift{{ID: "d-open"}, {ID: "d-acked", Acknowledged: true}, {ID: "d-unseen"}}
	for _, tc := range []struct {
		name    string
		a       store.HealAttempt
		judged  store.HealStatus // "": not judged
		busy    bool
		success int
	}{
		{"executed, drift cleared: succeeded", store.HealAttempt{ID: "h", DriftID: "d-gone", Status: store.HealExecuted, CompletedAt: &before}, store.HealSucceeded, false, 1},
		{"executed, drift persists: failed", store.HealAttempt{ID: "h", DriftID: "d-open", Status: store.HealExecuted, CompletedAt: &before}, store.HealFailed, false, 0},
		{"executed in this instant: judged by the next pass", store.HealAttempt{ID: "h", DriftID: "d-gone", Status: store.HealExecuted, CompletedAt: &after}, "", true, 0},
		{"pending, drift cleared: cancelled", store.HealAttempt{ID: "h", DriftID: "d-gone", Status: store.HealPending}, store.HealCancelled, false, 0},
		{"pending, drift acknowledged: cancelled", store.HealAttempt{ID: "h", DriftID: "d-acked", Status: store.HealPending}, store.HealCancelled, false, 0},
		{"pending, drift open: in flight", store.HealAttempt{ID: "h", DriftID: "d-open", Status: store.HealPending}, "", true, 0},
		{"running: in flight", store.HealAttempt{ID: "h", DriftID: "d-gone", Status: store.HealRunning}, "", true, 0},
		{"executed, drift not observed this pass: judged later", store.HealAttempt{ID: "h", DriftID: "d-unseen", Status: store.HealExecuted, CompletedAt: &before}, "", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			j := judgeHeals([]store.HealAttempt{tc.a}, open, map[string]bool{"d-unseen": true}, now, nil)
			require.Equal(t, tc.busy, j.busy)
			require.Equal(t, tc.success, j.success)
			if tc.judged == "" {
				require.Empty(t, j.judged)
				require.Empty(t, j.updates)
				return
			}
			require.Equal(t, map[string]store.HealStatus{"h": tc.judged}, j.judged)
			require.Len(t, j.updates, 1)
			require.Equal(t, tc.judged, j.updates[0].Status)
			if tc.judged == store.HealCancelled {
				require.Empty(t, j.verdicts, "a cancellation is no verdict")
				return
			}
			require.Len(t, j.verdicts, 1)
			require.Equal(t, tc.judged, j.verdicts[0].Status)
			require.Equal(t, &now, j.verdicts[0].VerifiedAt)
		})
	}
}

func TestHealHistory(t *testing.T) {
	t.Parallel()
	seen := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return seen.Add(d) }
	done := at(3 * time.Minute)
	for _, tc := range []struct {
		name     string
		attempts []store.HealAttempt
		judged   map[string]store.HealStatus
		want     policy.History
		dryRun   bool
	}{
		{"none", nil, nil, policy.History{}, false},
		{"an earlier occurrence's attempts do not count",
			[]store.HealAttempt{{ID: "a", Status: store.HealFailed, CreatedAt: at(-time.Minute)}}, nil, policy.History{}, false},
		{"failed and pending count; the last is the latest completion or creation",
			[]store.HealAttempt{
				{ID: "a", Status: store.HealFailed, CreatedAt: at(time.Minute), CompletedAt: &done},
				{ID: "b", Status: store.HealPending, CreatedAt: at(2 * time.Minute)},
			}, nil, policy.History{Attempts: 2, InFlight: true, LastAttempt: done}, false},
		{"cancelled costs no attempt",
			[]store.HealAttempt{{ID: "a", Status: store.HealCancelled, CreatedAt: at(time.Minute)}}, nil,
			policy.History{Cancelled: 1}, false},
		{"this pass's verdict overrides the stored status",
			[]store.HealAttempt{{ID: "a", Status: store.HealPending, CreatedAt: at(time.Minute)}},
			map[string]store.HealStatus{"a": store.HealCancelled}, policy.History{Cancelled: 1}, false},
		{"a dry run is remembered, not counted",
			[]store.HealAttempt{{ID: "a", Status: store.HealDryRun, CreatedAt: at(time.Minute)}}, nil, policy.History{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, dry := healHistory(tc.attempts, seen, tc.judged)
			require.Equal(t, tc.want, h)
			require.Equal(t, tc.dryRun, dry)
		})
	}
}

func TestConfirmedDriftsAndApprovalsOf(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	idx, since := confirmedDrifts([]drift.Drift{
		{ID: "a", Confirmed: true, FirstSeen: t0.Add(time.Hour)},
		{ID: "b", FirstSeen: t0},
		{ID: "c", Confirmed: true, FirstSeen: t0.Add(time.Minute)},
	})
	require.Equal(t, []int{0, 2}, idx)
	require.Equal(t, t0.Add(time.Minute), since, "the oldest confirmed, not the oldest open")

	aps := []store.Approval{
		{ID: "1", DriftID: "a", Status: store.ApprovalApproved},
		{ID: "2", DriftID: "b", Status: store.ApprovalPending},
		{ID: "3", DriftID: "a", Status: store.ApprovalPending},
	}
	got := approvalsOf(aps, "a")
	require.Equal(t, "1", got.approved.ID)
	require.Equal(t, "3", got.pending.ID)
	require.Equal(t, driftApprovals{}, approvalsOf(aps, "z"))
}
