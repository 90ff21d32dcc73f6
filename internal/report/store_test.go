package report

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/audit"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// seedStore appends entries to a new SQLite store, in batches, as the
// reconciler would (the store numbers and chains them).
func seedStore(tb testing.TB, entries []store.AuditEntry) *sqlite.Store {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "blackwell.db"))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = st.Close() })
	appendAll(tb, st, entries)
	return st
}

// appendAll appends entries to st in batches of store.MaxLimit.
func appendAll(tb testing.TB, st store.Store, entries []store.AuditEntry) {
	tb.Helper()
	for i := 0; i < len(entries); i += store.MaxLimit {
		batch := append([]store.AuditEntry(nil), entries[i:min(i+store.MaxLimit, len(entries))]...)
		for j := range batch {
			batch[j].Seq = 0
		}
		require.NoError(tb, st.AppendAudit(context.Background(), batch))
	}
}

// TestComputeReadsTheChainUpToItsHead: Compute reads the store's chain
// and names its head; the figures are those of the entries up to it, the
// head verifies as audit verify checks it, and entries appended later do
// not change a report of the same period.
func TestComputeReadsTheChainUpToItsHead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := world{clients: 2, stacks: 3, start: t0, days: 3, rate: 4, seed: 3}
	st := seedStore(t, w.entries())
	p := Params{From: t0.Add(12 * time.Hour), To: t0.Add(3 * 24 * time.Hour), Now: t0.Add(80 * time.Hour)}

	r, err := Compute(ctx, st, p)
	require.NoError(t, err)
	head, err := st.AuditChainHead(ctx)
	require.NoError(t, err)
	require.Equal(t, head.Seq, r.Source.HeadSeq)
	require.Equal(t, head.Hash, r.Source.HeadHash)
	require.Equal(t, int64(1), r.Source.FirstSeq)
	require.Equal(t, fmt.Sprintf("blackwell audit verify --expect-head %d:%s", head.Seq, head.Hash), r.Source.Verify)

	stored, err := store.All(func(c store.Page) ([]store.AuditEntry, store.Page, error) {
		return st.ListAudit(ctx, store.AuditQuery{Cursor: c, Limit: store.MaxLimit})
	})
	require.NoError(t, err)
	require.NoError(t, audit.Verify(stored), "the chain the report names verifies")
	require.Equal(t, build(t, p, stored).Overall, r.Overall, "the figures are the stored entries'")
	require.Positive(t, r.Overall.DriftsDetected)

	// Entries appended after the period (later timestamps) change nothing.
	late := []store.AuditEntry{{Timestamp: p.To.Add(time.Minute), Action: "drift_detected", ClientID: "client-000", StackID: "stack-000", DriftID: "late"}}
	require.NoError(t, st.AppendAudit(ctx, late))
	again, err := Compute(ctx, st, p)
	require.NoError(t, err)
	require.Equal(t, r.Overall, again.Overall)
	require.Equal(t, head.Seq+1, again.Source.HeadSeq)

	// One client's report: its entries only, the same figures as in the
	// whole report.
	p.ClientID = "client-001"
	one, err := Compute(ctx, st, p)
	require.NoError(t, err)
	require.Len(t, one.Clients, 1)
	require.Equal(t, r.Clients[1], one.Clients[0])
	require.Less(t, one.Source.EntriesRead, r.Source.EntriesRead)
}

func TestComputeOfAnEmptyChainAndABadPeriod(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, err)
	defer st.Close()
	r, err := Compute(ctx, st, Params{From: t0, To: t0.Add(time.Hour)})
	require.NoError(t, err)
	require.Equal(t, Source{Verify: "blackwell audit verify"}, r.Source)
	require.Empty(t, r.Clients)
	require.Nil(t, r.Overall.Compliance)

	_, err = Compute(ctx, st, Params{From: t0, To: t0})
	require.ErrorIs(t, err, store.ErrInvalid)
}

// pagedReader is an AuditReader over entries in pages of two, failing on
// page fail (0: never).
type pagedReader struct {
	head    store.AuditHead
	entries []store.AuditEntry
	fail    int
	mu      sync.Mutex
	calls   int
}

func (r *pagedReader) AuditChainHead(context.Context) (store.AuditHead, error) { return r.head, nil }

func (r *pagedReader) ListAudit(_ context.Context, q store.AuditQuery) ([]store.AuditEntry, store.Page, error) {
	r.mu.Lock()
	r.calls++
	calls := r.calls
	r.mu.Unlock()
	if calls == r.fail {
		return nil, "", fmt.Errorf("disk on fire")
	}
	var after int64
	if q.Cursor != "" {
		if err := store.DecodeCursor(q.Cursor, &after); err != nil {
			return nil, "", err
		}
	}
	start := 0
	for start < len(r.entries) && r.entries[start].Seq <= after {
		start++
	}
	end := min(start+2, len(r.entries))
	next := ""
	if end < len(r.entries) {
		next = store.EncodeCursor(store.AuditKey(r.entries[end-1])...)
	}
	return r.entries[start:end], next, nil
}

// TestComputeStopsAtTheHeadAndOnErrors: entries after the head read
// first are left out; a failed page fails the report.
func TestComputeStopsAtTheHeadAndOnErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	es := scenario()
	p := Params{From: t0, To: t0.Add(10 * time.Hour)}
	r := &pagedReader{head: store.AuditHead{Seq: 7, Hash: "h7"}, entries: es}
	got, err := Compute(ctx, r, p)
	require.NoError(t, err)
	require.Equal(t, int64(7), got.Source.EntriesRead)
	require.Equal(t, 4, r.calls, "pages of two: the fourth holds the head")
	require.Equal(t, build(t, p, es[:7]).Overall, got.Overall)

	r = &pagedReader{head: store.AuditHead{Seq: 20, Hash: "h"}, entries: es, fail: 3}
	_, err = Compute(ctx, r, p)
	require.EqualError(t, err, "read the audit chain: disk on fire")
}

// TestReadChunkedKeepsChainOrder: however the chain is cut into chunks
// and however many goroutines read them, the fold gets every entry up to
// the head once, in chain order; a failed page fails the read without
// hanging it.
func TestReadChunkedKeepsChainOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	es := scenario()
	q := store.AuditQuery{Brief: true}
	for _, size := range []int64{1, 2, 3, 5, 50_000} {
		for readers := 1; readers <= 4; readers++ {
			for _, last := range []int64{1, 7, int64(len(es))} {
				r := &pagedReader{entries: es}
				var got []int64
				err := readChunked(ctx, r, q, last, size, readers, func(page readPage) {
					for _, e := range page.entries {
						got = append(got, e.Seq)
					}
				})
				require.NoError(t, err)
				var want []int64
				for s := int64(1); s <= last; s++ {
					want = append(want, s)
				}
				require.Equal(t, want, got, "chunks of %d, %d readers, head %d", size, readers, last)
			}
			r := &pagedReader{entries: es, fail: 4}
			err := readChunked(ctx, r, q, int64(len(es)), size, readers, func(readPage) {})
			require.EqualError(t, err, "read the audit chain: disk on fire")
		}
	}
}
