package postgres_test

import (
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
