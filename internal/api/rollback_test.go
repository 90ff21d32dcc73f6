package api

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/rollback"
	"github.com/blackwellio/blackwell/internal/store"
)

// TestRollbackToASnapshot: a rollback naming a snapshot (or a version
// with one) runs the rollback across providers and answers its record;
// snapshots, rollbacks and versions list it; bad targets change nothing.
func TestRollbackToASnapshot(t *testing.T) {
	t.Parallel()
	var st store.Store
	f := setup(t, func(o *Options) {
		st = o.Store
		o.Rollbacks = rollback.New(rollback.Options{Store: o.Store, State: o.State, Registry: provider.NewRegistry(provider.RegistryOptions{}),
			Now: o.Now, VerifyAttempts: 1,
			// The verification pass finds the stack healthy.
			Verify: func(ctx context.Context, c, s string) error {
				rec, err := st.GetState(ctx, c, s)
				if err != nil {
					return err
				}
				rec.Status = store.StatusHealthy
				_, err = st.UpdateState(ctx, rec)
				return err
			}})
	})
	f.seed(t)
	ctx := context.Background()
	v1, err := st.GetState(ctx, "acme-corp", "status-page")
	require.NoError(t, err)
	snap := store.Snapshot{ClientID: "acme-corp", StackID: "status-page", Version: "v1.0.0", DesiredHash: v1.DesiredHash, TakenAt: f.now}
	snap.ID = store.SnapshotID(snap)
	_, err = st.PutSnapshot(ctx, snap)
	require.NoError(t, err)
	other := snap
	other.ClientID = "globex"
	other.ID = store.SnapshotID(other)
	_, err = st.PutSnapshot(ctx, other)
	require.NoError(t, err)
	spec := `{"spec": {"resources": {"page": {"probe": "http", "url": "https://status.acme.example/v2"}}}}`
	decodeAs[store.StateRecord](t, f.do(t, "PATCH", "/v1/stacks/acme-corp/status-page", spec), http.StatusOK)

	const path = "/v1/stacks/acme-corp/status-page/rollback"
	e := requireError(t, f.do(t, "POST", path, `{"snapshot": "`+other.ID+`"}`), http.StatusUnprocessableEntity, codeInvalid)
	require.Contains(t, e.Error.Message, "is not a snapshot of acme-corp/status-page")
	e = requireError(t, f.do(t, "POST", path, `{"snapshot": "snap-0000000000000000"}`), http.StatusNotFound, codeNotFound)
	require.Contains(t, e.Error.Message, "pruned, or never taken")
	requireError(t, f.do(t, "POST", path, `{"snapshot": "`+snap.ID+`", "version": "v1.0.0"}`), http.StatusUnprocessableEntity, codeInvalid)
	requireError(t, f.do(t, "POST", path, `{"snapshot": "yesterday"}`), http.StatusUnprocessableEntity, codeInvalid)
	runs := decodeAs[list[store.RollbackRecord]](t, f.do(t, "GET", "/v1/stacks/acme-corp/status-page/rollbacks", ""), http.StatusOK)
	require.Empty(t, runs.Items, "bad targets record nothing")

	res := decodeAs[rollbackAnswer](t, f.do(t, "POST", path, `{"snapshot": "`+snap.ID+`", "hold": "1h"}`), http.StatusOK)
	require.NotNil(t, res.Rollback)
	require.Equal(t, store.RollbackVerified, res.Rollback.Status, res.Rollback.Error)
	outcomes := map[string]string{}
	for _, s := range res.Rollback.Steps {
		outcomes[s.Component] = s.Outcome
	}
	require.Equal(t, map[string]string{"desired_state": "restored", "cms_alias": "skipped", "subscriptions": "skipped",
		"build": "skipped", "verify": "restored"}, outcomes)
	require.Equal(t, "v1.2.0", res.Version)
	require.True(t, res.Changed)
	require.Equal(t, "v1.0.0", res.RestoredVersion)
	require.NotNil(t, res.Hold)
	require.Equal(t, snap.ID, res.Hold.Snapshot)

	snaps := decodeAs[list[store.Snapshot]](t, f.do(t, "GET", "/v1/stacks/acme-corp/status-page/snapshots", ""), http.StatusOK)
	require.Len(t, snaps.Items, 1)
	require.Equal(t, snap.ID, snaps.Items[0].ID)
	runs = decodeAs[list[store.RollbackRecord]](t, f.do(t, "GET", "/v1/stacks/acme-corp/status-page/rollbacks", ""), http.StatusOK)
	require.Len(t, runs.Items, 1)
	versions := decodeAs[list[versionItem]](t, f.do(t, "GET", "/v1/stacks/acme-corp/status-page/versions", ""), http.StatusOK)
	require.Len(t, versions.Items, 3)
	require.Equal(t, snap.ID, versions.Items[2].Snapshot, "v1.0.0 names its snapshot")
	require.Empty(t, versions.Items[0].Snapshot)
	requireError(t, f.do(t, "GET", "/v1/stacks/acme-corp/nope/snapshots", ""), http.StatusNotFound, codeNotFound)

	// A version without a snapshot restores the desired state alone, and
	// says so.
	res = decodeAs[rollbackAnswer](t, f.do(t, "POST", path, `{"version": "v1.1.0", "hold": "1h"}`), http.StatusOK)
	require.Nil(t, res.Rollback)
	require.Contains(t, res.Warnings[0], "no known-good snapshot of v1.1.0 is kept")
}
