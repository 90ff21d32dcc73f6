package store

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
)

func healPass() Pass {
	return Pass{
		State:  StateRecord{ClientID: "c1", StackID: "s1"},
		Result: ReconciliationResult{ReconciliationID: "rec-1"},
	}
}

func TestCheckHeal(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	created := now.Add(-time.Hour)
	notBefore := now.Add(time.Minute)
	for _, tc := range []struct {
		name    string
		in      HealAttempt
		want    HealAttempt
		wantErr string
	}{
		{
			name: "defaults",
			in:   HealAttempt{ID: "d1/1", DriftID: "d1"},
			want: HealAttempt{ID: "d1/1", DriftID: "d1", ClientID: "c1", StackID: "s1", Status: HealPending,
				CreatedAt: now, NotBefore: now, ReconciliationID: "rec-1"},
		},
		{
			name: "given values stay",
			in: HealAttempt{ID: "d1/2", DriftID: "d1", ClientID: "c1", StackID: "s1", Status: HealDryRun,
				CreatedAt: created, NotBefore: notBefore, ReconciliationID: "rec-0", Drift: json.RawMessage(`{"a":1}`)},
			want: HealAttempt{ID: "d1/2", DriftID: "d1", ClientID: "c1", StackID: "s1", Status: HealDryRun,
				CreatedAt: created, NotBefore: notBefore, ReconciliationID: "rec-0", Drift: json.RawMessage(`{"a":1}`)},
		},
		{
			name: "not before defaults to created",
			in:   HealAttempt{ID: "d1/3", DriftID: "d1", CreatedAt: created},
			want: HealAttempt{ID: "d1/3", DriftID: "d1", ClientID: "c1", StackID: "s1", Status: HealPending,
				CreatedAt: created, NotBefore: created, ReconciliationID: "rec-1"},
		},
		{name: "no id", in: HealAttempt{DriftID: "d1"}, wantErr: `heal attempt "" of drift "d1": id and drift id are required`},
		{name: "no drift id", in: HealAttempt{ID: "x"}, wantErr: `heal attempt "x" of drift "": id and drift id are required`},
		{name: "other stack", in: HealAttempt{ID: "x", DriftID: "d", ClientID: "c1", StackID: "s2"}, wantErr: "heal attempt x is for c1/s2"},
		{name: "only client given", in: HealAttempt{ID: "x", DriftID: "d", ClientID: "c1"}, wantErr: "heal attempt x is for c1/"},
		{name: "bad drift detail", in: HealAttempt{ID: "x", DriftID: "d", Drift: json.RawMessage(`{`)}, wantErr: "heal attempt x: drift_detail is not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := CheckHeal(tc.in, healPass(), now)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestCheckApproval(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	created := now.Add(-time.Hour)
	for _, tc := range []struct {
		name    string
		in      Approval
		want    Approval
		wantErr string
	}{
		{
			name: "defaults",
			in:   Approval{ID: "a1", DriftID: "d1"},
			want: Approval{ID: "a1", DriftID: "d1", ClientID: "c1", StackID: "s1", Status: ApprovalPending,
				CreatedAt: now, ReconciliationID: "rec-1"},
		},
		{
			name: "given values stay",
			in: Approval{ID: "a1", DriftID: "d1", ClientID: "c1", StackID: "s1", Status: ApprovalApproved,
				CreatedAt: created, ReconciliationID: "rec-0", Diff: json.RawMessage(`[]`)},
			want: Approval{ID: "a1", DriftID: "d1", ClientID: "c1", StackID: "s1", Status: ApprovalApproved,
				CreatedAt: created, ReconciliationID: "rec-0", Diff: json.RawMessage(`[]`)},
		},
		{name: "no id", in: Approval{DriftID: "d1"}, wantErr: `approval "" of drift "d1": id and drift id are required`},
		{name: "no drift id", in: Approval{ID: "a"}, wantErr: `approval "a" of drift "": id and drift id are required`},
		{name: "other client", in: Approval{ID: "a", DriftID: "d", ClientID: "c2", StackID: "s1"}, wantErr: "approval a is for c2/s1"},
		{name: "bad diff", in: Approval{ID: "a", DriftID: "d", Diff: json.RawMessage(`nope`)}, wantErr: "approval a: diff is not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := CheckApproval(tc.in, healPass(), now)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestCheckHealUpdate(t *testing.T) {
	t.Parallel()
	from := []HealStatus{HealExecuted}
	for _, tc := range []struct {
		in HealUpdate
		ok bool
	}{
		{HealUpdate{ID: "h", Status: HealSucceeded, From: from}, true},
		{HealUpdate{Status: HealSucceeded, From: from}, false},
		{HealUpdate{ID: "h", From: from}, false},
		{HealUpdate{ID: "h", Status: HealCancelled}, false},
		{HealUpdate{ID: "h", Status: HealCancelled, From: []HealStatus{}}, false},
	} {
		err := CheckHealUpdate(tc.in)
		if tc.ok {
			require.NoError(t, err, "%+v", tc.in)
		} else {
			require.EqualError(t, err, `heal update "`+tc.in.ID+`": id, status and from statuses are required`, "%+v", tc.in)
		}
	}
}

func TestHealUpdateVerifiedAt(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for status, verified := range map[HealStatus]bool{
		HealSucceeded: true, HealFailed: true,
		HealCancelled: false, HealPending: false, HealExecuted: false,
	} {
		got := HealUpdate{ID: "h", Status: status, At: at}.VerifiedAt()
		if !verified {
			require.Nil(t, got, status)
			continue
		}
		require.NotNil(t, got, status)
		require.Equal(t, at, *got, status)
	}
}

func TestOpenDriftIDs(t *testing.T) {
	t.Parallel()
	resolved := time.Now()
	p := Pass{Drifts: []drift.Drift{{ID: "b"}, {ID: "gone", ResolvedAt: &resolved}, {ID: "a"}}}
	require.Equal(t, []string{"b", "a"}, OpenDriftIDs(p), "open ones, in order")
	require.Nil(t, OpenDriftIDs(Pass{}))
}

func TestCheckClaimAndFinishHeal(t *testing.T) {
	t.Parallel()
	require.NoError(t, CheckClaimHeals("w1", time.Second))
	require.EqualError(t, CheckClaimHeals("", time.Second), `claim heals: owner "" and a positive lease (1s) are required`)
	require.EqualError(t, CheckClaimHeals("w1", 0), `claim heals: owner "w1" and a positive lease (0s) are required`)

	for _, st := range []HealStatus{HealExecuted, HealFailed, HealCancelled} {
		require.NoError(t, CheckFinishHeal(FinishHeal{ID: "h1", Status: st}))
	}
	for _, st := range []HealStatus{HealSucceeded, HealRunning, HealPending, ""} {
		require.EqualError(t, CheckFinishHeal(FinishHeal{ID: "h1", Status: st}), `finish heal h1: status "`+string(st)+`": want executed, failed or cancelled`)
	}
	require.ErrorContains(t, CheckFinishHeal(FinishHeal{ID: "h1", Status: HealFailed,
		Audit: []AuditEntry{{Action: "heal_failed", ChangesMade: []byte("{")}}}), "not valid JSON")
}

func TestSortHeals(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	hs := []HealAttempt{
		{ID: "b", CreatedAt: t0},
		{ID: "z", CreatedAt: t0.Add(-time.Second)},
		{ID: "a", CreatedAt: t0.In(time.FixedZone("X", 3600))}, // the same instant as b
		{ID: "c", CreatedAt: t0.Add(time.Second)},
	}
	SortHeals(hs)
	var ids []string
	for _, h := range hs {
		ids = append(ids, h.ID)
	}
	require.Equal(t, []string{"z", "a", "b", "c"}, ids)
}

func TestDecide(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 1500, time.FixedZone("X", 3600))
	stored := at.UTC().Truncate(time.Microsecond)
	pending := Approval{ID: "ap1", ClientID: "c1", StackID: "s1", DriftID: "d1", Action: "republish",
		Class: "data_deletion", Status: ApprovalPending, ExpiresAt: stored.Add(time.Minute)}

	for _, tc := range []struct {
		approve    bool
		wantStatus ApprovalStatus
		wantAction string
	}{
		{true, ApprovalApproved, "approval_granted"},
		{false, ApprovalRejected, "approval_rejected"},
	} {
		d, err := Decide(pending, tc.approve, "api:bob", "why", at)
		require.NoError(t, err)
		want := pending
		want.Status, want.DecidedAt, want.DecidedBy, want.Reason = tc.wantStatus, &stored, "api:bob", "why"
		require.Equal(t, want, d.Approval)
		require.Equal(t, AuditEntry{
			Timestamp: stored, Action: tc.wantAction, ClientID: "c1", StackID: "s1", TriggeredBy: "api:bob",
			Success: true, ApprovalRequired: true, Approver: "api:bob", DriftID: "d1",
			ChangesMade: json.RawMessage(`{"approval_class":"data_deletion","approval_id":"ap1","heal_action":"republish","reason":"why"}`),
		}, d.Audit)
	}

	for _, st := range []ApprovalStatus{ApprovalApproved, ApprovalRejected, ApprovalExpired, ApprovalExecuted} {
		a := pending
		a.Status = st
		_, err := Decide(a, true, "api:bob", "", at)
		require.ErrorIs(t, err, ErrConflict, st)
		require.EqualError(t, err, ErrConflict.Error()+": approval is "+string(st))
	}

	for _, expires := range []time.Time{stored, stored.Add(-time.Second), at.Add(-500 * time.Nanosecond)} {
		a := pending
		a.ExpiresAt = expires
		_, err := Decide(a, true, "api:bob", "", at)
		require.ErrorIs(t, err, ErrExpired, "expires %s, decided %s", expires, at)
	}
}
