package state_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/audit"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

func TestTokenLifecycleIsAudited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	tok, secret, err := b.svc.CreateToken(ctx, state.NewToken{Name: " ci deploy ", Role: store.RoleOperator, ClientID: "acme"}, "cli:alice")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(secret, state.TokenPrefix))
	require.Len(t, secret, len(state.TokenPrefix)+43, "32 random bytes, base64url")
	require.True(t, strings.HasPrefix(tok.ID, "tok_"))
	require.Equal(t, "ci deploy", tok.Name)
	require.Equal(t, state.HashTokenSecret(secret), tok.SecretHash)

	stored, err := b.store.GetToken(ctx, tok.ID)
	require.NoError(t, err)
	require.NotContains(t, stored.SecretHash, secret[len(state.TokenPrefix):], "the secret is not stored")

	got, err := b.svc.Authenticate(ctx, secret)
	require.NoError(t, err)
	require.Equal(t, tok.ID, got.ID)
	for _, bad := range []string{"", "bw_", secret + "x", "xx" + secret[2:], strings.ToUpper(secret)} {
		_, err := b.svc.Authenticate(ctx, bad)
		require.ErrorIs(t, err, state.ErrTokenUnknown, "%q", bad)
	}

	_, err = b.svc.RevokeToken(ctx, tok.ID, "cli:bob")
	require.NoError(t, err)
	_, err = b.svc.Authenticate(ctx, secret)
	require.ErrorIs(t, err, state.ErrTokenRevoked)
	_, err = b.svc.RevokeToken(ctx, "tok_missing", "cli:bob")
	require.ErrorIs(t, err, store.ErrNotFound)

	entries, _, err := b.store.ListAudit(ctx, store.AuditQuery{})
	require.NoError(t, err)
	require.NoError(t, audit.Verify(entries))
	require.Len(t, entries, 2)
	require.Equal(t, "token_created", entries[0].Action)
	require.Equal(t, "cli:alice", entries[0].TriggeredBy)
	require.Equal(t, "acme", entries[0].ClientID)
	require.Equal(t, "token_revoked", entries[1].Action)
	require.Equal(t, "cli:bob", entries[1].TriggeredBy)
	var changes map[string]string
	require.NoError(t, json.Unmarshal(entries[0].ChangesMade, &changes))
	require.Equal(t, map[string]string{"token_id": tok.ID, "name": "ci deploy", "role": "operator", "client_id": "acme"}, changes)
	for _, e := range entries {
		require.NotContains(t, string(e.ChangesMade), secret, "the secret never reaches the audit log")
		require.NotContains(t, string(e.ChangesMade), tok.SecretHash)
	}
}

func TestCreateTokenRefusesBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, n := range []state.NewToken{
		{Name: "", Role: store.RoleAdmin},
		{Name: "   ", Role: store.RoleAdmin},
		{Name: strings.Repeat("n", 101), Role: store.RoleAdmin},
		{Name: "tab\tname", Role: store.RoleAdmin},
		{Name: "x", Role: "root"},
		{Name: "x", Role: ""},
		{Name: "x", Role: store.RoleViewer, ClientID: "Acme"},
	} {
		_, _, err := b.svc.CreateToken(context.Background(), n, "test")
		require.ErrorIs(t, err, state.ErrInvalid, "%+v", n)
	}
	has, err := b.store.HasTokens(context.Background())
	require.NoError(t, err)
	require.False(t, has)
}

func TestTwoTokensHaveDifferentSecrets(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, s1, err := b.svc.CreateToken(context.Background(), state.NewToken{Name: "a", Role: store.RoleViewer}, "test")
	require.NoError(t, err)
	_, s2, err := b.svc.CreateToken(context.Background(), state.NewToken{Name: "a", Role: store.RoleViewer}, "test")
	require.NoError(t, err)
	require.NotEqual(t, s1, s2)
}
