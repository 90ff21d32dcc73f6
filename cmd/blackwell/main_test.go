package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/blackwellio/blackwell/internal/api"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/promote"
	bwserver "github.com/blackwellio/blackwell/internal/server"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"blackwell": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI scripts in testdata/script. Custom commands:
//
//	startserver [NAME=VALUE...]   serve the API over a new SQLite store in
//	                              $WORK (NAME=VALUE: the server's environment
//	                              for ${VAR} secrets); sets BLACKWELL_SERVER
//	seeddrift CLIENT STACK CODE COMPONENT EXPECTED OBSERVED [pending]
//	                              commit a pass that leaves this drift open;
//	                              sets DRIFT_ID
//	seedevent CLIENT PROVIDER TYPE CONTENT_ID
//	                              store a provider event
//	exits CODE PROGRAM [ARGS...]  run a program like exec and check its
//	                              exit code
//	seedaudit ACTION CLIENT STACK DRIFT_ID OFFSET [CHANGES_JSON]
//	                              append an audit entry (report_script_test.go)
//	reporthead FILE               set HEAD to a JSON report's chain head
func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Values[scriptServerKey{}] = &scriptServer{}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"startserver": cmdStartServer,
			"seeddrift":   cmdSeedDrift,
			"seedevent":   cmdSeedEvent,
			"exits":       cmdExits,
			// forecast_script_test.go
			"seedforecast": cmdSeedForecast,
			"tamperaudit":  cmdTamperAudit,
			// token_script_test.go
			"setenvfile":       cmdSetenvFile,
			"settokenid":       cmdSetTokenID,
			"tampercheckpoint": cmdTamperCheckpoint,
			// audit_heads_script_test.go
			"rewriteaudit": cmdRewriteAudit,
			"sql":          cmdSQL,
			// heals_script_test.go
			"seedheal": cmdSeedHeal,
			// report_script_test.go
			"seedaudit":  cmdSeedAudit,
			"reporthead": cmdReportHead,
			// promote_script_test.go
			"setapprovalid":  cmdSetApprovalID,
			"waitpromotions": func(ts *testscript.TestScript, _ bool, _ []string) { serverOf(ts).promoter.Wait() },
		},
	})
}

// cmdExits runs a program and checks its exit code (exec only tells
// success from failure).
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("run %s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

type scriptServerKey struct{}

// scriptServer is the API server of one script.
type scriptServer struct {
	store    store.Store
	rec      *scriptReconciler
	promoter *promote.Promoter
}

func serverOf(ts *testscript.TestScript) *scriptServer {
	s := ts.Value(scriptServerKey{}).(*scriptServer)
	if s.store == nil {
		ts.Fatalf("no server: run startserver first")
	}
	return s
}

// scriptNow is the clock of script servers, so that times in answers are
// fixed.
func scriptNow() time.Time { return time.Date(2025, 10, 10, 4, 0, 0, 0, time.UTC) }

func cmdStartServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! startserver")
	}
	s := ts.Value(scriptServerKey{}).(*scriptServer)
	if s.store != nil {
		ts.Fatalf("startserver: already started")
	}
	env := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			ts.Fatalf("usage: startserver [NAME=VALUE...]")
		}
		env[k] = v
	}
	ctx := context.Background()
	// The store keeps the server's clock: a rollback's hold ends by it.
	st, err := sqlite.Open(ctx, filepath.Join(ts.Getenv("WORK"), "blackwell.db"), sqlite.WithClock(scriptNow))
	ts.Check(err)
	logger := slog.New(slog.DiscardHandler)
	now := scriptNow
	rec := &scriptReconciler{store: st, now: now}
	svc := state.New(st, state.Options{Logger: logger, Now: now, OnChange: func(c, s string) { rec.Trigger(c, s, "config") }})
	// The bootstrap token, in a file the CLI reads as it reads serve's.
	boot, err := bwserver.NewBootstrapToken()
	ts.Check(err)
	bootFile := filepath.Join(ts.Getenv("WORK"), "bootstrap.token")
	ts.Check(bwserver.WriteSecretFile(bootFile, boot))
	promoter := promote.New(promote.Options{Store: st, State: svc, Passes: rec, Now: now, Logger: logger, VerifyInterval: time.Millisecond})
	srv := httptest.NewServer(api.New(api.Options{
		Store: st, State: svc, Reconciler: rec, Logger: logger, Version: "test", Now: now, Promotions: promoter,
		Getenv:         func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		BootstrapToken: boot,
		// serve's defaults, reported per stack.
		EventRetention: 30 * 24 * time.Hour, HistoryRetention: 7 * 24 * time.Hour,
	}))
	s.store, s.rec, s.promoter = st, rec, promoter
	ts.Defer(func() {
		srv.Close()
		promoter.Wait()
		_ = st.Close()
	})
	ts.Setenv("BLACKWELL_SERVER", srv.URL)
	ts.Setenv("BLACKWELL_BOOTSTRAP_TOKEN_FILE", bootFile)
}

func cmdSeedDrift(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 6 || len(args) > 7 || (len(args) == 7 && args[6] != "pending") {
		ts.Fatalf("usage: seeddrift CLIENT STACK CODE COMPONENT EXPECTED OBSERVED [pending]")
	}
	s := serverOf(ts)
	code := drift.Code(args[2])
	cl, ok := drift.Classify(code)
	if !ok {
		ts.Fatalf("seeddrift: unknown drift code %q", code)
	}
	d := drift.Drift{
		ClientID: args[0], StackID: args[1], Code: code, Type: cl.Type, Component: args[3],
		Expected: args[4], Observed: args[5], Severity: cl.Severity,
		DetectedAt: scriptNow(), FirstSeen: scriptNow(), LastSeen: scriptNow(), Observations: 1,
		Confirmed: len(args) == 6,
	}
	d.ID = drift.ID(d.ClientID, d.StackID, d.Type, d.Component)
	ts.Check(s.rec.commit(context.Background(), d.ClientID, d.StackID, "schedule", &d))
	ts.Setenv("DRIFT_ID", d.ID)
}

func cmdSeedEvent(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: seedevent CLIENT PROVIDER TYPE CONTENT_ID")
	}
	s := serverOf(ts)
	n := s.rec.nextEvent()
	at := scriptNow().Add(time.Duration(n) * time.Minute)
	_, err := s.store.InsertEvents(context.Background(), []store.Event{{
		EventID: fmt.Sprintf("evt-%d", n), ClientID: args[0], ProviderName: args[1], EventType: args[2], ContentID: args[3],
		Timestamp: at, ReceivedAt: at, Payload: json.RawMessage(`{}`), TTLTimestamp: at.Add(30 * 24 * time.Hour).Unix(),
	}})
	ts.Check(err)
}

// scriptReconciler stands in for the reconcile loop: a pass observes
// nothing new, keeps the stack's open drifts and records a result.
type scriptReconciler struct {
	store store.Store
	now   func() time.Time

	mu     sync.Mutex
	passes int
	events int
}

func (r *scriptReconciler) Trigger(string, string, string) {}

func (r *scriptReconciler) InFlight(string, string) bool { return false }

func (r *scriptReconciler) ReconcileWait(ctx context.Context, clientID, stackID, trigger string) (store.ReconciliationResult, error) {
	if err := r.commit(ctx, clientID, stackID, trigger, nil); err != nil {
		return store.ReconciliationResult{}, err
	}
	results, _, err := r.store.ListReconciliations(ctx, clientID, stackID, "", 1)
	if err != nil || len(results) == 0 {
		return store.ReconciliationResult{}, fmt.Errorf("read result: %v", err)
	}
	return results[0], nil
}

func (r *scriptReconciler) nextEvent() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events++
	return r.events
}

// commit writes a pass of a stack that keeps its open drifts, plus add.
func (r *scriptReconciler) commit(ctx context.Context, clientID, stackID, trigger string, add *drift.Drift) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.passes++
	rec, err := r.store.GetState(ctx, clientID, stackID)
	if err != nil {
		return err
	}
	open, err := r.store.ListDrifts(ctx, store.DriftQuery{ClientID: clientID, StackID: stackID})
	if err != nil {
		return err
	}
	var drifts []drift.Drift
	for _, d := range open {
		if d.ResolvedAt == nil && (add == nil || d.ID != add.ID) {
			drifts = append(drifts, d)
		}
	}
	if add != nil {
		drifts = append(drifts, *add)
	}
	now := r.now()
	rec.LastVerified = &now
	rec.AppliedHash = rec.DesiredHash
	rec.DriftDetails = nil
	for _, d := range drifts {
		if d.Confirmed {
			rec.DriftDetails = append(rec.DriftDetails, d)
		}
	}
	rec.Status = store.StatusHealthy
	if len(rec.DriftDetails) > 0 {
		rec.Status = store.StatusDriftDetected
	}
	_, err = r.store.CommitPass(ctx, store.Pass{
		State:  rec,
		Drifts: drifts,
		Result: store.ReconciliationResult{
			ReconciliationID: fmt.Sprintf("recon-%03d", r.passes), ClientID: clientID, StackID: stackID, Trigger: trigger,
			StartedAt: now, CompletedAt: now.Add(1500 * time.Millisecond), Status: store.ResultSuccess,
			DriftDetected: len(rec.DriftDetails) > 0, DriftCount: len(rec.DriftDetails), StateVersion: rec.StateVersion,
		},
	})
	return err
}

// cmdTamperAudit changes an audit entry behind the store's back, as an
// attacker with the database file would: tamperaudit SEQ (flip success) or
// tamperaudit SEQ delete.
func cmdTamperAudit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: tamperaudit SEQ [delete]")
	}
	serverOf(ts)
	db, err := sql.Open("sqlite", filepath.Join(ts.Getenv("WORK"), "blackwell.db"))
	ts.Check(err)
	defer db.Close()
	q := `UPDATE audit SET success = 1 - success WHERE seq = ?`
	if len(args) == 2 && args[1] == "delete" {
		q = `DELETE FROM audit WHERE seq = ?`
	}
	res, err := db.Exec(q, args[0])
	ts.Check(err)
	if n, _ := res.RowsAffected(); n != 1 {
		ts.Fatalf("tamperaudit: no entry %s", args[0])
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers (a server's
// log).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
