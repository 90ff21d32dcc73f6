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

// outboxConformance runs the cases of store.OutboxStore, each on a fresh
// store, in parallel.
func outboxConformance(ctx context.Context, t *testing.T, newStore func(t *testing.T) store.Store) {
	for _, c := range outboxCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(ctx, t, newStore(t))
		})
	}
}

// outboxCases are the cases of store.OutboxStore.
func outboxCases() []testCase {
	return []testCase{
		{"AuditAfter", testAuditAfter},
		{"SubscriberCommit", testSubscriberCommit},
		{"SubscriberCommitConflict", testSubscriberCommitConflict},
		{"SubscriberCommitConcurrent", testSubscriberCommitConcurrent},
		{"OutboxPendingAndDelete", testOutboxPendingAndDelete},
		{"OutboxPendingByChannel", testOutboxPendingByChannel},
		{"ChannelSet", testChannelSet},
	}
}

func testAuditAfter(ctx context.Context, t *testing.T, s store.Store) {
	head, err := s.AuditHead(ctx)
	require.NoError(t, err)
	require.Zero(t, head, "an empty log")
	got, err := s.AuditAfter(ctx, 0, 10)
	require.NoError(t, err)
	require.Empty(t, got)

	var in []store.AuditEntry
	for i := 0; i < 5; i++ {
		in = append(in, store.AuditEntry{Timestamp: at(time.Duration(i) * time.Second), Action: "drift_detected",
			ClientID: "acme", StackID: "shop", DriftID: fmt.Sprint("d", i), ChangesMade: json.RawMessage(`{"code":"webhook_broken"}`)})
	}
	require.NoError(t, s.AppendAudit(ctx, in))
	head, err = s.AuditHead(ctx)
	require.NoError(t, err)
	require.Equal(t, in[4].Seq, head)

	got, err = s.AuditAfter(ctx, in[1].Seq, 2)
	require.NoError(t, err)
	require.Equal(t, in[2:4], got, "entries after the seq, oldest first, as stored")
	got, err = s.AuditAfter(ctx, in[3].Seq, 0)
	require.NoError(t, err)
	require.Equal(t, in[4:], got, "limit 0 is the default page")
	got, err = s.AuditAfter(ctx, head, 10)
	require.NoError(t, err)
	require.Empty(t, got)
}

func testSubscriberCommit(ctx context.Context, t *testing.T, s store.Store) {
	_, err := s.GetSubscriber(ctx, "notify")
	require.ErrorIs(t, err, store.ErrNotFound)

	require.NoError(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", Create: true, To: 7}))
	sub, err := s.GetSubscriber(ctx, "notify")
	require.NoError(t, err)
	require.Equal(t, store.Subscriber{Name: "notify", Cursor: 7, States: map[string]json.RawMessage{}}, sub)

	require.NoError(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", From: 7, To: 9,
		States: map[string]json.RawMessage{"d1": json.RawMessage(`{"open": true, "seq": 1}`), "d2": json.RawMessage(`{"seq":2}`)},
		Deliveries: []store.OutboxItem{
			{ID: "slack/d1:detected:1", Channel: "slack", Payload: json.RawMessage(`{"kind":"detected"}`), CreatedAt: at(0)},
			{ID: "pd/d1:detected:1", Channel: "pd", Payload: json.RawMessage(`{"kind": "detected"}`), CreatedAt: at(time.Second)},
		}}))
	require.NoError(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", From: 9, To: 9,
		States: map[string]json.RawMessage{"d1": json.RawMessage(`{"open": false, "seq": 2}`)},
		Deliveries: []store.OutboxItem{
			{ID: "slack/d1:detected:1", Channel: "slack", Payload: json.RawMessage(`{"kind":"other"}`), CreatedAt: at(time.Hour)},
		}}))
	sub, err = s.GetSubscriber(ctx, "notify")
	require.NoError(t, err)
	require.Equal(t, int64(9), sub.Cursor)
	require.Equal(t, map[string]json.RawMessage{
		"d1": json.RawMessage(`{"open": false, "seq": 2}`), // upserted, byte for byte
		"d2": json.RawMessage(`{"seq":2}`),
	}, sub.States)

	// Deleting states: the named ones go, an unknown key is ignored, in
	// the commit that writes others.
	require.NoError(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", From: 9, To: 9,
		States: map[string]json.RawMessage{"d3": json.RawMessage(`{}`)}, DeleteStates: []string{"d2", "never"}}))
	require.Error(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", From: 9, To: 9,
		States: map[string]json.RawMessage{"d1": json.RawMessage(`{}`)}, DeleteStates: []string{"d1"}}), "written and deleted")
	sub, err = s.GetSubscriber(ctx, "notify")
	require.NoError(t, err)
	require.Equal(t, map[string]json.RawMessage{
		"d1": json.RawMessage(`{"open": false, "seq": 2}`),
		"d3": json.RawMessage(`{}`),
	}, sub.States)
	require.NoError(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", From: 9, To: 9, DeleteStates: []string{"d3"}}))

	pending, err := s.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "notify", After: 0, Limit: 10})
	require.NoError(t, err)
	require.Len(t, pending, 2, "a pending id is not added twice")
	require.Equal(t, "slack/d1:detected:1", pending[0].ID)
	require.JSONEq(t, `{"kind":"detected"}`, string(pending[0].Payload), "the first item stays")
	require.Equal(t, store.Truncate(at(0)), pending[0].CreatedAt)
	require.Equal(t, "notify", pending[0].Subscriber)
	require.Equal(t, "slack", pending[0].Channel)
	require.Equal(t, "pd/d1:detected:1", pending[1].ID)
	require.Less(t, pending[0].Seq, pending[1].Seq, "in commit order")

	other, err := s.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "other", After: 0, Limit: 10})
	require.NoError(t, err)
	require.Empty(t, other, "deliveries belong to their subscriber")
	_, err = s.GetSubscriber(ctx, "other")
	require.ErrorIs(t, err, store.ErrNotFound, "subscribers are separate")

	require.Error(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", From: 9, To: 10,
		States: map[string]json.RawMessage{"d3": json.RawMessage(`{not json`)}}))
	require.Error(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", From: 9, To: 10,
		Deliveries: []store.OutboxItem{{ID: "x", Channel: "x", Payload: json.RawMessage(`nope`)}}}))
	sub, err = s.GetSubscriber(ctx, "notify")
	require.NoError(t, err)
	require.Equal(t, int64(9), sub.Cursor, "a refused commit writes nothing")
}

func testSubscriberCommitConflict(ctx context.Context, t *testing.T, s store.Store) {
	require.ErrorIs(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", From: 0, To: 1}), store.ErrNotFound,
		"moving the cursor of a subscriber that never committed")
	require.NoError(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", Create: true, To: 3}))
	require.ErrorIs(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", Create: true, To: 5}), store.ErrConflict)

	err := s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", From: 2, To: 5,
		States:     map[string]json.RawMessage{"d1": json.RawMessage(`{}`)},
		Deliveries: []store.OutboxItem{{ID: "slack/k", Channel: "slack", Payload: json.RawMessage(`{}`)}}})
	require.ErrorIs(t, err, store.ErrConflict, "a stale From")
	sub, err := s.GetSubscriber(ctx, "notify")
	require.NoError(t, err)
	require.Equal(t, int64(3), sub.Cursor)
	require.Empty(t, sub.States, "nothing of a conflicting commit is written")
	pending, err := s.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "notify", After: 0, Limit: 10})
	require.NoError(t, err)
	require.Empty(t, pending)
}

// testSubscriberCommitConcurrent: two processes continuing from the same
// cursor: exactly one commit wins.
func testSubscriberCommitConcurrent(ctx context.Context, t *testing.T, s store.Store) {
	require.NoError(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", Create: true, To: 0}))
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", From: 0, To: int64(i + 1),
				Deliveries: []store.OutboxItem{{ID: fmt.Sprint("c/", i), Channel: "c", Payload: json.RawMessage(`{}`)}}})
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		if err == nil {
			require.Equal(t, -1, won, "two commits from one cursor both won")
			won = i
			continue
		}
		require.ErrorIs(t, err, store.ErrConflict)
	}
	require.NotEqual(t, -1, won)
	sub, err := s.GetSubscriber(ctx, "notify")
	require.NoError(t, err)
	require.Equal(t, int64(won+1), sub.Cursor)
	pending, err := s.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "notify", After: 0, Limit: 100})
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.Equal(t, fmt.Sprint("c/", won), pending[0].ID)
}

func testOutboxPendingAndDelete(ctx context.Context, t *testing.T, s store.Store) {
	require.NoError(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", Create: true, To: 0}))
	var items []store.OutboxItem
	for i := 0; i < 5; i++ {
		items = append(items, store.OutboxItem{ID: fmt.Sprintf("ch/k%d", i), Channel: "ch", Payload: json.RawMessage(`{}`)})
	}
	require.NoError(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", From: 0, To: 1, Deliveries: items}))
	page, err := s.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "notify", After: 0, Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []string{"ch/k0", "ch/k1"}, outboxIDs(page), "in commit order")
	require.False(t, page[0].CreatedAt.IsZero(), "a zero CreatedAt is the store's now")
	page, err = s.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "notify", After: page[1].Seq, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"ch/k2", "ch/k3", "ch/k4"}, outboxIDs(page))

	require.NoError(t, s.DeleteOutbox(ctx, []string{"ch/k1", "ch/k3", "ch/unknown"}))
	require.NoError(t, s.DeleteOutbox(ctx, nil))
	page, err = s.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "notify", After: 0, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"ch/k0", "ch/k2", "ch/k4"}, outboxIDs(page))

	// A delivered id may be delivered again later under the same id only
	// if it is committed again (a new occurrence).
	require.NoError(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", From: 1, To: 2,
		Deliveries: []store.OutboxItem{{ID: "ch/k1", Channel: "ch", Payload: json.RawMessage(`{}`)}}}))
	page, err = s.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "notify", After: 0, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"ch/k0", "ch/k2", "ch/k4", "ch/k1"}, outboxIDs(page))
}

// testOutboxPendingByChannel: a read of some channels lists theirs only,
// in commit order across them, paged by Seq; an empty list of channels
// lists nothing, nil every channel.
func testOutboxPendingByChannel(ctx context.Context, t *testing.T, s store.Store) {
	require.NoError(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", Create: true, To: 0}))
	require.NoError(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "other", Create: true, To: 0}))
	var items []store.OutboxItem
	for i := 0; i < 9; i++ {
		ch := []string{"slack", "pd", "hook"}[i%3]
		items = append(items, store.OutboxItem{ID: fmt.Sprintf("%s/k%d", ch, i), Channel: ch, Payload: json.RawMessage(`{}`)})
	}
	require.NoError(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "notify", From: 0, To: 1, Deliveries: items}))
	require.NoError(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: "other", From: 0, To: 1,
		Deliveries: []store.OutboxItem{{ID: "x/slack", Channel: "slack", Payload: json.RawMessage(`{}`)}}}))

	q := store.OutboxQuery{Subscriber: "notify", Channels: []string{"pd"}, Limit: 2}
	page, err := s.PendingOutbox(ctx, q)
	require.NoError(t, err)
	require.Equal(t, []string{"pd/k1", "pd/k4"}, outboxIDs(page), "one channel, oldest first")
	q.After = page[1].Seq
	page, err = s.PendingOutbox(ctx, q)
	require.NoError(t, err)
	require.Equal(t, []string{"pd/k7"}, outboxIDs(page), "the next page")

	page, err = s.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "notify", Channels: []string{"hook", "slack"}, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"slack/k0", "hook/k2", "slack/k3", "hook/k5", "slack/k6", "hook/k8"}, outboxIDs(page),
		"several channels, in commit order across them")
	page, err = s.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "notify", Channels: []string{"hook", "slack"}, After: page[2].Seq, Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []string{"hook/k5", "slack/k6"}, outboxIDs(page))

	page, err = s.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "notify", Channels: []string{}, Limit: 10})
	require.NoError(t, err)
	require.Empty(t, page, "no channel, no delivery")
	page, err = s.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "notify", Channels: []string{"email"}, Limit: 10})
	require.NoError(t, err)
	require.Empty(t, page)
	page, err = s.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "notify", Limit: 100})
	require.NoError(t, err)
	require.Len(t, page, 9, "nil: every channel")
	page, err = s.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "other", Channels: []string{"slack"}, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"x/slack"}, outboxIDs(page), "the subscriber's own")
}

// testChannelSet: the recorded channels of a subscriber, replaced whole;
// recording them gives up (deletes) the subscriber's pending deliveries of
// other channels, and only those.
func testChannelSet(ctx context.Context, t *testing.T, s store.Store) {
	_, err := s.GetChannelSet(ctx, "notify")
	require.ErrorIs(t, err, store.ErrNotFound)
	for _, sub := range []string{"notify", "other"} {
		require.NoError(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: sub, Create: true, To: 0}))
		var items []store.OutboxItem
		for i, ch := range []string{"a", "b", "c", "b"} {
			items = append(items, store.OutboxItem{ID: fmt.Sprintf("%s/%s/%d", sub, ch, i), Channel: ch, Payload: json.RawMessage(`{}`)})
		}
		require.NoError(t, s.CommitSubscriber(ctx, store.SubscriberCommit{Name: sub, From: 0, To: 1, Deliveries: items}))
	}

	set := store.ChannelSet{Subscriber: "notify", Hash: "h1", Names: []string{"a", "c"}, SetBy: "replica-1", SetAt: at(time.Second)}
	n, err := s.PutChannelSet(ctx, set)
	require.NoError(t, err)
	require.Equal(t, 2, n, "b's two deliveries given up")
	got, err := s.GetChannelSet(ctx, "notify")
	require.NoError(t, err)
	want := set
	want.SetAt = store.Truncate(set.SetAt)
	require.Equal(t, want, got)
	page, err := s.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "notify", Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"notify/a/0", "notify/c/2"}, outboxIDs(page))
	page, err = s.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "other", Limit: 10})
	require.NoError(t, err)
	require.Len(t, page, 4, "another subscriber's deliveries stay")

	n, err = s.PutChannelSet(ctx, store.ChannelSet{Subscriber: "notify", Hash: "h2", Names: []string{"a", "c", "d"},
		SetBy: "replica-2", SetAt: at(time.Minute)})
	require.NoError(t, err)
	require.Zero(t, n)
	got, err = s.GetChannelSet(ctx, "notify")
	require.NoError(t, err)
	require.Equal(t, "h2", got.Hash, "replaced")
	require.Equal(t, []string{"a", "c", "d"}, got.Names)
	require.Equal(t, "replica-2", got.SetBy)

	n, err = s.PutChannelSet(ctx, store.ChannelSet{Subscriber: "notify", Hash: "h0", SetBy: "replica-3", SetAt: at(time.Hour)})
	require.NoError(t, err)
	require.Equal(t, 2, n, "no channel: every pending delivery given up")
	got, err = s.GetChannelSet(ctx, "notify")
	require.NoError(t, err)
	require.Empty(t, got.Names)
	_, err = s.GetChannelSet(ctx, "other")
	require.ErrorIs(t, err, store.ErrNotFound, "per subscriber")
}

func outboxIDs(items []store.OutboxItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}
