package postgres_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

// TestStreamWriterCommitsInSeqOrder: a writer of the stream log that
// numbered its events waits, before it commits, for every writer that
// numbered earlier ones to commit (or roll back). Here a transaction of
// the test holds seq 1 uncommitted: an AppendStream started after it
// blocks, and a reader sees neither until the first commits, then both in
// order. With seqs from a sequence the second would commit as 2 while 1
// was still pending, and a reader that went past 2 would never read 1.
func TestStreamWriterCommitsInSeqOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := newSchema(t, serverURL(t))
	s := open(t, url)

	conn, err := connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `WITH h AS (UPDATE stream_head SET seq = seq + 1 RETURNING seq)
INSERT INTO stream (seq, kind, client_id, stack_id, severity, timestamp, data, created_at)
SELECT seq, 'heal.started', 'acme', 'shop', '', now(), '{"n":1}', now() FROM h`)
	require.NoError(t, err)

	appended := make(chan error, 1)
	go func() {
		appended <- s.AppendStream(ctx, []store.StreamEvent{{Kind: "heal.started", ClientID: "acme", StackID: "shop",
			Timestamp: time.Now(), Data: json.RawMessage(`{"n":2}`)}})
	}()
	// Wait until the append waits for the head's lock.
	var schema string
	require.NoError(t, conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema))
	deadline := time.Now().Add(20 * time.Second)
	for {
		// conn is inside tx, and pg_stat_activity is read once per
		// transaction unless its snapshot is cleared: without this, a
		// first look taken before the append waits is all the loop sees.
		_, err := conn.Exec(ctx, `SELECT pg_stat_clear_snapshot()`)
		require.NoError(t, err)
		var waiting bool
		require.NoError(t, conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND query LIKE '%stream_head%' AND datname = current_database()
AND pid IN (SELECT pid FROM pg_locks WHERE NOT granted))`).Scan(&waiting))
		if waiting {
			break
		}
		select {
		case err := <-appended:
			t.Fatalf("AppendStream committed (%v) while an earlier seq was uncommitted", err)
		default:
		}
		require.True(t, time.Now().Before(deadline), "AppendStream never waited for the head")
		time.Sleep(10 * time.Millisecond)
	}
	page, err := s.ReadStream(ctx, 0, 10)
	require.NoError(t, err)
	require.Empty(t, page.Events, "nothing committed yet")

	require.NoError(t, tx.Commit(ctx))
	select {
	case err := <-appended:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("AppendStream still waits after the earlier writer committed")
	}
	page, err = s.ReadStream(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, page.Events, 2)
	for i, e := range page.Events {
		require.Equal(t, int64(i+1), e.Seq)
		var d struct{ N int }
		require.NoError(t, json.Unmarshal(e.Data, &d))
		require.Equal(t, i+1, d.N, "the first writer's event first")
	}
}
