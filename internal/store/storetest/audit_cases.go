package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

// requireChain checks a whole log, oldest first: Seq increases, each
// PrevHash is the previous Hash (the first is ""), and every Hash is
// store.ChainHash of the entry as listed.
func requireChain(t *testing.T, entries []store.AuditEntry) {
	t.Helper()
	prev := ""
	for i, e := range entries {
		if i > 0 {
			require.Greater(t, e.Seq, entries[i-1].Seq, "entry %d: Seq increases", i)
		}
		require.Equal(t, prev, e.PrevHash, "entry %d (seq %d): PrevHash links to the previous entry", i, e.Seq)
		require.Equal(t, store.ChainHash(e), e.Hash, "entry %d (seq %d): Hash covers the entry as stored", i, e.Seq)
		prev = e.Hash
	}
}

func testAuditChain(ctx context.Context, t *testing.T, s store.Store) {
	in := []store.AuditEntry{
		{Timestamp: at(0), Action: "apply", ClientID: "acme", TriggeredBy: "cli:alice", Success: true,
			ChangesMade: json.RawMessage(`{"b": 1,  "a":[ 2 ], "z": null}`)},
		{Timestamp: at(time.Second), Action: "approve", ClientID: "acme", StackID: "shop", TriggeredBy: "api:bob",
			Success: true, ApprovalRequired: true, Approver: "bob", DriftID: "d1"},
		{Timestamp: at(2 * time.Second), Action: "apply", ClientID: "globex", TriggeredBy: "cli:carol",
			ChangesMade: json.RawMessage(`[]`)},
	}
	require.NoError(t, s.AppendAudit(ctx, in))
	for i, e := range in {
		require.Positive(t, e.Seq, "AppendAudit fills Seq")
		require.NotEmpty(t, e.Hash, "AppendAudit fills Hash")
		if i == 0 {
			require.Empty(t, e.PrevHash, "the first entry has no previous hash")
		} else {
			require.Equal(t, in[i-1].Hash, e.PrevHash)
		}
	}

	// Entries of a pass join the same chain.
	state := newStack(ctx, t, s, "acme", "shop")
	commit(ctx, t, s, &state, store.Pass{
		Result: result("r1", "acme", "shop", at(time.Minute)),
		Audit: []store.AuditEntry{
			{Timestamp: at(time.Minute), Action: "auto_heal", ClientID: "acme", StackID: "shop", TriggeredBy: "reconciler",
				Success: true, ReconciliationID: "r1", ChangesMade: json.RawMessage("{\n  \"rebuild\": true\n}")},
		},
	})
	require.NoError(t, s.AppendAudit(ctx, []store.AuditEntry{{Timestamp: at(2 * time.Minute), Action: "ack", ClientID: "acme"}}))

	all := allAudit(ctx, t, s, store.AuditQuery{})
	require.Len(t, all, 5)
	requireChain(t, all)
	for i, e := range in {
		want := e
		want.Timestamp = store.Truncate(e.Timestamp)
		require.Equal(t, want, all[i])
		require.Equal(t, string(e.ChangesMade), string(all[i].ChangesMade), "changes_made bytes are kept")
	}
	require.Equal(t, "{\n  \"rebuild\": true\n}", string(all[3].ChangesMade))
	require.Equal(t, "r1", all[3].ReconciliationID)
	require.Empty(t, all[4].ChangesMade)

	for _, limit := range []int{1, 2, 4, 5, 6} {
		require.Equal(t, all, allAudit(ctx, t, s, store.AuditQuery{Limit: limit}), "limit %d", limit)
	}
	require.Equal(t, []store.AuditEntry{all[0], all[1], all[3], all[4]}, allAudit(ctx, t, s, store.AuditQuery{ClientID: "acme", Limit: 3}))
	require.Equal(t, []store.AuditEntry{all[0], all[2]}, allAudit(ctx, t, s, store.AuditQuery{Action: "apply", Limit: 1}))
	require.Equal(t, []store.AuditEntry{all[0]}, allAudit(ctx, t, s, store.AuditQuery{ClientID: "acme", Action: "apply"}))
	require.Empty(t, allAudit(ctx, t, s, store.AuditQuery{ClientID: "initech"}))

	_, _, err := s.ListAudit(ctx, store.AuditQuery{Cursor: "!"})
	require.ErrorIs(t, err, store.ErrInvalidCursor)
}

func testAuditConcurrent(ctx context.Context, t *testing.T, s store.Store) {
	const writers, batches = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*batches)
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				errs <- s.AppendAudit(ctx, []store.AuditEntry{
					{Timestamp: at(time.Duration(b) * time.Second), Action: "a", ClientID: fmt.Sprintf("c%d", w)},
					{Timestamp: at(time.Duration(b) * time.Second), Action: "b", ClientID: fmt.Sprintf("c%d", w),
						ChangesMade: json.RawMessage(fmt.Sprintf(`{"batch": %d}`, b))},
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	all := allAudit(ctx, t, s, store.AuditQuery{Limit: 7})
	require.Len(t, all, writers*batches*2)
	requireChain(t, all)
	// A batch is appended whole: its two entries are adjacent.
	for i := 0; i < len(all); i += 2 {
		require.Equal(t, "a", all[i].Action)
		require.Equal(t, "b", all[i+1].Action)
		require.Equal(t, all[i].ClientID, all[i+1].ClientID)
	}
}

func testAuditInvalidChanges(ctx context.Context, t *testing.T, s store.Store) {
	require.NoError(t, s.AppendAudit(ctx, []store.AuditEntry{{Timestamp: at(0), Action: "ok"}}))
	err := s.AppendAudit(ctx, []store.AuditEntry{
		{Timestamp: at(0), Action: "fine"},
		{Timestamp: at(0), Action: "broken", ChangesMade: json.RawMessage(`{"unterminated": `)},
	})
	require.Error(t, err)
	all := allAudit(ctx, t, s, store.AuditQuery{})
	require.Len(t, all, 1, "a batch with an invalid entry appends nothing")
	requireChain(t, all)
}

// testAuditBrief: a brief listing (AuditQuery.Brief) holds the entries a
// full one holds, in the same pages and with the same filters, each with
// only Seq, Timestamp, Action, ClientID, StackID, DriftID,
// ApprovalRequired and ChangesMade.
func testAuditBrief(ctx context.Context, t *testing.T, s store.Store) {
	require.NoError(t, s.AppendAudit(ctx, []store.AuditEntry{
		{Timestamp: at(0), Action: "drift_detected", ClientID: "acme", StackID: "shop", TriggeredBy: "reconciler:schedule",
			Success: true, ReconciliationID: "r1", DriftID: "d1", ChangesMade: json.RawMessage(`{"first_seen": "2025-01-01T00:00:00Z"}`)},
		{Timestamp: at(time.Second), Action: "heal_succeeded", ClientID: "acme", StackID: "shop", TriggeredBy: "approval:a1 by bob",
			Success: true, ApprovalRequired: true, Approver: "bob", DriftID: "d1"},
		{Timestamp: at(2 * time.Second), Action: "policy_changed", ClientID: "globex", TriggeredBy: "cli:carol"},
		{Timestamp: at(3 * time.Second), Action: "drift_resolved", ClientID: "acme", StackID: "shop", DriftID: "d1"},
	}))
	for _, q := range []store.AuditQuery{
		{}, {Limit: 1}, {Limit: 3}, {ClientID: "acme", Limit: 2}, {Until: at(3 * time.Second)}, {Since: at(time.Second), Action: "heal_succeeded"},
	} {
		full := allAudit(ctx, t, s, q)
		q.Brief = true
		brief := allAudit(ctx, t, s, q)
		require.Len(t, brief, len(full), "%+v", q)
		for i, e := range full {
			want := store.AuditEntry{Seq: e.Seq, Timestamp: e.Timestamp, Action: e.Action, ClientID: e.ClientID, StackID: e.StackID,
				DriftID: e.DriftID, ApprovalRequired: e.ApprovalRequired, ChangesMade: e.ChangesMade}
			require.Equal(t, want, brief[i], "%+v: entry %d", q, i)
		}
	}
}
