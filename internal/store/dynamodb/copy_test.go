package dynamodb_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
	dyn "github.com/blackwellio/blackwell/internal/store/dynamodb"
	"github.com/blackwellio/blackwell/internal/store/postgres"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// TestRowsVersion: the codecs map the tables of the SQL drivers' latest
// schema; a migration of theirs must come with the codecs' update.
func TestRowsVersion(t *testing.T) {
	require.Equal(t, sqlite.LatestSchemaVersion(), dyn.RowsVersion)
	require.Equal(t, postgres.LatestSchemaVersion(), dyn.RowsVersion)
	v, err := store.RowsSchemaVersion(context.Background(), newTestStore(t))
	require.NoError(t, err)
	require.Equal(t, dyn.RowsVersion, v)
}

// byName builds a row of t from its values by column name.
func byName(t store.Table, m map[string]any) []any {
	row := make([]any, len(t.Columns))
	for i, c := range t.Columns {
		row[i] = m[c.Name]
	}
	return row
}

// TestImportExportRows: rows of the tables the conformance suite's copy
// leaves empty (healing, returns, snapshots, rollbacks, promotions, the
// audit checkpoint and signed heads) come back from ExportRows as they
// were imported, and the driver's readers find them through the items
// ImportRows derives (pointers, locks, the heal queue).
func TestImportExportRows(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	t0 := time.Date(2025, 11, 1, 10, 0, 0, 0, time.UTC)
	later := t0.Add(time.Hour)
	tables := map[string]store.Table{}
	for _, tb := range store.CopyTables() {
		tables[tb.Name] = tb
	}
	in := map[string][][]any{
		"audit": {byName(tables["audit"], map[string]any{"seq": int64(5), "timestamp": t0, "action": "apply", "client_id": "acme",
			"stack_id": "", "triggered_by": "cli", "success": true, "changes_made": `{"b": 1,  "a":[ 2 ]}`, "approval_required": false,
			"approver": "", "reconciliation_id": "", "drift_id": "", "prev_hash": "p4", "hash": "h5"})},
		"audit_checkpoint": {byName(tables["audit_checkpoint"], map[string]any{"one": true, "seq": int64(4), "hash": "p4", "count": int64(4),
			"created_at": t0, "key_id": "k", "signature": "sig"})},
		"audit_heads": {byName(tables["audit_heads"], map[string]any{"seq": int64(5), "key_id": "k", "hash": "h5", "signed_at": t0, "signature": "s5"})},
		"heals": {
			byName(tables["heals"], map[string]any{"id": "heal-1", "drift_id": "d1", "client_id": "acme", "stack_id": "shop", "code": "webhook_broken",
				"component": "shopify.webhook", "provider": "shopify", "action": "recreate_webhook", "attempt": int64(1), "status": "pending",
				"reconciliation_id": "r1", "approval_id": "", "triggered_by": "reconciler", "drift_detail": `{"id":"d1"}`, "not_before": t0,
				"owner": "", "lease_until": nil, "claims": int64(0), "created_at": t0, "started_at": nil, "completed_at": nil, "verified_at": nil,
				"detail": "", "error": ""}),
			byName(tables["heals"], map[string]any{"id": "heal-0", "drift_id": "d0", "client_id": "acme", "stack_id": "shop", "code": "webhook_broken",
				"component": "shopify.webhook", "provider": "", "action": "recreate_webhook", "attempt": int64(2), "status": "succeeded",
				"reconciliation_id": "r0", "approval_id": "ap1", "triggered_by": "reconciler", "drift_detail": nil, "not_before": t0,
				"owner": "w1", "lease_until": nil, "claims": int64(1), "created_at": t0.Add(-time.Hour), "started_at": t0, "completed_at": later,
				"verified_at": later, "detail": "done", "error": ""}),
		},
		"approvals": {
			byName(tables["approvals"], map[string]any{"id": "ap1", "client_id": "acme", "stack_id": "shop", "drift_id": "d0", "code": "webhook_broken",
				"component": "shopify.webhook", "action": "recreate_webhook", "approval_class": "cms_provider_change", "diff": `{"x":1}`,
				"triggered_by": "reconciler", "reconciliation_id": "r0", "status": "executed", "created_at": t0, "expires_at": later,
				"decided_at": t0, "decided_by": "bob", "reason": "ok", "heal_id": "heal-0"}),
			byName(tables["approvals"], map[string]any{"id": "ap2", "client_id": "acme", "stack_id": "shop", "drift_id": "d2", "code": "webhook_broken",
				"component": "shopify.webhook", "action": "recreate_webhook", "approval_class": "flapping", "diff": nil,
				"triggered_by": "reconciler", "reconciliation_id": "r2", "status": "pending", "created_at": t0, "expires_at": later,
				"decided_at": nil, "decided_by": "", "reason": "", "heal_id": ""}),
		},
		"drift_returns": {
			byName(tables["drift_returns"], map[string]any{"seq": int64(3), "client_id": "acme", "stack_id": "shop", "drift_id": "d1", "returned_at": t0}),
			byName(tables["drift_returns"], map[string]any{"seq": int64(7), "client_id": "acme", "stack_id": "shop", "drift_id": "d1", "returned_at": later}),
		},
		"pipelines": {byName(tables["pipelines"], map[string]any{"client_id": "acme", "app": "web", "document": `{"stages":[]}`, "updated_at": t0})},
		"promotions": {byName(tables["promotions"], map[string]any{"id": "pr1", "client_id": "acme", "app": "web", "to_stack": "shop",
			"status": "verifying", "unfinished": true, "created_at": t0, "revision": int64(3),
			"document": `{"id":"pr1","client_id":"acme","app":"web","from":"staging","to":"prod","from_stack":"shop-staging","to_stack":"shop","from_version":"v1.1.0","previous_version":"v1.0.0","status":"verifying","requested_by":"bob","created_at":"2025-11-01T10:00:00Z","updated_at":"2025-11-01T10:00:00Z","revision":3}`})},
		"snapshots": {byName(tables["snapshots"], map[string]any{"id": "snap-1", "client_id": "acme", "stack_id": "shop", "state_version": "v1.0.0",
			"desired_hash": "h1", "components": `{"subscriptions":[]}`, "reconciliation_id": "r1", "taken_at": t0, "confirmed_at": later})},
		"rollbacks": {byName(tables["rollbacks"], map[string]any{"id": "rb1", "client_id": "acme", "stack_id": "shop", "snapshot_id": "snap-1",
			"restored_version": "v1.0.0", "new_version": "v1.2.0", "hold": "v1.0.0", "triggered_by": "cli:bob", "status": "done",
			"steps": `[{"component":"build","outcome":"restored"}]`, "error": "", "started_at": t0, "updated_at": later})},
	}
	order := store.CopyTables()
	require.NoError(t, s.ImportRows(ctx, order, func(emit func(store.Table, []any) error) error {
		for _, tb := range order {
			for _, row := range in[tb.Name] {
				if err := emit(tb, row); err != nil {
					return err
				}
			}
		}
		return nil
	}))
	out := map[string][][]any{}
	require.NoError(t, s.ExportRows(ctx, order, func(tb store.Table, row []any) error {
		out[tb.Name] = append(out[tb.Name], row)
		return nil
	}))
	// Export orders by each table's Order.
	in["heals"][0], in["heals"][1] = in["heals"][1], in["heals"][0]
	require.Equal(t, in, out)

	// The readers find them.
	a, err := s.GetApproval(ctx, "ap2")
	require.NoError(t, err)
	require.Equal(t, store.ApprovalPending, a.Status)
	claimed, err := s.ClaimHeals(ctx, store.Claim{Owner: "w9", Now: later, Lease: time.Minute, Limit: 10})
	require.NoError(t, err)
	require.Len(t, claimed, 1, "the pending attempt is in the queue")
	require.Equal(t, "heal-1", claimed[0].ID)
	require.JSONEq(t, `{"id":"d1"}`, string(claimed[0].Drift))
	sn, err := s.GetSnapshot(ctx, "snap-1")
	require.NoError(t, err)
	require.Equal(t, "v1.0.0", sn.Version)
	pr, err := s.GetPromotion(ctx, "acme", "pr1")
	require.NoError(t, err)
	require.Equal(t, int64(3), pr.Revision)
	ret, err := s.DriftReturns(ctx, "acme", "shop", t0)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"d1": 2}, ret)
	cp, err := s.AuditCheckpoint(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(4), cp.Seq)
	head, err := s.AuditChainHead(ctx)
	require.NoError(t, err)
	require.Equal(t, store.AuditHead{Seq: 5, Hash: "h5"}, head)
	rbs, err := s.ListRollbacks(ctx, "acme", "shop", false)
	require.NoError(t, err)
	require.Len(t, rbs, 1)
	require.Equal(t, "restored", rbs[0].Steps[0].Outcome)

	// A store with rows refuses a second import, having written nothing.
	err = s.ImportRows(ctx, order, func(emit func(store.Table, []any) error) error { return nil })
	require.ErrorIs(t, err, store.ErrNotEmpty)
}

// TestImportRowsUndoesAFailedWrite: a write that fails part way has the
// items written before it deleted again: the store is left empty.
func TestImportRowsUndoesAFailedWrite(t *testing.T) {
	ctx := context.Background()
	base := newTestStore(t)
	boom := errors.New("injected: throttled for good")
	var n atomic.Int32
	s := reopen(t, base, func(api dyn.API) dyn.API {
		return &failingPuts{API: api, fail: func() error {
			if n.Add(1) == 20 {
				return boom
			}
			return nil
		}}
	})
	tables := store.CopyTables()
	var policies store.Table
	for _, tb := range tables {
		if tb.Name == "policies" {
			policies = tb
		}
	}
	err := s.ImportRows(ctx, tables, func(emit func(store.Table, []any) error) error {
		for i := range 40 {
			if err := emit(policies, []any{"acme", "s" + string(rune('a'+i)), `{}`, time.Unix(0, 0).UTC()}); err != nil {
				return err
			}
		}
		return nil
	})
	require.ErrorIs(t, err, boom)
	require.Contains(t, err.Error(), "deleted again")
	ps, err := base.ListPolicies(ctx, "acme")
	require.NoError(t, err)
	require.Empty(t, ps, "nothing is left of the import")
}

// failingPuts fails PutItem when fail says so.
type failingPuts struct {
	dyn.API
	fail func() error
}

func (f *failingPuts) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.API.PutItem(ctx, in, o...)
}

// TestImportIntoStoreWhoseEventsWereDeleted: a store whose events all
// expired holds no event but keeps their sequence counter and activity
// items at zero: it is empty for store copy, and the import writes over
// what it derives (the counter, the activity).
func TestImportIntoStoreWhoseEventsWereDeleted(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	old := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	_, err := s.InsertEvents(ctx, []store.Event{{EventID: "gone", ClientID: "acme", StackID: "shop", ProviderName: "shopify",
		EventType: "products/update", Timestamp: old, ReceivedAt: old, TTLTimestamp: old.Unix()}})
	require.NoError(t, err)
	n, err := s.DeleteExpiredEvents(ctx, time.Now(), 100)
	require.NoError(t, err)
	require.Equal(t, 1, n)

	tables := store.CopyTables()
	var events store.Table
	for _, tb := range tables {
		if tb.Name == "events" {
			events = tb
		}
	}
	require.NoError(t, s.ImportRows(ctx, tables, func(emit func(store.Table, []any) error) error {
		return emit(events, byName(events, map[string]any{"seq": int64(9), "event_id": "e9", "client_id": "acme", "stack_id": "shop",
			"provider_name": "shopify", "event_type": "products/update", "content_id": "", "content_type": "", "timestamp": old,
			"environment": "", "drift_checked": false, "payload": nil, "received_at": old, "ttl_timestamp": int64(0)}))
	}))
	rep, err := s.EventActivity(ctx, "acme", "shop", old.Add(-time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, rep.Unchecked)
	require.Len(t, rep.Activity, 1)
	require.Equal(t, 1, rep.Activity[0].Count, "the activity item counts the imported event only")
	ins, err := s.InsertEvents(ctx, []store.Event{{EventID: "e10", ClientID: "acme", StackID: "shop", Timestamp: old, ReceivedAt: old}})
	require.NoError(t, err)
	require.Equal(t, []bool{true}, ins)
	var seqs []int64
	require.NoError(t, s.ExportRows(ctx, []store.Table{events}, func(_ store.Table, row []any) error {
		seqs = append(seqs, row[0].(int64))
		return nil
	}))
	require.Equal(t, []int64{9, 10}, seqs, "the counter continues from the imported events")
}
