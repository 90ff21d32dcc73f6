package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

func testApplyDesiredNew(ctx context.Context, t *testing.T, s store.Store) {
	in := desired("acme", "shop-prod", "h1")
	res := apply(ctx, t, s, in)
	require.Equal(t, store.ApplyResult{
		ClientID: "acme", StackID: "shop-prod", Created: true, Changed: true, Version: "v1.0.0", Hash: "h1",
	}, res[0])

	rec := getState(ctx, t, s, "acme", "shop-prod")
	require.Equal(t, "acme", rec.ClientID)
	require.Equal(t, "shop-prod", rec.StackID)
	require.Equal(t, "prod", rec.Environment)
	require.Equal(t, "h1", rec.DesiredHash)
	require.Empty(t, rec.AppliedHash, "AppliedHash is set by a pass, not by apply")
	require.Equal(t, "v1.0.0", rec.StateVersion)
	require.Empty(t, rec.PreviousVersions)
	require.Equal(t, string(in.Document), string(rec.Desired))
	require.Equal(t, in.Resources, rec.Resources)
	require.Equal(t, in.Policy, rec.ReconciliationPolicy)
	require.Equal(t, in.Observability, rec.Observability)
	require.Nil(t, rec.LastApplied)
	require.Nil(t, rec.LastVerified, "no pass has verified a new stack")
	require.Equal(t, store.StatusReconciling, rec.Status, "a new stack is reconciling until its first pass")
	require.Equal(t, drift.LastKnown{}, rec.LastKnown, "nothing known, no pass yet")
	require.Empty(t, rec.DriftDetails)
	require.Empty(t, rec.LastError)
	require.Positive(t, rec.Revision)
	require.WithinDuration(t, time.Now(), rec.CreatedAt, time.Minute)
	require.Equal(t, rec.CreatedAt, rec.UpdatedAt)
	require.Equal(t, store.Truncate(rec.CreatedAt), rec.CreatedAt)

	versions, err := s.ListDesiredVersions(ctx, "acme", "shop-prod")
	require.NoError(t, err)
	require.Len(t, versions, 1)
	v := versions[0]
	require.Equal(t, "v1.0.0", v.Version)
	require.Equal(t, "h1", v.Hash)
	require.Equal(t, string(in.Document), string(v.Document))
	require.Equal(t, "alice", v.CreatedBy)
	require.Equal(t, rec.CreatedAt, v.CreatedAt)

	got, err := s.GetDesiredVersion(ctx, "acme", "shop-prod", "v1.0.0")
	require.NoError(t, err)
	require.Equal(t, v, got)
}

func testApplyDesiredUnchanged(ctx context.Context, t *testing.T, s store.Store) {
	before := newStack(ctx, t, s, "acme", "blog")
	res := apply(ctx, t, s, desired("acme", "blog", "h-blog"))
	require.Equal(t, store.ApplyResult{
		ClientID: "acme", StackID: "blog", Created: false, Changed: false, Version: "v1.0.0", Hash: "h-blog",
	}, res[0])
	require.Equal(t, before, getState(ctx, t, s, "acme", "blog"), "an unchanged hash writes nothing")
	versions, err := s.ListDesiredVersions(ctx, "acme", "blog")
	require.NoError(t, err)
	require.Len(t, versions, 1)
}

func testApplyDesiredChanged(ctx context.Context, t *testing.T, s store.Store) {
	first := newStack(ctx, t, s, "acme", "shop")
	// A pass has applied the first version; apply must not touch AppliedHash
	// nor the pass's fields.
	first.AppliedHash = "h-shop"
	first.LastApplied = ptr(at(time.Minute))
	first.LastVerified = ptr(at(time.Minute))
	first.Status = store.StatusDriftDetected
	first, err := s.UpdateState(ctx, first)
	require.NoError(t, err)

	in2 := desired("acme", "shop", "h2")
	in2.Environment = "staging"
	in2.Resources = map[string]string{"site_url": "https://new.example", "cache": "tbl"}
	in2.Policy.AutoHeal = false
	in2.Observability.AlertChannels = []string{"pagerduty"}
	in2.AppliedBy = "bob"
	res := apply(ctx, t, s, in2)
	require.Equal(t, store.ApplyResult{
		ClientID: "acme", StackID: "shop", Created: false, Changed: true, Version: "v1.1.0", Hash: "h2",
	}, res[0])

	second := getState(ctx, t, s, "acme", "shop")
	require.Equal(t, "v1.1.0", second.StateVersion)
	require.Equal(t, []string{"v1.0.0"}, second.PreviousVersions)
	require.Equal(t, "h2", second.DesiredHash)
	require.Equal(t, string(in2.Document), string(second.Desired))
	require.Equal(t, "staging", second.Environment)
	require.Equal(t, in2.Resources, second.Resources)
	require.Equal(t, in2.Policy, second.ReconciliationPolicy)
	require.Equal(t, in2.Observability, second.Observability)
	require.Equal(t, "h-shop", second.AppliedHash, "the reconciler sets AppliedHash")
	require.Equal(t, first.LastApplied, second.LastApplied)
	require.Equal(t, first.LastVerified, second.LastVerified)
	require.Equal(t, first.Status, second.Status)
	require.Equal(t, first.CreatedAt, second.CreatedAt)
	require.Equal(t, first.Revision+1, second.Revision)
	require.False(t, second.UpdatedAt.Before(first.UpdatedAt))

	// Going back to an earlier document is a change too: a new version.
	res = apply(ctx, t, s, desired("acme", "shop", "h-shop"))
	require.True(t, res[0].Changed)
	require.Equal(t, "v1.2.0", res[0].Version)
	third := getState(ctx, t, s, "acme", "shop")
	require.Equal(t, []string{"v1.0.0", "v1.1.0"}, third.PreviousVersions)
	require.Equal(t, second.Revision+1, third.Revision)

	versions, err := s.ListDesiredVersions(ctx, "acme", "shop")
	require.NoError(t, err)
	var names, hashes, by []string
	for _, v := range versions {
		names, hashes, by = append(names, v.Version), append(hashes, v.Hash), append(by, v.CreatedBy)
	}
	require.Equal(t, []string{"v1.2.0", "v1.1.0", "v1.0.0"}, names, "newest first")
	require.Equal(t, []string{"h-shop", "h2", "h-shop"}, hashes)
	require.Equal(t, []string{"alice", "bob", "alice"}, by)

	v, err := s.GetDesiredVersion(ctx, "acme", "shop", "v1.1.0")
	require.NoError(t, err)
	require.Equal(t, string(in2.Document), string(v.Document))
	require.Equal(t, "h2", v.Hash)

	_, err = s.GetDesiredVersion(ctx, "acme", "shop", "v9.9.9")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetDesiredVersion(ctx, "acme", "nope", "v1.0.0")
	require.ErrorIs(t, err, store.ErrNotFound)
	versions, err = s.ListDesiredVersions(ctx, "acme", "nope")
	require.NoError(t, err)
	require.Empty(t, versions)
}

func testApplyDesiredBatch(ctx context.Context, t *testing.T, s store.Store) {
	apply(ctx, t, s, desired("acme", "a", "ha"), desired("acme", "b", "hb"))
	res := apply(ctx, t, s, desired("acme", "a", "ha"), desired("acme", "b", "hb2"), desired("globex", "c", "hc"))
	require.Equal(t, []store.ApplyResult{
		{ClientID: "acme", StackID: "a", Version: "v1.0.0", Hash: "ha"},
		{ClientID: "acme", StackID: "b", Changed: true, Version: "v1.1.0", Hash: "hb2"},
		{ClientID: "globex", StackID: "c", Created: true, Changed: true, Version: "v1.0.0", Hash: "hc"},
	}, res)
	require.Equal(t, "v1.1.0", getState(ctx, t, s, "acme", "b").StateVersion)
	require.Equal(t, "hc", getState(ctx, t, s, "globex", "c").DesiredHash)
}

// testApplyDesiredEnvironmentOnly: a new environment with the same
// document is a change of desired state like any other: a new version
// (its document the same), the environment stored.
func testApplyDesiredEnvironmentOnly(ctx context.Context, t *testing.T, s store.Store) {
	first := newStack(ctx, t, s, "acme", "shop")
	in := desired("acme", "shop", "h-shop")
	in.Environment = "staging"
	in.AppliedBy = "bob"
	res := apply(ctx, t, s, in)
	require.Equal(t, store.ApplyResult{
		ClientID: "acme", StackID: "shop", Changed: true, Version: "v1.1.0", Hash: "h-shop",
	}, res[0])
	rec := getState(ctx, t, s, "acme", "shop")
	require.Equal(t, "staging", rec.Environment)
	require.Equal(t, "v1.1.0", rec.StateVersion)
	require.Equal(t, []string{"v1.0.0"}, rec.PreviousVersions)
	require.Equal(t, first.Revision+1, rec.Revision)
	versions, err := s.ListDesiredVersions(ctx, "acme", "shop")
	require.NoError(t, err)
	require.Len(t, versions, 2)
	require.Equal(t, "bob", versions[0].CreatedBy)
	require.Equal(t, versions[1].Document, versions[0].Document, "the same document")

	// Applying it again changes nothing.
	res = apply(ctx, t, s, in)
	require.False(t, res[0].Changed)
	require.Equal(t, rec, getState(ctx, t, s, "acme", "shop"))
}

// testApplyDesiredSummariesOnly: the same document and environment with
// another policy or observability summary (a policy changed, not the
// stack) updates the record's summaries in place: no new version, not
// Changed, the revision bumped.
func testApplyDesiredSummariesOnly(ctx context.Context, t *testing.T, s store.Store) {
	first := newStack(ctx, t, s, "acme", "shop")
	in := desired("acme", "shop", "h-shop")
	in.Policy = store.PolicySummary{AutoHeal: false, MaxHealAttempts: 5, HealBackoff: "linear", RequireApproval: []string{}}
	in.Observability.AlertChannels = []string{"pagerduty", "slack"}
	res := apply(ctx, t, s, in)
	require.Equal(t, store.ApplyResult{ClientID: "acme", StackID: "shop", Version: "v1.0.0", Hash: "h-shop"}, res[0])
	rec := getState(ctx, t, s, "acme", "shop")
	require.Equal(t, in.Policy, rec.ReconciliationPolicy)
	require.Equal(t, in.Observability, rec.Observability)
	require.Equal(t, "v1.0.0", rec.StateVersion)
	require.Empty(t, rec.PreviousVersions)
	require.Equal(t, first.Revision+1, rec.Revision)
	versions, err := s.ListDesiredVersions(ctx, "acme", "shop")
	require.NoError(t, err)
	require.Len(t, versions, 1, "no new version")

	// Unchanged summaries write nothing.
	apply(ctx, t, s, in)
	require.Equal(t, rec, getState(ctx, t, s, "acme", "shop"))
}

func testGetStateNotFound(ctx context.Context, t *testing.T, s store.Store) {
	_, err := s.GetState(ctx, "acme", "missing")
	require.ErrorIs(t, err, store.ErrNotFound)
	newStack(ctx, t, s, "acme", "present")
	_, err = s.GetState(ctx, "globex", "present")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testListStates(ctx context.Context, t *testing.T, s store.Store) {
	keys := []string{"acme/s1", "acme/s2", "acme/s3", "globex/s1", "globex/s2"}
	// Applied out of order: the list is ordered by client then stack.
	for _, k := range []string{"globex/s2", "acme/s3", "globex/s1", "acme/s1", "acme/s2"} {
		client, stack, _ := strings.Cut(k, "/")
		newStack(ctx, t, s, client, stack)
	}
	listKeys := func(client string, limit int) []string {
		t.Helper()
		return pageKeys(t, limit, func(cursor string) ([]store.StateRecord, store.Page, error) {
			return s.ListStates(ctx, client, cursor, limit)
		}, store.StateRecord.Key)
	}

	all, err := store.AllStates(ctx, s, "")
	require.NoError(t, err)
	require.Len(t, all, 5)
	require.Equal(t, getState(ctx, t, s, "acme", "s2"), all[1])

	require.Equal(t, keys, listKeys("", 0))
	require.Equal(t, keys, listKeys("", 1))
	require.Equal(t, keys, listKeys("", 2))
	require.Equal(t, keys, listKeys("", 5), "a full last page has no next cursor")
	require.Equal(t, keys[3:], listKeys("globex", 1))
	require.Equal(t, keys[:3], listKeys("acme", 2))
	require.Empty(t, listKeys("initech", 2))

	_, _, err = s.ListStates(ctx, "", "not a cursor!", 2)
	require.ErrorIs(t, err, store.ErrInvalidCursor)

	// ListStackRefs: the same stacks, order and cursors, names only.
	refs := func(limit int) []string {
		t.Helper()
		return pageKeys(t, limit, func(cursor string) ([]store.StackRef, store.Page, error) {
			return s.ListStackRefs(ctx, cursor, limit)
		}, store.StackRef.Key)
	}
	require.Equal(t, keys, refs(0))
	require.Equal(t, keys, refs(2))
	require.Equal(t, keys, refs(5))
	page, next, err := s.ListStates(ctx, "", "", 2)
	require.NoError(t, err)
	refPage, refNext, err := s.ListStackRefs(ctx, "", 2)
	require.NoError(t, err)
	require.Equal(t, next, refNext, "ListStates's cursors")
	require.Equal(t, []store.StackRef{{ClientID: page[0].ClientID, StackID: page[0].StackID}, {ClientID: page[1].ClientID, StackID: page[1].StackID}}, refPage)
	_, _, err = s.ListStackRefs(ctx, "not a cursor!", 2)
	require.ErrorIs(t, err, store.ErrInvalidCursor)
}

// testListShardStacks: the stacks of one shard (store.ShardOf), by client
// and stack, paged; every stack is in exactly its own shard's list; a
// shard out of range is an error.
func testListShardStacks(ctx context.Context, t *testing.T, s store.Store) {
	var in []store.DesiredInput
	want := map[int][]string{}
	for c := range 4 {
		for k := range 40 {
			client, stack := fmt.Sprintf("client-%d", c), fmt.Sprintf("stäck-%02d", k) // not only ASCII
			in = append(in, desired(client, stack, "h"))
			shard := store.ShardOf(client, stack)
			want[shard] = append(want[shard], client+"/"+stack)
		}
	}
	_, err := s.ApplyDesired(ctx, in)
	require.NoError(t, err)
	listed := 0
	for shard := range store.Shards {
		keys := pageKeys(t, 2, func(cursor string) ([]store.StackRef, store.Page, error) {
			return s.ListShardStacks(ctx, store.ShardStacksQuery{Shard: shard, Cursor: cursor, Limit: 2})
		}, store.StackRef.Key)
		require.Equal(t, want[shard], keys, "shard %d, by client and stack", shard)
		listed += len(keys)
	}
	require.Equal(t, len(in), listed, "every stack in one shard")
	for _, bad := range []int{-1, store.Shards} {
		_, _, err := s.ListShardStacks(ctx, store.ShardStacksQuery{Shard: bad})
		require.Error(t, err, "shard %d", bad)
	}
	_, _, err = s.ListShardStacks(ctx, store.ShardStacksQuery{Shard: 1, Cursor: "not a cursor!"})
	require.ErrorIs(t, err, store.ErrInvalidCursor)
}

// pageKeys follows list's cursors to the end and returns the keys of what
// it listed, checking that no page is longer than limit.
func pageKeys[T any](t *testing.T, limit int, list func(cursor string) ([]T, store.Page, error), key func(T) string) []string {
	t.Helper()
	var (
		out    []string
		cursor string
	)
	for range 100 {
		page, next, err := list(cursor)
		require.NoError(t, err)
		if limit > 0 {
			require.LessOrEqual(t, len(page), limit)
		}
		for _, r := range page {
			out = append(out, key(r))
		}
		if next == "" {
			return out
		}
		require.NotEmpty(t, page)
		cursor = next
	}
	t.Fatal("the list never ended")
	return nil
}

func testUpdateState(ctx context.Context, t *testing.T, s store.Store) {
	rec := newStack(ctx, t, s, "acme", "shop")
	d := mkDrift("acme", "shop", "shopify.webhook.products/update", at(time.Second))
	d.Observed = "missing"
	d.Observations = 2

	want := rec
	want.Environment = "staging"
	want.AppliedHash = "h-shop"
	want.PreviousVersions = []string{"v0.9.0"}
	want.Resources = map[string]string{"site_url": "https://x.example", "topic": "t"}
	want.LastApplied = ptr(at(2 * time.Second))
	want.LastVerified = ptr(at(3 * time.Second))
	want.Status = store.StatusDriftDetected
	want.DriftDetails = []drift.Drift{d}
	want.LastError = "build hook answered 500"
	want.ReconciliationPolicy.MaxHealAttempts = 7
	want.Observability.MetricsEndpoint = "http://m"
	want.Desired = json.RawMessage(`{"stack":  "shop"}`)

	got, err := s.UpdateState(ctx, want)
	require.NoError(t, err)
	require.Equal(t, rec.Revision+1, got.Revision)
	require.Equal(t, rec.CreatedAt, got.CreatedAt)
	require.False(t, got.UpdatedAt.Before(rec.UpdatedAt))
	require.WithinDuration(t, time.Now(), got.UpdatedAt, time.Minute)

	read := getState(ctx, t, s, "acme", "shop")
	require.Equal(t, read, got, "UpdateState returns the record as stored")

	// Every field round-trips; times as store.Truncate of the input.
	want.Revision, want.UpdatedAt = got.Revision, got.UpdatedAt
	want.LastApplied = ptr(store.Truncate(*want.LastApplied))
	want.LastVerified = ptr(store.Truncate(*want.LastVerified))
	want.DriftDetails = []drift.Drift{stored(d)}
	require.Equal(t, want, read)
}

func testUpdateStateConflict(ctx context.Context, t *testing.T, s store.Store) {
	rec := newStack(ctx, t, s, "acme", "shop")
	next := rec
	next.Status = store.StatusReconciling
	updated, err := s.UpdateState(ctx, next)
	require.NoError(t, err)

	stale := rec
	stale.Status = store.StatusError
	_, err = s.UpdateState(ctx, stale)
	require.ErrorIs(t, err, store.ErrConflict)
	require.Equal(t, updated, getState(ctx, t, s, "acme", "shop"), "a conflict writes nothing")

	// A revision from the future conflicts too.
	future := updated
	future.Revision += 5
	_, err = s.UpdateState(ctx, future)
	require.ErrorIs(t, err, store.ErrConflict)

	missing := rec
	missing.StackID = "missing"
	_, err = s.UpdateState(ctx, missing)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetState(ctx, "acme", "missing")
	require.ErrorIs(t, err, store.ErrNotFound, "UpdateState does not create stacks")
}

func testUpdateStateConcurrent(ctx context.Context, t *testing.T, s store.Store) {
	rec := newStack(ctx, t, s, "acme", "shop")
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			r := rec
			r.LastError = "writer " + string(rune('a'+i))
			<-start
			_, errs[i] = s.UpdateState(ctx, r)
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
			continue
		}
		require.ErrorIs(t, err, store.ErrConflict)
	}
	require.Equal(t, 1, wins, "exactly one writer with the same revision wins")
	require.Equal(t, rec.Revision+1, getState(ctx, t, s, "acme", "shop").Revision)
}

func testPolicies(ctx context.Context, t *testing.T, s store.Store) {
	_, err := s.GetPolicy(ctx, "acme", "")
	require.ErrorIs(t, err, store.ErrNotFound)

	clientWide := store.PolicyRecord{ClientID: "acme", Document: json.RawMessage(`{"auto_heal": true}`), UpdatedAt: at(0)}
	stackOnly := store.PolicyRecord{ClientID: "acme", StackID: "shop", Document: json.RawMessage(`{"auto_heal":false}`), UpdatedAt: at(time.Second)}
	require.NoError(t, s.PutPolicy(ctx, clientWide))
	require.NoError(t, s.PutPolicy(ctx, stackOnly))

	got, err := s.GetPolicy(ctx, "acme", "")
	require.NoError(t, err)
	require.Equal(t, "acme", got.ClientID)
	require.Empty(t, got.StackID)
	require.Equal(t, `{"auto_heal": true}`, string(got.Document))
	require.Equal(t, store.Truncate(at(0)), got.UpdatedAt)

	got, err = s.GetPolicy(ctx, "acme", "shop")
	require.NoError(t, err)
	require.Equal(t, "shop", got.StackID)
	require.Equal(t, `{"auto_heal":false}`, string(got.Document))

	_, err = s.GetPolicy(ctx, "acme", "blog")
	require.ErrorIs(t, err, store.ErrNotFound, "GetPolicy does not fall back to the client-wide policy")
	_, err = s.GetPolicy(ctx, "globex", "")
	require.ErrorIs(t, err, store.ErrNotFound)

	clientWide.Document = json.RawMessage(`{"auto_heal":false,"max_attempts":2}`)
	clientWide.UpdatedAt = at(time.Hour)
	require.NoError(t, s.PutPolicy(ctx, clientWide))
	got, err = s.GetPolicy(ctx, "acme", "")
	require.NoError(t, err)
	require.Equal(t, string(clientWide.Document), string(got.Document))
	require.Equal(t, store.Truncate(at(time.Hour)), got.UpdatedAt)

	got, err = s.GetPolicy(ctx, "acme", "shop")
	require.NoError(t, err)
	require.Equal(t, `{"auto_heal":false}`, string(got.Document), "the stack's policy is its own")

	require.NoError(t, s.PutPolicy(ctx, store.PolicyRecord{ClientID: "globex", Document: json.RawMessage(`{}`), UpdatedAt: at(0)}))
	all, err := s.ListPolicies(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, all, 2, "the client's own policies, not globex's")
	require.Equal(t, []string{"", "shop"}, []string{all[0].StackID, all[1].StackID}, "by stack id")
	require.Equal(t, "acme", all[1].ClientID)
	require.Equal(t, string(clientWide.Document), string(all[0].Document))
	require.Equal(t, store.Truncate(at(time.Hour)), all[0].UpdatedAt)
	none, err := s.ListPolicies(ctx, "initech")
	require.NoError(t, err)
	require.Empty(t, none)
}

// testLastKnown: a stack's last known observations round-trip through
// UpdateState and CommitPass, and a change of desired state keeps them.
func testLastKnown(ctx context.Context, t *testing.T, s store.Store) {
	rec := newStack(ctx, t, s, "acme", "shop")
	seen, since := store.Truncate(at(time.Second)), store.Truncate(at(time.Minute))
	rec.LastKnown = drift.LastKnown{Passes: 1, Providers: map[string]drift.Sighting{"cms": {SeenAt: ptr(at(time.Second))}}}
	got, err := s.UpdateState(ctx, rec)
	require.NoError(t, err)
	require.Equal(t, seen, *got.LastKnown.Providers["cms"].SeenAt, "times are stored as store.Truncate")
	rec = got

	known := drift.LastKnown{
		Passes: 4,
		Providers: map[string]drift.Sighting{
			"ecommerce": {Value: "ok", Detail: "3 subscriptions", SeenAt: &seen, Reason: drift.ReasonUnreachable, UnknownSince: &since},
			"cms":       {Value: "unauthorized", SeenAt: &since, Known: true},
		},
		Resources: map[string]drift.Sighting{"site": {Value: "healthy", SeenAt: &seen, Known: true}},
	}
	rec.LastKnown = known
	got, err = s.UpdateState(ctx, rec)
	require.NoError(t, err)
	require.Equal(t, known, got.LastKnown)
	require.Equal(t, known, getState(ctx, t, s, "acme", "shop").LastKnown)

	known.Passes = 5
	known.Resources["site"] = drift.Sighting{Value: "healthy", SeenAt: &seen, Reason: drift.ReasonTimeout, UnknownSince: &since}
	got.LastKnown = known
	commit(ctx, t, s, &got, store.Pass{Result: result("recon-lk", "acme", "shop", at(2*time.Minute))})
	require.Equal(t, known, got.LastKnown)
	require.Equal(t, known, getState(ctx, t, s, "acme", "shop").LastKnown)

	changed := desired("acme", "shop", "h-next")
	require.True(t, apply(ctx, t, s, changed)[0].Changed)
	after := getState(ctx, t, s, "acme", "shop")
	require.Equal(t, "h-next", after.DesiredHash)
	require.Equal(t, known, after.LastKnown, "a change of desired state keeps what was known")
}
