package store

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
)

func TestCheckPassResult(t *testing.T) {
	t.Parallel()
	state := StateRecord{ClientID: "c1", StackID: "s1"}
	for _, tc := range []struct {
		name    string
		in      ReconciliationResult
		want    ReconciliationResult
		wantErr string
	}{
		{"defaults to the stack", ReconciliationResult{ReconciliationID: "r"},
			ReconciliationResult{ReconciliationID: "r", ClientID: "c1", StackID: "s1"}, ""},
		{"the stack's", ReconciliationResult{ReconciliationID: "r", ClientID: "c1", StackID: "s1", Trigger: "webhook"},
			ReconciliationResult{ReconciliationID: "r", ClientID: "c1", StackID: "s1", Trigger: "webhook"}, ""},
		{"no id", ReconciliationResult{ClientID: "c1", StackID: "s1"}, ReconciliationResult{}, "result has no reconciliation id"},
		{"other stack", ReconciliationResult{ReconciliationID: "r", ClientID: "c1", StackID: "s2"}, ReconciliationResult{}, "result is for c1/s2"},
		{"only the stack given", ReconciliationResult{ReconciliationID: "r", StackID: "s1"}, ReconciliationResult{}, "result is for /s1"},
	} {
		got, err := CheckPassResult(Pass{State: state, Result: tc.in})
		if tc.wantErr != "" {
			require.EqualError(t, err, tc.wantErr, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, got, tc.name)
	}
}

func TestCheckPassDrift(t *testing.T) {
	t.Parallel()
	p := Pass{State: StateRecord{ClientID: "c1", StackID: "s1"}}
	for _, tc := range []struct {
		name    string
		in      drift.Drift
		want    drift.Drift
		wantErr string
	}{
		{"defaults to the stack", drift.Drift{ID: "d"}, drift.Drift{ID: "d", ClientID: "c1", StackID: "s1"}, ""},
		{"the stack's", drift.Drift{ID: "d", ClientID: "c1", StackID: "s1", Component: "cms"},
			drift.Drift{ID: "d", ClientID: "c1", StackID: "s1", Component: "cms"}, ""},
		{"other client", drift.Drift{ID: "d", ClientID: "c2", StackID: "s1"}, drift.Drift{}, "drift d is for c2/s1"},
		{"no id", drift.Drift{Component: "cdn"}, drift.Drift{}, "drift of cdn has no id"},
		{"other stack before no id", drift.Drift{ClientID: "c1", StackID: "s9", Component: "cdn"}, drift.Drift{}, "drift  is for c1/s9"},
	} {
		got, err := CheckPassDrift(p, tc.in)
		if tc.wantErr != "" {
			require.EqualError(t, err, tc.wantErr, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, got, tc.name)
	}
}

func TestCheckAudit(t *testing.T) {
	t.Parallel()
	require.NoError(t, CheckAudit(nil))
	require.NoError(t, CheckAudit([]AuditEntry{{Action: "a"}, {Action: "b", ChangesMade: json.RawMessage(`{"x":1}`)}}))
	require.EqualError(t, CheckAudit([]AuditEntry{{Action: "ok"}, {Action: "bad", ChangesMade: json.RawMessage(`{x}`)}}),
		"audit bad: changes_made is not valid JSON")
}

func TestChainAudit(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 999, time.UTC)
	given := time.Date(2026, 2, 1, 8, 0, 0, 123456789, time.FixedZone("X", 3600))
	in := []AuditEntry{
		{Action: "a", ChangesMade: json.RawMessage{}},
		{Action: "b", Timestamp: given, ChangesMade: json.RawMessage(`{"k":"v"}`)},
		{Action: "c", Seq: 99, PrevHash: "ignored", Hash: "ignored"},
	}
	out := ChainAudit(in, 41, "head-hash", now)
	require.Len(t, out, 3)
	require.Equal(t, AuditEntry{Action: "a", ChangesMade: json.RawMessage{}}, in[0], "the input is not changed")

	prev := "head-hash"
	for i, e := range out {
		require.Equal(t, int64(42+i), e.Seq)
		require.Equal(t, prev, e.PrevHash, "entry %d links to the one before", i)
		require.Equal(t, ChainHash(e), e.Hash)
		require.NotEqual(t, prev, e.Hash)
		prev = e.Hash
	}
	require.Equal(t, Truncate(now), out[0].Timestamp, "a zero timestamp is now, truncated")
	require.Equal(t, Truncate(given), out[1].Timestamp)
	require.Equal(t, time.UTC, out[1].Timestamp.Location())
	require.Nil(t, out[0].ChangesMade, "empty changes are nil")
	require.JSONEq(t, `{"k":"v"}`, string(out[1].ChangesMade))

	// The same entries after another head chain differently.
	other := ChainAudit(in, 0, "", now)
	require.Equal(t, int64(1), other[0].Seq)
	require.Empty(t, other[0].PrevHash)
	require.NotEqual(t, out[0].Hash, other[0].Hash)
	require.Empty(t, ChainAudit(nil, 5, "h", now))
}
