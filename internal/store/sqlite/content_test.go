package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

// TestIngestJoinedAsSequential: calls of IngestEvents that share a batch
// run joined, in multi-row statements of several sizes; they answer and
// store what the same calls store one after another: the first event of an
// id is written, later ones (in the same call, or another) are not, and a
// content item ends at the state its states reach applied in order,
// including a tombstone without a content type that keeps the stored one.
func TestIngestJoinedAsSequential(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	openStore := func(name string) *Store {
		s, err := Open(ctx, filepath.Join(t.TempDir(), name), WithClock(clock))
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	item := func(id, contentID string, at time.Duration, contentType string, deleted bool) store.IngestEvent {
		return store.IngestEvent{
			Event: store.Event{EventID: id, ClientID: "acme", ProviderName: "shopify", EventType: "content.updated",
				ContentID: contentID, ContentType: "product", Timestamp: t0.Add(at), Payload: []byte(`{"n":1}`)},
			Content: &store.ContentItem{ProviderName: "shopify", Source: "acme.myshopify.com", ContentID: contentID,
				ContentType: contentType, UpdatedAt: t0.Add(at), Deleted: deleted},
		}
	}
	var many []store.IngestEvent
	for i := range 300 { // 128 + 128 + 32 + 8 + 4 rows
		many = append(many, item(fmt.Sprintf("m%d", i), fmt.Sprintf("q%d", i%7), time.Duration(i*37%300)*time.Second, "product", false))
	}
	many = append(many, item("x2", "q0", time.Hour, "product", false)) // stored by an earlier call
	calls := [][]store.IngestEvent{
		{item("x1", "p", 2*time.Second, "product", false)},
		{item("x2", "p", time.Second, "older", false), item("x1", "p", time.Hour, "again", false)},
		{item("x3", "p", 3*time.Second, "", true), {Event: store.Event{EventID: "bare", ClientID: "acme", EventType: "order.created"}}},
		many,
	}

	seq := openStore("sequential.db")
	var want [][]bool
	for _, in := range calls {
		ins, err := seq.IngestEvents(ctx, in)
		require.NoError(t, err)
		want = append(want, ins)
	}

	joined := openStore("joined.db")
	var ops []*writeOp
	for _, in := range calls {
		op := joined.ingestOp(in)
		op.done = make(chan error, 1)
		ops = append(ops, op)
	}
	joined.writes.commit(ops)
	for i, op := range ops {
		require.NoError(t, <-op.done)
		require.Equal(t, want[i], op.ingest.inserted, "call %d", i)
	}
	require.Equal(t, []bool{true, false}, want[1])
	require.Equal(t, []bool{true, true}, want[2])
	require.False(t, want[3][300], "x2 again")

	for _, s := range []*Store{seq, joined} {
		p, _, err := s.ListContent(ctx, store.ContentQuery{ClientID: "acme", ContentID: "p", IncludeDeleted: true})
		require.NoError(t, err)
		require.Len(t, p, 1)
		require.Equal(t, "product", p[0].ContentType, "the tombstone keeps the type")
		require.True(t, p[0].Deleted)
	}
	list := func(s *Store) ([]store.ContentItem, []store.Event) {
		items, _, err := s.ListContent(ctx, store.ContentQuery{IncludeDeleted: true, Limit: store.MaxLimit})
		require.NoError(t, err)
		events, _, err := s.ListEvents(ctx, store.EventQuery{Limit: store.MaxLimit})
		require.NoError(t, err)
		return items, events
	}
	wantItems, wantEvents := list(seq)
	gotItems, gotEvents := list(joined)
	require.Equal(t, wantItems, gotItems)
	require.Equal(t, 304, len(wantEvents))
	require.Equal(t, wantEvents, gotEvents)
}
