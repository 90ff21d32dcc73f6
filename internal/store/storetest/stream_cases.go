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

// streamCases are the cases of store.StreamStore and of the events that
// CommitPass, FinishHeal and CommitSubscriber write with their facts.
func streamCases() []testCase {
	return []testCase{
		{"StreamAppendRead", testStreamAppendRead},
		{"StreamWithFacts", testStreamWithFacts},
		{"StreamCommitOrder", testStreamCommitOrder},
		{"StreamPrune", testStreamPrune},
		{"StreamWatch", testStreamWatch},
		{"StreamInvalid", testStreamInvalid},
	}
}

func streamEvent(kind, client, stack string, n int) store.StreamEvent {
	return store.StreamEvent{Kind: kind, ClientID: client, StackID: stack, Severity: "high",
		Timestamp: at(time.Duration(n) * time.Second), Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
}

// readStream reads every event after after.
func readStream(ctx context.Context, t *testing.T, s store.Store, after int64) []store.StreamEvent {
	t.Helper()
	var out []store.StreamEvent
	for {
		page, err := s.ReadStream(ctx, after, 3)
		require.NoError(t, err)
		out = append(out, page.Events...)
		if len(page.Events) < 3 {
			return out
		}
		after = page.Events[len(page.Events)-1].Seq
	}
}

func streamSeqs(events []store.StreamEvent) []int64 {
	out := make([]int64, len(events))
	for i, e := range events {
		out[i] = e.Seq
	}
	return out
}

func testStreamAppendRead(ctx context.Context, t *testing.T, s store.Store) {
	page, err := s.ReadStream(ctx, 0, 10)
	require.NoError(t, err)
	require.Equal(t, store.StreamPage{}, page, "an empty log")

	before := time.Now().Add(-time.Minute)
	in := []store.StreamEvent{streamEvent("drift.detected", "acme", "shop", 1), streamEvent("reconciliation.completed", "acme", "", 2)}
	in[1].Severity, in[1].Data = "", nil
	require.NoError(t, s.AppendStream(ctx, in))
	require.NoError(t, s.AppendStream(ctx, []store.StreamEvent{streamEvent("heal.started", "beta", "blog", 3)}))
	require.NoError(t, s.AppendStream(ctx, nil), "nothing to append")

	got := readStream(ctx, t, s, 0)
	require.Equal(t, []int64{1, 2, 3}, streamSeqs(got), "numbered from 1, gap-free, in commit order")
	for _, e := range got {
		require.False(t, e.CreatedAt.Before(before), "created_at is the store's clock")
		require.Equal(t, time.UTC, e.Timestamp.Location())
	}
	want := streamEvent("drift.detected", "acme", "shop", 1)
	want.Seq, want.CreatedAt, want.Timestamp = 1, got[0].CreatedAt, store.Truncate(want.Timestamp)
	require.Equal(t, want, got[0])
	require.Equal(t, json.RawMessage(`{}`), got[1].Data, "no payload is stored as {}")
	require.Empty(t, got[1].StackID)
	require.Equal(t, "beta", got[2].ClientID)

	page, err = s.ReadStream(ctx, 1, 1)
	require.NoError(t, err)
	require.Equal(t, []int64{2}, streamSeqs(page.Events))
	require.Equal(t, int64(3), page.Head)
	require.Zero(t, page.Pruned)
	page, err = s.ReadStream(ctx, 0, 0)
	require.NoError(t, err)
	require.Empty(t, page.Events, "limit 0: the head only")
	require.Equal(t, int64(3), page.Head)
	page, err = s.ReadStream(ctx, 3, 10)
	require.NoError(t, err)
	require.Empty(t, page.Events)
	page, err = s.ReadStream(ctx, 99, 10)
	require.NoError(t, err)
	require.Empty(t, page.Events, "after the head: nothing")
	require.Equal(t, int64(3), page.Head)
}

// testStreamWithFacts: the events of a pass, a heal's finish and a
// subscriber's commit are written with them, and not when they fail.
func testStreamWithFacts(ctx context.Context, t *testing.T, s store.Store) {
	state := newStack(ctx, t, s, "acme", "blog")
	commit(ctx, t, s, &state, store.Pass{Result: result("r1", "acme", "blog", at(0)),
		Stream: []store.StreamEvent{streamEvent("reconciliation.completed", "acme", "blog", 1), streamEvent("heal.succeeded", "acme", "blog", 2)}})

	// A stale pass writes nothing, its events neither, and takes no seq.
	stale := state
	stale.Revision--
	_, err := s.CommitPass(ctx, store.Pass{State: stale,
		Result: result("r2", "acme", "blog", at(time.Minute)), Stream: []store.StreamEvent{streamEvent("reconciliation.completed", "acme", "blog", 3)}})
	require.ErrorIs(t, err, store.ErrConflict)

	// A heal's finish; one that is not the claimer's writes nothing.
	hp := newHealPasses(ctx, t, s, "acme", "shop")
	hp.commit(ctx, t, at(0), store.Pass{Heals: []store.HealAttempt{healAt("d1", 1, at(0))}})
	_, err = s.ClaimHeals(ctx, store.Claim{Owner: "w1", Now: at(time.Second), Lease: time.Minute, Limit: 1})
	require.NoError(t, err)
	_, err = s.FinishHeal(ctx, store.FinishHeal{ID: "d1/1", Owner: "w2", Status: store.HealFailed, At: at(2 * time.Second),
		Stream: []store.StreamEvent{streamEvent("heal.failed", "acme", "blog", 4)}})
	require.ErrorIs(t, err, store.ErrConflict)
	_, err = s.FinishHeal(ctx, store.FinishHeal{ID: "d1/1", Owner: "w1", Status: store.HealFailed, At: at(2 * time.Second),
		Stream: []store.StreamEvent{streamEvent("heal.failed", "acme", "blog", 5)}})
	require.NoError(t, err)

	// A subscriber's commit; one whose cursor moved writes nothing.
	require.NoError(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", Create: true, To: 0}))
	err = s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", From: 5, To: 6,
		Stream: []store.StreamEvent{streamEvent("drift.detected", "acme", "blog", 6)}})
	require.ErrorIs(t, err, store.ErrConflict)
	require.NoError(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", From: 0, To: 1,
		Stream: []store.StreamEvent{streamEvent("drift.detected", "acme", "blog", 7), streamEvent("drift.resolved", "acme", "blog", 8)}}))

	got := readStream(ctx, t, s, 0)
	require.Equal(t, []int64{1, 2, 3, 4, 5}, streamSeqs(got), "gap-free: what failed took no seq")
	var ns []int
	for _, e := range got {
		var d struct{ N int }
		require.NoError(t, json.Unmarshal(e.Data, &d))
		ns = append(ns, d.N)
	}
	require.Equal(t, []int{1, 2, 5, 7, 8}, ns, "the events of what committed, in commit order")
}

// testStreamCommitOrder: writers commit concurrently while a reader tails
// the log from the last seq it read; every read continues exactly where
// the last one ended (a seq that committed after a higher one would be
// skipped for ever), and the reader ends with every event.
func testStreamCommitOrder(ctx context.Context, t *testing.T, s store.Store) {
	const writers, perWriter = 8, 25
	var states []store.StateRecord
	for w := range writers {
		states = append(states, newStack(ctx, t, s, "order", fmt.Sprintf("s%d", w)))
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			st := states[w]
			for i := range perWriter {
				ev := streamEvent("reconciliation.completed", "order", st.StackID, w*perWriter+i)
				var err error
				if i%2 == 0 {
					// Passes commit in groups on PostgreSQL.
					st, err = s.CommitPass(ctx, store.Pass{State: st, Result: result(fmt.Sprintf("o%d-%d", w, i), "order", st.StackID, at(0)),
						Stream: []store.StreamEvent{ev, ev}})
				} else {
					err = s.AppendStream(ctx, []store.StreamEvent{ev})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	// Even steps are passes, which write two events.
	const total = writers * (2*((perWriter+1)/2) + perWriter/2)
	var last int64
	seen := 0
	for finished := false; !finished || seen < total; {
		select {
		case <-done:
			finished = true
		default:
		}
		page, err := s.ReadStream(ctx, last, 7)
		require.NoError(t, err)
		for _, e := range page.Events {
			require.Equal(t, last+1, e.Seq, "a read continues where the last ended")
			last = e.Seq
			seen++
		}
		if finished && len(page.Events) == 0 {
			break
		}
	}
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, total, seen)
	require.Equal(t, int64(total), last)
}

func testStreamPrune(ctx context.Context, t *testing.T, s store.Store) {
	for i := range 10 {
		require.NoError(t, s.AppendStream(ctx, []store.StreamEvent{streamEvent("heal.started", "acme", "shop", i)}))
	}
	n, err := s.PruneStream(ctx, store.StreamPrune{}, 100)
	require.NoError(t, err)
	require.Zero(t, n, "a zero prune deletes nothing")

	// By rows: keep the newest 6; in batches of 3.
	n, err = s.PruneStream(ctx, store.StreamPrune{MaxRows: 6}, 3)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	n, err = s.PruneStream(ctx, store.StreamPrune{MaxRows: 6}, 3)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	page, err := s.ReadStream(ctx, 0, 100)
	require.NoError(t, err)
	require.Equal(t, []int64{5, 6, 7, 8, 9, 10}, streamSeqs(page.Events))
	require.Equal(t, int64(4), page.Pruned, "a reader after 0 learns that 1-4 are gone")
	require.Equal(t, int64(10), page.Head)

	// By age: everything written before now.
	n, err = s.PruneStream(ctx, store.StreamPrune{Before: time.Now().Add(time.Minute)}, 0)
	require.NoError(t, err)
	require.Equal(t, 6, n)
	page, err = s.ReadStream(ctx, 4, 100)
	require.NoError(t, err)
	require.Empty(t, page.Events)
	require.Equal(t, int64(10), page.Pruned)
	n, err = s.PruneStream(ctx, store.StreamPrune{Before: time.Now().Add(time.Minute), MaxRows: 1}, 0)
	require.NoError(t, err)
	require.Zero(t, n, "an empty log")

	// Numbering goes on after the pruned events.
	require.NoError(t, s.AppendStream(ctx, []store.StreamEvent{streamEvent("heal.started", "acme", "shop", 11)}))
	require.Equal(t, []int64{11}, streamSeqs(readStream(ctx, t, s, 0)))
	page, err = s.ReadStream(ctx, 0, 1)
	require.NoError(t, err)
	require.Equal(t, store.StreamPage{Events: page.Events, Head: 11, Pruned: 10}, page)
}

// testStreamWatch: a watcher is woken when it starts and after events
// commit.
func testStreamWatch(ctx context.Context, t *testing.T, s store.Store) {
	wctx, cancel := context.WithCancel(ctx)
	wakes := make(chan struct{}, 64)
	returned := make(chan error, 1)
	go func() { returned <- s.WatchStream(wctx, func() { wakes <- struct{}{} }) }()
	wait := func(what string) {
		t.Helper()
		select {
		case <-wakes:
		case <-time.After(10 * time.Second):
			t.Fatalf("no wake %s", what)
		}
	}
	wait("at the start")
	// The first wake may come before the watcher listens (PostgreSQL: it
	// wakes once listening), so write until a wake comes.
	deadline := time.Now().Add(10 * time.Second)
	for woken := false; !woken; {
		require.True(t, time.Now().Before(deadline), "no wake after events committed")
		require.NoError(t, s.AppendStream(ctx, []store.StreamEvent{streamEvent("heal.started", "acme", "shop", 1)}))
		select {
		case <-wakes:
			woken = true
		case <-time.After(500 * time.Millisecond):
		}
	}
	state := newStack(ctx, t, s, "acme", "shop")
	for len(wakes) > 0 {
		<-wakes
	}
	commit(ctx, t, s, &state, store.Pass{Result: result("r1", "acme", "shop", at(0)),
		Stream: []store.StreamEvent{streamEvent("reconciliation.completed", "acme", "shop", 2)}})
	wait("after a pass committed its events")
	cancel()
	select {
	case err := <-returned:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("WatchStream did not return when its context ended")
	}
}

func testStreamInvalid(ctx context.Context, t *testing.T, s store.Store) {
	for _, e := range []store.StreamEvent{
		{ClientID: "acme", Timestamp: at(0)},
		{Kind: "heal.started", Timestamp: at(0)},
		{Kind: "heal.started", ClientID: "acme"},
		{Kind: "heal.started", ClientID: "acme", Timestamp: at(0), Data: json.RawMessage(`{`)},
	} {
		require.Error(t, s.AppendStream(ctx, []store.StreamEvent{e}), "%+v", e)
	}
	state := newStack(ctx, t, s, "acme", "shop")
	_, err := s.CommitPass(ctx, store.Pass{State: state, Result: result("r1", "acme", "shop", at(0)),
		Stream: []store.StreamEvent{{Kind: "x", ClientID: "acme", Timestamp: at(0), Data: json.RawMessage(`nope`)}}})
	require.Error(t, err)
	require.Equal(t, state, getState(ctx, t, s, "acme", "shop"), "nothing written")
	require.Empty(t, readStream(ctx, t, s, 0))
}
