package postgres_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

func ingestCall(id, content string, payload json.RawMessage) []store.IngestEvent {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	return []store.IngestEvent{{
		Event: store.Event{EventID: id, ClientID: "acme", ProviderName: "shopify", EventType: "content.updated",
			ContentID: content, Timestamp: at, Payload: payload},
		Content: &store.ContentItem{ProviderName: "shopify", ContentID: content, UpdatedAt: at},
	}}
}

// TestIngestBatchSharesOneTransaction: calls queued together commit in one
// transaction, deduplicated across calls as if they had run one after the
// other.
func TestIngestBatchSharesOneTransaction(t *testing.T) {
	t.Parallel()
	s := open(t, newSchema(t, serverURL(t)))
	inserted, errs := s.CommitIngestBatch([][]store.IngestEvent{
		ingestCall("a", "p1", json.RawMessage(`{}`)),
		ingestCall("a", "p2", json.RawMessage(`{}`)), // a redelivery of a
		ingestCall("b", "p3", json.RawMessage(`{}`)),
	})
	require.Equal(t, []error{nil, nil, nil}, errs)
	require.Equal(t, [][]bool{{true}, {false}, {true}}, inserted)
	content, _, err := s.ListContent(t.Context(), store.ContentQuery{ClientID: "acme"})
	require.NoError(t, err)
	require.Len(t, content, 2, "the redelivery's content item is not applied")
	require.Equal(t, []string{"p1", "p3"}, []string{content[0].ContentID, content[1].ContentID})
}

// TestIngestBatchBadCallFailsAlone: when the server refuses a batch, each
// call runs again alone, so only the bad one fails.
func TestIngestBatchBadCallFailsAlone(t *testing.T) {
	t.Parallel()
	s := open(t, newSchema(t, serverURL(t)))
	bad := json.RawMessage("{\"s\":\"\xff\"}") // valid JSON, invalid UTF-8: PostgreSQL refuses it
	require.True(t, json.Valid(bad))
	inserted, errs := s.CommitIngestBatch([][]store.IngestEvent{
		ingestCall("a", "p1", json.RawMessage(`{}`)),
		ingestCall("bad", "p2", bad),
		ingestCall("b", "p3", json.RawMessage(`{}`)),
	})
	require.NoError(t, errs[0])
	require.Error(t, errs[1])
	require.NoError(t, errs[2])
	require.Equal(t, []bool{true}, inserted[0])
	require.Equal(t, []bool{true}, inserted[2])
	events, _, err := s.ListEvents(t.Context(), store.EventQuery{ClientID: "acme"})
	require.NoError(t, err)
	require.Len(t, events, 2)
}

// TestIngestBatchContentAsSequential: a batch whose calls carry several
// states of one item, in and out of order, and states of distinct items,
// upserts them in rounds of distinct items; the cache ends as the same
// calls leave it one after another: newest state wins, a tombstone without
// a content type keeps the stored type, a redelivery applies nothing.
func TestIngestBatchContentAsSequential(t *testing.T) {
	t.Parallel()
	server := serverURL(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	state := func(id, content string, at time.Duration, contentType string, deleted bool) store.IngestEvent {
		return store.IngestEvent{
			Event: store.Event{EventID: id, ClientID: "acme", ProviderName: "shopify", EventType: "content.updated",
				ContentID: content, Timestamp: t0.Add(at), ReceivedAt: t0},
			Content: &store.ContentItem{ProviderName: "shopify", Source: "acme.myshopify.com", ContentID: content,
				ContentType: contentType, UpdatedAt: t0.Add(at), Deleted: deleted},
		}
	}
	calls := [][]store.IngestEvent{
		{state("a1", "p", 2*time.Second, "product", false), state("b1", "q", time.Second, "page", false)},
		{state("a2", "p", time.Second, "older", false)},
		{state("a1", "p", time.Hour, "again", false)}, // a redelivery
		{state("a3", "p", 3*time.Second, "", true), state("c1", "r", 0, "product", false)},
		{state("b2", "q", 2*time.Second, "page", false), state("a4", "p", 3*time.Second, "product", false)},
	}

	seq := open(t, newSchema(t, server))
	var want [][]bool
	for _, in := range calls {
		ins, err := seq.IngestEvents(t.Context(), in)
		require.NoError(t, err)
		want = append(want, ins)
	}
	joinedURL := newSchema(t, server)
	joined := open(t, joinedURL)
	got, errs := joined.CommitIngestBatch(calls)
	require.Equal(t, make([]error, len(calls)), errs)
	require.Equal(t, want, got)
	conn, err := connect(t.Context(), joinedURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var xids int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(DISTINCT xid) FROM events`).Scan(&xids))
	require.Equal(t, 1, xids, "one transaction: the batch did not fall back to a call at a time")

	list := func(s interface {
		ListContent(context.Context, store.ContentQuery) ([]store.ContentItem, store.Page, error)
	}) []store.ContentItem {
		items, _, err := s.ListContent(t.Context(), store.ContentQuery{ClientID: "acme", IncludeDeleted: true})
		require.NoError(t, err)
		return items
	}
	items := list(seq)
	require.Len(t, items, 3)
	require.Equal(t, "product", items[0].ContentType, "the tombstone keeps the type")
	require.True(t, items[0].Deleted, "a4 is not newer than the tombstone a3 (deleted wins a tie)")
	require.Equal(t, "a3", items[0].EventID)
	require.Equal(t, "b2", items[1].EventID)
	require.Equal(t, items, list(joined))
}
