// Package bus is blackwell's event bus: drift detections and
// resolutions, reconciliation results and auto-heal events, fanned out to
// live subscribers (the /v1/stream server-sent events, dashboards,
// drift --follow).
//
// In a server the events come from the store's stream log (store.StreamStore),
// which the reconcile pass, the heal runner and the notification feed
// write in the transactions of the facts they report: a Tail reads the
// log as it grows and publishes every event on the replica's bus, so a
// subscriber of any replica sees every event, once, in the log's order.
// An event's id is its seq in the log (decimal), the same on every
// replica, so a stream client that reconnects to another replica with
// Last-Event-ID resumes where it was: what the bus's ring of recent events
// no longer holds is read from the log (Options.Source), and an id older
// than the log keeps is a gap. A bus without a source numbers the events
// published on it itself (tests, tools).
//
// Publish never blocks: every subscriber has a bounded buffer, and a
// subscriber that falls behind loses events, counted in
// blackwell_bus_dropped_total{subscriber}, and is disconnected when it
// asked for that (a stream client then reconnects with the id of the last
// event it saw and is replayed what it missed).
package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// Kind names what an event reports. Kinds are public (stream event names,
// filters).
type Kind string

// The event kinds.
const (
	// KindDriftDetected: a drift was confirmed (once per episode).
	KindDriftDetected Kind = "drift.detected"
	// KindDriftResolved: a confirmed drift cleared.
	KindDriftResolved Kind = "drift.resolved"
	// KindDriftAcknowledged: a person acknowledged an open drift.
	KindDriftAcknowledged Kind = "drift.acknowledged"
	// KindReconciliation: a reconcile pass committed its result.
	KindReconciliation Kind = "reconciliation.completed"
	// KindHealStarted, KindHealSucceeded, KindHealFailed: auto-heal
	// attempts (the spec's AutoHealEvent, status started, success, failed).
	KindHealStarted   Kind = "heal.started"
	KindHealSucceeded Kind = "heal.succeeded"
	KindHealFailed    Kind = "heal.failed"
	// KindForecastRaised, KindForecastCleared: a forecast of drift was
	// raised or cleared (internal/forecast). KindForecastUpdated: an open
	// forecast's eta, confidence, class or indicator changed materially
	// (forecast.MaterialChange), not every pass's small move.
	KindForecastRaised  Kind = "forecast.raised"
	KindForecastUpdated Kind = "forecast.updated"
	KindForecastCleared Kind = "forecast.cleared"
)

// Kinds lists every kind.
var Kinds = []Kind{KindDriftDetected, KindDriftResolved, KindDriftAcknowledged, KindReconciliation,
	KindHealStarted, KindHealSucceeded, KindHealFailed, KindForecastRaised, KindForecastUpdated, KindForecastCleared}

// Event is one published fact. Data is the kind's JSON payload (see
// DriftEvent, AutoHealEvent, ForecastEvent and store.ReconciliationResult).
type Event struct {
	// ID is Seq in decimal, set by Publish.
	ID        string          `json:"id"`
	Kind      Kind            `json:"kind"`
	ClientID  string          `json:"client_id"`
	StackID   string          `json:"stack_id,omitempty"`
	Severity  drift.Severity  `json:"severity,omitempty"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
	// Seq is the event's place in the stream log (FromRecord), or 0 for
	// Publish to number it.
	Seq int64 `json:"-"`
}

// Record is e as an event of the stream log, to be written with the fact
// it reports (its Seq is the store's to assign).
func (e Event) Record() store.StreamEvent {
	return store.StreamEvent{Kind: string(e.Kind), ClientID: e.ClientID, StackID: e.StackID,
		Severity: string(e.Severity), Timestamp: e.Timestamp, Data: e.Data}
}

// FromRecord is the bus event of an event of the stream log.
func FromRecord(r store.StreamEvent) Event {
	return Event{Kind: Kind(r.Kind), ClientID: r.ClientID, StackID: r.StackID, Severity: drift.Severity(r.Severity),
		Timestamp: r.Timestamp.UTC(), Data: r.Data, Seq: r.Seq}
}

// Filter selects events; the zero value selects all.
type Filter struct {
	// ClientID: only this client's events.
	ClientID string
	// MinSeverity: only events of this severity or higher; events without
	// a severity (reconciliation results) are then left out.
	MinSeverity drift.Severity
	// Kinds: only these kinds (or, for an entry ending in ".", kinds with
	// that prefix, e.g. "drift."); empty means all.
	Kinds []string
}

// Match reports whether f selects e.
func (f Filter) Match(e Event) bool {
	if f.ClientID != "" && e.ClientID != f.ClientID {
		return false
	}
	if f.MinSeverity != "" && e.Severity.Rank() < f.MinSeverity.Rank() {
		return false
	}
	if len(f.Kinds) == 0 {
		return true
	}
	for _, k := range f.Kinds {
		if string(e.Kind) == k || strings.HasSuffix(k, ".") && strings.HasPrefix(string(e.Kind), k) {
			return true
		}
	}
	return false
}

// Source is the stream log a bus replays from: store.StreamStore's
// ReadStream.
type Source interface {
	ReadStream(ctx context.Context, after int64, limit int) (store.StreamPage, error)
}

// Options tune a Bus; the zero value is usable.
type Options struct {
	// Registerer receives blackwell_bus_events_total and
	// blackwell_bus_dropped_total; nil registers nothing.
	Registerer prometheus.Registerer
	// Ring is how many recent events are kept for replay (default 1024).
	Ring int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Source is the log the bus's events come from (a Tail publishes
	// them): a subscriber that names an event older than the ring is
	// replayed from it, and an id it does not know is told apart from one
	// this bus has not read yet. nil: the bus numbers what is published.
	Source Source
}

// Bus fans events out to subscribers. Safe for concurrent use.
type Bus struct {
	now       func() time.Time
	source    Source
	published *prometheus.CounterVec
	dropped   *prometheus.CounterVec

	mu sync.Mutex
	// seq is the last event published; first the oldest the ring may
	// hold (events before it were never published here).
	seq, first int64
	ring       []Event // circular, ring[seq % len]
	subs       map[*Subscription]struct{}
	closed     bool
}

// New returns a bus.
func New(opts Options) (*Bus, error) {
	if opts.Ring <= 0 {
		opts.Ring = 1024
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	b := &Bus{
		now:    opts.Now,
		source: opts.Source,
		first:  1,
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blackwell_bus_events_total",
			Help: "Events published on the in-process bus, by kind.",
		}, []string{"kind"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blackwell_bus_dropped_total",
			Help: "Events a bus subscriber lost because it fell behind (its buffer was full), by subscriber.",
		}, []string{"subscriber"}),
		ring: make([]Event, opts.Ring),
		subs: map[*Subscription]struct{}{},
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{b.published, b.dropped} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register bus metrics: %w", err)
			}
		}
	}
	for _, k := range Kinds {
		b.published.WithLabelValues(string(k))
	}
	return b, nil
}

// Resume makes the bus's next events those after seq, the head of its
// source when it starts reading: events up to seq were never published
// here (a subscriber asking for them is replayed from the source). It does
// nothing once events past seq were published.
func (b *Bus) Resume(seq int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if seq > b.seq {
		b.seq, b.first = seq, seq+1
	}
}

// Seq is the seq of the last event published.
func (b *Bus) Seq() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seq
}

// Publish hands e to every matching subscriber, without blocking: a
// subscriber whose buffer is full loses it (counted) and, if it asked, is
// disconnected; and keeps it for replay. An event with a Seq (from the
// stream log) keeps it, and one at or below the last published is a
// repeat and is dropped; one without is numbered after the last. A
// missing timestamp is the bus's clock. It returns the event as published.
// After Close it does nothing.
func (b *Bus) Publish(_ context.Context, e Event) Event {
	if e.Timestamp.IsZero() {
		e.Timestamp = b.now()
	}
	e.Timestamp = e.Timestamp.UTC()
	if len(e.Data) == 0 {
		e.Data = json.RawMessage("{}")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return e
	}
	switch {
	case e.Seq == 0:
		e.Seq = b.seq + 1
	case e.Seq <= b.seq:
		return e
	case e.Seq > b.seq+1:
		// Events in between never came here (the log pruned them before
		// they were read): the ring starts again.
		b.first = e.Seq
	}
	b.seq = e.Seq
	e.ID = strconv.FormatInt(e.Seq, 10)
	b.ring[b.seq%int64(len(b.ring))] = e
	b.published.WithLabelValues(string(e.Kind)).Inc()
	for s := range b.subs {
		if e.Seq <= s.skip || !s.filter.Match(e) {
			continue
		}
		select {
		case s.ch <- e:
		default:
			b.dropped.WithLabelValues(s.name).Inc()
			s.dropped++
			if s.disconnect {
				b.remove(s, ErrSlow)
			}
		}
	}
	return e
}

// ErrSlow ends a subscription that asked to be disconnected when it falls
// behind.
var ErrSlow = errors.New("subscriber fell behind")

// ErrClosed ends the subscriptions of a closed bus.
var ErrClosed = errors.New("bus closed")

// SubscribeOptions describe a subscription.
type SubscribeOptions struct {
	// Name labels the subscriber's drops in the metric (default "anonymous").
	Name   string
	Filter Filter
	// Buffer bounds the events waiting for the subscriber (default 256).
	Buffer int
	// Disconnect ends the subscription (Err returns ErrSlow) the first
	// time its buffer overflows, instead of only dropping.
	Disconnect bool
	// After is the id of the last event the subscriber saw: the matching
	// events after it are replayed (Replay) before the live ones.
	After string
}

// Subscription receives events. Call Replay first, then read C until it
// is closed; Err then says why.
type Subscription struct {
	b          *Bus
	name       string
	filter     Filter
	disconnect bool
	ch         chan Event
	// skip: live events up to this seq are not delivered (the subscriber
	// saw them on another replica before this one read them).
	skip int64
	// gap: events the subscriber missed are lost. backlog: the ring's
	// events it missed; older: the span (from, to] of seqs it missed that
	// the ring did not hold, for Replay to read from the source.
	gap      bool
	backlog  []Event
	older    bool
	from, to int64

	dropped int // guarded by b.mu
	err     error
}

// Subscribe registers a subscription; its live events follow what Replay
// gives without a gap or a repeat. An After of a seq this bus has not
// published yet is asked of the source (the only call that reads from
// it): one the source has is skipped to (the subscriber saw it on another
// replica), one it does not have is unknown (a gap).
func (b *Bus) Subscribe(ctx context.Context, opts SubscribeOptions) (*Subscription, error) {
	if opts.Buffer <= 0 {
		opts.Buffer = 256
	}
	if opts.Name == "" {
		opts.Name = "anonymous"
	}
	s := &Subscription{b: b, name: opts.Name, filter: opts.Filter, disconnect: opts.Disconnect,
		ch: make(chan Event, opts.Buffer)}
	b.dropped.WithLabelValues(s.name)

	after, replay := int64(0), opts.After != ""
	if replay {
		n, err := strconv.ParseInt(opts.After, 10, 64)
		if err != nil || n < 0 {
			s.gap, replay = true, false // not an id of this bus (an old server's?)
		}
		after = n
	}
	if replay && after > b.Seq() {
		known := false
		if b.source != nil {
			page, err := b.source.ReadStream(ctx, after, 0)
			if err != nil {
				return nil, fmt.Errorf("subscribe after %d: %w", after, err)
			}
			known = after <= page.Head
		}
		if !known {
			s.gap, replay = true, false
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if replay {
		b.replay(s, after)
	}
	if b.closed {
		s.err = ErrClosed
		close(s.ch)
		return s, nil
	}
	b.subs[s] = struct{}{}
	return s, nil
}

// replay sets what s missed after the seq after. Held under b.mu.
func (b *Bus) replay(s *Subscription, after int64) {
	if after >= b.seq {
		s.skip = after
		return
	}
	oldest := max(b.first, b.seq-int64(len(b.ring))+1)
	if after+1 < oldest {
		if b.source != nil {
			s.older, s.from, s.to = true, after, oldest-1
		} else {
			s.gap = true // older than the ring, and nothing holds them
		}
		after = oldest - 1
	}
	for q := after + 1; q <= b.seq; q++ {
		if e := b.ring[q%int64(len(b.ring))]; s.filter.Match(e) {
			s.backlog = append(s.backlog, e)
		}
	}
}

// replayPage is how many events Replay reads from the source at a time.
const replayPage = 500

// Replay calls fn with the events the subscriber missed (SubscribeOptions.After),
// oldest first, a page at a time: those older than the bus's ring read
// from its source, then the ring's. gap is true for a page before which
// events were lost (an id older than the source keeps, or unknown), and
// for a last, empty call when they were lost and nothing follows. It
// returns fn's error, or the source's. Call it once, before reading C.
func (s *Subscription) Replay(ctx context.Context, fn func(events []Event, gap bool) error) error {
	gap := s.gap
	from := s.from
	for s.older && from < s.to {
		page, err := s.b.source.ReadStream(ctx, from, int(min(replayPage, s.to-from)))
		if err != nil {
			return fmt.Errorf("replay after %d: %w", from, err)
		}
		if page.Pruned > from {
			gap = true // pruned before the subscriber came back
		}
		if len(page.Events) == 0 {
			break
		}
		var out []Event
		for _, r := range page.Events {
			if r.Seq > s.to {
				break
			}
			e := FromRecord(r)
			e.ID = strconv.FormatInt(e.Seq, 10)
			if len(e.Data) == 0 {
				e.Data = json.RawMessage("{}")
			}
			if s.filter.Match(e) {
				out = append(out, e)
			}
			from = r.Seq
		}
		if len(out) > 0 {
			if err := fn(out, gap); err != nil {
				return err
			}
			gap = false
		}
		if page.Events[len(page.Events)-1].Seq >= s.to {
			break
		}
	}
	if len(s.backlog) > 0 || gap {
		return fn(s.backlog, gap)
	}
	return nil
}

// C delivers live events; it is closed when the subscription ends.
func (s *Subscription) C() <-chan Event { return s.ch }

// Err says why C was closed: nil after Close, ErrSlow or ErrClosed.
func (s *Subscription) Err() error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	return s.err
}

// Dropped counts the events this subscription lost.
func (s *Subscription) Dropped() int {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	return s.dropped
}

// Close ends the subscription. Calling it again does nothing.
func (s *Subscription) Close() {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.remove(s, nil)
}

// remove ends s with err, under b.mu.
func (b *Bus) remove(s *Subscription, err error) {
	if _, ok := b.subs[s]; !ok {
		return
	}
	delete(b.subs, s)
	s.err = err
	close(s.ch)
}

// Close ends every subscription (Err ErrClosed) and makes Publish a no-op:
// the server calls it at shutdown so that stream handlers return.
func (b *Bus) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		b.remove(s, ErrClosed)
	}
}

// Subscribers counts the live subscriptions.
func (b *Bus) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}
