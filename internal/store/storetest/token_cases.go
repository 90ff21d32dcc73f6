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

// testTokenCases runs the cases of TokenStore, AuditRetentionStore and the
// audit time filters, each on its own store.
func testTokenCases(ctx context.Context, t *testing.T, s store.Store) {
	// The first case gets the fresh store; each later one a store of its
	// own would need newStore, which cases do not see. They are written to
	// share one store: every case uses its own ids and reads what it wrote.
	t.Run("Tokens", func(t *testing.T) { testTokens(ctx, t, s) })
	t.Run("TokenAudit", func(t *testing.T) { testTokenAudit(ctx, t, s) })
	t.Run("AuditTimeRange", func(t *testing.T) { testAuditTimeRange(ctx, t, s) })
	t.Run("AuditPrune", func(t *testing.T) { testAuditPrune(ctx, t, s) })
}

func token(id, hash string, role store.Role, client string, created time.Time) store.Token {
	return store.Token{ID: id, Name: "name of " + id, Role: role, ClientID: client, SecretHash: hash, CreatedAt: created, CreatedBy: "cli:alice"}
}

// storedToken is t as the store returns it: times truncated.
func storedToken(t store.Token) store.Token {
	t.CreatedAt = store.Truncate(t.CreatedAt)
	if t.LastUsedAt != nil {
		t.LastUsedAt = ptr(store.Truncate(*t.LastUsedAt))
	}
	if t.RevokedAt != nil {
		t.RevokedAt = ptr(store.Truncate(*t.RevokedAt))
	}
	return t
}

func testTokens(ctx context.Context, t *testing.T, s store.Store) {
	has, err := s.HasTokens(ctx)
	require.NoError(t, err)
	require.False(t, has, "a new store has no token")
	list, err := s.ListTokens(ctx)
	require.NoError(t, err)
	require.Empty(t, list)

	a := token("tok_a", "hash-a", store.RoleAdmin, "", at(0))
	b := token("tok_b", "hash-b", store.RoleViewer, "acme", at(time.Second))
	c := token("tok_c", "hash-c", store.RoleOperator, "", at(time.Second)) // same time as b: ordered by id
	for _, tk := range []store.Token{c, a, b} {
		require.NoError(t, s.CreateToken(ctx, tk, nil))
	}
	has, err = s.HasTokens(ctx)
	require.NoError(t, err)
	require.True(t, has)

	list, err = s.ListTokens(ctx)
	require.NoError(t, err)
	require.Equal(t, []store.Token{storedToken(a), storedToken(b), storedToken(c)}, list)

	got, err := s.GetToken(ctx, "tok_b")
	require.NoError(t, err)
	require.Equal(t, storedToken(b), got)
	got, err = s.TokenBySecretHash(ctx, "hash-c")
	require.NoError(t, err)
	require.Equal(t, storedToken(c), got)
	_, err = s.GetToken(ctx, "tok_none")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.TokenBySecretHash(ctx, "hash-none")
	require.ErrorIs(t, err, store.ErrNotFound)

	// Ids and secret hashes are unique.
	require.ErrorIs(t, s.CreateToken(ctx, token("tok_a", "hash-other", store.RoleAdmin, "", at(0)), nil), store.ErrConflict)
	require.ErrorIs(t, s.CreateToken(ctx, token("tok_d", "hash-a", store.RoleAdmin, "", at(0)), nil), store.ErrConflict)
	require.Error(t, s.CreateToken(ctx, token("tok_e", "hash-e", store.Role("root"), "", at(0)), nil), "unknown role")
	require.Error(t, s.CreateToken(ctx, token("tok_f", "", store.RoleAdmin, "", at(0)), nil), "no secret hash")
	list, err = s.ListTokens(ctx)
	require.NoError(t, err)
	require.Len(t, list, 3, "refused tokens are not stored")

	// Last use only moves forward.
	require.NoError(t, s.TouchToken(ctx, "tok_a", at(time.Hour)))
	require.NoError(t, s.TouchToken(ctx, "tok_a", at(time.Minute)))
	got, err = s.GetToken(ctx, "tok_a")
	require.NoError(t, err)
	require.Equal(t, store.Truncate(at(time.Hour)), *got.LastUsedAt)
	require.ErrorIs(t, s.TouchToken(ctx, "tok_none", at(0)), store.ErrNotFound)

	// The first revocation stands.
	rev, err := s.RevokeToken(ctx, "tok_b", at(2*time.Hour), nil)
	require.NoError(t, err)
	require.Equal(t, store.Truncate(at(2*time.Hour)), *rev.RevokedAt)
	rev, err = s.RevokeToken(ctx, "tok_b", at(3*time.Hour), nil)
	require.NoError(t, err)
	require.Equal(t, store.Truncate(at(2*time.Hour)), *rev.RevokedAt)
	got, err = s.TokenBySecretHash(ctx, "hash-b")
	require.NoError(t, err, "a revoked token is still found, so it can be refused as revoked")
	require.NotNil(t, got.RevokedAt)
	_, err = s.RevokeToken(ctx, "tok_none", at(0), nil)
	require.ErrorIs(t, err, store.ErrNotFound)
}

// testTokenAudit: a token's creation and revocation are in the chain,
// committed with the change or not at all.
func testTokenAudit(ctx context.Context, t *testing.T, s store.Store) {
	before := allAudit(ctx, t, s, store.AuditQuery{})
	entry := func(action, id string) []store.AuditEntry {
		return []store.AuditEntry{{Timestamp: at(0), Action: action, TriggeredBy: "cli:alice", Success: true,
			ChangesMade: json.RawMessage(fmt.Sprintf(`{"token_id": %q}`, id))}}
	}
	created := entry("token_created", "tok_audit")
	require.NoError(t, s.CreateToken(ctx, token("tok_audit", "hash-audit", store.RoleAdmin, "", at(0)), created))
	require.Positive(t, created[0].Seq, "the entry is filled in")
	require.NotEmpty(t, created[0].Hash)

	// A refused creation appends nothing.
	require.ErrorIs(t, s.CreateToken(ctx, token("tok_audit", "hash-audit-2", store.RoleAdmin, "", at(0)), entry("token_created", "tok_audit")), store.ErrConflict)
	// Nor does revoking a token that does not exist.
	_, err := s.RevokeToken(ctx, "tok_missing", at(0), entry("token_revoked", "tok_missing"))
	require.ErrorIs(t, err, store.ErrNotFound)

	revoked := entry("token_revoked", "tok_audit")
	_, err = s.RevokeToken(ctx, "tok_audit", at(time.Minute), revoked)
	require.NoError(t, err)

	all := allAudit(ctx, t, s, store.AuditQuery{})
	require.Len(t, all, len(before)+2)
	requireChain(t, all)
	require.Equal(t, created[0], all[len(before)])
	require.Equal(t, revoked[0], all[len(before)+1])
}

func testAuditTimeRange(ctx context.Context, t *testing.T, s store.Store) {
	var in []store.AuditEntry
	for i := range 6 {
		in = append(in, store.AuditEntry{Timestamp: at(time.Duration(i) * time.Hour), Action: "range", ClientID: "range-" + fmt.Sprint(i%2)})
	}
	require.NoError(t, s.AppendAudit(ctx, in))
	for i := range in {
		in[i].Timestamp = store.Truncate(in[i].Timestamp)
	}
	got := allAudit(ctx, t, s, store.AuditQuery{Action: "range", Since: at(time.Hour), Until: at(4 * time.Hour), Limit: 2})
	require.Equal(t, in[1:4], got, "since inclusive, until exclusive, paginated")
	got = allAudit(ctx, t, s, store.AuditQuery{Action: "range", Since: at(4 * time.Hour)})
	require.Equal(t, in[4:], got)
	got = allAudit(ctx, t, s, store.AuditQuery{Action: "range", Until: at(time.Hour)})
	require.Equal(t, in[:1], got)
	got = allAudit(ctx, t, s, store.AuditQuery{ClientID: "range-1", Since: at(2 * time.Hour)})
	require.Equal(t, []store.AuditEntry{in[3], in[5]}, got)
}

func testAuditPrune(ctx context.Context, t *testing.T, s store.Store) {
	_, err := s.AuditCheckpoint(ctx)
	require.ErrorIs(t, err, store.ErrNotFound, "a chain never pruned has no checkpoint")

	var in []store.AuditEntry
	for i := range 10 {
		in = append(in, store.AuditEntry{Timestamp: at(time.Duration(i) * time.Minute), Action: "prune", ClientID: "p"})
	}
	require.NoError(t, s.AppendAudit(ctx, in))
	all := allAudit(ctx, t, s, store.AuditQuery{})
	idx := func(seq int64) store.AuditEntry {
		for _, e := range all {
			if e.Seq == seq {
				return e
			}
		}
		t.Fatalf("no entry %d", seq)
		return store.AuditEntry{}
	}
	headSeq := all[len(all)-1].Seq
	cut := headSeq - 6
	cp := store.AuditCheckpoint{Seq: cut, Hash: idx(cut).Hash, Count: cut, CreatedAt: at(time.Hour), KeyID: "k1", Signature: "sig"}

	// Refused, writing nothing: a wrong hash, a missing entry, the head, a
	// wrong previous checkpoint.
	bad := cp
	bad.Hash = "not-the-hash"
	_, err = s.PruneAudit(ctx, 0, bad)
	require.ErrorIs(t, err, store.ErrConflict)
	bad = cp
	bad.Seq, bad.Hash = headSeq, idx(headSeq).Hash
	_, err = s.PruneAudit(ctx, 0, bad)
	require.ErrorIs(t, err, store.ErrConflict, "the head is never pruned")
	bad.Seq = headSeq + 5
	_, err = s.PruneAudit(ctx, 0, bad)
	require.ErrorIs(t, err, store.ErrConflict)
	_, err = s.PruneAudit(ctx, 1, cp)
	require.ErrorIs(t, err, store.ErrConflict, "no checkpoint at 1")
	require.Equal(t, all, allAudit(ctx, t, s, store.AuditQuery{}))

	n, err := s.PruneAudit(ctx, 0, cp)
	require.NoError(t, err)
	require.Equal(t, len(all)-6, n)
	got, err := s.AuditCheckpoint(ctx)
	require.NoError(t, err)
	want := cp
	want.CreatedAt = store.Truncate(cp.CreatedAt)
	require.Equal(t, want, got)
	rest := allAudit(ctx, t, s, store.AuditQuery{Limit: 3})
	require.Equal(t, all[len(all)-6:], rest)
	require.Equal(t, cp.Hash, rest[0].PrevHash, "the first remaining entry links to the checkpoint")

	// A second pruner that read the old checkpoint loses.
	next := store.AuditCheckpoint{Seq: cut + 2, Hash: idx(cut + 2).Hash, Count: cut + 2, CreatedAt: at(2 * time.Hour), KeyID: "k1", Signature: "sig2"}
	_, err = s.PruneAudit(ctx, 0, next)
	require.ErrorIs(t, err, store.ErrConflict)
	_, err = s.PruneAudit(ctx, cut, store.AuditCheckpoint{Seq: cut, Hash: cp.Hash})
	require.ErrorIs(t, err, store.ErrConflict, "not after the checkpoint")

	// Concurrent appends and pruners: the chain stays linear and exactly one
	// pruner wins.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.PruneAudit(ctx, cut, next) })
	}
	wg.Go(func() {
		require.NoError(t, s.AppendAudit(ctx, []store.AuditEntry{{Timestamp: at(time.Hour), Action: "after", ClientID: "p"}}))
	})
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
		} else {
			require.ErrorIs(t, err, store.ErrConflict)
		}
	}
	require.Equal(t, 1, wins)
	rest = allAudit(ctx, t, s, store.AuditQuery{})
	require.Len(t, rest, 5)
	require.Equal(t, next.Hash, rest[0].PrevHash)
	require.Equal(t, "after", rest[4].Action)
	prev := next.Hash
	for i, e := range rest {
		require.Equal(t, prev, e.PrevHash, "entry %d links", i)
		require.Equal(t, store.ChainHash(e), e.Hash)
		prev = e.Hash
	}
}
