package bus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/bus"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

func newBus(t *testing.T, opts bus.Options) (*bus.Bus, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	b, err := bus.New(opts)
	require.NoError(t, err)
	return b, reg
}

func subscribe(t *testing.T, b *bus.Bus, opts bus.SubscribeOptions) *bus.Subscription {
	t.Helper()
	s, err := b.Subscribe(context.Background(), opts)
	require.NoError(t, err)
	return s
}

// replayed is what s.Replay gives: the events, and whether a gap came
// before any of them.
func replayed(t *testing.T, s *bus.Subscription) ([]bus.Event, bool) {
	t.Helper()
	var (
		out []bus.Event
		gap bool
	)
	require.NoError(t, s.Replay(context.Background(), func(es []bus.Event, g bool) error {
		gap = gap || g
		out = append(out, es...)
		return nil
	}))
	return out, gap
}

func ev(client string, sev drift.Severity, k bus.Kind) bus.Event {
	return bus.Event{Kind: k, ClientID: client, Severity: sev}
}

func TestFilterMatch(t *testing.T) {
	t.Parallel()
	high := ev("acme", drift.SeverityHigh, bus.KindDriftDetected)
	result := ev("acme", "", bus.KindReconciliation)
	for _, tc := range []struct {
		name string
		f    bus.Filter
		e    bus.Event
		want bool
	}{
		{"zero selects all", bus.Filter{}, high, true},
		{"client matches", bus.Filter{ClientID: "acme"}, high, true},
		{"client differs", bus.Filter{ClientID: "globex"}, high, false},
		{"severity at threshold", bus.Filter{MinSeverity: drift.SeverityHigh}, high, true},
		{"severity below threshold", bus.Filter{MinSeverity: drift.SeverityCritical}, high, false},
		{"severity above threshold", bus.Filter{MinSeverity: drift.SeverityLow}, high, true},
		{"no severity with a threshold", bus.Filter{MinSeverity: drift.SeverityLow}, result, false},
		{"no severity without a threshold", bus.Filter{}, result, true},
		{"kind exact", bus.Filter{Kinds: []string{"drift.detected"}}, high, true},
		{"kind other", bus.Filter{Kinds: []string{"drift.resolved"}}, high, false},
		{"kind prefix", bus.Filter{Kinds: []string{"drift."}}, high, true},
		{"kind prefix needs the dot", bus.Filter{Kinds: []string{"drift"}}, high, false},
		{"kind prefix other", bus.Filter{Kinds: []string{"heal."}}, high, false},
		{"kinds any of", bus.Filter{Kinds: []string{"heal.", "drift.detected"}}, high, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, tc.f.Match(tc.e))
		})
	}
}

func TestPublishDeliversInOrderWithIDs(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	b, reg := newBus(t, bus.Options{Now: func() time.Time { return now }})
	acme := subscribe(t, b, bus.SubscribeOptions{Name: "acme", Filter: bus.Filter{ClientID: "acme"}})
	all := subscribe(t, b, bus.SubscribeOptions{Name: "all"})
	ctx := context.Background()
	p1 := b.Publish(ctx, ev("acme", drift.SeverityLow, bus.KindDriftDetected))
	b.Publish(ctx, ev("globex", drift.SeverityLow, bus.KindDriftDetected))
	p3 := b.Publish(ctx, ev("acme", drift.SeverityLow, bus.KindDriftResolved))
	require.Equal(t, "1", p1.ID)
	require.Equal(t, "3", p3.ID)
	require.Equal(t, int64(3), p3.Seq)
	require.Equal(t, now, p1.Timestamp, "a missing timestamp is the bus's clock")
	require.JSONEq(t, `{}`, string(p1.Data))

	require.Equal(t, p1.ID, (<-acme.C()).ID)
	require.Equal(t, p3.ID, (<-acme.C()).ID)
	require.Len(t, all.C(), 3)
	require.Equal(t, 2.0, counter(t, reg, "blackwell_bus_events_total", "drift.detected"))
}

// counter is the value of one series of a counter vector in reg.
func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s{%s}", name, label)
	return 0
}

// TestSlowSubscriberNeverBlocksPublisher: a subscriber that never reads
// loses events (counted), a disconnecting one is ended, and the publisher
// and other subscribers carry on.
func TestSlowSubscriberNeverBlocksPublisher(t *testing.T) {
	t.Parallel()
	b, reg := newBus(t, bus.Options{})
	slow := subscribe(t, b, bus.SubscribeOptions{Name: "slow", Buffer: 2})
	kicked := subscribe(t, b, bus.SubscribeOptions{Name: "kicked", Buffer: 2, Disconnect: true})
	fast := subscribe(t, b, bus.SubscribeOptions{Name: "fast", Buffer: 1})
	var got []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range fast.C() {
			got = append(got, e.ID)
		}
	}()
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := 0; i < 1000; i++ {
			b.Publish(context.Background(), ev("acme", drift.SeverityLow, bus.KindDriftDetected))
		}
	}()
	select {
	case <-published:
	case <-time.After(10 * time.Second):
		t.Fatal("Publish blocked on a subscriber that does not read")
	}
	require.Equal(t, 998, slow.Dropped())
	require.Equal(t, 998.0, counter(t, reg, "blackwell_bus_dropped_total", "slow"))
	require.Len(t, slow.C(), 2, "the slow subscriber keeps what fit")
	require.NoError(t, slow.Err(), "a dropping subscriber stays subscribed")

	n := 0
	for range kicked.C() {
		n++
	}
	require.Equal(t, 2, n, "the disconnected subscriber gets what fit, then its channel closes")
	require.ErrorIs(t, kicked.Err(), bus.ErrSlow)

	fast.Close()
	<-done
	require.NotEmpty(t, got)
	require.Equal(t, 1, b.Subscribers(), "only the dropping one is left")
}

func TestReplayAfterLastEventID(t *testing.T) {
	t.Parallel()
	b, _ := newBus(t, bus.Options{Ring: 4})
	ctx := context.Background()
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, b.Publish(ctx, ev("acme", drift.SeverityHigh, bus.KindDriftDetected)).ID)
	}
	b.Publish(ctx, ev("globex", drift.SeverityHigh, bus.KindDriftDetected)) // 4

	sub := subscribe(t, b, bus.SubscribeOptions{After: ids[0], Filter: bus.Filter{ClientID: "acme"}})
	got, gap := replayed(t, sub)
	require.False(t, gap)
	require.Equal(t, ids[1:], eventIDs(got), "events after the id, filtered")
	live := b.Publish(ctx, ev("acme", drift.SeverityHigh, bus.KindDriftResolved))
	require.Equal(t, live.ID, (<-sub.C()).ID, "live events follow the backlog")

	got, gap = replayed(t, subscribe(t, b, bus.SubscribeOptions{After: live.ID}))
	require.Empty(t, got, "nothing after the newest id")
	require.False(t, gap)

	// Events 1..5 published, the ring holds 2..5: an id of event 1 is fine
	// (2 follows it), but nothing before that.
	got, gap = replayed(t, subscribe(t, b, bus.SubscribeOptions{After: ids[0]}))
	require.False(t, gap)
	require.Len(t, got, 4)
	b.Publish(ctx, ev("acme", drift.SeverityHigh, bus.KindDriftResolved)) // 6: the ring holds 3..6
	got, gap = replayed(t, subscribe(t, b, bus.SubscribeOptions{After: ids[0]}))
	require.True(t, gap, "event 2 left the ring, and the bus has no source")
	require.Equal(t, []string{"3", "4", "5", "6"}, eventIDs(got))

	for _, bad := range []string{"garbage", "1x-5", "-1", "99"} {
		s := subscribe(t, b, bus.SubscribeOptions{After: bad})
		got, gap := replayed(t, s)
		require.Empty(t, got, bad)
		require.True(t, gap, "%s: not an id of this bus", bad)
		next := b.Publish(ctx, ev("acme", drift.SeverityHigh, bus.KindDriftResolved))
		require.Equal(t, next.ID, (<-s.C()).ID, "%s: live events follow", bad)
	}
	got, gap = replayed(t, subscribe(t, b, bus.SubscribeOptions{}))
	require.Empty(t, got)
	require.False(t, gap, "no id: live events only")
}

// memLog is a stream log in memory (a bus.Source).
type memLog struct {
	mu     sync.Mutex
	events []store.StreamEvent // seqs 1.. less the pruned
	pruned int64
	reads  int
}

func (l *memLog) add(kind bus.Kind, client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	seq := l.pruned + int64(len(l.events)) + 1
	l.events = append(l.events, store.StreamEvent{Seq: seq, Kind: string(kind), ClientID: client,
		Timestamp: time.Date(2026, 12, 1, 0, 0, int(seq), 0, time.UTC), Data: json.RawMessage(fmt.Sprintf(`{"seq":%d}`, seq))})
}

func (l *memLog) ReadStream(_ context.Context, after int64, limit int) (store.StreamPage, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads++
	page := store.StreamPage{Head: l.pruned + int64(len(l.events)), Pruned: l.pruned}
	for _, e := range l.events {
		if e.Seq > after && len(page.Events) < limit {
			page.Events = append(page.Events, e)
		}
	}
	return page, nil
}

// TestReplayFromSource: a bus fed from a log replays from the log what its
// ring does not hold, says when the log pruned what was missed, skips to
// an id the log has that the bus has not published yet (seen on another
// replica), and takes an id past the log's head for unknown.
func TestReplayFromSource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := &memLog{}
	for i := range 700 {
		src.add(bus.KindReconciliation, []string{"acme", "globex"}[i%2])
	}
	b, _ := newBus(t, bus.Options{Ring: 8, Source: src})
	b.Resume(690) // the tail started at the head, 690
	for _, e := range src.events[690:] {
		b.Publish(ctx, bus.FromRecord(e)) // 691..700
	}
	require.Equal(t, int64(700), b.Seq())

	// After 10: 11..692 from the log (the ring holds 693..700), then the ring.
	s := subscribe(t, b, bus.SubscribeOptions{After: "10", Filter: bus.Filter{ClientID: "acme"}})
	got, gap := replayed(t, s)
	require.False(t, gap)
	require.Len(t, got, 345, "acme's events 11..700, every other one")
	for i, e := range got {
		require.Equal(t, int64(11+2*i), e.Seq)
		require.Equal(t, fmt.Sprint(e.Seq), e.ID)
		require.Equal(t, "acme", e.ClientID)
	}
	next := b.Publish(ctx, bus.Event{Kind: bus.KindReconciliation, ClientID: "acme", Seq: 701})
	require.Equal(t, "701", (<-s.C()).ID, "then the live events")

	// The log pruned 1..100: a subscriber after 50 has lost 51..100.
	src.mu.Lock()
	src.events, src.pruned = src.events[100:], 100
	src.mu.Unlock()
	got, gap = replayed(t, subscribe(t, b, bus.SubscribeOptions{After: "50"}))
	require.True(t, gap)
	require.Equal(t, int64(101), got[0].Seq)
	require.Equal(t, next.Seq, got[len(got)-1].Seq)

	// An id the log has but this bus has not published (it lags the
	// replica the subscriber came from): no replay, live events after it.
	src.add(bus.KindReconciliation, "acme") // 701, published above
	src.add(bus.KindReconciliation, "acme") // 702
	src.add(bus.KindReconciliation, "acme") // 703
	ahead := subscribe(t, b, bus.SubscribeOptions{After: "702"})
	got, gap = replayed(t, ahead)
	require.Empty(t, got)
	require.False(t, gap)
	for _, e := range src.events[len(src.events)-2:] {
		b.Publish(ctx, bus.FromRecord(e))
	}
	require.Equal(t, "703", (<-ahead.C()).ID, "702 was seen elsewhere: 703 is the first")

	// An id past the log's head is unknown: a gap, then live events.
	unknown := subscribe(t, b, bus.SubscribeOptions{After: "5000"})
	got, gap = replayed(t, unknown)
	require.Empty(t, got)
	require.True(t, gap)
	b.Publish(ctx, bus.Event{Kind: bus.KindReconciliation, ClientID: "acme", Seq: 704})
	require.Equal(t, "704", (<-unknown.C()).ID)
}

func TestCloseEndsSubscriptions(t *testing.T) {
	t.Parallel()
	b, _ := newBus(t, bus.Options{})
	s := subscribe(t, b, bus.SubscribeOptions{})
	b.Close()
	_, ok := <-s.C()
	require.False(t, ok)
	require.ErrorIs(t, s.Err(), bus.ErrClosed)
	b.Publish(context.Background(), ev("acme", drift.SeverityHigh, bus.KindDriftDetected))
	late := subscribe(t, b, bus.SubscribeOptions{})
	_, ok = <-late.C()
	require.False(t, ok, "subscribing to a closed bus ends at once")
	s.Close() // again: nothing
}

func TestConcurrentPublishAndSubscribe(t *testing.T) {
	t.Parallel()
	b, _ := newBus(t, bus.Options{Ring: 64})
	var wg sync.WaitGroup
	for p := 0; p < 4; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				b.Publish(context.Background(), ev(fmt.Sprint("c", p), drift.SeverityLow, bus.KindDriftDetected))
			}
		}()
	}
	for s := 0; s < 4; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				sub, _ := b.Subscribe(context.Background(), bus.SubscribeOptions{Buffer: 4, After: "1"}) // no source: no error
				sub.Close()
			}
		}()
	}
	wg.Wait()
	last := b.Publish(context.Background(), ev("c", drift.SeverityLow, bus.KindDriftDetected))
	require.Equal(t, "801", last.ID)
}

func TestPayloads(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	end := start.Add(time.Minute)
	d := drift.Drift{ID: "d1", ClientID: "acme", StackID: "shop", Severity: drift.SeverityHigh, Code: drift.WebhookBroken}
	for _, tc := range []struct {
		status string
		kind   bus.Kind
		done   *time.Time
		ts     time.Time
	}{
		{bus.HealStarted, bus.KindHealStarted, nil, start},
		{bus.HealSuccess, bus.KindHealSucceeded, &end, end},
		{bus.HealFailed, bus.KindHealFailed, &end, end},
	} {
		e := bus.NewAutoHealEvent(bus.AutoHealEvent{EventID: "h1", ReconciliationID: "r1", DriftDetail: d,
			HealAction: "recreate_subscription", Status: tc.status, StartedAt: start, CompletedAt: tc.done})
		require.Equal(t, tc.kind, e.Kind)
		require.Equal(t, "acme", e.ClientID)
		require.Equal(t, "shop", e.StackID)
		require.Equal(t, drift.SeverityHigh, e.Severity)
		require.Equal(t, tc.ts, e.Timestamp)
		var m map[string]any
		require.NoError(t, json.Unmarshal(e.Data, &m))
		for _, k := range []string{"event_id", "reconciliation_id", "client_id", "drift_detail", "heal_action", "status", "started_at"} {
			require.Contains(t, m, k)
		}
	}

	de := bus.NewDriftEvent(bus.KindDriftDetected, bus.DriftEvent{ClientID: "acme", StackID: "shop",
		DriftType: drift.TypeIntegration, Expected: "present", Observed: "missing", Severity: drift.SeverityHigh,
		Timestamp: start, ReconciliationID: "r1", DriftID: "d1", Code: drift.WebhookBroken})
	var m map[string]any
	require.NoError(t, json.Unmarshal(de.Data, &m))
	for _, k := range []string{"client_id", "stack_id", "drift_type", "expected", "observed", "severity", "timestamp",
		"auto_heal_attempted", "reconciliation_id"} {
		require.Contains(t, m, k, "the spec's drift event field")
	}
	require.Equal(t, drift.SeverityHigh, de.Severity)

	re := bus.NewReconciliationEvent(store.ReconciliationResult{ReconciliationID: "r1", ClientID: "acme", StackID: "shop",
		CompletedAt: end, Status: store.ResultSuccess})
	require.Equal(t, bus.KindReconciliation, re.Kind)
	require.Empty(t, re.Severity)
	require.Equal(t, end, re.Timestamp)
}

func eventIDs(es []bus.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}
