package postgres_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

// TestStreamNumbersInCommitOrder: events are numbered after their
// transaction commits, so one whose transaction commits late gets a later
// seq, never a seq below one a reader has read already. Here a
// transaction of the test adds an event and stays open: an event added and
// committed after it is numbered 1, the open one 2 once it commits. (With
// seqs given as events are added, the open one would hold 1 while a
// reader read 2, and never read 1.) Adding takes no lock: the second
// writer does not wait for the first.
func TestStreamNumbersInCommitOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := newSchema(t, serverURL(t))
	s := open(t, url)

	conn, err := connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `INSERT INTO stream (kind, client_id, stack_id, severity, timestamp, data, created_at)
VALUES ('heal.started', 'acme', 'shop', '', now(), '{"n":1}', now())`)
	require.NoError(t, err)

	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	require.NoError(t, s.AppendStream(wctx, []store.StreamEvent{{Kind: "heal.started", ClientID: "acme", StackID: "shop",
		Timestamp: time.Now(), Data: json.RawMessage(`{"n":2}`)}}), "adding waits for no other writer")
	numbered, err := s.SequenceStream(ctx)
	require.NoError(t, err)
	require.Len(t, numbered, 1, "the committed event only")
	page, err := s.ReadStream(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, page.Events, 1)
	require.Equal(t, int64(1), page.Events[0].Seq)
	require.JSONEq(t, `{"n":2}`, string(page.Events[0].Data))

	require.NoError(t, tx.Commit(ctx))
	numbered, err = s.SequenceStream(ctx)
	require.NoError(t, err)
	require.Len(t, numbered, 1)
	page, err = s.ReadStream(ctx, 1, 10)
	require.NoError(t, err)
	require.Len(t, page.Events, 1)
	require.Equal(t, int64(2), page.Events[0].Seq, "the late commit comes after what was read")
	require.JSONEq(t, `{"n":1}`, string(page.Events[0].Data))
}

// TestStreamNotificationsCarryTheEvents: on PostgreSQL a commit that adds
// events is announced to the Store's watchers (to number them), and the
// numbering's notifications carry the events, in order, several to a
// notification (a tail then needs no read), naming one too large for a
// notification by its seq.
func TestStreamNotificationsCarryTheEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, newSchema(t, serverURL(t)))
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	calls := make(chan []store.StreamEvent, 100)
	go func() { _ = s.WatchStream(wctx, func(es []store.StreamEvent) { calls <- es }) }()
	select {
	case es := <-calls:
		require.Empty(t, es, "listening: read the log")
	case <-time.After(20 * time.Second):
		t.Fatal("WatchStream never listened")
	}
	at := time.Date(2026, 12, 7, 10, 0, 0, 123456000, time.UTC)
	in := []store.StreamEvent{
		{Kind: "drift.detected", ClientID: "acme", StackID: "shop", Severity: "high", Timestamp: at, Data: json.RawMessage(`{"a": [1, 2]}`)},
		{Kind: "reconciliation.completed", ClientID: "acme", Timestamp: at, Data: json.RawMessage(`{"pad":"` + strings.Repeat("x", 9000) + `"}`)},
		{Kind: "heal.started", ClientID: "acme", StackID: "shop", Timestamp: at},
	}
	require.NoError(t, s.AppendStream(ctx, in))
	_, err := s.SequenceStream(ctx)
	require.NoError(t, err)
	var got []store.StreamEvent
	select {
	case es := <-calls:
		require.Empty(t, es, "the commit that added them")
	case <-time.After(20 * time.Second):
		t.Fatal("the commit was not announced")
	}
	for len(got) < 3 {
		select {
		case es := <-calls:
			got = append(got, es...)
		case <-time.After(20 * time.Second):
			t.Fatalf("%d of 3 events announced", len(got))
		}
	}
	page, err := s.ReadStream(ctx, 0, 10)
	require.NoError(t, err)
	require.Equal(t, store.StreamEvent{Seq: 2}, got[1], "too large: its seq only")
	for _, i := range []int{0, 2} {
		require.JSONEq(t, string(page.Events[i].Data), string(got[i].Data))
		page.Events[i].Data, got[i].Data = nil, nil
		require.Equal(t, page.Events[i], got[i], "the event as the log has it")
	}
}
