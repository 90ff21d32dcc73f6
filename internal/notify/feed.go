package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/blackwellio/blackwell/internal/bus"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// DefaultSubscriber is the audit subscriber name of notifications.
const DefaultSubscriber = "notify"

// FeedOptions configure a Feed.
type FeedOptions struct {
	// Store holds the audit log, the subscriber and the outbox (required).
	Store store.OutboxStore
	// Name is the subscriber (default DefaultSubscriber).
	Name string
	// Policy is noise control's (default DefaultNoisePolicy).
	Policy *NoisePolicy
	// DashboardURL links messages to the dashboard ("" for none).
	DashboardURL string
	// Logger gets failures (rate-limited); nil discards.
	Logger *slog.Logger
	// Now is the clock of reminders and digests (default time.Now).
	Now func() time.Time
	// PollInterval is how often the audit log is read when nobody Kicks
	// (default 1s): entries other processes append, acknowledgements; and
	// how often the outbox is read for the deliveries of this process's
	// channels that it did not queue itself (see Requeue).
	PollInterval time.Duration
	// TickInterval is how often reminders, escalations by time and digests
	// are due, and left-over deliveries re-queued (default 30s).
	TickInterval time.Duration
	// Batch bounds the entries of one commit (default 500, at most
	// store.MaxLimit).
	Batch int
	// DrainTimeout bounds how long SetDispatcher lets the previous
	// dispatcher finish what it is sending (default 5s).
	DrainTimeout time.Duration
	// Leader, when set, says whether this process runs the feed (several
	// replicas on one store: the one that leads does): it reads the audit
	// log into noise control, plans the deliveries of every channel and
	// commits them, with the drift events of the entries (the stream log).
	// A follower reads nothing and commits nothing; when it becomes the
	// leader it reloads the
	// cursor and states. nil: always.
	Leader func() bool
	// Sends, when set, says whether this process sends a channel's
	// deliveries now (several replicas on one store: the holder of the
	// channel's shard, ChannelShard, does). Every replica, leader or not,
	// reads the outbox every PollInterval and sends what is pending for
	// its channels; a worker whose channel went to another replica stops
	// before its next attempt. nil: the channels are the leader's, all of
	// them (every channel when Leader is nil too: one process).
	Sends func(channel string) bool
	// Predict, when set, is the predict policy of a stack: forecasts are
	// announced under it (predict.enabled, notify_lead). nil: forecasts
	// are streamed but never announced.
	Predict PredictPolicy
}

// Feed is durable notification delivery. The reconcile pass writes its
// drift_detected and drift_resolved audit entries (and the heal entries)
// in its own transaction, so the audit log is the transactional outbox of
// the passes; the Feed tails it from a durable cursor. For each batch of
// entries it applies noise control (Tracker), plans the deliveries
// (Dispatcher.Plan: routing, thresholds, rate limits) and commits, in one
// store transaction, the new cursor, the changed noise states and the
// deliveries (store.SubscriberCommit). Only then are the deliveries queued
// on the channels, and each is deleted from the outbox once its receiver
// accepted it (StoreOutbox.Done).
//
// A crash before the commit leaves cursor and states as they were: the
// same entries give the same messages, with the same idempotency keys,
// again. A crash after it leaves the deliveries pending: the next Start
// delivers them. A crash between a receiver's acceptance and the delete
// delivers once more (at least once; receivers deduplicate by idempotency
// key). Reconciliation never waits for any of this, and a receiver that
// is down holds only its own channel's queue; what does not fit there
// waits in the store for Tick's re-queue.
//
// The cursor commit is optimistic (store.ErrConflict when another process
// moved it), so two servers on one store never both commit the same
// entries; each then reloads. With several replicas, FeedOptions.Leader
// names the one that reads the log, plans and commits (one cursor,
// serialised by design, and cheap); the others follow the log for their
// buses only. Sending is spread: FeedOptions.Sends gives each channel to
// one replica, which queues the channel's deliveries the leader committed
// when it reads the outbox (every PollInterval, so within about a second),
// in commit order; the leader queues at once those of its own channels.
// A replica that gains a channel sends what is pending for it at its next
// poll; one that loses it stops before its next attempt, leaving the
// delivery pending (the one in flight at the handover may be sent twice).
type Feed struct {
	opts    FeedOptions
	log     *slog.Logger
	outbox  *StoreOutbox
	tracker *Tracker
	kick    chan struct{}
	errLog  *rate.Limiter

	mu         sync.Mutex // one step at a time; guards cursor and dispatcher
	cursor     int64
	dispatcher *Dispatcher
	// forecasts are the open forecasts the feed knows, by id;
	// forecastDocs the states of forecasts changed since the last commit.
	forecasts    map[string]ForecastState
	forecastDocs map[string]ForecastState
	// leading is whether the last step ran as the leader.
	leading bool
	// sending is the channels of the dispatcher this replica sent at the
	// last requeue, to log a change.
	sending map[string]bool
	// mismatch is set while this replica's channels (its dispatcher's)
	// differ from those recorded in the store (store.ChannelSet): it then
	// neither leads nor sends. Read by the dispatcher's workers.
	mismatch atomic.Pointer[ChannelMismatchError]
	// lastAgreement is when the agreement was last read from the store.
	lastAgreement time.Time

	loopMu sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewFeed returns a feed; nothing runs before Start.
func NewFeed(opts FeedOptions) *Feed {
	if opts.Name == "" {
		opts.Name = DefaultSubscriber
	}
	policy := DefaultNoisePolicy()
	if opts.Policy != nil {
		policy = *opts.Policy
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.TickInterval <= 0 {
		opts.TickInterval = 30 * time.Second
	}
	if opts.Batch <= 0 {
		opts.Batch = 500
	}
	opts.Batch = min(opts.Batch, store.MaxLimit)
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 5 * time.Second
	}
	f := &Feed{
		opts:    opts,
		log:     opts.Logger,
		outbox:  NewStoreOutbox(opts.Store, opts.Name),
		tracker: NewTracker(policy, opts.DashboardURL),
		kick:    make(chan struct{}, 1),
		errLog:  rate.NewLimiter(rate.Every(30*time.Second), 1),
		leading: true,

		forecasts:    map[string]ForecastState{},
		forecastDocs: map[string]ForecastState{},
	}
	f.outbox.sends = f.sends
	return f
}

// leader reports whether this process runs the feed now: its role, and
// its channels agree with the recorded ones (a replica that plans with
// other channels would plan deliveries for the wrong ones).
func (f *Feed) leader() bool {
	return (f.opts.Leader == nil || f.opts.Leader()) && f.mismatch.Load() == nil
}

// sends reports whether this process sends channel's deliveries now: it
// holds the channel, and its channels agree with the recorded ones.
func (f *Feed) sends(channel string) bool {
	if f.opts.Sends == nil {
		return f.leader()
	}
	return f.opts.Sends(channel) && f.mismatch.Load() == nil
}

// ChannelMismatch is the difference between this replica's channels and
// those recorded in the store, as last read; nil when they agree (or none
// are recorded).
func (f *Feed) ChannelMismatch() *ChannelMismatchError { return f.mismatch.Load() }

// CheckChannels compares names with the channels recorded in the store:
// nil when none are recorded or they are the same, a
// *ChannelMismatchError when they differ.
func (f *Feed) CheckChannels(ctx context.Context, names []string) error {
	set, err := f.opts.Store.GetChannelSet(ctx, f.opts.Name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	if mm := CompareChannels(set, names); mm != nil {
		return mm
	}
	return nil
}

// RecordChannels records names as the channels every replica on the
// store must have (by is this replica; the replica that applies a config
// records its channels) and gives up the pending deliveries of every other
// channel, which no replica will send: it returns how many. Replicas whose
// channels differ stop planning and sending when they next read the
// record (every PollInterval), until they are given the same channels.
func (f *Feed) RecordChannels(ctx context.Context, names []string, by string) (int, error) {
	n, err := f.opts.Store.PutChannelSet(ctx, ChannelSetOf(f.opts.Name, names, by, f.opts.Now()))
	if err != nil {
		return 0, fmt.Errorf("notifications: %w", err)
	}
	return n, nil
}

// agree reads the recorded channels and compares them with the
// dispatcher's, at most once per PollInterval unless now; a failed read
// keeps what was known. f.mu is held.
func (f *Feed) agree(ctx context.Context, now bool) error {
	if !now && time.Since(f.lastAgreement) < f.opts.PollInterval {
		return nil
	}
	var names []string
	if f.dispatcher != nil {
		names = f.dispatcher.Channels()
	}
	set, err := f.opts.Store.GetChannelSet(ctx, f.opts.Name)
	var mm *ChannelMismatchError
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("notifications: %w", err)
	default:
		mm = CompareChannels(set, names)
	}
	f.lastAgreement = time.Now()
	prev := f.mismatch.Swap(mm)
	switch {
	case mm != nil && (prev == nil || prev.Error() != mm.Error()):
		f.log.Error("notifications: this replica plans, sends and gives up nothing until its channels are those recorded",
			"missing", mm.Missing, "extra", mm.Extra, "recorded_by", mm.Recorded.SetBy, logError, mm.Error())
	case mm == nil && prev != nil:
		f.log.Info("notifications: this replica's channels are those recorded again")
	}
	return nil
}

// lead notes this step's role; a follower that became the leader reloads
// the cursor and states the previous leader committed, and has its
// dispatcher send what is pending for its channels now rather than at the
// next poll. It reports whether this step leads. f.mu is held.
func (f *Feed) lead(ctx context.Context) (bool, error) {
	if err := f.agree(ctx, false); err != nil {
		return false, err
	}
	now := f.leader()
	was := f.leading
	f.leading = now
	if !now || was {
		return now, nil
	}
	if err := f.load(ctx); err != nil {
		f.leading = false
		return false, err
	}
	f.log.Info("notifications: this replica reads the audit log for them now")
	if f.dispatcher != nil {
		return true, f.dispatcher.Requeue(ctx)
	}
	return true, nil
}

// Outbox is the outbox a dispatcher of this feed must use, with
// DispatcherOptions.Durable set.
func (f *Feed) Outbox() *StoreOutbox { return f.outbox }

// Tracker is the feed's noise control (for inspection).
func (f *Feed) Tracker() *Tracker { return f.tracker }

// Load reads the subscriber's cursor and states from the store; a
// subscriber that never committed starts at the audit log's head, so that
// history is not announced.
func (f *Feed) Load(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.load(ctx)
}

func (f *Feed) load(ctx context.Context) error {
	sub, err := f.opts.Store.GetSubscriber(ctx, f.opts.Name)
	if errors.Is(err, store.ErrNotFound) {
		head, herr := f.opts.Store.AuditHead(ctx)
		if herr != nil {
			return fmt.Errorf("notifications: %w", herr)
		}
		err = f.opts.Store.CommitSubscriber(ctx, store.SubscriberCommit{Name: f.opts.Name, Create: true, To: head})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("notifications: %w", err)
		}
		sub, err = f.opts.Store.GetSubscriber(ctx, f.opts.Name)
	}
	if err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	forecasts, driftStates, err := loadForecasts(sub.States)
	if err != nil {
		return err
	}
	states := make(map[string]DriftState, len(driftStates))
	for id, doc := range driftStates {
		var st DriftState
		if err := json.Unmarshal(doc, &st); err != nil {
			return fmt.Errorf("notifications: state of drift %s: %w", id, err)
		}
		states[id] = st
	}
	f.tracker.Restore(states)
	f.forecasts, f.forecastDocs = forecasts, map[string]ForecastState{}
	f.cursor = sub.Cursor
	return nil
}

// Cursor is the seq of the last audit entry committed.
func (f *Feed) Cursor() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cursor
}

// SetDispatcher replaces the dispatcher: the previous one stops (its
// workers finish within ctx and DrainTimeout; what they did not deliver
// stays pending) and the new one starts, queueing what is pending for its
// channels. Its channels are compared with those recorded in the store
// first: a replica whose channels differ neither leads nor sends (see
// RecordChannels). nil leaves no dispatcher: entries are still
// processed, and their deliveries planned for nobody.
func (f *Feed) SetDispatcher(ctx context.Context, d *Dispatcher) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	if f.dispatcher != nil {
		drain, cancel := context.WithTimeout(ctx, f.opts.DrainTimeout)
		err := f.dispatcher.Stop(drain)
		cancel()
		if err != nil {
			errs = append(errs, err)
		}
	}
	f.dispatcher = d
	if d != nil {
		if err := f.agree(ctx, true); err != nil {
			errs = append(errs, err)
		}
		if err := d.Start(ctx); err != nil {
			f.dispatcher = nil
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Kick asks for a Poll soon (after a pass committed). It never blocks.
func (f *Feed) Kick() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// Poll processes the next batch of audit entries and reports how many; a
// short batch means the feed caught up.
func (f *Feed) Poll(ctx context.Context) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	leading, err := f.lead(ctx)
	if err != nil {
		return 0, err
	}
	if !leading {
		return 0, nil // the leader reads the log
	}
	entries, err := f.opts.Store.AuditAfter(ctx, f.cursor, f.opts.Batch)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	var (
		msgs    []Message
		touched = map[string]bool{}
		events  []store.StreamEvent
	)
	for _, e := range entries {
		var (
			ms []Message
			ev *bus.Event
		)
		switch {
		case isForecastAction(e.Action):
			ms, ev = f.applyForecast(ctx, e, touched)
		case e.Action == auditStackDeleted:
			f.forgetStackForecasts(e.ClientID, e.StackID, touched)
		default:
			ms, ev = f.apply(e)
			if e.DriftID != "" {
				touched[e.DriftID] = true
			}
		}
		msgs = append(msgs, ms...)
		if ev != nil {
			events = append(events, ev.Record())
		}
	}
	dels := f.plan(msgs)
	if err := f.commit(ctx, entries[len(entries)-1].Seq, touched, dels, events); err != nil {
		return 0, err
	}
	f.enqueue(dels)
	return len(entries), nil
}

// Tick commits and queues the reminders, escalations by time and digests
// due now (the leader), and re-queues the deliveries pending for this
// replica's channels (see Requeue).
func (f *Feed) Tick(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	leading, err := f.lead(ctx)
	if err != nil {
		return err
	}
	if !leading {
		return f.requeue(ctx)
	}
	msgs := f.tracker.Tick(f.opts.Now())
	touched := map[string]bool{}
	for _, m := range msgs {
		touched[m.DriftID] = true
	}
	msgs = append(msgs, f.dueForecasts(ctx, touched)...)
	dels := f.plan(msgs)
	if f.dispatcher != nil {
		dels = append(dels, f.dispatcher.DueDigests()...)
	}
	if len(touched) > 0 || len(dels) > 0 {
		if err := f.commit(ctx, f.cursor, touched, dels, nil); err != nil {
			return err
		}
		f.enqueue(dels)
	}
	return f.requeue(ctx)
}

// Requeue has the dispatcher queue what is pending in the outbox for the
// channels this replica sends: what the leader committed for them (a
// follower's only way to learn of it), what a full queue left, and what
// a replica that lost a channel left. The loop calls it every
// PollInterval. A replica that sends none of its dispatcher's channels
// does not read the outbox.
func (f *Feed) Requeue(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requeue(ctx)
}

func (f *Feed) requeue(ctx context.Context) error {
	if err := f.agree(ctx, false); err != nil {
		return err
	}
	if f.dispatcher == nil {
		return nil
	}
	mine := map[string]bool{}
	for _, ch := range f.dispatcher.Channels() {
		if f.sends(ch) {
			mine[ch] = true
		}
	}
	f.noteSending(mine)
	if len(mine) == 0 {
		return nil
	}
	return f.dispatcher.Requeue(ctx)
}

// noteSending logs the channels this replica sends when they change (a
// shard gained or lost, a reconfiguration). f.mu is held.
func (f *Feed) noteSending(mine map[string]bool) {
	if f.sending != nil && maps.Equal(mine, f.sending) {
		return
	}
	f.sending = mine
	names := append([]string{}, slices.Sorted(maps.Keys(mine))...) // [] rather than null when none
	f.log.Info("notifications: channels this replica sends", "channels", names)
}

func (f *Feed) plan(msgs []Message) []Delivery {
	if f.dispatcher == nil || len(msgs) == 0 {
		return nil
	}
	return f.dispatcher.Plan(msgs...)
}

func (f *Feed) enqueue(dels []Delivery) {
	if f.dispatcher != nil && len(dels) > 0 {
		f.dispatcher.Enqueue(dels...)
	}
}

// commit writes the cursor (to), the touched drifts' states, dels and the
// entries' drift events for the stream log, in one transaction; on
// failure it reloads cursor and states from the store, undoing what this
// step did to them. The cursor's check makes the events written once,
// whichever replica leads.
func (f *Feed) commit(ctx context.Context, to int64, touched map[string]bool, dels []Delivery, events []store.StreamEvent) error {
	c := store.SubscriberCommit{Name: f.opts.Name, From: f.cursor, To: to, States: map[string]json.RawMessage{}, Stream: events}
	err := func() error {
		for id := range touched {
			if fid, ok := strings.CutPrefix(id, forecastStatePrefix); ok {
				if f.forecastDocs[fid].Done {
					c.DeleteStates = append(c.DeleteStates, id)
					continue
				}
				doc, err := json.Marshal(f.forecastDocs[fid])
				if err != nil {
					return fmt.Errorf("encode state of forecast %s: %w", fid, err)
				}
				c.States[id] = doc
				continue
			}
			st, ok := f.tracker.State(id)
			if !ok {
				continue
			}
			doc, err := json.Marshal(st)
			if err != nil {
				return fmt.Errorf("encode state of drift %s: %w", id, err)
			}
			c.States[id] = doc
		}
		for _, d := range dels {
			it, err := f.outbox.item(d)
			if err != nil {
				return err
			}
			c.Deliveries = append(c.Deliveries, it)
		}
		return f.opts.Store.CommitSubscriber(ctx, c)
	}()
	if err == nil {
		f.cursor = to
		clear(f.forecastDocs)
		return nil
	}
	if lerr := f.load(context.WithoutCancel(ctx)); lerr != nil {
		err = errors.Join(err, lerr)
	}
	return fmt.Errorf("notifications: commit: %w", err)
}

// auditChanges is what the audit entries of the drift lifecycle hold in
// changes_made.
type auditChanges struct {
	Code      drift.Code     `json:"code"`
	Component string         `json:"component"`
	Severity  drift.Severity `json:"severity"`
	Expected  any            `json:"expected"`
	Observed  any            `json:"observed"`
	Decision  string         `json:"decision"`
}

// The audit actions the feed acts on.
const (
	auditDriftDetected     = "drift_detected"
	auditDriftResolved     = "drift_resolved"
	auditDriftAcknowledged = "drift_acknowledged"
	auditHealFailed        = "heal_failed"
	auditHealExhausted     = "heal_exhausted"
	auditHealScheduled     = "heal_scheduled"
)

// apply feeds one audit entry to noise control; it returns the messages
// due and the bus event of the entry (nil for none).
func (f *Feed) apply(e store.AuditEntry) ([]Message, *bus.Event) {
	if e.DriftID == "" {
		return nil, nil
	}
	var ch auditChanges
	if len(e.ChangesMade) > 0 {
		_ = json.Unmarshal(e.ChangesMade, &ch) // a foreign shape only lacks details
	}
	now := e.Timestamp
	prev, known := f.tracker.State(e.DriftID)
	switch e.Action {
	case auditDriftDetected:
		cl, _ := drift.Classify(ch.Code)
		d := drift.Drift{ID: e.DriftID, ClientID: e.ClientID, StackID: e.StackID, Code: ch.Code, Type: cl.Type,
			Component: ch.Component, Expected: ch.Expected, Observed: ch.Observed, Severity: ch.Severity,
			DetectedAt: e.Timestamp, Confirmed: true}
		if !d.Severity.Valid() {
			d.Severity = cl.Severity
		}
		out := f.tracker.Handle(now, Event{Type: EventObserved, Drift: d, ReconciliationID: e.ReconciliationID,
			Action: decisionText(ch.Decision)})
		ev := bus.NewDriftEvent(bus.KindDriftDetected, f.driftEvent(e, d, false, ch.Decision, ""))
		return out.Messages, &ev
	case auditDriftResolved:
		out := f.tracker.Handle(now, Event{Type: EventResolved, Drift: drift.Drift{ID: e.DriftID},
			ReconciliationID: e.ReconciliationID})
		d := prev.Drift
		if !known {
			cl, _ := drift.Classify(ch.Code)
			d = drift.Drift{ID: e.DriftID, ClientID: e.ClientID, StackID: e.StackID, Code: ch.Code, Type: cl.Type,
				Component: ch.Component, Severity: cl.Severity}
		}
		if prev.Severity.Valid() {
			d.Severity = prev.Severity
		}
		ev := bus.NewDriftEvent(bus.KindDriftResolved, f.driftEvent(e, d, prev.AutoHealAttempted, "", ""))
		return out.Messages, &ev
	case auditDriftAcknowledged:
		f.tracker.Handle(now, Event{Type: EventAcknowledged, Drift: drift.Drift{ID: e.DriftID, ClientID: e.ClientID,
			StackID: e.StackID, Code: ch.Code, Component: ch.Component}})
		d := prev.Drift
		if !known {
			d = drift.Drift{ID: e.DriftID, ClientID: e.ClientID, StackID: e.StackID, Code: ch.Code, Component: ch.Component}
		}
		if prev.Severity.Valid() {
			d.Severity = prev.Severity
		}
		ev := bus.NewDriftEvent(bus.KindDriftAcknowledged, f.driftEvent(e, d, prev.AutoHealAttempted, "", e.TriggeredBy))
		return nil, &ev
	case auditHealScheduled, auditHealFailed, auditHealExhausted:
		if !known || !prev.Open {
			return nil, nil
		}
		d := prev.Drift
		failed := prev.FailedHeals
		if e.Action == auditHealFailed {
			failed++
		}
		if e.Action == auditHealExhausted && ch.Severity.Rank() > d.Severity.Rank() {
			d.Severity = ch.Severity // policy escalated the drift
		}
		out := f.tracker.Handle(now, Event{Type: EventObserved, Drift: d, ReconciliationID: e.ReconciliationID,
			AutoHealAttempted: true, FailedHeals: failed, Action: prev.Action})
		return out.Messages, nil
	}
	return nil, nil
}

// decisionText says what policy decided, for people.
func decisionText(decision string) string {
	if decision == "" {
		return ""
	}
	return "Policy decision: " + decision
}

func (f *Feed) driftEvent(e store.AuditEntry, d drift.Drift, healed bool, decision, by string) bus.DriftEvent {
	return bus.DriftEvent{
		EventID: "audit-" + strconv.FormatInt(e.Seq, 10), ClientID: e.ClientID, StackID: e.StackID,
		DriftType: d.Type, Expected: d.Expected, Observed: d.Observed, Severity: d.Severity, Timestamp: e.Timestamp,
		AutoHealAttempted: healed, ReconciliationID: e.ReconciliationID, DriftID: e.DriftID, Code: d.Code,
		Component: d.Component, DetectedAt: d.DetectedAt, Decision: decision, By: by,
	}
}

// Start loads the subscriber and runs the loop: Poll on Kick and every
// PollInterval until caught up, Tick every TickInterval. The dispatcher is
// set apart (SetDispatcher). Stop ends it.
func (f *Feed) Start(ctx context.Context) error {
	f.loopMu.Lock()
	defer f.loopMu.Unlock()
	if f.cancel != nil {
		return errors.New("notifications: feed started twice")
	}
	if err := f.Load(ctx); err != nil {
		return err
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.cancel, f.done = cancel, make(chan struct{})
	go f.loop(loopCtx)
	return nil
}

func (f *Feed) loop(ctx context.Context) {
	defer close(f.done)
	poll := time.NewTicker(f.opts.PollInterval)
	defer poll.Stop()
	tick := time.NewTicker(f.opts.TickInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.kick:
		case <-poll.C:
			f.report(f.Requeue(ctx))
		case <-tick.C:
			f.report(f.Tick(ctx))
			continue
		}
		for {
			n, err := f.Poll(ctx)
			f.report(err)
			if err != nil || n < f.opts.Batch {
				break
			}
		}
	}
}

// report logs a step's failure, at most every 30s.
func (f *Feed) report(err error) {
	if err == nil || errors.Is(err, context.Canceled) || !f.errLog.Allow() {
		return
	}
	f.log.Warn("notifications: audit feed step failed; retrying", logError, err.Error())
}

// Stop ends the loop, then stops the dispatcher (its workers finish within
// ctx; what they did not deliver stays pending for the next Start).
func (f *Feed) Stop(ctx context.Context) error {
	f.loopMu.Lock()
	cancel, done := f.cancel, f.done
	f.loopMu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return f.SetDispatcher(ctx, nil)
}
