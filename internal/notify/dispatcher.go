package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/blackwellio/blackwell/internal/drift"
)

// Log keys.
const (
	logChannel  = "channel"
	logClientID = "client_id"
	logDriftID  = "drift_id"
	logKind     = "kind"
	logKey      = "idempotency_key"
	logAttempt  = "attempt"
	logError    = "error"
)

// Route is a channel and what reaches it.
type Route struct {
	Channel Channel
	// Threshold: messages of this severity or higher ("" means low).
	Threshold drift.Severity
	// Limit and Burst rate-limit the channel (Limit 0 means no limit);
	// what the limit holds back goes into a digest.
	Limit rate.Limit
	Burst int
}

// DispatcherOptions tune a Dispatcher; the zero value is usable.
type DispatcherOptions struct {
	// Logger gets drops, failures and retries; nil discards.
	Logger *slog.Logger
	// Metrics counts outcomes; nil counts into an unregistered collector.
	Metrics *Metrics
	// Outbox keeps deliveries until done; nil is a MemoryOutbox.
	Outbox Outbox
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Wait pauses a worker before a retry; it returns early with ctx's
	// error when the dispatcher stops. The default uses a timer.
	Wait func(ctx context.Context, d time.Duration) error
	// QueueSize bounds each channel's queue (default 256).
	QueueSize int
	// MaxAttempts bounds the attempts of one delivery (default 8).
	MaxAttempts int
	// BackoffBase and BackoffCap shape the retry delay: base*2^(n-1) after
	// the n-th failed attempt, capped (defaults 1s and 5m); a longer
	// Retry-After from the receiver wins.
	BackoffBase, BackoffCap time.Duration
	// DigestInterval is the least time between two digests of one channel
	// for one client (default 5m).
	DigestInterval time.Duration
	// Select names the routes that may receive a message (the channels of
	// the policy that applies to its client and stack); nil means every
	// route. Thresholds and rate limits apply on top.
	Select func(m Message) []string
	// Durable: the outbox keeps deliveries across restarts (StoreOutbox).
	// A delivery that finds its channel's queue full then stays pending
	// for Requeue instead of being dropped.
	Durable bool
}

// Dispatcher fans messages out to channels. Each channel has its own
// bounded queue and worker, so a slow or failing channel delays only
// itself; Publish never blocks (a full queue drops the delivery, counted
// and logged). A worker retries a failed delivery with capped exponential
// backoff, waiting at least the receiver's Retry-After, until it succeeds,
// fails permanently or spends MaxAttempts. Deliveries go through the
// Outbox, and Start re-queues what it still holds.
//
// Over an outbox shared by several replicas (StoreOutbox with
// FeedOptions.Sends), the dispatcher sends only the channels this replica
// sends now: Enqueue and Requeue skip the others' deliveries, and a worker
// whose channel went to another replica (its shard lost: paused, cut off,
// rebalanced) stops before its next attempt, checked before every Send
// and so after every backoff wait, and leaves the delivery in the outbox
// for the new owner without marking it done. The delivery in flight at
// the handover may reach the receiver twice (at least once; receivers
// deduplicate by idempotency key).
type Dispatcher struct {
	opts    DispatcherOptions
	log     *slog.Logger
	metrics *Metrics
	outbox  Outbox
	sends   func(channel string) bool // this process sends the channel now
	routes  []*worker
	byName  map[string]*worker

	mu       sync.RWMutex // guards stopped and sends on the queues
	stopped  bool
	inflight sync.Map // delivery ids queued or being delivered: never queued twice
	// requeueMu makes Requeues one at a time, which finished relies on.
	requeueMu sync.Mutex
	// finished remembers the deliveries a durable dispatcher completed
	// (sent or given up), each with the Requeue round it completed in,
	// until a Requeue whose read of the channel began after the completion
	// and reached past it no longer lists it. A read that overlapped a
	// worker's Done may still list the delivery just completed, and it
	// must not be sent again; one still listed by a later read is one
	// whose Done failed, and Requeue deletes it again instead of sending
	// it again.
	finishedMu sync.Mutex
	round      uint64
	finished   map[string]finishedDelivery
	started    bool
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

// finishedDelivery is what Dispatcher.finished keeps of a delivery.
type finishedDelivery struct {
	round   uint64
	channel string
	seq     int64
}

type worker struct {
	d       *Dispatcher
	route   Route
	name    string
	queue   chan Delivery
	gateMu  sync.Mutex
	gate    *RateGate
	dropLog *rate.Limiter
}

// NewDispatcher returns a dispatcher over routes, whose channel names must
// be unique and non-empty. Nothing runs before Start.
func NewDispatcher(routes []Route, opts DispatcherOptions) (*Dispatcher, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		m, err := NewMetrics(nil)
		if err != nil {
			return nil, err
		}
		opts.Metrics = m
	}
	if opts.Outbox == nil {
		opts.Outbox = NewMemoryOutbox()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Wait == nil {
		opts.Wait = timerWait
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 8
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = time.Second
	}
	if opts.BackoffCap <= 0 {
		opts.BackoffCap = 5 * time.Minute
	}
	if opts.DigestInterval <= 0 {
		opts.DigestInterval = 5 * time.Minute
	}
	d := &Dispatcher{opts: opts, log: opts.Logger, metrics: opts.Metrics, outbox: opts.Outbox,
		sends: func(string) bool { return true }, byName: map[string]*worker{}, finished: map[string]finishedDelivery{}}
	if o, ok := opts.Outbox.(channelSender); ok {
		d.sends = o.Sends
	}
	for _, r := range routes {
		if r.Channel == nil {
			return nil, errors.New("dispatcher: route without a channel")
		}
		name := r.Channel.Name()
		if name == "" {
			return nil, errors.New("dispatcher: channel without a name")
		}
		if _, dup := d.byName[name]; dup {
			return nil, fmt.Errorf("dispatcher: two channels named %q", name)
		}
		limit := r.Limit
		if limit == 0 {
			limit = rate.Inf
		}
		w := &worker{d: d, route: r, name: name, queue: make(chan Delivery, opts.QueueSize),
			gate:    NewRateGate(name, limit, r.Burst, opts.DigestInterval),
			dropLog: rate.NewLimiter(rate.Every(10*time.Second), 1)}
		d.routes = append(d.routes, w)
		d.byName[name] = w
		d.metrics.initChannel(name)
	}
	return d, nil
}

// Channels names the routed channels, in route order.
func (d *Dispatcher) Channels() []string {
	out := make([]string, len(d.routes))
	for i, w := range d.routes {
		out[i] = w.name
	}
	return out
}

// Start re-queues the outbox's pending deliveries and starts one worker
// per channel. Stop ends them.
//
// An outbox of this process alone (MemoryOutbox) is read whole, and a
// delivery for a channel this dispatcher does not route is given up: the
// channel left the configuration. An outbox shared by replicas
// (StoreOutbox) is read as Requeue reads it, channel by channel, and
// nothing is given up here: a channel missing from one replica's config
// may be another's, and the deliveries of a channel no replica has are
// given up when the channels are recorded (Feed.RecordChannels).
func (d *Dispatcher) Start(ctx context.Context) error {
	d.mu.Lock()
	if d.started || d.stopped {
		d.mu.Unlock()
		return errors.New("dispatcher: started twice")
	}
	d.started = true
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.cancel = cancel
	d.mu.Unlock()

	_, shared := d.outbox.(channelSender)
	if !shared {
		pending, err := d.outbox.Pending(ctx)
		if err != nil {
			cancel()
			return fmt.Errorf("dispatcher: outbox pending: %w", err)
		}
		for _, del := range pending {
			w := d.byName[del.Channel]
			if w == nil {
				// The channel left the configuration: nothing can deliver it.
				d.log.WarnContext(ctx, "notification for an unknown channel given up", logChannel, del.Channel,
					logKey, del.Message.IdempotencyKey)
				d.metrics.inc(del.Channel, ResultFailed)
				_ = d.outbox.Done(ctx, del.ID)
				continue
			}
			// Left pending when the queue is full: the next Start tries again.
			d.enqueue(w, del, false)
		}
	}
	for _, w := range d.routes {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			w.run(runCtx)
		}()
	}
	if shared {
		if err := d.Requeue(ctx); err != nil {
			return err // the workers run; the next Requeue reads again
		}
	}
	return nil
}

// Stop stops taking messages, lets the workers finish their queues until
// ctx ends, then cancels them (what they did not deliver stays in the
// outbox), waits for them, and closes the channels that are io.Closers.
func (d *Dispatcher) Stop(ctx context.Context) error {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return nil
	}
	d.stopped = true
	for _, w := range d.routes {
		close(w.queue)
	}
	cancel := d.cancel
	d.mu.Unlock()
	if cancel != nil {
		done := make(chan struct{})
		go func() { d.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			cancel()
			<-done
		}
		cancel()
	}
	var errs []error
	for _, w := range d.routes {
		if c, ok := w.route.Channel.(interface{ Close() error }); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close channel %s: %w", w.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// targets are the workers that take m: selected, at or above their
// threshold, and accepting its kind.
func (d *Dispatcher) targets(m Message) []*worker {
	var ws []*worker
	if d.opts.Select != nil {
		for _, name := range d.opts.Select(m) {
			if w := d.byName[name]; w != nil {
				ws = append(ws, w)
			}
		}
	} else {
		ws = d.routes
	}
	out := ws[:0:0]
	for _, w := range ws {
		if !meetsThreshold(m.Severity, w.route.Threshold) {
			continue
		}
		if f, ok := w.route.Channel.(Filter); ok && !f.Accepts(m) {
			continue
		}
		out = append(out, w)
	}
	return out
}

// Publish queues each message for every channel that takes it, after the
// channel's rate limit. It never blocks on a channel.
func (d *Dispatcher) Publish(ctx context.Context, msgs ...Message) {
	for _, del := range d.Plan(msgs...) {
		d.add(ctx, del)
	}
}

// Plan returns the deliveries of msgs: one per message and channel that
// takes it, after the channel's rate limit (what the limit holds back is
// counted as suppressed and kept for the digest). Nothing is queued: a
// caller with a durable outbox commits the deliveries, then Enqueues them.
func (d *Dispatcher) Plan(msgs ...Message) []Delivery {
	now := d.opts.Now()
	var out []Delivery
	for _, m := range msgs {
		for _, w := range d.targets(m) {
			w.gateMu.Lock()
			ok := w.gate.Admit(now, m)
			w.gateMu.Unlock()
			if !ok {
				d.metrics.inc(w.name, ResultSuppressed)
				continue
			}
			out = append(out, Delivery{ID: DeliveryID(w.name, m), Channel: w.name, Message: m, Created: now})
		}
	}
	return out
}

// Enqueue queues deliveries already in the outbox (see Plan) on their
// channels' queues, without blocking. A delivery for a channel this
// dispatcher does not route, or that another replica sends, stays in the
// outbox.
func (d *Dispatcher) Enqueue(dels ...Delivery) {
	for _, del := range dels {
		if w := d.byName[del.Channel]; w != nil && d.sends(del.Channel) {
			d.enqueue(w, del, !d.opts.Durable)
		}
	}
}

// Requeue queues the outbox's pending deliveries (of the channels this
// replica sends) that are neither queued nor being delivered: those a
// full queue left pending, and those of a channel this replica took over
// (durable outbox). It can be called as often as the outbox is worth
// reading (the feed does every second): it reads each channel this
// replica sends on its own, only when the channel's queue has room, and
// at most a queue's worth plus the delivery in flight, so a receiver that
// is down with any backlog behind it costs no read at all once its queue
// is full. A delivery completed while the outbox was read is not queued
// again (see Dispatcher.finished), and Requeues run one at a time.
func (d *Dispatcher) Requeue(ctx context.Context) error {
	d.requeueMu.Lock()
	defer d.requeueMu.Unlock()
	d.finishedMu.Lock()
	d.round++
	round := d.round
	d.finishedMu.Unlock()
	var errs []error
	for _, w := range d.routes {
		if !d.sends(w.name) {
			d.forgetFinished(w.name)
			continue
		}
		if err := d.requeueChannel(ctx, w, round); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// requeueChannel is Requeue for w's channel.
func (d *Dispatcher) requeueChannel(ctx context.Context, w *worker, round uint64) error {
	if cap(w.queue)-len(w.queue) <= 0 {
		return nil // full: what is queued comes first, in commit order
	}
	// The queue's worth after the ones queued or in flight, which come
	// first in commit order (it holds at most cap, one more is in flight).
	limit := cap(w.queue) + 1
	pending, err := d.outbox.PendingOf(ctx, w.name, limit)
	if err != nil {
		return fmt.Errorf("dispatcher: outbox pending of %s: %w", w.name, err)
	}
	// What this read covers: every pending delivery of the channel up to
	// seq reach (all of them when the page is short).
	reach, complete := int64(0), len(pending) < limit
	if n := len(pending); n > 0 {
		reach = pending[n-1].Seq
	}
	listed := make(map[string]bool, len(pending))
	for _, del := range pending {
		listed[del.ID] = true
	}
	var undone []string // completed before this read began, and still pending
	d.finishedMu.Lock()
	for id, f := range d.finished {
		switch {
		case f.channel != w.name, f.round >= round:
			// Another channel's; or completed during the read: listed
			// or not, the next round knows.
		case listed[id]:
			undone = append(undone, id)
		case complete || f.seq <= reach:
			delete(d.finished, id)
		}
	}
	d.finishedMu.Unlock()
	for _, del := range pending {
		if !d.wasFinished(del.ID) {
			d.enqueue(w, del, false)
		}
	}
	var errs []error
	for _, id := range undone {
		// The receiver has it (or it was given up); only the delete failed.
		if err := d.outbox.Done(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("dispatcher: outbox done %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// forgetFinished drops what finished holds of a channel this replica no
// longer sends: its new owner sends it (a delivery whose delete failed
// may be sent again, at least once).
func (d *Dispatcher) forgetFinished(channel string) {
	d.finishedMu.Lock()
	defer d.finishedMu.Unlock()
	for id, f := range d.finished {
		if f.channel == channel {
			delete(d.finished, id)
		}
	}
}

func (d *Dispatcher) wasFinished(id string) bool {
	d.finishedMu.Lock()
	defer d.finishedMu.Unlock()
	_, ok := d.finished[id]
	return ok
}

// finish marks del done in the outbox and, for a durable outbox (which
// Requeue reads), remembers it.
func (d *Dispatcher) finish(ctx context.Context, del Delivery) {
	id := del.ID
	if d.opts.Durable {
		d.finishedMu.Lock()
		d.finished[id] = finishedDelivery{round: d.round, channel: del.Channel, seq: del.Seq}
		d.finishedMu.Unlock()
	}
	// Recorded even when the dispatcher is stopping: the receiver has it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := d.outbox.Done(ctx, id); err != nil {
		// It stays pending: delivered again after a restart (at least once).
		d.log.Warn("notification outbox done failed", logKey, id, logError, err.Error())
	}
}

// FlushDigests queues the digests due now: one per channel and client
// whose rate limit held messages back.
func (d *Dispatcher) FlushDigests(ctx context.Context) {
	for _, del := range d.DueDigests() {
		d.add(ctx, del)
	}
}

// DueDigests returns the deliveries of the digests due now (see
// FlushDigests) without queueing them.
func (d *Dispatcher) DueDigests() []Delivery {
	now := d.opts.Now()
	var out []Delivery
	for _, w := range d.routes {
		w.gateMu.Lock()
		digests := w.gate.Flush(now)
		w.gateMu.Unlock()
		for _, m := range digests {
			if f, ok := w.route.Channel.(Filter); ok && !f.Accepts(m) {
				continue
			}
			out = append(out, Delivery{ID: DeliveryID(w.name, m), Channel: w.name, Message: m, Created: now})
		}
	}
	return out
}

// add records the delivery in the outbox and queues it.
func (d *Dispatcher) add(ctx context.Context, del Delivery) {
	if err := d.outbox.Add(ctx, del); err != nil {
		// Deliver anyway; only a crash before delivery can lose it now.
		d.log.ErrorContext(ctx, "notification outbox add failed", logChannel, del.Channel, logKey, del.Message.IdempotencyKey,
			logError, err)
	}
	d.Enqueue(del)
}

// enqueue puts del on w's queue without blocking. When the queue is full
// or the dispatcher stopped, the delivery is not queued: with forget it is
// dropped (counted, logged at most every 10s per channel, removed from the
// outbox); without, it stays pending in the outbox for a later Start or
// Requeue.
func (d *Dispatcher) enqueue(w *worker, del Delivery, forget bool) {
	if _, busy := d.inflight.LoadOrStore(del.ID, struct{}{}); busy {
		return // queued or being delivered already
	}
	d.mu.RLock()
	queued := false
	if !d.stopped {
		select {
		case w.queue <- del:
			queued = true
		default:
		}
	}
	d.mu.RUnlock()
	if queued {
		return
	}
	d.inflight.Delete(del.ID)
	if !forget {
		return
	}
	d.metrics.inc(w.name, ResultDropped)
	if w.dropLog.Allow() {
		d.log.Warn("notification dropped: channel queue full or dispatcher stopped", logChannel, w.name,
			logClientID, del.Message.ClientID, logDriftID, del.Message.DriftID, logKind, del.Message.Kind)
	}
	_ = d.outbox.Done(context.Background(), del.ID)
}

func (w *worker) run(ctx context.Context) {
	for del := range w.queue {
		if ctx.Err() == nil {
			w.deliver(ctx, del) // else stopping: it stays in the outbox
		}
		w.d.inflight.Delete(del.ID)
	}
}

// deliver sends del until it succeeds, fails permanently, spends its
// attempts, the dispatcher stops or another replica sends the channel now.
func (w *worker) deliver(ctx context.Context, del Delivery) {
	d := w.d
	m := del.Message
	for attempt := 1; ; attempt++ {
		if !d.sends(w.name) {
			// Before every attempt, so after every backoff wait: the new
			// owner finds the delivery pending; not done here.
			d.log.Debug("notification left to the replica that sends its channel now", logChannel, w.name,
				logDriftID, m.DriftID, logKind, m.Kind, logAttempt, attempt)
			return
		}
		err := w.route.Channel.Send(ctx, m)
		if err == nil {
			d.metrics.inc(w.name, ResultSent)
			d.finish(ctx, del)
			return
		}
		if ctx.Err() != nil {
			return // stopping: it stays in the outbox
		}
		if IsPermanent(err) || attempt >= d.opts.MaxAttempts {
			// Logged before it is counted: whoever sees the count finds
			// the log line.
			d.log.Warn("notification failed", logChannel, w.name, logClientID, m.ClientID, logDriftID, m.DriftID,
				logKind, m.Kind, logAttempt, attempt, "permanent", IsPermanent(err), logError, err.Error())
			d.metrics.inc(w.name, ResultFailed)
			d.finish(ctx, del)
			return
		}
		wait := d.backoff(attempt)
		if ra := RetryAfterOf(err); ra > wait {
			wait = ra
		}
		d.metrics.inc(w.name, ResultRetried)
		d.log.Debug("notification retry", logChannel, w.name, logDriftID, m.DriftID, logKind, m.Kind,
			logAttempt, attempt, "wait", wait, logError, err.Error())
		if d.opts.Wait(ctx, wait) != nil {
			return
		}
	}
}

// backoff is the delay after the n-th failed attempt: base*2^(n-1), capped.
func (d *Dispatcher) backoff(n int) time.Duration {
	b := d.opts.BackoffBase
	for i := 1; i < n && b < d.opts.BackoffCap; i++ {
		b *= 2
	}
	return min(b, d.opts.BackoffCap)
}

func timerWait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
