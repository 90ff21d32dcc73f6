package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

// testHolds: a rollback's hold (DesiredInput.Hold) pins the desired state:
// while it lasts, an input without a hold leaves the document and
// environment as they are (ApplyResult.Pinned) but still updates the
// summaries; a pass keeps the hold; Unpin ends it; an expired hold keeps
// nothing and goes with the next change.
func testHolds(ctx context.Context, t *testing.T, s store.Store) {
	newStack(ctx, t, s, "acme", "shop") // v1.0.0, h-shop
	apply(ctx, t, s, desired("acme", "shop", "h2"))

	// A rollback to the first document, held for an hour.
	until := time.Now().Add(time.Hour)
	in := desired("acme", "shop", "h-shop")
	in.AppliedBy = "ops"
	in.Hold = &store.Hold{Restored: "v1.0.0", Until: until, By: "ops", At: at(0)}
	res := apply(ctx, t, s, in)
	require.Equal(t, store.ApplyResult{ClientID: "acme", StackID: "shop", Changed: true, Version: "v1.2.0", Hash: "h-shop"}, res[0])
	want := &store.Hold{Version: "v1.2.0", Restored: "v1.0.0", Until: store.Truncate(until), By: "ops", At: store.Truncate(at(0))}
	rec := getState(ctx, t, s, "acme", "shop")
	require.Equal(t, want, rec.Hold)
	require.True(t, rec.Hold.Active(time.Now()))

	// A config applied meanwhile (another document, another environment,
	// another policy) changes the summaries only.
	file := desired("acme", "shop", "h2")
	file.Environment = "staging"
	file.Resources = map[string]string{"site_url": "https://h2.example"}
	file.Policy.MaxHealAttempts = 9
	res = apply(ctx, t, s, file)
	require.Equal(t, store.ApplyResult{ClientID: "acme", StackID: "shop", Version: "v1.2.0", Hash: "h-shop", Pinned: want}, res[0])
	kept := getState(ctx, t, s, "acme", "shop")
	require.Equal(t, "h-shop", kept.DesiredHash)
	require.Equal(t, "prod", kept.Environment)
	require.Equal(t, "v1.2.0", kept.StateVersion)
	require.Equal(t, 9, kept.ReconciliationPolicy.MaxHealAttempts)
	require.Equal(t, rec.Resources, kept.Resources, "the kept document's")
	require.Equal(t, want, kept.Hold)

	// The same desired state as pinned is no change and names no hold.
	same := desired("acme", "shop", "h-shop")
	same.Policy.MaxHealAttempts = 9
	res = apply(ctx, t, s, same)
	require.Nil(t, res[0].Pinned)
	require.False(t, res[0].Changed)

	// A pass keeps the hold.
	kept.Status = store.StatusHealthy
	passed, err := s.UpdateState(ctx, kept)
	require.NoError(t, err)
	require.Equal(t, want, passed.Hold)
	require.Equal(t, want, getState(ctx, t, s, "acme", "shop").Hold)

	// A hold given again on an unchanged stack is written in place, pinning
	// the version there is.
	again := desired("acme", "shop", "h-shop")
	again.Policy.MaxHealAttempts = 9
	again.Hold = &store.Hold{Restored: "v1.0.0", Until: until.Add(time.Hour), By: "bob", At: at(time.Minute)}
	res = apply(ctx, t, s, again)
	require.False(t, res[0].Changed)
	held := getState(ctx, t, s, "acme", "shop").Hold
	require.Equal(t, "bob", held.By)
	require.Equal(t, "v1.2.0", held.Version)

	// Unpin ends it; the file then wins.
	got, err := s.Unpin(ctx, "acme", "shop")
	require.NoError(t, err)
	require.Equal(t, held, got)
	require.Nil(t, getState(ctx, t, s, "acme", "shop").Hold)
	got, err = s.Unpin(ctx, "acme", "shop")
	require.NoError(t, err)
	require.Nil(t, got, "nothing to unpin")
	_, err = s.Unpin(ctx, "acme", "nope")
	require.ErrorIs(t, err, store.ErrNotFound)
	res = apply(ctx, t, s, file)
	require.True(t, res[0].Changed)
	require.Equal(t, "h2", getState(ctx, t, s, "acme", "shop").DesiredHash)

	// An expired hold keeps nothing, and the change clears it.
	newStack(ctx, t, s, "acme", "blog")
	old := desired("acme", "blog", "h-blog")
	old.Policy.MaxHealAttempts = 1 // written in place with the hold
	old.Hold = &store.Hold{Restored: "v1.0.0", Until: time.Now().Add(-time.Minute), By: "ops", At: at(0)}
	apply(ctx, t, s, old)
	require.NotNil(t, getState(ctx, t, s, "acme", "blog").Hold)
	res = apply(ctx, t, s, desired("acme", "blog", "h-blog2"))
	require.True(t, res[0].Changed)
	require.Nil(t, res[0].Pinned)
	require.Nil(t, getState(ctx, t, s, "acme", "blog").Hold)

	// Within one call, a stack pinned by its first input keeps the second
	// one out too.
	newStack(ctx, t, s, "acme", "docs")
	pin := desired("acme", "docs", "h-docs")
	pin.Hold = &store.Hold{Restored: "v1.0.0", Until: until, By: "ops", At: at(0)}
	res = apply(ctx, t, s, pin, desired("acme", "docs", "h-other"))
	require.NotNil(t, res[1].Pinned)
	require.Equal(t, "h-docs", getState(ctx, t, s, "acme", "docs").DesiredHash)
}
