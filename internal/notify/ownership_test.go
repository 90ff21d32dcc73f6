package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/notify"
	"github.com/blackwellio/blackwell/internal/store"
)

func TestChannelShard(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"slack-ops", "pagerduty", "acme/*/0-webhook"} {
		s := notify.ChannelShard(name)
		require.Equal(t, store.ShardOf("notify", name), s, name)
		require.GreaterOrEqual(t, s, 0)
		require.Less(t, s, store.Shards)
	}
	seen := map[int]bool{}
	for i := range 64 {
		seen[notify.ChannelShard(string(rune('a'+i%26))+string(rune('a'+i/26)))] = true
	}
	require.Greater(t, len(seen), 32, "channels spread over the shards")
}

// TestStoreOutboxListsOnlyTheChannelsThisReplicaSends: the leader commits
// deliveries for every channel; another replica's outbox lists only its
// own channels', and a dispatcher started there sends those it routes and
// gives up nothing, not even a channel its config lacks (another
// replica's config may have it); recording the channels gives up the
// deliveries of a channel no replica has.
func TestStoreOutboxListsOnlyTheChannelsThisReplicaSends(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	none := func(string) bool { return false }
	fa := replica(t, st, func() bool { return true }, none, notify.DispatcherOptions{},
		newRecorder("alpha"), newRecorder("beta"), newRecorder("gamma"))
	detected(t, st, "d1")
	require.Equal(t, 1, poll(t, fa))
	require.Len(t, pending(t, st), 3, "committed for every channel, sent by nobody yet")

	bSends := func(ch string) bool { return ch == "beta" || ch == "gamma" }
	fb := notify.NewFeed(notify.FeedOptions{Store: st, Leader: func() bool { return false }, Sends: bSends})
	ds, err := fb.Outbox().Pending(context.Background())
	require.NoError(t, err)
	var chans []string
	for _, d := range ds {
		chans = append(chans, d.Channel)
	}
	require.Equal(t, []string{"beta", "gamma"}, chans, "B's own channels, in commit order")
	require.True(t, fb.Outbox().Sends("beta"))
	require.False(t, fb.Outbox().Sends("alpha"))

	gamma := newRecorder("gamma")
	setDispatcher(t, fb, notify.DispatcherOptions{}, gamma)
	t.Cleanup(func() { _ = fb.Stop(context.Background()) })
	gamma.wait(t, 1)
	require.Eventually(t, func() bool { return slices.Equal(pendingChannels(t, st), []string{"alpha", "beta"}) },
		10*time.Second, 5*time.Millisecond, "B sent gamma, left alpha to its owner and beta (not in its configuration) alone")
	require.NoError(t, fb.Requeue(context.Background()))
	require.Equal(t, []string{"alpha", "beta"}, pendingChannels(t, st), "polls give nothing up either")

	n, err := fa.RecordChannels(context.Background(), []string{"gamma", "alpha"}, "replica-a")
	require.NoError(t, err)
	require.Equal(t, 1, n, "beta is no replica's channel now: given up")
	require.Equal(t, []string{"alpha"}, pendingChannels(t, st))
}

// guarded counts the sends c makes while its replica does not send c's
// channel (owns false): each would be a delivery sent by a replica that
// is not its channel's owner.
func guarded(c notify.Channel, owns func() bool, strays *atomic.Int32) notify.Channel {
	return &funcChannel{name: c.Name(), send: func(ctx context.Context, m notify.Message) error {
		if !owns() {
			strays.Add(1)
		}
		return c.Send(ctx, m)
	}}
}

// replica is one server's feed on st: leads says whether it runs the
// feed, sends which channels it sends; its dispatcher routes to chans.
func replica(t *testing.T, st store.OutboxStore, leads func() bool, sends func(string) bool, dopts notify.DispatcherOptions,
	chans ...notify.Channel) *notify.Feed {
	t.Helper()
	f := notify.NewFeed(notify.FeedOptions{Store: st, Leader: leads, Sends: sends, PollInterval: 10 * time.Millisecond,
		DrainTimeout: 5 * time.Second})
	require.NoError(t, f.Load(context.Background()))
	setDispatcher(t, f, dopts, chans...)
	t.Cleanup(func() { _ = f.Stop(context.Background()) })
	return f
}

// setDispatcher gives f a new durable dispatcher over chans (the previous
// one stops first, its workers done).
func setDispatcher(t *testing.T, f *notify.Feed, dopts notify.DispatcherOptions, chans ...notify.Channel) {
	t.Helper()
	var routes []notify.Route
	for _, c := range chans {
		routes = append(routes, notify.Route{Channel: c})
	}
	dopts.Outbox, dopts.Durable = f.Outbox(), true
	d, err := notify.NewDispatcher(routes, dopts)
	require.NoError(t, err)
	require.NoError(t, f.SetDispatcher(context.Background(), d))
}

// pendingChannels are the channels of the pending deliveries, in commit
// order.
func pendingChannels(t *testing.T, st store.OutboxStore) []string {
	t.Helper()
	var out []string
	for _, it := range pending(t, st) {
		out = append(out, it.Channel)
	}
	return out
}

// driftKinds names each message by drift and kind.
func driftKinds(ms []notify.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.DriftID+":"+string(m.Kind))
	}
	return out
}

// TestFeedEachChannelIsSentByItsOwner: two replicas' running feeds on one
// store, A leading; A sends "alpha", B sends "beta". Each channel's
// deliveries reach its receiver once, from its owner only, in order, B's
// through its poll of the outbox. Then alpha moves to B: A still plans
// and commits alpha's deliveries, B sends them.
func TestFeedEachChannelIsSentByItsOwner(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	var alphaToB atomic.Bool
	aSends := func(ch string) bool { return ch == "alpha" && !alphaToB.Load() }
	bSends := func(ch string) bool { return ch == "beta" || ch == "alpha" && alphaToB.Load() }
	var strays atomic.Int32
	aAlpha, aBeta, bAlpha, bBeta := newRecorder("alpha"), newRecorder("beta"), newRecorder("alpha"), newRecorder("beta")
	fa := replica(t, st, func() bool { return true }, aSends, notify.DispatcherOptions{},
		guarded(aAlpha, func() bool { return aSends("alpha") }, &strays),
		guarded(aBeta, func() bool { return aSends("beta") }, &strays))
	fb := replica(t, st, func() bool { return false }, bSends, notify.DispatcherOptions{},
		guarded(bAlpha, func() bool { return bSends("alpha") }, &strays),
		guarded(bBeta, func() bool { return bSends("beta") }, &strays))
	require.NoError(t, fa.Start(context.Background()))
	require.NoError(t, fb.Start(context.Background()))

	detected(t, st, "d1")
	fa.Kick()
	require.Equal(t, []string{"d1:detected"}, driftKinds(aAlpha.wait(t, 1)))
	require.Equal(t, []string{"d1:detected"}, driftKinds(bBeta.wait(t, 1)), "the follower sends its channel")
	resolved(t, st, "d1")
	fa.Kick()
	require.Equal(t, []string{"d1:detected", "d1:resolved"}, driftKinds(aAlpha.wait(t, 1)))
	require.Equal(t, []string{"d1:detected", "d1:resolved"}, driftKinds(bBeta.wait(t, 1)), "in commit order")
	require.Eventually(t, func() bool { return len(pending(t, st)) == 0 }, 10*time.Second, 5*time.Millisecond)

	// alpha's shard moves to B (a rebalance): A keeps committing.
	alphaToB.Store(true)
	detected(t, st, "d2")
	fa.Kick()
	require.Equal(t, []string{"d2:detected"}, driftKinds(bAlpha.wait(t, 1)), "the new owner sends what the leader committed")
	require.Equal(t, []string{"d1:detected", "d1:resolved", "d2:detected"}, driftKinds(bBeta.wait(t, 1)))
	require.Eventually(t, func() bool { return len(pending(t, st)) == 0 }, 10*time.Second, 5*time.Millisecond)

	require.NoError(t, fa.Stop(context.Background()))
	require.NoError(t, fb.Stop(context.Background()))
	require.Zero(t, strays.Load(), "no channel was sent by a replica that did not own it")
	require.Empty(t, aBeta.messages(), "the leader queues only its own channels' deliveries")
	require.Len(t, aAlpha.messages(), 2)
	require.Len(t, bAlpha.messages(), 1)
	require.Len(t, bBeta.messages(), 3, "nothing sent twice")
}

// TestFeedChannelHandoverMidRetry: B sends "beta", whose receiver answers
// 503; while B's worker waits out its backoff, beta's shard goes to A.
// B's worker stops before its next attempt and leaves the delivery
// pending (no Done); B's next reads of the outbox skip it; A, the new
// owner, sends it and everything of beta after it.
func TestFeedChannelHandoverMidRetry(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	var betaToA atomic.Bool
	aSends := func(ch string) bool { return ch == "alpha" || ch == "beta" && betaToA.Load() }
	bSends := func(ch string) bool { return ch == "beta" && !betaToA.Load() }
	var strays atomic.Int32
	aAlpha, aBeta := newRecorder("alpha"), newRecorder("beta")
	fa := replica(t, st, func() bool { return true }, aSends, notify.DispatcherOptions{},
		guarded(aAlpha, func() bool { return aSends("alpha") }, &strays),
		guarded(aBeta, func() bool { return aSends("beta") }, &strays))

	down, hook := newFakeSlack(t, answer{status: 503, body: "service unavailable"})
	slack, err := notify.NewSlack("beta", hook, notify.ChannelOptions{})
	require.NoError(t, err)
	backoff := make(chan time.Duration, 1)
	release := make(chan struct{})
	wait := func(ctx context.Context, d time.Duration) error {
		select {
		case backoff <- d:
		default:
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	bBeta := guarded(slack, func() bool { return bSends("beta") }, &strays)
	fb := replica(t, st, func() bool { return false }, bSends, notify.DispatcherOptions{Wait: wait}, bBeta)

	detected(t, st, "d1")
	require.Equal(t, 1, poll(t, fa))
	require.Equal(t, []string{"d1:detected"}, driftKinds(aAlpha.wait(t, 1)))
	require.Eventually(t, func() bool { return slices.Equal(pendingChannels(t, st), []string{"beta"}) },
		10*time.Second, 5*time.Millisecond, "A sent alpha's; beta's waits for B")
	require.NoError(t, fb.Requeue(context.Background()), "B's poll of the outbox")
	select {
	case d := <-backoff:
		require.Equal(t, time.Second, d, "B retries beta with backoff")
	case <-time.After(10 * time.Second):
		t.Fatal("B's worker never retried")
	}
	require.Len(t, down.requests(), 1)

	// The handover, while B's worker waits.
	betaToA.Store(true)
	close(release)
	require.NoError(t, fb.Requeue(context.Background()))
	// A new dispatcher for B (a reconfiguration, say): the old one's
	// worker must be done, and the new one must not pick beta up.
	setDispatcher(t, fb, notify.DispatcherOptions{Wait: wait}, bBeta)
	require.Len(t, down.requests(), 1, "B made no attempt after losing beta")
	require.Equal(t, []string{"beta"}, pendingChannels(t, st), "B did not mark the delivery done")

	require.NoError(t, fa.Requeue(context.Background()), "A's poll of the outbox")
	require.Equal(t, []string{"d1:detected"}, driftKinds(aBeta.wait(t, 1)), "the new owner sends what B left")
	require.Eventually(t, func() bool { return len(pending(t, st)) == 0 }, 10*time.Second, 5*time.Millisecond)

	resolved(t, st, "d1")
	require.Equal(t, 1, poll(t, fa))
	require.Equal(t, []string{"d1:detected", "d1:resolved"}, driftKinds(aBeta.wait(t, 1)), "the leader queues beta at once now")
	require.NoError(t, fb.Requeue(context.Background()))
	require.Eventually(t, func() bool { return len(pending(t, st)) == 0 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, fa.Stop(context.Background()))
	require.NoError(t, fb.Stop(context.Background()))
	require.Len(t, down.requests(), 1, "the old owner sent nothing more")
	require.Zero(t, strays.Load())
	require.Len(t, aBeta.messages(), 2, "nothing sent twice")
	require.Equal(t, drift.SeverityHigh, aBeta.messages()[1].Severity)
}

// TestRequeueDoesNotResendWhatFinishedDuringItsRead: a Requeue reads the
// outbox while a worker completes a delivery listed there; neither it nor
// the Requeues after it (the feed calls one every poll) send it again.
// A delivery whose delete failed is deleted again rather than resent.
func TestRequeueDoesNotResendWhatFinishedDuringItsRead(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	f := notify.NewFeed(notify.FeedOptions{Store: st})
	require.NoError(t, f.Load(context.Background()))
	// The feed commits the deliveries; so reads and deletes the same rows.
	so := &slowOutbox{StoreOutbox: notify.NewStoreOutbox(st, notify.DefaultSubscriber)}
	entered := make(chan string, 16)
	gate := make(chan struct{}, 1)
	var sends sync.Map // drift id -> *atomic.Int32
	ch := &funcChannel{name: "slack", send: func(ctx context.Context, m notify.Message) error {
		n, _ := sends.LoadOrStore(m.DriftID, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		entered <- m.DriftID
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	sent := func(id string) int32 {
		n, ok := sends.Load(id)
		if !ok {
			return 0
		}
		return n.(*atomic.Int32).Load()
	}
	next := func() string {
		select {
		case id := <-entered:
			return id
		case <-time.After(10 * time.Second):
			t.Fatal("no send started")
			return ""
		}
	}
	d, err := notify.NewDispatcher([]notify.Route{{Channel: ch}}, notify.DispatcherOptions{Outbox: so, Durable: true})
	require.NoError(t, err)
	require.NoError(t, f.SetDispatcher(context.Background(), d))

	detected(t, st, "d1")
	detected(t, st, "d2")
	require.Equal(t, 2, poll(t, f))
	require.Equal(t, "d1", next()) // d1 being sent, d2 queued
	hold := make(chan struct{})
	so.hold, so.reading = hold, make(chan struct{})
	requeued := make(chan error, 1)
	go func() { requeued <- d.Requeue(context.Background()) }()
	<-so.reading       // the read listed d1 and d2
	gate <- struct{}{} // d1 accepted, marked done, deleted
	require.Equal(t, "d2", next(), "the worker is done with d1")
	require.Len(t, pending(t, st), 1)
	close(hold) // the read answers what it saw before the delete
	require.NoError(t, <-requeued)
	close(gate) // every send from now on is accepted at once
	for range 3 {
		require.NoError(t, d.Requeue(context.Background()))
	}
	require.Eventually(t, func() bool { return len(pending(t, st)) == 0 }, 10*time.Second, 5*time.Millisecond)

	// A delivery whose delete fails stays listed: deleted again, not resent.
	so.failDone.Store(true)
	detected(t, st, "d3")
	require.Equal(t, 1, poll(t, f))
	require.Eventually(t, func() bool { return so.failed.Load() == 1 }, 10*time.Second, 5*time.Millisecond)
	so.failDone.Store(false)
	require.Len(t, pending(t, st), 1)
	for range 3 {
		require.NoError(t, d.Requeue(context.Background()))
	}
	require.Empty(t, pending(t, st))
	require.NoError(t, f.Stop(context.Background()))
	for _, id := range []string{"d1", "d2", "d3"} {
		require.Equal(t, int32(1), sent(id), "%s sent once", id)
	}
}

// slowOutbox is a StoreOutbox whose next PendingOf, when hold is set,
// reads the rows, closes reading and answers only when hold closes; and
// whose Done fails while failDone is set.
type slowOutbox struct {
	*notify.StoreOutbox
	hold, reading chan struct{}
	failDone      atomic.Bool
	failed        atomic.Int32
}

func (o *slowOutbox) PendingOf(ctx context.Context, channel string, limit int) ([]notify.Delivery, error) {
	ds, err := o.StoreOutbox.PendingOf(ctx, channel, limit)
	if o.hold != nil {
		hold := o.hold
		o.hold = nil
		close(o.reading)
		<-hold
	}
	return ds, err
}

func (o *slowOutbox) Done(ctx context.Context, id string) error {
	if o.failDone.Load() {
		o.failed.Add(1)
		return errors.New("disk full")
	}
	return o.StoreOutbox.Done(ctx, id)
}

// countingOutbox is a StoreOutbox that counts the deliveries its
// PendingOf reads, by channel.
type countingOutbox struct {
	*notify.StoreOutbox
	mu   sync.Mutex
	read map[string]int
}

func (o *countingOutbox) PendingOf(ctx context.Context, channel string, limit int) ([]notify.Delivery, error) {
	ds, err := o.StoreOutbox.PendingOf(ctx, channel, limit)
	o.mu.Lock()
	o.read[channel] += len(ds)
	o.mu.Unlock()
	return ds, err
}

func (o *countingOutbox) reads(channel string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.read[channel]
}

// TestRequeueOfABacklogReadsWhatTheQueueTakes: a receiver that is down
// with 2,000 deliveries behind it, and another replica's channel with 500:
// the outbox reads of this replica's polls are bounded by its channel's
// queue (at most a queue and the delivery in flight, then nothing while
// the queue is full), and never touch the other replica's channel.
func TestRequeueOfABacklogReadsWhatTheQueueTakes(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ctx := context.Background()
	f := notify.NewFeed(notify.FeedOptions{Store: st, Sends: func(ch string) bool { return ch == "down" }})
	require.NoError(t, f.Load(ctx))
	var items []store.OutboxItem
	for i := range 2500 {
		ch := "down"
		if i%5 == 4 {
			ch = "elsewhere"
		}
		m := notify.Message{IdempotencyKey: fmt.Sprintf("k%d", i), DriftID: fmt.Sprintf("d%d", i), Kind: notify.KindDetected}
		payload, err := json.Marshal(m)
		require.NoError(t, err)
		items = append(items, store.OutboxItem{ID: notify.DeliveryID(ch, m), Channel: ch, Payload: payload})
	}
	cursor := f.Cursor()
	require.NoError(t, st.CommitSubscriber(ctx, store.SubscriberCommit{Name: notify.DefaultSubscriber, From: cursor, To: cursor,
		Deliveries: items}))

	const queue = 8
	var calls atomic.Int32
	out := &countingOutbox{StoreOutbox: f.Outbox(), read: map[string]int{}}
	d, err := notify.NewDispatcher([]notify.Route{{Channel: blackhole("down", &calls)}, {Channel: newRecorder("elsewhere")}},
		notify.DispatcherOptions{Outbox: out, Durable: true, QueueSize: queue})
	require.NoError(t, err)
	require.NoError(t, d.Start(ctx))
	t.Cleanup(func() {
		stopped, cancel := context.WithCancel(ctx)
		cancel() // the blackhole would never finish its delivery
		_ = d.Stop(stopped)
	})
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 10*time.Second, 5*time.Millisecond,
		"the first delivery is in flight, for ever")
	require.NoError(t, d.Requeue(ctx)) // tops the queue up, if the worker took one after Start filled it
	first := out.reads("down")
	require.LessOrEqual(t, first, 2*(queue+1), "Start and one poll read a queue's worth each at most")
	for range 20 {
		require.NoError(t, d.Requeue(ctx))
	}
	require.Equal(t, first, out.reads("down"), "a full queue is not read again, whatever the backlog")
	require.Zero(t, out.reads("elsewhere"), "another replica's channel is not read")
	require.Equal(t, int32(1), calls.Load())
}
