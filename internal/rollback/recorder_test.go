package rollback_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/rollback"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// countingStore counts PutSnapshot calls.
type countingStore struct {
	store.Store
	puts atomic.Int64
}

func (c *countingStore) PutSnapshot(ctx context.Context, s store.Snapshot) (store.Snapshot, error) {
	c.puts.Add(1)
	return c.Store.PutSnapshot(ctx, s)
}

// TestHealthyPassesConfirmASnapshotOnlyNowAndThen: the same state seen by
// pass after pass is written once per ConfirmEvery; a new state at once.
func TestHealthyPassesConfirmASnapshotOnlyNowAndThen(t *testing.T) {
	t.Parallel()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	st := &countingStore{Store: db}
	r := &rollback.Recorder{Store: st, ConfirmEvery: 10 * time.Minute,
		Capturer: &rollback.Capturer{Registry: provider.NewRegistry(provider.RegistryOptions{})}}
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	pass := func(version string, at time.Time) {
		r.AfterVerifiedPass(context.Background(), reconcile.VerifiedPass{ClientID: "acme", StackID: "web",
			ReconciliationID: "recon-1", Version: version, DesiredHash: "h-" + version, At: at})
	}
	pass("v1.0.0", t0)
	pass("v1.0.0", t0.Add(time.Minute))
	pass("v1.0.0", t0.Add(9*time.Minute))
	require.EqualValues(t, 1, st.puts.Load())
	pass("v1.0.0", t0.Add(11*time.Minute))
	require.EqualValues(t, 2, st.puts.Load(), "confirmed again after ConfirmEvery")
	pass("v1.1.0", t0.Add(12*time.Minute))
	require.EqualValues(t, 3, st.puts.Load(), "a new state at once")

	snaps, err := db.ListSnapshots(context.Background(), "acme", "web")
	require.NoError(t, err)
	require.Len(t, snaps, 2)
	require.Equal(t, "v1.1.0", snaps[0].Version)
	require.Equal(t, store.Truncate(t0.Add(11*time.Minute)), snaps[1].ConfirmedAt)
}
