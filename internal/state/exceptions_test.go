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
