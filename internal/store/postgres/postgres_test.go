package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/postgres"
	"github.com/blackwellio/blackwell/internal/store/storetest"
)

// The database the tests use: BLACKWELL_TEST_POSTGRES, or the PostgreSQL of
// a development machine. Each store gets a schema of its own in it.
const defaultTestURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// serverURL returns the test database's URL once it answers. Without a
// server the test is skipped, except under CI=true where that fails it: a
// skipped backend there would pass without testing anything.
func serverURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("BLACKWELL_TEST_POSTGRES")
	if u == "" {
		u = defaultTestURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := connect(ctx, u)
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(ctx)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is unreachable, and under CI=true this test must run: %v", postgres.Redact(u), err)
		} else {
			t.Skipf("PostgreSQL at %s is unreachable (set BLACKWELL_TEST_POSTGRES; under CI=true this fails instead): %v", postgres.Redact(u), err)
		}
	}
	return u
}

// connect opens one connection, ignoring the URL's pool settings.
func connect(ctx context.Context, connString string) (*pgx.Conn, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, err
	}
	return pgx.ConnectConfig(ctx, cfg.ConnConfig)
}

// exec runs statements on a connection of their own.
func exec(t testing.TB, connString string, sql ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := connect(ctx, connString)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for _, q := range sql {
		_, err := conn.Exec(ctx, q)
		require.NoError(t, err, q)
	}
}

// newSchema creates an empty schema, dropped when the test ends, and
// returns a URL whose connections use it: tests in parallel do not see each
// other's rows.
func newSchema(t testing.TB, server string) string {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "test_" + hex.EncodeToString(b)
	exec(t, server, `CREATE SCHEMA `+name)
	t.Cleanup(func() { exec(t, server, `DROP SCHEMA `+name+` CASCADE`) })
	return withParam(t, server, "search_path", name)
}

// withParam sets a connection parameter in a URL or key=value string.
func withParam(t testing.TB, connString, key, value string) string {
	t.Helper()
	if !strings.Contains(connString, "://") {
		return connString + " " + key + "=" + value
	}
	u, err := url.Parse(connString)
	require.NoError(t, err)
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// open opens a store on connString, closed when the test ends (before its
// schema is dropped).
func open(t testing.TB, connString string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), connString, append([]postgres.Option{postgres.WithMaxConns(4)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func TestPostgresStore(t *testing.T) {
	server := serverURL(t)
	storetest.Exercise(t.Context(), t, func(t *testing.T) store.Store {
		return open(t, newSchema(t, server))
	})
}

func TestMigrationsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	u := newSchema(t, serverURL(t))

	first, err := postgres.Open(ctx, u)
	require.NoError(t, err)
	v, err := first.SchemaVersion(ctx)
	require.NoError(t, err)
	require.Positive(t, v)
	_, err = first.ApplyDesired(ctx, []store.DesiredInput{{ClientID: "acme", StackID: "shop", Hash: "h", Document: json.RawMessage(`{}`)}})
	require.NoError(t, err)
	require.NoError(t, first.Close())

	again := open(t, u)
	v2, err := again.SchemaVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, v, v2)
	rec, err := again.GetState(ctx, "acme", "shop")
	require.NoError(t, err, "reopening keeps the data")
	require.Equal(t, "v1.0.0", rec.StateVersion)
}

// TestConcurrentOpen: replicas starting at once on an empty schema apply
// the migrations once (the advisory lock), and all of them start.
func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	u := newSchema(t, serverURL(t))
	const n = 6
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range stores {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = postgres.Open(t.Context(), u, postgres.WithMaxConns(2))
		})
	}
	close(start)
	wg.Wait()
	var version int
	for i, s := range stores {
		require.NoError(t, errs[i])
		v, err := s.SchemaVersion(t.Context())
		require.NoError(t, err)
		require.Positive(t, v)
		if i > 0 {
			require.Equal(t, version, v)
		}
		version = v
		require.NoError(t, s.Close())
	}

	conn, err := connect(t.Context(), u)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var rows, heads int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&rows))
	require.Equal(t, version, rows, "each migration recorded once")
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM audit_head`).Scan(&heads))
	require.Equal(t, 1, heads, "each migration applied once")
}

func TestRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	u := newSchema(t, serverURL(t))
	s := open(t, u)
	v, err := s.SchemaVersion(t.Context())
	require.NoError(t, err)
	exec(t, u, fmt.Sprintf(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (%d, 'from_the_future.sql', now())`, v+1))

	_, err = postgres.Open(t.Context(), u)
	require.ErrorIs(t, err, postgres.ErrSchemaTooNew)
	require.NotContains(t, err.Error(), "search_path", "errors do not carry the URL's parameters")
}

func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := postgres.Open(ctx, "postgres://blackwell:s3cret@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cret")

	_, err = postgres.Open(ctx, "postgres://blackwell:s3cret@127.0.0.1/db?pool_max_conns=many&token=abc")
	require.Error(t, err)
	require.Contains(t, err.Error(), "pool_max_conns")
	require.NotContains(t, err.Error(), "s3cret")
	require.NotContains(t, err.Error(), "abc")
}

func TestRedact(t *testing.T) {
	t.Parallel()
	require.Equal(t, "postgres://db.example:5432/blackwell",
		postgres.Redact("postgres://user:pw@db.example:5432/blackwell?sslmode=require&password=x"))
	require.Equal(t, "(postgres connection string)", postgres.Redact("host=db password=x"))
}

// TestTwoStoresOneChain: two Stores on one schema, as two replicas, append
// audit entries concurrently (alone and inside passes): one linear chain
// holds every entry.
func TestTwoStoresOneChain(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	u := newSchema(t, serverURL(t))
	a, b := open(t, u), open(t, u)

	const perWriter = 25
	var wg sync.WaitGroup
	for i, s := range []*postgres.Store{a, b, a, b} {
		wg.Go(func() {
			stack := fmt.Sprintf("s%d", i)
			_, err := s.ApplyDesired(ctx, []store.DesiredInput{{ClientID: "acme", StackID: stack, Hash: "h", Document: json.RawMessage(`{}`)}})
			if !assertNoError(t, err) {
				return
			}
			st, err := s.GetState(ctx, "acme", stack)
			if !assertNoError(t, err) {
				return
			}
			for j := range perWriter {
				if j%2 == 0 {
					err = s.AppendAudit(ctx, []store.AuditEntry{
						{Action: "one", ClientID: "acme", StackID: stack},
						{Action: "two", ClientID: "acme", StackID: stack},
					})
				} else {
					st, err = s.CommitPass(ctx, store.Pass{
						State:  st,
						Result: store.ReconciliationResult{ReconciliationID: fmt.Sprintf("r-%s-%d", stack, j), StartedAt: time.Now()},
						Audit: []store.AuditEntry{
							{Action: "one", ClientID: "acme", StackID: stack},
							{Action: "two", ClientID: "acme", StackID: stack, ChangesMade: json.RawMessage(`{"pass": true}`)},
						},
					})
				}
				if !assertNoError(t, err) {
					return
				}
			}
		})
	}
	wg.Wait()

	var entries []store.AuditEntry
	q := store.AuditQuery{Limit: store.MaxLimit}
	for {
		page, next, err := b.ListAudit(ctx, q)
		require.NoError(t, err)
		entries = append(entries, page...)
		if next == "" {
			break
		}
		q.Cursor = next
	}
	require.Len(t, entries, 4*perWriter*2)
	prev := ""
	for i, e := range entries {
		require.Equal(t, int64(i+1), e.Seq, "seq has no gaps")
		require.Equal(t, prev, e.PrevHash, "one chain across both stores")
		require.Equal(t, store.ChainHash(e), e.Hash)
		if i%2 == 1 {
			require.Equal(t, entries[i-1].StackID, e.StackID, "a batch is appended whole")
		}
		prev = e.Hash
	}
}

// TestConcurrentApplyNewStacks: two replicas apply the same new stacks at
// once, in opposite orders. Each stack is created once, at v1.0.0, and
// neither apply fails.
func TestConcurrentApplyNewStacks(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	u := newSchema(t, serverURL(t))
	a, b := open(t, u), open(t, u)

	var in []store.DesiredInput
	for i := range 20 {
		in = append(in, store.DesiredInput{ClientID: "acme", StackID: fmt.Sprintf("s%02d", i), Hash: "h", Document: json.RawMessage(`{}`)})
	}
	reversed := make([]store.DesiredInput, len(in))
	for i, d := range in {
		reversed[len(in)-1-i] = d
	}
	var (
		wg       sync.WaitGroup
		resA     []store.ApplyResult
		resB     []store.ApplyResult
		errA     error
		errB     error
		starting = make(chan struct{})
	)
	wg.Go(func() { <-starting; resA, errA = a.ApplyDesired(ctx, in) })
	wg.Go(func() { <-starting; resB, errB = b.ApplyDesired(ctx, reversed) })
	close(starting)
	wg.Wait()
	require.NoError(t, errA)
	require.NoError(t, errB)
	created := map[string]int{}
	for _, r := range append(resA, resB...) {
		require.Equal(t, "v1.0.0", r.Version)
		if r.Created {
			created[r.StackID]++
		}
	}
	for _, d := range in {
		require.Equal(t, 1, created[d.StackID], "%s created once", d.StackID)
		versions, err := a.ListDesiredVersions(ctx, "acme", d.StackID)
		require.NoError(t, err)
		require.Len(t, versions, 1)
	}
}

// TestConcurrentAcknowledgeAndPass: a replica acknowledging a drift while
// another commits a pass that read it unacknowledged keeps the
// acknowledgement (the upsert reads the row as committed, under its lock).
func TestConcurrentAcknowledgeAndPass(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	u := newSchema(t, serverURL(t))
	a, b := open(t, u), open(t, u)
	_, err := a.ApplyDesired(ctx, []store.DesiredInput{{ClientID: "acme", StackID: "shop", Hash: "h", Document: json.RawMessage(`{}`)}})
	require.NoError(t, err)
	st, err := a.GetState(ctx, "acme", "shop")
	require.NoError(t, err)
	now := time.Now()
	d := drift.Drift{ID: "d1", ClientID: "acme", StackID: "shop", Code: drift.WebhookBroken, Type: drift.TypeIntegration,
		Component: "c", Severity: drift.SeverityHigh, DetectedAt: now, FirstSeen: now, LastSeen: now, Observations: 1}
	st, err = a.CommitPass(ctx, store.Pass{State: st, Drifts: []drift.Drift{d}, Result: store.ReconciliationResult{ReconciliationID: "r0", StartedAt: now}})
	require.NoError(t, err)

	for i := range 20 {
		var wg sync.WaitGroup
		var errAck, errPass error
		d.Observations = i + 2
		wg.Go(func() {
			_, errAck = b.AcknowledgeDrift(ctx, store.Acknowledge{ClientID: "acme", DriftID: "d1", By: "alice", At: now})
		})
		wg.Go(func() {
			st, errPass = a.CommitPass(ctx, store.Pass{State: st, Drifts: []drift.Drift{d},
				Result: store.ReconciliationResult{ReconciliationID: fmt.Sprintf("r%d", i+1), StartedAt: now}})
		})
		wg.Wait()
		require.NoError(t, errAck)
		require.NoError(t, errPass)
		ds, err := a.ListDrifts(ctx, store.DriftQuery{ClientID: "acme"})
		require.NoError(t, err)
		require.Len(t, ds, 1)
		require.True(t, ds[0].Acknowledged, "round %d", i)
		require.Equal(t, "alice", ds[0].AcknowledgedBy)
	}
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}

func TestWriteAfterClose(t *testing.T) {
	t.Parallel()
	s, err := postgres.Open(t.Context(), newSchema(t, serverURL(t)))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close twice is fine")
	_, err = s.ApplyDesired(t.Context(), []store.DesiredInput{{ClientID: "acme", StackID: "shop", Hash: "h", Document: json.RawMessage(`{}`)}})
	require.Error(t, err)
}

func TestCancelledWriteWritesNothing(t *testing.T) {
	t.Parallel()
	s := open(t, newSchema(t, serverURL(t)))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.ApplyDesired(ctx, []store.DesiredInput{{ClientID: "acme", StackID: "shop", Hash: "h", Document: json.RawMessage(`{}`)}})
	require.ErrorIs(t, err, context.Canceled)
	_, err = s.GetState(t.Context(), "acme", "shop")
	require.ErrorIs(t, err, store.ErrNotFound)
}

// TestInvalidUTF8FailsWhole pins down the one difference from SQLite that
// the package documents: text refuses invalid UTF-8 (which json.Valid
// accepts inside strings), and the whole write fails.
func TestInvalidUTF8FailsWhole(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := open(t, newSchema(t, serverURL(t)))
	good := store.Event{EventID: "good", ClientID: "acme", Payload: json.RawMessage(`{"ok":true}`)}
	bad := store.Event{EventID: "bad", ClientID: "acme", Payload: json.RawMessage("{\"s\":\"\xff\"}")}
	require.True(t, json.Valid(bad.Payload))
	_, err := s.InsertEvents(ctx, []store.Event{good, bad})
	require.Error(t, err)
	_, err = s.InsertEvents(ctx, []store.Event{bad})
	require.Error(t, err)
	events, _, err := s.ListEvents(ctx, store.EventQuery{})
	require.NoError(t, err)
	require.Empty(t, events)
}

// TestStalePassOnOneConnection: a pass that loses the revision race is told
// why on its own connection; with a pool of one it must not wait for a
// second (which would never come).
func TestStalePassOnOneConnection(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	s := open(t, newSchema(t, serverURL(t)), postgres.WithMaxConns(1))
	_, err := s.ApplyDesired(ctx, []store.DesiredInput{{ClientID: "acme", StackID: "shop", Hash: "h", Document: json.RawMessage(`{}`)}})
	require.NoError(t, err)
	st, err := s.GetState(ctx, "acme", "shop")
	require.NoError(t, err)
	pass := func(id string, state store.StateRecord) error {
		_, err := s.CommitPass(ctx, store.Pass{State: state, Result: store.ReconciliationResult{ReconciliationID: id},
			Audit: []store.AuditEntry{{Action: "reconcile", ClientID: "acme", StackID: "shop"}}})
		return err
	}
	require.NoError(t, pass("r1", st))
	require.ErrorIs(t, pass("r2", st), store.ErrConflict)
	ghost := st
	ghost.StackID = "ghost"
	require.ErrorIs(t, pass("r3", ghost), store.ErrNotFound)
	require.NoError(t, s.AppendAudit(ctx, []store.AuditEntry{{Action: "after"}}), "the audit head was let go")
}
