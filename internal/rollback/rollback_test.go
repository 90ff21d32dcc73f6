package rollback_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/rollback"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// establish deploys c1, declares v1.0.0 and runs passes until it is
// healthy: its known-good snapshot is recorded.
func establish(t *testing.T, w *world, pol config.PolicySpec) store.Snapshot {
	t.Helper()
	w.host.Publish("c1", true)
	w.apply(t, pol, "Entry.publish")
	w.untilHealthy(t, 5)
	snaps := w.snapshots(t)
	require.Len(t, snaps, 1, "a verified pass records one snapshot; passes that see the same confirm it")
	return snaps[0]
}

// badRelease declares v1.1.0 (another topic), moves the alias to a new
// environment and publishes a commit that breaks the site.
func badRelease(t *testing.T, w *world) {
	t.Helper()
	w.apply(t, healing(), "Entry.publish", "Entry.unpublish")
	w.cms.SetAlias("master", "release-2")
	w.push("c2", true)
	w.host.Publish("c2", true)
	require.Equal(t, "failing", string(w.site.Mode()))
}

func stepOutcomes(rec *store.RollbackRecord) map[string]string {
	out := map[string]string{}
	for _, st := range rec.Steps {
		out[st.Component] = st.Outcome
	}
	return out
}

func TestRollbackRestoresTheProvidersOfASnapshot(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	good := establish(t, w, healing())
	require.Equal(t, "v1.0.0", good.Version)
	require.Equal(t, &store.BuildSnapshot{Driver: "hook", Host: "netlify", DeployID: w.host.Live().ID, SourceVersion: "c1"}, good.Components.Build)
	require.NotEmpty(t, good.Components.Build.DeployID)
	require.Equal(t, &store.AliasSnapshot{Role: "cms", Provider: "contentful", Alias: "master", Environment: "release-1"}, good.Components.CMSAlias)
	require.Len(t, good.Components.Subscriptions, 1)
	require.Equal(t, []string{"Entry.publish"}, good.Components.Subscriptions[0].Topics)

	badRelease(t, w)
	for range 3 {
		w.round(t) // auto-heal rebuilds the head: still broken
	}
	rec, err := w.store.GetState(ctx, "acme", "web")
	require.NoError(t, err)
	require.Equal(t, store.StatusDriftDetected, rec.Status)

	rb, err := w.svc.Start(ctx, rollback.Request{ClientID: "acme", StackID: "web", Target: "v1.0.0", Hold: 2 * time.Hour, By: "ops"})
	require.NoError(t, err)
	require.Equal(t, store.RollbackVerified, rb.Status, rb.Error)
	require.Equal(t, map[string]string{"desired_state": "restored", "cms_alias": "restored", "subscriptions": "restored",
		"build": "restored", "verify": "restored"}, stepOutcomes(rb))
	require.Contains(t, rb.Steps[4].Detail, "3 of 3 components match the snapshot")
	require.Equal(t, good.Components.Build.DeployID, w.host.Live().ID)
	alias, _ := w.cms.Alias("master")
	require.Equal(t, "release-1", alias.Environment)

	rec, err = w.store.GetState(ctx, "acme", "web")
	require.NoError(t, err)
	require.Equal(t, store.StatusHealthy, rec.Status)
	require.Equal(t, "v1.2.0", rec.StateVersion)
	require.Equal(t, good.DesiredHash, rec.DesiredHash)
	require.NotNil(t, rec.Hold)
	require.Equal(t, good.ID, rec.Hold.Snapshot)

	entries, _, err := w.store.ListAudit(ctx, store.AuditQuery{ClientID: "acme", Action: "rollback_providers"})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.True(t, entries[0].Success)
	require.Contains(t, string(entries[0].ChangesMade), `"component":"build","outcome":"restored"`)

	// The same rollback again changes nothing at the providers.
	again, err := w.svc.Start(ctx, rollback.Request{ClientID: "acme", StackID: "web", Target: good.ID, Hold: time.Hour, By: "ops"})
	require.NoError(t, err)
	require.Equal(t, store.RollbackVerified, again.Status, again.Error)
	require.Equal(t, "unchanged", stepOutcomes(again)["cms_alias"])
	require.Equal(t, "unchanged", stepOutcomes(again)["build"])
}

func TestBadRollbackInputChangesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	good := establish(t, w, healing())
	badRelease(t, w)

	// Another client's snapshot with our id form.
	other := good
	other.ClientID = "globex"
	other.ID = store.SnapshotID(other)
	_, err := w.store.PutSnapshot(ctx, other)
	require.NoError(t, err)

	forbid := healing()
	forbid.Rollback.ForbidHold = true
	require.NoError(t, w.state.PutPolicy(ctx, "acme", "web", forbid, "test"))

	before, err := w.store.ListDesiredVersions(ctx, "acme", "web")
	require.NoError(t, err)
	live := w.host.Live().ID
	for _, tc := range []struct {
		name string
		req  rollback.Request
		want error
	}{
		{"a snapshot of another client", rollback.Request{Target: other.ID}, state.ErrInvalid},
		{"a pruned snapshot", rollback.Request{Target: "snap-0000000000000000"}, store.ErrNotFound},
		{"an unknown version", rollback.Request{Target: "v9.0.0"}, store.ErrNotFound},
		{"not a target", rollback.Request{Target: "yesterday"}, state.ErrInvalid},
		{"a pin the policy forbids", rollback.Request{Target: "v1.0.0", Hold: time.Hour}, state.ErrInvalid},
		{"a hold too long", rollback.Request{Target: "v1.0.0", Hold: 8 * 24 * time.Hour}, state.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.ClientID, tc.req.StackID, tc.req.By = "acme", "web", "ops"
			rb, err := w.svc.Start(ctx, tc.req)
			require.ErrorIs(t, err, tc.want)
			require.Nil(t, rb)
		})
	}
	after, err := w.store.ListDesiredVersions(ctx, "acme", "web")
	require.NoError(t, err)
	require.Equal(t, len(before), len(after), "no version written")
	require.Equal(t, live, w.host.Live().ID, "the deployment is as it was")
	alias, _ := w.cms.Alias("master")
	require.Equal(t, "release-2", alias.Environment, "the alias is as it was")
	runs, err := w.store.ListRollbacks(ctx, "acme", "", false)
	require.NoError(t, err)
	require.Empty(t, runs, "no rollback recorded")
}

// interrupting cancels the rollback's context when it reaches the build.
type interrupting struct {
	rollback.Deployer
	cancel context.CancelFunc
}

func (d interrupting) Restore(ctx context.Context, api config.DeployAPI, id string) error {
	d.cancel()
	return ctx.Err()
}

func TestAnInterruptedRollbackResumesOnRestart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorld(t, worldOpts{deployer: func(d rollback.Deployer) rollback.Deployer { return interrupting{d, cancel} }})
	good := establish(t, w, healing())
	badRelease(t, w)

	rb, err := w.svc.Start(ctx, rollback.Request{ClientID: "acme", StackID: "web", Target: good.ID, By: "ops"})
	require.ErrorIs(t, err, context.Canceled)
	runs, err := w.store.ListRollbacks(context.Background(), "acme", "web", true)
	require.NoError(t, err)
	require.Len(t, runs, 1, "the record says it is still running")
	require.Equal(t, rb.ID, runs[0].ID)
	require.Equal(t, map[string]string{"desired_state": "restored", "cms_alias": "restored", "subscriptions": "restored",
		"build": "pending", "verify": "pending"}, stepOutcomes(&runs[0]))
	versions, err := w.store.ListDesiredVersions(context.Background(), "acme", "web")
	require.NoError(t, err)

	// A new rollback of the stack waits for that one.
	_, err = w.svc.Start(context.Background(), rollback.Request{ClientID: "acme", StackID: "web", Target: good.ID, By: "ops"})
	require.ErrorIs(t, err, rollback.ErrRunning)

	// Restart: a deploy client that works, a new service over the store.
	w.pins.Deployer, w.deps = w.deps.(interrupting).Deployer, w.deps.(interrupting).Deployer
	w.startLoop(t)
	n, err := w.svc.Resume(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, n)
	runs, err = w.store.ListRollbacks(context.Background(), "acme", "web", false)
	require.NoError(t, err)
	require.Equal(t, store.RollbackVerified, runs[0].Status, runs[0].Error)
	require.Equal(t, "restored", stepOutcomes(&runs[0])["build"])
	require.Equal(t, good.Components.Build.DeployID, w.host.Live().ID)
	again, err := w.store.ListDesiredVersions(context.Background(), "acme", "web")
	require.NoError(t, err)
	require.Len(t, again, len(versions), "the desired state was not rolled back twice")
}

// flipBacks runs outages of a pinned stack: each outage makes auto-heal
// rebuild the site. It returns how many deployments the heals made live
// that are not the pinned one.
func flipBacks(t *testing.T, w *world, pinned string, outages int) int {
	t.Helper()
	from := len(w.madeLive(0))
	w.push("c3", false) // newer work lands on the branch meanwhile
	for range outages {
		require.NoError(t, w.site.SetMode("failing"))
		w.round(t) // confirms resource_unhealthy, decides a rebuild, runs it
		w.round(t)
	}
	n := 0
	for _, d := range w.madeLive(from) {
		if d.ID != pinned {
			n++
		}
	}
	return n
}

func TestAPinnedStackHealsTowardItsSnapshot(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		noPins bool
	}{{"pinned heals", false}, {"heals unaware of pins (control)", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, worldOpts{noPins: tc.noPins})
			good := establish(t, w, healing())
			badRelease(t, w)
			rb, err := w.svc.Start(context.Background(), rollback.Request{ClientID: "acme", StackID: "web", Target: good.ID, Hold: 2 * time.Hour, By: "ops"})
			require.NoError(t, err)
			require.Equal(t, store.RollbackVerified, rb.Status, rb.Error)

			restores := w.host.Restores()
			n := flipBacks(t, w, good.Components.Build.DeployID, 5)
			if tc.noPins {
				require.Positive(t, n, "without pins a rebuild publishes the newer head")
				return
			}
			require.Zero(t, n, "flip-backs")
			require.Equal(t, 5, w.host.Restores()-restores, "every outage healed by publishing the pinned deployment again")
			require.Equal(t, good.Components.Build.DeployID, w.host.Live().ID)
			rec := w.untilHealthy(t, 3)
			require.Equal(t, good.DesiredHash, rec.DesiredHash)
		})
	}
}

func TestARollbackToAVersionWithoutSnapshotRestoresNothingElse(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	w.apply(t, healing(), "Entry.publish") // never verified: no snapshot
	rb, err := w.svc.Start(context.Background(), rollback.Request{ClientID: "acme", StackID: "web", Target: "v1.0.0", By: "ops"})
	require.NoError(t, err)
	require.Nil(t, rb, "the caller restores the desired state alone")
	require.False(t, errors.Is(err, store.ErrNotFound))
}

func TestAProviderFaultFailsTheRollbackAndARetryFinishesIt(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	good := establish(t, w, healing())
	badRelease(t, w)

	w.host.FailServer(-1)
	rb, err := w.svc.Start(ctx, rollback.Request{ClientID: "acme", StackID: "web", Target: good.ID, By: "ops"})
	require.Error(t, err)
	require.Equal(t, store.RollbackFailed, rb.Status)
	require.Contains(t, rb.Error, "build: read the live deployment")
	require.Equal(t, map[string]string{"desired_state": "restored", "cms_alias": "restored", "subscriptions": "restored",
		"build": "failed", "verify": "pending"}, stepOutcomes(rb))
	entries, _, err := w.store.ListAudit(ctx, store.AuditQuery{ClientID: "acme", Action: "rollback_providers"})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.False(t, entries[0].Success)

	// The host recovers: the same rollback again finishes what is left.
	w.host.Recover()
	rb, err = w.svc.Start(ctx, rollback.Request{ClientID: "acme", StackID: "web", Target: good.ID, By: "ops"})
	require.NoError(t, err)
	require.Equal(t, store.RollbackVerified, rb.Status, rb.Error)
	require.Equal(t, map[string]string{"desired_state": "unchanged", "cms_alias": "unchanged", "subscriptions": "restored",
		"build": "restored", "verify": "restored"}, stepOutcomes(rb))
	require.Equal(t, good.Components.Build.DeployID, w.host.Live().ID)
}
