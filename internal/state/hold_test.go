package state_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// TestTheFileWinsUnlessARollbackHoldsTheStack: what the file declares is
// put back by the next file apply (and an API change of it says so),
// except a stack held by a rollback, which the file apply keeps (audited)
// until the hold is ended.
func TestTheFileWinsUnlessARollbackHoldsTheStack(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	file := cfgWith("https://a.example/", nil)
	_, err := b.svc.ApplyFile(ctx, file, "blackwell.yaml")
	require.NoError(t, err)
	rec, err := b.store.GetState(ctx, "acme", "web")
	require.NoError(t, err)
	require.Empty(t, b.svc.StackWarning(rec), "as the file declares it")

	// A change through the API: warned, and undone by the next file apply.
	_, err = b.svc.Apply(ctx, cfgWith("https://b.example/", nil), "token:ops")
	require.NoError(t, err)
	rec, err = b.store.GetState(ctx, "acme", "web")
	require.NoError(t, err)
	require.Contains(t, b.svc.StackWarning(rec), "acme/web: the config file blackwell.yaml declares this stack with another desired state; the server applies the file's again on its next SIGHUP or restart")
	res, err := b.svc.ApplyFile(ctx, file, "blackwell.yaml")
	require.NoError(t, err)
	require.True(t, res.Stacks[0].Changed)
	require.Equal(t, "v1.2.0", res.Stacks[0].Version)
	fileHash := res.Stacks[0].Hash

	// A held rollback to v1.1.0 survives the file.
	rb, err := b.svc.Rollback(ctx, state.RollbackRequest{ClientID: "acme", StackID: "web", Version: "v1.1.0", By: "ops", Hold: 24 * time.Hour})
	require.NoError(t, err)
	require.Equal(t, "v1.3.0", rb.Version)
	rec, err = b.store.GetState(ctx, "acme", "web")
	require.NoError(t, err)
	require.NotNil(t, rec.Hold)
	require.Equal(t, "v1.3.0", rec.Hold.Version)
	require.Equal(t, "v1.1.0", rec.Hold.Restored)
	require.Contains(t, b.svc.StackWarning(rec), "acme/web: pinned until ")
	res, err = b.svc.ApplyFile(ctx, file, "blackwell.yaml")
	require.NoError(t, err)
	require.False(t, res.Stacks[0].Changed)
	require.NotNil(t, res.Stacks[0].Pinned)
	require.Equal(t, "v1.3.0", res.Stacks[0].Version)
	kept, err := b.store.GetState(ctx, "acme", "web")
	require.NoError(t, err)
	require.Equal(t, rec.DesiredHash, kept.DesiredHash)
	audit, _, err := b.store.ListAudit(ctx, store.AuditQuery{ClientID: "acme", Action: "desired_state_kept"})
	require.NoError(t, err)
	require.Len(t, audit, 1)
	require.Equal(t, "config:blackwell.yaml", audit[0].TriggeredBy)
	require.Contains(t, string(audit[0].ChangesMade), `"reason":"pinned"`)
	require.Contains(t, string(audit[0].ChangesMade), `"not_applied_hash":"`+fileHash+`"`)

	// While held, a rollback without a hold of its own is refused.
	_, err = b.svc.Rollback(ctx, state.RollbackRequest{ClientID: "acme", StackID: "web", Version: "v1.0.0", By: "ops"})
	require.ErrorIs(t, err, state.ErrPinned)
	require.ErrorContains(t, err, "blackwell unpin acme/web")

	// Holds longer than MaxHold are refused.
	_, err = b.svc.Rollback(ctx, state.RollbackRequest{ClientID: "acme", StackID: "web", Version: "v1.0.0", By: "ops", Hold: state.MaxHold + time.Second})
	require.ErrorIs(t, err, state.ErrInvalid)

	// Unpin: audited; the next file apply wins again.
	h, err := b.svc.Unpin(ctx, "acme", "web", "ops")
	require.NoError(t, err)
	require.Equal(t, "v1.3.0", h.Version)
	h, err = b.svc.Unpin(ctx, "acme", "web", "ops")
	require.NoError(t, err)
	require.Nil(t, h)
	res, err = b.svc.ApplyFile(ctx, file, "blackwell.yaml")
	require.NoError(t, err)
	require.True(t, res.Stacks[0].Changed)
	require.Equal(t, fileHash, res.Stacks[0].Hash)
	unpinned, _, err := b.store.ListAudit(ctx, store.AuditQuery{ClientID: "acme", Action: "unpinned"})
	require.NoError(t, err)
	require.Len(t, unpinned, 1, "an unpin of nothing writes nothing")
}
