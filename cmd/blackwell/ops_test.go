package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/blackwellio/blackwell/internal/api"
	"github.com/blackwellio/blackwell/internal/drift"
	bwserver "github.com/blackwellio/blackwell/internal/server"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// TestOpsScripts runs the scripts of testdata/ops: migrate, backup and
// store copy on SQLite stores. Custom commands:
//
//	seedstore PATH       write stacks, versions, a policy, events, content,
//	                     drifts, results and audit entries into a new
//	                     SQLite store at PATH
//	bumpschema PATH      record a migration newer than this program's
//	opsserver STORE_URL  serve the API over the store (no reconcile loop);
//	                     sets BLACKWELL_SERVER
//	exits CODE PROGRAM [ARGS...]
func TestOpsScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir: "testdata/ops",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"seedstore":  cmdSeedStore,
			"bumpschema": cmdBumpSchema,
			"opsserver":  cmdOpsServer,
			"exits":      cmdExits,
		},
	})
}

func cmdSeedStore(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: seedstore PATH")
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, ts.MkAbs(args[0]))
	ts.Check(err)
	defer st.Close()
	ts.Check(seedStore(ctx, st))
}

// seedStore writes a little of everything through the Store's methods: 2
// stacks (3 desired versions), 1 policy, 3 events (2 with content), 1
// drift, 1 result, 3 audit entries.
func seedStore(ctx context.Context, st store.Store) error {
	t0 := time.Date(2025, 10, 10, 4, 0, 0, 0, time.UTC)
	in := func(stack, hash string) store.DesiredInput {
		return store.DesiredInput{ClientID: "acme", StackID: stack, Environment: "prod", Hash: hash,
			Document: json.RawMessage(fmt.Sprintf(`{"stack":%q}`, hash)), AppliedBy: "seed"}
	}
	if _, err := st.ApplyDesired(ctx, []store.DesiredInput{in("shop", "h1"), in("blog", "h1")}); err != nil {
		return err
	}
	if _, err := st.ApplyDesired(ctx, []store.DesiredInput{in("shop", "h2")}); err != nil {
		return err
	}
	if err := st.PutPolicy(ctx, store.PolicyRecord{ClientID: "acme", Document: json.RawMessage(`{}`), UpdatedAt: t0}); err != nil {
		return err
	}
	ev := func(id string) store.Event {
		return store.Event{EventID: id, ClientID: "acme", StackID: "shop", ProviderName: "shopify", EventType: "products/update",
			ContentID: "p-" + id, Timestamp: t0, ReceivedAt: t0, Payload: json.RawMessage(`{}`), TTLTimestamp: t0.Add(720 * time.Hour).Unix()}
	}
	if _, err := st.InsertEvents(ctx, []store.Event{ev("e1")}); err != nil {
		return err
	}
	var ing []store.IngestEvent
	for _, id := range []string{"e2", "e3"} {
		ing = append(ing, store.IngestEvent{Event: ev(id), Content: &store.ContentItem{ProviderName: "shopify", ContentID: "p-" + id, UpdatedAt: t0}})
	}
	if _, err := st.IngestEvents(ctx, ing); err != nil {
		return err
	}
	rec, err := st.GetState(ctx, "acme", "shop")
	if err != nil {
		return err
	}
	d := drift.Drift{ClientID: "acme", StackID: "shop", Code: drift.WebhookBroken, Type: drift.TypeIntegration,
		Component: "shopify.webhook", Severity: drift.SeverityHigh, DetectedAt: t0, FirstSeen: t0, LastSeen: t0, Observations: 1}
	d.ID = drift.ID(d.ClientID, d.StackID, d.Type, d.Component)
	if _, err := st.CommitPass(ctx, store.Pass{State: rec, Drifts: []drift.Drift{d},
		Result: store.ReconciliationResult{ReconciliationID: "r1", ClientID: "acme", StackID: "shop", Trigger: "schedule",
			StartedAt: t0, CompletedAt: t0.Add(time.Second), Status: store.ResultSuccess, StateVersion: rec.StateVersion},
		Audit: []store.AuditEntry{{Timestamp: t0, Action: "drift_detected", ClientID: "acme", StackID: "shop", TriggeredBy: "reconciler", Success: true, DriftID: d.ID}},
	}); err != nil {
		return err
	}
	return st.AppendAudit(ctx, []store.AuditEntry{
		{Timestamp: t0, Action: "apply", ClientID: "acme", TriggeredBy: "cli:seed", Success: true, ChangesMade: json.RawMessage(`{"stacks": 2}`)},
		{Timestamp: t0, Action: "approve", ClientID: "acme", StackID: "shop", TriggeredBy: "api:bob", Approver: "bob", ApprovalRequired: true},
	})
}

func cmdBumpSchema(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: bumpschema PATH")
	}
	db, err := sql.Open("sqlite", "file:"+ts.MkAbs(args[0]))
	ts.Check(err)
	defer db.Close()
	_, err = db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) SELECT MAX(version) + 1, 'from_the_future.sql', 0 FROM schema_migrations`)
	ts.Check(err)
}

func cmdOpsServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: opsserver STORE_URL")
	}
	ctx := context.Background()
	st, err := openStore(ctx, args[0])
	ts.Check(err)
	logger := slog.New(slog.DiscardHandler)
	rec := &scriptReconciler{store: st, now: scriptNow}
	svc := state.New(st, state.Options{Logger: logger, Now: scriptNow})
	boot, err := bwserver.NewBootstrapToken()
	ts.Check(err)
	bootFile := filepath.Join(ts.Getenv("WORK"), "bootstrap.token")
	ts.Check(bwserver.WriteSecretFile(bootFile, boot))
	srv := httptest.NewServer(api.New(api.Options{Store: st, State: svc, Reconciler: rec, Logger: logger, Version: "test", Now: scriptNow, BootstrapToken: boot}))
	ts.Defer(func() {
		srv.Close()
		_ = st.Close()
	})
	ts.Setenv("BLACKWELL_SERVER", srv.URL)
	ts.Setenv("BLACKWELL_BOOTSTRAP_TOKEN_FILE", bootFile)
}
