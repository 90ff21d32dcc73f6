package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
	"github.com/blackwellio/blackwell/internal/store/storetest"
)

func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func TestSQLiteStore(t *testing.T) {
	storetest.Exercise(t.Context(), t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "blackwell.db"))
	})
}

func TestMigrationsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "blackwell.db")

	first, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	v, err := first.SchemaVersion(ctx)
	require.NoError(t, err)
	require.Positive(t, v)
	_, err = first.ApplyDesired(ctx, []store.DesiredInput{{ClientID: "acme", StackID: "shop", Hash: "h", Document: json.RawMessage(`{}`)}})
	require.NoError(t, err)
	require.NoError(t, first.Close())

	again := open(t, path)
	v2, err := again.SchemaVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, v, v2)
	rec, err := again.GetState(ctx, "acme", "shop")
	require.NoError(t, err, "reopening keeps the data")
	require.Equal(t, "v1.0.0", rec.StateVersion)
}

func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "blackwell.db")
	var wg sync.WaitGroup
	stores := make([]*sqlite.Store, 4)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = sqlite.Open(t.Context(), path) })
	}
	wg.Wait()
	for i, s := range stores {
		require.NoError(t, errs[i])
		v, err := s.SchemaVersion(t.Context())
		require.NoError(t, err)
		require.Positive(t, v)
		require.NoError(t, s.Close())
	}
}

// TestTwoStoresOneFile: two Stores (as two processes would) write the same
// file concurrently; busy_timeout and BEGIN IMMEDIATE serialise them.
func TestTwoStoresOneFile(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "blackwell.db")
	a, b := open(t, path), open(t, path)

	const n = 50
	var wg sync.WaitGroup
	for i, s := range []*sqlite.Store{a, b} {
		wg.Go(func() {
			for j := range n {
				stack := fmt.Sprintf("s%d-%d", i, j)
				_, err := s.ApplyDesired(ctx, []store.DesiredInput{{ClientID: "acme", StackID: stack, Hash: "h", Document: json.RawMessage(`{}`)}})
				if !assertNoError(t, err) {
					return
				}
				_, err = s.InsertEvents(ctx, []store.Event{{EventID: stack, ClientID: "acme", StackID: stack}})
				if !assertNoError(t, err) {
					return
				}
				if !assertNoError(t, s.AppendAudit(ctx, []store.AuditEntry{{Action: "apply", ClientID: "acme", StackID: stack}})) {
					return
				}
			}
		})
	}
	wg.Wait()

	for _, s := range []*sqlite.Store{a, b} {
		states, err := store.AllStates(ctx, s, "acme")
		require.NoError(t, err)
		require.Len(t, states, 2*n, "each store sees the other's writes")
	}
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
	require.Len(t, entries, 2*n)
	prev := ""
	for _, e := range entries {
		require.Equal(t, prev, e.PrevHash, "one chain across both writers")
		require.Equal(t, store.ChainHash(e), e.Hash)
		prev = e.Hash
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

func TestOpenRejectsMemory(t *testing.T) {
	t.Parallel()
	_, err := sqlite.Open(t.Context(), ":memory:")
	require.Error(t, err)
}

func TestPathWithURIChars(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "odd ?#% name.db")
	s := open(t, path)
	require.NoError(t, s.Ping(t.Context()))
	require.FileExists(t, path)
}

func TestWriteAfterClose(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close twice is fine")
	_, err := s.ApplyDesired(t.Context(), []store.DesiredInput{{ClientID: "acme", StackID: "shop", Hash: "h", Document: json.RawMessage(`{}`)}})
	require.Error(t, err)
}

func TestCancelledWriteWritesNothing(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "blackwell.db"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.ApplyDesired(ctx, []store.DesiredInput{{ClientID: "acme", StackID: "shop", Hash: "h", Document: json.RawMessage(`{}`)}})
	require.ErrorIs(t, err, context.Canceled)
	_, err = s.GetState(t.Context(), "acme", "shop")
	require.ErrorIs(t, err, store.ErrNotFound)
}
