package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/bus"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/notify"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// audit appends the entries a reconcile pass writes for a drift.
func audit(t *testing.T, st store.Store, action, driftID string, changes map[string]any) {
	t.Helper()
	b, err := json.Marshal(changes)
	require.NoError(t, err)
	require.NoError(t, st.AppendAudit(context.Background(), []store.AuditEntry{{
		Timestamp: time.Now(), Action: action, ClientID: "acme", StackID: "shop", TriggeredBy: "reconciler:schedule",
		Success: true, ChangesMade: b, ReconciliationID: "r-" + driftID, DriftID: driftID,
	}}))
}

func detected(t *testing.T, st store.Store, driftID string) {
	audit(t, st, "drift_detected", driftID, map[string]any{"code": "webhook_broken", "component": "shopify.orders/create",
		"severity": "high", "expected": "present", "observed": "missing", "decision": "alert: webhook_broken is not allowed"})
}

func resolved(t *testing.T, st store.Store, driftID string) {
	audit(t, st, "drift_resolved", driftID, map[string]any{"code": "webhook_broken", "component": "shopify.orders/create"})
}

// newFeed returns a loaded feed over st whose dispatcher routes to chans.
func newFeed(t *testing.T, st store.OutboxStore, chans ...notify.Channel) *notify.Feed {
	t.Helper()
	f := notify.NewFeed(notify.FeedOptions{Store: st, DashboardURL: "https://blackwell.example"})
	require.NoError(t, f.Load(context.Background()))
	setChannels(t, f, chans...)
	return f
}

func setChannels(t *testing.T, f *notify.Feed, chans ...notify.Channel) {
	t.Helper()
	var routes []notify.Route
	for _, c := range chans {
		routes = append(routes, notify.Route{Channel: c})
	}
	d, err := notify.NewDispatcher(routes, notify.DispatcherOptions{Outbox: f.Outbox(), Durable: true})
	require.NoError(t, err)
	require.NoError(t, f.SetDispatcher(context.Background(), d))
}

func poll(t *testing.T, f *notify.Feed) int {
	t.Helper()
	n, err := f.Poll(context.Background())
	require.NoError(t, err)
	return n
}

func pending(t *testing.T, st store.OutboxStore) []store.OutboxItem {
	t.Helper()
	items, err := st.PendingOutbox(context.Background(), store.OutboxQuery{Subscriber: notify.DefaultSubscriber, After: 0, Limit: 100})
	require.NoError(t, err)
	return items
}

// blackhole never accepts a message: its Send waits until the dispatcher
// stops, like a process killed before delivery.
func blackhole(name string, calls *atomic.Int32) notify.Channel {
	return &funcChannel{name: name, send: func(ctx context.Context, _ notify.Message) error {
		calls.Add(1)
		<-ctx.Done()
		return ctx.Err()
	}}
}

// TestFeedCrashBetweenCommitAndDelivery: the process stops after the
// commit and before any receiver got the message; a new process on the
// same store delivers it exactly once, and remembers the drift (a repeat
// is not announced again; its resolution is).
func TestFeedCrashBetweenCommitAndDelivery(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	var calls atomic.Int32
	first := newFeed(t, st, blackhole("slack", &calls))
	detected(t, st, "d1")
	require.Equal(t, 1, poll(t, first))
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 10*time.Second, time.Millisecond, "the send started")
	stopped, cancel := context.WithCancel(context.Background())
	cancel() // no time to finish: the send is abandoned
	require.NoError(t, first.Stop(stopped))
	require.Len(t, pending(t, st), 1, "the delivery outlives the process")

	rec := newRecorder("slack")
	second := newFeed(t, st, rec)
	got := rec.wait(t, 1)
	require.Equal(t, notify.KindDetected, got[0].Kind)
	require.Equal(t, "d1", got[0].DriftID)
	require.Equal(t, drift.WebhookBroken, got[0].Code)
	require.Equal(t, drift.TypeIntegration, got[0].DriftType)
	require.Equal(t, "missing", got[0].Observed)
	require.Equal(t, "r-d1", got[0].ReconciliationID)
	require.Equal(t, "d1:detected:1", got[0].IdempotencyKey)
	require.Contains(t, got[0].DashboardURL, "drift_id=d1")
	require.Eventually(t, func() bool { return len(pending(t, st)) == 0 }, 10*time.Second, time.Millisecond, "done is recorded")

	require.Zero(t, poll(t, second), "the entry was committed by the first process")
	detected(t, st, "d1") // a repeat (another replica's pass, say)
	require.Equal(t, 1, poll(t, second))
	resolved(t, st, "d1")
	require.Equal(t, 1, poll(t, second))
	got = rec.wait(t, 1)
	require.Len(t, got, 2, "one detected, one resolved: the repeat stayed quiet after the restart")
	require.Equal(t, notify.KindResolved, got[1].Kind)
	require.Equal(t, "d1:resolved:2", got[1].IdempotencyKey)
	require.Equal(t, drift.SeverityHigh, got[1].Severity)
	require.NoError(t, second.Stop(context.Background()))
	require.Len(t, rec.messages(), 2, "nothing delivered twice")
}

// failingStore fails the next CommitSubscriber.
type failingStore struct {
	store.OutboxStore
	fail atomic.Bool
}

func (s *failingStore) CommitSubscriber(ctx context.Context, c store.SubscriberCommit) error {
	if s.fail.CompareAndSwap(true, false) {
		return errors.New("disk full")
	}
	return s.OutboxStore.CommitSubscriber(ctx, c)
}

// TestFeedCommitFailureChangesNothing: a failed commit (or a crash before
// it) leaves cursor and noise state as they were, so the retry produces the
// same message once.
func TestFeedCommitFailureChangesNothing(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	fs := &failingStore{OutboxStore: st}
	rec := newRecorder("slack")
	f := newFeed(t, fs, rec)
	detected(t, st, "d1")
	fs.fail.Store(true)
	_, err := f.Poll(context.Background())
	require.ErrorContains(t, err, "disk full")
	require.Zero(t, f.Cursor())
	_, known := f.Tracker().State("d1")
	require.False(t, known, "the step's noise state was undone")
	require.Empty(t, pending(t, st))

	require.Equal(t, 1, poll(t, f))
	got := rec.wait(t, 1)
	require.Equal(t, "d1:detected:1", got[0].IdempotencyKey)
	require.NoError(t, f.Stop(context.Background()))
	require.Len(t, rec.messages(), 1)
}

func TestFeedStartsAtTheHeadAndOnlyOneProcessCommits(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	detected(t, st, "old")
	a, b := newRecorder("slack"), newRecorder("slack")
	fa := newFeed(t, st, a)
	fb := newFeed(t, st, b)
	require.Zero(t, poll(t, fa), "history before the first start is not announced")

	detected(t, st, "d1")
	require.Equal(t, 1, poll(t, fa))
	_, err := fb.Poll(context.Background())
	require.ErrorIs(t, err, store.ErrConflict, "the other process committed these entries")
	require.Equal(t, fa.Cursor(), fb.Cursor(), "the loser reloaded")
	require.Zero(t, poll(t, fb))
	a.wait(t, 1)
	require.NoError(t, fa.Stop(context.Background()))
	require.NoError(t, fb.Stop(context.Background()))
	require.Empty(t, b.messages())
}

// TestFeedNoiseAcrossEntries: 1,000 repeated detections are one message;
// an acknowledgement is remembered; failed heals escalate.
func TestFeedNoiseAcrossEntries(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	rec := newRecorder("slack")
	f := newFeed(t, st, rec)
	for i := 0; i < 1000; i++ {
		detected(t, st, "d1")
	}
	for poll(t, f) > 0 {
	}
	rec.wait(t, 1)

	detected(t, st, "d2")
	for i := 0; i < 3; i++ {
		audit(t, st, "heal_failed", "d2", map[string]any{"heal_id": fmt.Sprint("h", i), "code": "webhook_broken"})
	}
	poll(t, f)
	got := rec.wait(t, 2)
	require.Len(t, got, 3)
	require.Equal(t, notify.KindDetected, got[1].Kind)
	require.Equal(t, notify.KindEscalated, got[2].Kind, "three failed heals escalate")
	require.Equal(t, drift.SeverityCritical, got[2].Severity)
	require.Equal(t, notify.ReasonFailedHeals, got[2].Reason)
	require.Equal(t, 3, got[2].FailedHeals)

	audit(t, st, "drift_acknowledged", "d1", map[string]any{"code": "webhook_broken", "reason": "known"})
	poll(t, f)
	state, ok := f.Tracker().State("d1")
	require.True(t, ok)
	require.True(t, state.Acknowledged)
	require.NoError(t, f.Stop(context.Background()))

	again := newFeed(t, st)
	state, ok = again.Tracker().State("d1")
	require.True(t, ok)
	require.True(t, state.Acknowledged, "acknowledgement survives a restart")
	require.True(t, state.Open)
	require.NoError(t, again.Stop(context.Background()))
}

// streamEvents is the store's stream log.
func streamEvents(t *testing.T, st store.Store) []bus.Event {
	t.Helper()
	page, err := st.ReadStream(context.Background(), 0, 1000)
	require.NoError(t, err)
	out := make([]bus.Event, len(page.Events))
	for i, r := range page.Events {
		out[i] = bus.FromRecord(r)
	}
	return out
}

func TestFeedWritesDriftEventsToTheStream(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	f := newFeed(t, st)
	detected(t, st, "d1")
	audit(t, st, "drift_acknowledged", "d1", map[string]any{"code": "webhook_broken"})
	resolved(t, st, "d1")
	audit(t, st, "desired_state_changed", "", map[string]any{})
	require.Equal(t, 4, poll(t, f))
	require.Zero(t, poll(t, f))

	events := streamEvents(t, st)
	var kinds []bus.Kind
	for _, e := range events {
		kinds = append(kinds, e.Kind)
		require.Equal(t, "acme", e.ClientID)
		require.Equal(t, drift.SeverityHigh, e.Severity)
	}
	require.Equal(t, []bus.Kind{bus.KindDriftDetected, bus.KindDriftAcknowledged, bus.KindDriftResolved}, kinds,
		"once each, in order; entries of other actions are not drift events")
	var first bus.DriftEvent
	require.NoError(t, json.Unmarshal(events[0].Data, &first))
	require.Equal(t, "d1", first.DriftID)
	require.Equal(t, drift.TypeIntegration, first.DriftType)
	require.Equal(t, "present", first.Expected)
	require.Equal(t, "r-d1", first.ReconciliationID)
	require.Regexp(t, `^audit-\d+$`, first.EventID)
	require.NoError(t, f.Stop(context.Background()))
}

// TestFeedLoop: Start polls on Kick, and Tick re-queues what a full queue
// left in the store.
func TestFeedLoop(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	f := notify.NewFeed(notify.FeedOptions{Store: st, PollInterval: time.Hour, TickInterval: 20 * time.Millisecond})
	require.NoError(t, f.Start(context.Background()))
	gate := make(chan struct{})
	var calls atomic.Int32
	slow := &funcChannel{name: "slow", send: func(ctx context.Context, _ notify.Message) error {
		calls.Add(1)
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	d, err := notify.NewDispatcher([]notify.Route{{Channel: slow}}, notify.DispatcherOptions{Outbox: f.Outbox(), Durable: true, QueueSize: 1})
	require.NoError(t, err)
	require.NoError(t, f.SetDispatcher(context.Background(), d))
	for i := 0; i < 5; i++ {
		detected(t, st, fmt.Sprint("d", i))
	}
	f.Kick()
	require.Eventually(t, func() bool { return len(pending(t, st)) == 5 }, 10*time.Second, time.Millisecond)
	close(gate) // the receiver recovers: the ones that did not fit the queue come from the store
	require.Eventually(t, func() bool { return len(pending(t, st)) == 0 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, int32(5), calls.Load(), "each delivered once")
	require.NoError(t, f.Stop(context.Background()))
}

// TestFeedOnlyTheLeaderSends: two replicas' feeds on one store; only the
// leader commits, sends and writes the drift events to the stream log, the
// follower reads nothing; when leadership moves, the new leader sends what
// was left pending, and nothing is sent or written twice.
func TestFeedOnlyTheLeaderSends(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	var aLeads atomic.Bool
	aLeads.Store(true)
	mk := func(leads func() bool, c notify.Channel) *notify.Feed {
		f := notify.NewFeed(notify.FeedOptions{Store: st, Leader: leads, DrainTimeout: 100 * time.Millisecond})
		require.NoError(t, f.Load(context.Background()))
		setChannels(t, f, c)
		return f
	}
	recA, recB := newRecorder("slack"), newRecorder("slack")
	fa := mk(aLeads.Load, recA)
	fb := mk(func() bool { return !aLeads.Load() }, recB)

	detected(t, st, "d1")
	require.Equal(t, 1, poll(t, fa))
	require.Equal(t, 0, poll(t, fb), "the follower reads nothing")
	recA.wait(t, 1)
	require.Len(t, streamEvents(t, st), 1, "the leader wrote the drift's event")

	// A delivery left pending by a leader that stops (its receiver never
	// answered), then leadership moves to b.
	var calls atomic.Int32
	setChannels(t, fa, blackhole("slack", &calls))
	detected(t, st, "d2")
	require.Equal(t, 1, poll(t, fa))
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, fa.Stop(context.Background()))
	require.Len(t, pending(t, st), 1)
	aLeads.Store(false)
	poll(t, fb)
	got := recB.wait(t, 1)
	require.Equal(t, "d2", got[0].DriftID, "the new leader sends what was pending, and only that")
	require.NoError(t, fb.Stop(context.Background()))
	require.Len(t, recA.messages(), 1)
	var drifts []string
	for _, e := range streamEvents(t, st) {
		var d bus.DriftEvent
		require.NoError(t, json.Unmarshal(e.Data, &d))
		drifts = append(drifts, d.DriftID)
	}
	require.Equal(t, []string{"d1", "d2"}, drifts, "each drift's event written once, by the leader of the time")
}
