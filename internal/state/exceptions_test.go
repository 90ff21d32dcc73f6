package state_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// TestAPIExceptionSurvivesARestart: an exception added through the API is
// in the store: after a restart (the store opened again, a new service)
// the file's OrganizationPolicy is applied again and keeps it, so the
// enforced rule it excepts lets the apply through; once it expires, the
// same apply is refused and drops it; a file that declares the same
// exception wins.
func TestAPIExceptionSurvivesARestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "b.db")
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	open := func() *state.Service {
		db, err := sqlite.Open(ctx, path)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return state.New(db, state.Options{Now: func() time.Time { return now }, PolicyCacheTTL: -1})
	}
	parse := func(doc string) *config.Config {
		cfg, err := config.Parse("org.yaml", []byte(doc), nil)
		require.NoError(t, err)
		return cfg
	}
	fileException := func(reason, expires string) string {
		return "  exceptions:\n    - {rule: prod-tls, client_id: acme, stack_id: web, owner: ops, reason: " + reason + ", expires: \"" + expires + "\"}\n"
	}

	svc := open()
	_, err := svc.Apply(ctx, cfgWith("https://a.example/", nil), "test")
	require.NoError(t, err)
	clientWide := "  exceptions:\n    - {rule: prod-tls, client_id: acme, owner: ops, reason: until 13h, expires: \"2026-12-07T13:00:00Z\"}\n"
	_, err = svc.ApplyConfig(ctx, parse(tlsRule+clientWide), "test")
	require.NoError(t, err)
	_, _, err = svc.AddException(ctx, config.RuleException{Rule: "prod-tls", ClientID: "acme", StackID: "web", Owner: "ana", Reason: "x"}, "test")
	require.ErrorIs(t, err, state.ErrInvalid, "no expiry")
	x, replaced, err := svc.AddException(ctx, config.RuleException{Rule: "prod-tls", ClientID: "acme", StackID: "web", Owner: "ana", Reason: "cdn move",
		Expires: "2026-12-09T12:00:00Z"}, "test")
	require.NoError(t, err)
	require.False(t, replaced)
	require.Equal(t, config.ExceptionFromAPI, x.Source)
	var errs *config.Errors

	// Restart: the store opened again, the file applied again.
	now = now.Add(2 * time.Hour)
	svc = open()
	_, err = svc.ApplyConfig(ctx, parse(tlsRule), "test")
	require.NoError(t, err, "the API's exception, kept, lets the enforced rule through")
	list, err := svc.Exceptions(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "cdn move", list[0].Reason)

	// The file declares the same exception: the file's wins.
	_, err = svc.ApplyConfig(ctx, parse(tlsRule+fileException("from the file", "2026-12-20T00:00:00Z")), "test")
	require.NoError(t, err)
	list, err = svc.Exceptions(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "from the file", list[0].Reason)
	require.Empty(t, list[0].Source)
	_, err = svc.RemoveException(ctx, "prod-tls", "acme", "web", "test")
	require.ErrorIs(t, err, state.ErrDeclared)

	// An API exception that expires: the same apply is refused then.
	_, err = svc.ApplyConfig(ctx, parse(tlsRule+"  exceptions: []\n"), "test")
	require.Error(t, err)
	_, err = svc.ApplyConfig(ctx, parse(tlsRule+fileException("short", "2026-12-07T15:00:00Z")), "test")
	require.NoError(t, err)
	_, _, err = svc.AddException(ctx, config.RuleException{Rule: "prod-tls", ClientID: "acme", StackID: "web", Owner: "ana", Reason: "cdn move",
		Expires: "2026-12-09T12:00:00Z"}, "test")
	require.ErrorIs(t, err, state.ErrDeclared, "the file declares one for acme/web")
	_, _, err = svc.AddException(ctx, config.RuleException{Rule: "prod-tls", ClientID: "acme", Owner: "ana", Reason: "freeze",
		Expires: "2026-12-07T16:00:00Z"}, "test")
	require.NoError(t, err)
	now = now.Add(3 * time.Hour) // 17:00: both expired
	_, err = svc.ApplyConfig(ctx, parse(tlsRule), "test")
	require.True(t, errors.As(err, &errs), "expired, the API's exception lets nothing through: %v", err)
}

// raceStore lets another replica write between this replica's read of the
// OrganizationPolicy and its write: before returning the first read, it
// runs between once.
type raceStore struct {
	store.Store
	between func()
	reads   int
}

func (s *raceStore) GetOrganizationPolicy(ctx context.Context) (store.OrganizationPolicyRecord, error) {
	rec, err := s.Store.GetOrganizationPolicy(ctx)
	s.reads++
	if s.reads == 1 && s.between != nil {
		s.between()
	}
	return rec, err
}

// TestExceptionAddedBetweenAReadAndAWrite: replica a reads the
// OrganizationPolicy, replica b adds an exception, then a writes its own:
// a's write over what it read is refused by the store, a reads again and
// writes both. The same for a removal.
func TestExceptionAddedBetweenAReadAndAWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, b, opts := replicaWithTLSRule(t)
	except := func(client string) config.RuleException {
		return config.RuleException{Rule: "prod-tls", ClientID: client, Owner: "ops", Reason: "r", Expires: "2027-01-01T00:00:00Z"}
	}

	rs := &raceStore{Store: db}
	rs.between = func() {
		_, _, err := b.AddException(ctx, except("globex"), "replica b")
		require.NoError(t, err)
	}
	a := state.New(rs, opts)
	_, _, err := a.AddException(ctx, except("acme"), "replica a")
	require.NoError(t, err)
	require.Equal(t, 2, rs.reads, "a read the policy again after b's write")
	clients := func() []string {
		items, err := b.Exceptions(ctx, "")
		require.NoError(t, err)
		var out []string
		for _, x := range items {
			out = append(out, x.ClientID)
		}
		return out
	}
	require.Equal(t, []string{"acme", "globex"}, clients(), "both landed")

	// A removal on a while b adds another.
	rs.reads, rs.between = 0, func() {
		_, _, err := b.AddException(ctx, except("initech"), "replica b")
		require.NoError(t, err)
	}
	_, err = a.RemoveException(ctx, "prod-tls", "acme", "", "replica a")
	require.NoError(t, err)
	require.Equal(t, 2, rs.reads)
	require.Equal(t, []string{"globex", "initech"}, clients())
	audit, _, err := db.ListAudit(ctx, store.AuditQuery{Limit: 100})
	require.NoError(t, err)
	actions := map[string]int{}
	for _, e := range audit {
		actions[e.Action]++
	}
	require.Equal(t, 3, actions["exception_added"])
	require.Equal(t, 1, actions["exception_removed"])
}

// TestExceptionAddedWhileTheConfigIsApplied: replica a applies a changed
// OrganizationPolicy (its file) and, between a's read of the stored policy
// (to keep the API's exceptions) and its write, replica b adds an
// exception: a's write over what it read is refused by the store, a
// starts again and keeps b's exception alongside the file's.
func TestExceptionAddedWhileTheConfigIsApplied(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	parse := func(doc string) *config.Config {
		cfg, err := config.Parse("org.yaml", []byte(doc), nil)
		require.NoError(t, err)
		return cfg
	}
	db, b, opts := replicaWithTLSRule(t)

	rs := &raceStore{Store: db}
	rs.between = func() {
		_, _, err := b.AddException(ctx, config.RuleException{Rule: "prod-tls", ClientID: "globex", Owner: "ops", Reason: "api",
			Expires: "2027-01-01T00:00:00Z"}, "replica b")
		require.NoError(t, err)
	}
	a := state.New(rs, opts)
	changed := tlsRule + "  exceptions:\n    - {rule: prod-tls, client_id: umbrella, owner: ops, reason: file, expires: \"2027-01-01T00:00:00Z\"}\n"
	_, err := a.ApplyConfig(ctx, parse(changed), "replica a")
	require.NoError(t, err)
	items, err := b.Exceptions(ctx, "")
	require.NoError(t, err)
	got := map[string]string{}
	for _, x := range items {
		got[x.ClientID] = x.Reason
	}
	require.Equal(t, map[string]string{"globex": "api", "umbrella": "file"}, got, "b's exception and the file's both stored")
}

// replicaWithTLSRule opens a store, applies tlsRule through a service on
// it (replica b of the race tests) and returns both, with the options
// (a fixed clock, no policy cache) the tests' other replica uses too.
func replicaWithTLSRule(t *testing.T) (*sqlite.Store, *state.Service, state.Options) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "b.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	now := time.Date(2026, 12, 8, 2, 0, 0, 0, time.UTC)
	opts := state.Options{Now: func() time.Time { return now }, PolicyCacheTTL: -1}
	cfg, err := config.Parse("org.yaml", []byte(tlsRule), nil)
	require.NoError(t, err)
	b := state.New(db, opts)
	_, err = b.ApplyConfig(t.Context(), cfg, "test")
	require.NoError(t, err)
	return db, b, opts
}
