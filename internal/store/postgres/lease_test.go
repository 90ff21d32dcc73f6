package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/postgres"
)

type trigger struct{ key, trigger string }

// listenOn runs ListenTriggers on l until the test ends and returns what it
// receives.
func listenOn(t *testing.T, l store.Leases) <-chan trigger {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan trigger, 1024)
	done := make(chan error, 1)
	go func() { done <- l.ListenTriggers(ctx, func(k, tr string) { got <- trigger{k, tr} }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Error("ListenTriggers did not return after its context ended")
		}
	})
	return got
}

// await notifies key from n until it reaches got, for up to limit, and
// returns how long that took. Other triggers than key's are returned in
// others.
func await(t *testing.T, n store.Leases, got <-chan trigger, key string, limit time.Duration) (took time.Duration, others []trigger) {
	t.Helper()
	start := time.Now()
	deadline := time.After(limit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		require.NoError(t, n.NotifyTriggers(t.Context(), []string{key}, "probe"))
		for {
			select {
			case tr := <-got:
				if tr == (trigger{key, "probe"}) {
					return time.Since(start), others
				}
				others = append(others, tr)
				continue
			case <-tick.C:
			case <-deadline:
				t.Fatalf("%s did not reach the listener within %s", key, limit)
			}
			break
		}
	}
}

// TestTriggersAcrossStores: a trigger notified by one replica reaches the
// listener of another on the same schema, and of no other schema.
func TestTriggersAcrossStores(t *testing.T) {
	t.Parallel()
	server := serverURL(t)
	u := newSchema(t, server)
	a, b := open(t, u), open(t, u)
	other := open(t, newSchema(t, server))
	got := listenOn(t, a)
	otherGot := listenOn(t, other)
	await(t, b, got, "probe/a", 10*time.Second)
	await(t, other, otherGot, "probe/other", 10*time.Second)

	require.NoError(t, b.NotifyTriggers(t.Context(), []string{"acme/shop", "acme/blog"}, "event"))
	deadline := time.After(time.Second)
	want := map[trigger]bool{{"acme/shop", "event"}: true, {"acme/blog", "event"}: true}
	for len(want) > 0 {
		select {
		case tr := <-got:
			if tr.trigger != "probe" {
				require.True(t, want[tr], "unexpected %v", tr)
				delete(want, tr)
			}
		case <-deadline:
			t.Fatalf("not received within a second: %v", want)
		}
	}
	// The other schema's listener hears its own probe, and nothing of a's.
	_, others := await(t, other, otherGot, "probe/other-again", 10*time.Second)
	for _, tr := range others {
		require.Equal(t, "probe", tr.trigger, "another schema's trigger leaked: %v", tr)
	}
}

// TestListenReconnects: when the listener's connection is killed, it
// connects again and triggers reach it again.
func TestListenReconnects(t *testing.T) {
	t.Parallel()
	server := serverURL(t)
	u := newSchema(t, server)
	a, b := open(t, u), open(t, u)
	got := listenOn(t, a)
	await(t, b, got, "probe/before", 10*time.Second)

	schema := searchPath(t, u)
	conn, err := connect(t.Context(), server)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var killed int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE query = $1`, fmt.Sprintf(`LISTEN "blackwell_triggers/%s"`, schema)).Scan(&killed))
	require.Equal(t, 1, killed, "the listener's connection")

	took, others := await(t, b, got, "probe/after", 15*time.Second)
	t.Logf("triggers reach the listener again %s after its connection was killed", took.Round(time.Millisecond))
	// Listening again was said before the triggers after it: those
	// notified meanwhile were lost, and the listener knows.
	require.Contains(t, others, trigger{"", ""}, "ListenStarted after the reconnection")
}

// searchPath is the schema a URL made by newSchema uses.
func searchPath(t *testing.T, u string) string {
	t.Helper()
	conn, err := connect(t.Context(), u)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var schema string
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT current_schema()`).Scan(&schema))
	return schema
}

// TestFenceHoldsOffClaims: a claim that takes over a shard waits for a pass
// committing under the old lease (whose fence check locked the row), and
// then the old epoch is fenced; the owner's renewal of the lease does not
// wait for the pass (under load, renewals that queued behind commits came
// later than the lease's margin, and the replica stopped passing).
func TestFenceHoldsOffClaims(t *testing.T) {
	t.Parallel()
	u := newSchema(t, serverURL(t))
	s := open(t, u)
	ctx := t.Context()
	_, err := s.ApplyDesired(ctx, []store.DesiredInput{{ClientID: "acme", StackID: "shop", Hash: "h", Document: []byte(`{}`)}})
	require.NoError(t, err)
	shard := store.ShardOf("acme", "shop")
	t0 := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	la, err := s.ClaimShards(ctx, "a", []int{shard}, t0, time.Second)
	require.NoError(t, err)
	require.Len(t, la, 1)

	// A transaction holding the lease row as CommitPass's fence check does.
	conn, err := connect(ctx, u)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	var one int
	require.NoError(t, tx.QueryRow(ctx, `SELECT 1 FROM shard_leases WHERE shard = $1 AND owner = 'a' AND epoch = $2 FOR KEY SHARE`, shard, la[0].Epoch).Scan(&one))

	// The owner renews while the pass is in flight: at once, same epoch.
	renewCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	renewed, err := s.ClaimShards(renewCtx, "a", []int{shard}, t0.Add(500*time.Millisecond), time.Second)
	cancel()
	require.NoError(t, err, "the renewal waited for the pass")
	require.Equal(t, []store.Lease{{Shard: shard, Owner: "a", Epoch: la[0].Epoch, ExpiresAt: t0.Add(1500 * time.Millisecond)}}, renewed)

	claimed := make(chan []store.Lease, 1)
	go func() {
		lb, err := s.ClaimShards(context.Background(), "b", []int{shard}, t0.Add(2*time.Second), time.Minute)
		if err != nil {
			t.Error(err)
		}
		claimed <- lb
	}()
	select {
	case <-claimed:
		t.Fatal("the claim did not wait for the pass holding the lease")
	case <-time.After(300 * time.Millisecond):
	}
	require.NoError(t, tx.Commit(ctx))
	lb := <-claimed
	require.Len(t, lb, 1)
	require.Equal(t, la[0].Epoch+1, lb[0].Epoch)

	rec, err := s.GetState(ctx, "acme", "shop")
	require.NoError(t, err)
	_, err = s.CommitPass(ctx, store.Pass{State: rec, Fence: &store.Fence{Shard: shard, Owner: "a", Epoch: la[0].Epoch},
		Result: store.ReconciliationResult{ReconciliationID: "r1", StartedAt: t0, CompletedAt: t0.Add(500 * time.Millisecond), Status: store.ResultSuccess}})
	require.ErrorIs(t, err, store.ErrFenced)
	_, err = s.CommitPass(ctx, store.Pass{State: rec, Fence: &store.Fence{Shard: shard, Owner: "b", Epoch: lb[0].Epoch},
		Result: store.ReconciliationResult{ReconciliationID: "r2", StartedAt: t0, CompletedAt: t0.Add(2 * time.Second), Status: store.ResultSuccess}})
	require.NoError(t, err)
}

var _ store.Leases = (*postgres.Store)(nil)

// BenchmarkCommitPassFence: a quiet pass (no drift, no audit entry) of one
// stack, committed one after another, without and with a fence (one more
// statement in the first batch, no more round trips):
//
//	go test -run '^$' -bench CommitPassFence ./internal/store/postgres
func BenchmarkCommitPassFence(b *testing.B) {
	for _, fenced := range []bool{false, true} {
		b.Run(fmt.Sprintf("fenced=%v", fenced), func(b *testing.B) {
			ctx := b.Context()
			s := openBench(b)
			_, err := s.ApplyDesired(ctx, []store.DesiredInput{{ClientID: "acme", StackID: "shop", Hash: "h", Document: []byte(`{}`)}})
			require.NoError(b, err)
			rec, err := s.GetState(ctx, "acme", "shop")
			require.NoError(b, err)
			var fence *store.Fence
			start := time.Now()
			if fenced {
				shard := store.ShardOf("acme", "shop")
				ls, err := s.ClaimShards(ctx, "a", []int{shard}, start, time.Hour)
				require.NoError(b, err)
				fence = &store.Fence{Shard: shard, Owner: "a", Epoch: ls[0].Epoch}
			}
			n := 0
			for b.Loop() {
				n++
				rec, err = s.CommitPass(ctx, store.Pass{State: rec, Fence: fence, Result: store.ReconciliationResult{
					ReconciliationID: fmt.Sprint("r", n), StartedAt: start, CompletedAt: start, Status: store.ResultSuccess}})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTriggerLatency: from NotifyTriggers on one store to the
// listener of another store on the same schema.
//
//	go test -run '^$' -bench TriggerLatency ./internal/store/postgres
func BenchmarkTriggerLatency(b *testing.B) {
	u := newSchema(b, serverURL(b))
	a, err := postgres.Open(b.Context(), u)
	require.NoError(b, err)
	b.Cleanup(func() { a.Close() })
	n, err := postgres.Open(b.Context(), u)
	require.NoError(b, err)
	b.Cleanup(func() { n.Close() })
	ctx, cancel := context.WithCancel(b.Context())
	got := make(chan string, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.ListenTriggers(ctx, func(k, _ string) { got <- k })
	}()
	defer func() { cancel(); <-done }()
	// Until the listener hears.
	for ready := false; !ready; {
		require.NoError(b, n.NotifyTriggers(ctx, []string{"probe/probe"}, "probe"))
		select {
		case <-got:
			ready = true
		case <-time.After(50 * time.Millisecond):
		}
	}
	for len(got) > 0 {
		<-got
	}
	i := 0
	for b.Loop() {
		i++
		key := fmt.Sprint("acme/s", i)
		require.NoError(b, n.NotifyTriggers(ctx, []string{key}, "event"))
		for k := <-got; k != key; k = <-got {
		}
	}
}
