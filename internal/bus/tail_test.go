package bus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/bus"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// replicaBus is a bus fed by a tail of the store's stream log, as each
// replica runs one.
func replicaBus(t *testing.T, st store.Store) *bus.Bus {
	t.Helper()
	b, _ := newBus(t, bus.Options{Ring: 16, Source: st})
	tail, err := bus.NewTail(b, bus.TailOptions{Store: st, Poll: time.Hour}) // woken by commits only
	require.NoError(t, err)
	require.NoError(t, tail.Start(context.Background()))
	t.Cleanup(tail.Stop)
	return b
}

func appendEvents(t *testing.T, st store.Store, from, n int) {
	t.Helper()
	var in []store.StreamEvent
	for i := from; i < from+n; i++ {
		in = append(in, store.StreamEvent{Kind: string(bus.KindReconciliation), ClientID: "acme", StackID: fmt.Sprint("s", i%3),
			Timestamp: time.Now(), Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
	}
	require.NoError(t, st.AppendStream(context.Background(), in))
}

// receive reads n events of s within a deadline.
func receive(t *testing.T, s *bus.Subscription, n int) []bus.Event {
	t.Helper()
	var out []bus.Event
	deadline := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case e, ok := <-s.C():
			require.True(t, ok, "subscription ended: %v", s.Err())
			out = append(out, e)
		case <-deadline:
			t.Fatalf("received %d of %d events", len(out), n)
		}
	}
	return out
}

// TestTailsServeOneLog: two buses tailing one stream log (two replicas)
// deliver every event, once, in the log's order, under the same ids; a
// subscriber that reconnects to the other with the last id it saw gets
// what followed, from the log, without a gap or a repeat.
func TestTailsServeOneLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "b.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	appendEvents(t, st, 0, 5) // before the tails: history, not published

	a, b := replicaBus(t, st), replicaBus(t, st)
	subA := subscribe(t, a, bus.SubscribeOptions{Buffer: 1000})
	subB := subscribe(t, b, bus.SubscribeOptions{Buffer: 1000})
	for i := range 10 {
		appendEvents(t, st, 5+3*i, 3)
	}
	gotA, gotB := receive(t, subA, 30), receive(t, subB, 30)
	require.Equal(t, eventIDs(gotA), eventIDs(gotB), "the same events, ids and order on both")
	for i, e := range gotA {
		require.Equal(t, fmt.Sprint(6+i), e.ID, "every event after the head at start, once, in order")
		var d struct{ N int }
		require.NoError(t, json.Unmarshal(e.Data, &d))
		require.Equal(t, 5+i, d.N)
	}
	subA.Close()

	// The client of A saw up to event 20, then reconnects to B, whose
	// ring (16) no longer holds 21..: they come from the log.
	appendEvents(t, st, 35, 10) // 36..45
	receive(t, subB, 10)
	again := subscribe(t, b, bus.SubscribeOptions{After: "20", Buffer: 1000})
	got, gap := replayed(t, again)
	require.False(t, gap)
	require.Equal(t, int64(21), got[0].Seq)
	require.Equal(t, int64(45), got[len(got)-1].Seq)
	for i := 1; i < len(got); i++ {
		require.Equal(t, got[i-1].Seq+1, got[i].Seq, "no gap, no repeat")
	}
	appendEvents(t, st, 45, 1)
	require.Equal(t, "46", receive(t, again, 1)[0].ID, "then live")

	// And after history older than both tails (event 2): from the log too,
	// once A has read what was added (it may lag B).
	require.Eventually(t, func() bool { return a.Seq() == 46 }, 10*time.Second, time.Millisecond)
	got, gap = replayed(t, subscribe(t, a, bus.SubscribeOptions{After: "2"}))
	require.False(t, gap)
	require.Equal(t, int64(3), got[0].Seq)
	require.Equal(t, int64(46), got[len(got)-1].Seq)
}

// countingStream counts the reads of a stream log.
type countingStream struct {
	store.Store
	reads atomic.Int64
}

func (c *countingStream) ReadStream(ctx context.Context, after int64, limit int) (store.StreamPage, error) {
	c.reads.Add(1)
	return c.Store.ReadStream(ctx, after, limit)
}

// TestTailLingers: commits that come faster than the tail's Linger (one
// wake each) are read a page at a time, at most one read per Linger, and
// every event still arrives, once, in order.
func TestTailLingers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "b.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	cs := &countingStream{Store: st}
	b, _ := newBus(t, bus.Options{Ring: 16, Source: cs})
	const linger = 50 * time.Millisecond
	tail, err := bus.NewTail(b, bus.TailOptions{Store: cs, Poll: time.Hour, Linger: linger})
	require.NoError(t, err)
	require.NoError(t, tail.Start(ctx))
	t.Cleanup(tail.Stop)
	sub := subscribe(t, b, bus.SubscribeOptions{Buffer: 1000})

	began, before := time.Now(), cs.reads.Load()
	const n = 200
	for i := range n {
		appendEvents(t, st, i, 1) // a commit, and a wake, each
		time.Sleep(time.Millisecond)
	}
	got := receive(t, sub, n)
	reads, took := cs.reads.Load()-before, time.Since(began)
	for i, e := range got {
		require.Equal(t, int64(i+1), e.Seq, "every event, once, in order")
	}
	require.LessOrEqual(t, reads, int64(took/linger)+2, "%d reads in %s for %d commits", reads, took, n)
}
