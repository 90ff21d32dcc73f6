package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/dynamodb"
	"github.com/blackwellio/blackwell/internal/store/dynamodb/dynalitetest"
	"github.com/blackwellio/blackwell/internal/store/postgres"
	"github.com/blackwellio/blackwell/internal/store/postgres/pgtest"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// seedMore writes, beside seedStore's rows, rows of the tables seedStore
// leaves empty: an acknowledged drift, a token, the organisation's policy,
// compliance, a pipeline, forecasts, a subscriber with states and
// deliveries, a channel set, data keys, a replica and shard leases.
func seedMore(ctx context.Context, t *testing.T, st store.Store) {
	t.Helper()
	t0 := time.Date(2025, 10, 10, 5, 0, 0, 0, time.UTC)
	ds, err := st.ListDrifts(ctx, store.DriftQuery{ClientID: "acme"})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	_, err = st.AcknowledgeDrift(ctx, store.Acknowledge{ClientID: "acme", DriftID: ds[0].ID, By: "alice", At: t0})
	require.NoError(t, err)
	require.NoError(t, st.CreateToken(ctx, store.Token{ID: "tok1", Name: "ci", Role: store.RoleOperator, SecretHash: "0123abcd",
		CreatedAt: t0, CreatedBy: "cli:seed"}, []store.AuditEntry{{Timestamp: t0, Action: "token_create", ClientID: "acme", TriggeredBy: "cli:seed"}}))
	require.NoError(t, st.PutOrganizationPolicy(ctx, store.OrganizationPolicyRecord{Name: "org", Document: json.RawMessage(`{"rules":[]}`), UpdatedAt: t0}))
	_, err = st.RecordCompliance(ctx, store.ComplianceWrite{ClientID: "acme", StackID: "shop", At: t0, Complete: true,
		Results: []store.ComplianceResult{{Rule: "tls", Mode: "enforce", Status: "fail", Message: "expires soon"}}})
	require.NoError(t, err)
	require.NoError(t, st.PutPipeline(ctx, store.PipelineRecord{ClientID: "acme", App: "web", Document: json.RawMessage(`{"stages":["shop"]}`), UpdatedAt: t0}))
	fc := forecast.Forecast{ID: "fc1", ClientID: "acme", StackID: "shop", Code: drift.ResourceUnhealthy, Component: "site.tls",
		ETA: t0.Add(72 * time.Hour), Confidence: 0.75, Class: forecast.ClassDated, RaisedAt: t0,
		Evidence: forecast.Evidence{Indicator: "cert_expiry", Detail: "expires in 3 days", Values: map[string]any{"days": float64(3)}}}
	_, err = st.WriteForecasts(ctx, store.ForecastWrite{Raise: []forecast.Forecast{fc}})
	require.NoError(t, err)
	require.NoError(t, st.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", Create: true, To: 2,
		States:     map[string]json.RawMessage{"acme/shop": json.RawMessage(`{"open":1}`)},
		Deliveries: []store.OutboxItem{{ID: "d1", Channel: "slack", Payload: json.RawMessage(`{"text":"drift"}`), CreatedAt: t0}}}))
	_, err = st.PutChannelSet(ctx, store.ChannelSet{Subscriber: "notify", Hash: "h", Names: []string{"slack"}, SetBy: "r1", SetAt: t0})
	require.NoError(t, err)
	require.NoError(t, st.PutDataKeys(ctx, []store.DataKey{{ID: "k1", KEKID: "kek", Wrapped: "d3JhcHBlZA==", CreatedAt: t0}}))
	_, err = st.Heartbeat(ctx, "r1", t0, time.Minute)
	require.NoError(t, err)
	_, err = st.ClaimShards(ctx, "r1", []int{0, 5}, t0, time.Minute)
	require.NoError(t, err)
}

// listings are what a store's readers answer (the listings store copy
// must keep, beside the rows' digests).
type listings struct {
	States  []store.StateRecord
	Results []store.ReconciliationResult
	Drifts  []drift.Drift
	Audit   []store.AuditEntry
	Events  []store.Event
	Content []store.ContentItem
	Heads   store.AuditHead
}

func readListings(ctx context.Context, t *testing.T, st store.Store) listings {
	t.Helper()
	var l listings
	var err error
	l.States, err = store.All(func(c store.Page) ([]store.StateRecord, store.Page, error) {
		return st.ListStates(ctx, "", string(c), 1)
	})
	require.NoError(t, err)
	l.Results, err = store.All(func(c store.Page) ([]store.ReconciliationResult, store.Page, error) {
		return st.ListReconciliations(ctx, "acme", "", string(c), 1)
	})
	require.NoError(t, err)
	l.Drifts, err = st.ListDrifts(ctx, store.DriftQuery{ClientID: "acme", IncludeResolved: true})
	require.NoError(t, err)
	l.Audit, err = store.All(func(c store.Page) ([]store.AuditEntry, store.Page, error) {
		return st.ListAudit(ctx, store.AuditQuery{Cursor: string(c), Limit: 2})
	})
	require.NoError(t, err)
	l.Events, err = store.All(func(c store.Page) ([]store.Event, store.Page, error) {
		return st.ListEvents(ctx, store.EventQuery{ClientID: "acme", Cursor: string(c), Limit: 2})
	})
	require.NoError(t, err)
	l.Content, err = store.All(func(c store.Page) ([]store.ContentItem, store.Page, error) {
		return st.ListContent(ctx, store.ContentQuery{ClientID: "acme", IncludeDeleted: true, Cursor: string(c), Limit: 2})
	})
	require.NoError(t, err)
	l.Heads, err = st.AuditChainHead(ctx)
	require.NoError(t, err)
	return l
}

// TestStoreCopyAcrossDrivers moves a populated installation SQLite ->
// DynamoDB -> PostgreSQL -> DynamoDB (new tables) -> SQLite with blackwell
// store copy (TestStoreCopySQLiteToPostgresAndBack has the other two
// directions): every table's
// rows and digest are equal at each step, the readers answer alike on all
// three, the audit chain verifies on each target, and the DynamoDB store
// goes on from where the source was.
func TestStoreCopyAcrossDrivers(t *testing.T) {
	pg := pgtest.SchemaURL(t)
	endpoint := dynalitetest.Endpoint(t)
	t.Setenv(dynamodb.ExperimentalEnv, "1")
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	dyn := "dynamodb://c" + hex.EncodeToString(b) + "-?region=us-east-1&endpoint=" + endpoint
	ctx := context.Background()
	dir := t.TempDir()
	first := filepath.Join(dir, "first.db")
	src, err := sqlite.Open(ctx, first)
	require.NoError(t, err)
	require.NoError(t, seedStore(ctx, src))
	seedMore(ctx, t, src)
	want, err := store.Digest(ctx, src)
	require.NoError(t, err)
	wantList := readListings(ctx, t, src)
	require.NoError(t, src.Close())
	for _, tc := range want {
		if tc.Table != "pass_hours" && tc.Table != "audit_checkpoint" && tc.Table != "audit_heads" &&
			tc.Table != "heals" && tc.Table != "approvals" && tc.Table != "drift_returns" && tc.Table != "snapshots" &&
			tc.Table != "rollbacks" && tc.Table != "promotions" {
			require.NotZero(t, tc.Rows, "the seed writes table %s", tc.Table)
		}
	}

	copyTo := func(from, to string) copyResult {
		t.Helper()
		out, errOut, code := runCLI(t, "store", "copy", "--from", from, "--to", to, "-o", "json")
		require.Equal(t, 0, code, errOut)
		var res copyResult
		require.NoError(t, json.Unmarshal([]byte(out), &res))
		require.Equal(t, want, res.Tables, "rows and digests as in the source")
		require.Equal(t, wantList.Heads.Seq, res.Audit.Entries, "the chain verifies on the target")
		return res
	}
	copyTo("sqlite://"+first, dyn)
	// Opened as the tests open it: dynalite lacks TransactWriteItems.
	cfg, err := dynamodb.ParseURL(dyn)
	require.NoError(t, err)
	client, err := dynamodb.NewClient(ctx, cfg)
	require.NoError(t, err)
	d, err := dynamodb.OpenWith(ctx, dynalitetest.NewTxAPI(client), cfg)
	require.NoError(t, err)
	got, err := store.Digest(ctx, d)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Equal(t, wantList, readListings(ctx, t, d), "DynamoDB answers as SQLite")

	// Into the non-empty DynamoDB store: refused, nothing written.
	_, errOut, code := runCLI(t, "store", "copy", "--from", "sqlite://"+first, "--to", dyn)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "target store is not empty")

	copyTo(dyn, pg)
	p, err := postgres.Open(ctx, pg)
	require.NoError(t, err)
	require.Equal(t, wantList, readListings(ctx, t, p), "PostgreSQL answers as SQLite")
	require.NoError(t, p.Close())

	// PostgreSQL to new DynamoDB tables, and from there to a new file.
	_, _ = rand.Read(b)
	dyn2 := "dynamodb://c" + hex.EncodeToString(b) + "-?region=us-east-1&endpoint=" + endpoint
	copyTo(pg, dyn2)
	back := filepath.Join(dir, "back.db")
	copyTo(dyn2, "sqlite://"+back)
	bk, err := sqlite.Open(ctx, back)
	require.NoError(t, err)
	require.Equal(t, wantList, readListings(ctx, t, bk), "the file copied back answers as the first")
	require.NoError(t, bk.Close())

	// The DynamoDB store goes on: the chain links on, a new event and
	// result are listed after the copied ones.
	require.NoError(t, d.AppendAudit(ctx, []store.AuditEntry{{Timestamp: time.Now(), Action: "apply", ClientID: "acme", TriggeredBy: "cli:after-copy"}}))
	chain, err := verifyChain(ctx, d)
	require.NoError(t, err)
	require.Equal(t, wantList.Heads.Seq+1, chain.HeadSeq)
	ins, err := d.InsertEvents(ctx, []store.Event{{EventID: "e-new", ClientID: "acme", StackID: "shop", ProviderName: "shopify",
		EventType: "products/update", Timestamp: time.Now(), ReceivedAt: time.Now()}})
	require.NoError(t, err)
	require.Equal(t, []bool{true}, ins)
	rows := map[string]int64{}
	require.NoError(t, d.ExportRows(ctx, store.CopyTables(), func(tb store.Table, row []any) error {
		if tb.Name == "events" {
			rows[row[1].(string)] = row[0].(int64)
		}
		return nil
	}))
	require.Equal(t, int64(len(wantList.Events)+1), rows["e-new"], "the new event is numbered after the copied ones")
}

// TestBackupDynamoDBSaysStoreCopy: backup of a DynamoDB store says how to
// back it up (store copy into a SQLite file) instead of pg_dump.
func TestBackupDynamoDBSaysStoreCopy(t *testing.T) {
	u := "dynamodb://blackwell-?region=eu-west-1"
	_, errOut, code := runCLI(t, "backup", "--store", u, "--to", filepath.Join(t.TempDir(), "b.db"))
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "blackwell store copy --from '"+u+"' --to sqlite://")
	require.NotContains(t, errOut, "pg_dump")
}
