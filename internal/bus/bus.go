// Package bus is blackwell's in-process event bus: drift detections and
// resolutions, reconciliation results and auto-heal events, fanned out to
// live subscribers (the /v1/stream server-sent events, dashboards, tests).
//
// The bus is live, not durable: what must survive a crash (notifications)
// reads the audit log instead, which each reconcile pass writes in its own
// transaction (see package notify). Publish never blocks: every subscriber
// has a bounded buffer, and a subscriber that falls behind loses events,
// counted in blackwell_bus_dropped_total{subscriber}, and is disconnected
// when it asked for that (a stream client then reconnects with the id of
// the last event it saw and is replayed what it missed from a bounded ring
// of recent events).
//
// Event ids are "<epoch>-<seq>": epoch names this bus (its start time in
// base 36), seq counts its events from 1. An id of another epoch means the
// server restarted since, so every event the ring holds is newer.
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
)

// Kinds lists every kind.
var Kinds = []Kind{KindDriftDetected, KindDriftResolved, KindDriftAcknowledged, KindReconciliation,
	KindHealStarted, KindHealSucceeded, KindHealFailed}

// Event is one published fact. Data is the kind's JSON payload (see
// DriftEvent, AutoHealEvent and store.ReconciliationResult).
type Event struct {
	// ID is assigned by Publish.
	ID        string          `json:"id"`
	Kind      Kind            `json:"kind"`
	ClientID  string          `json:"client_id"`
	StackID   string          `json:"stack_id,omitempty"`
	Severity  drift.Severity  `json:"severity,omitempty"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`

	seq uint64
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

// Options tune a Bus; the zero value is usable.
type Options struct {
	// Registerer receives blackwell_bus_events_total and
	// blackwell_bus_dropped_total; nil registers nothing.
	Registerer prometheus.Registerer
	// Ring is how many recent events are kept for replay (default 1024).
	Ring int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Bus fans events out to subscribers. Safe for concurrent use.
type Bus struct {
	now       func() time.Time
	epoch     string
	published *prometheus.CounterVec
	dropped   *prometheus.CounterVec

	mu     sync.Mutex
	seq    uint64
	ring   []Event // circular, ring[seq % len]
	subs   map[*Subscription]struct{}
	closed bool
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
		now:   opts.Now,
		epoch: strconv.FormatInt(opts.Now().UnixMilli(), 36),
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

// Publish assigns e an id (and a timestamp when it has none), keeps it for
// replay and hands it to every matching subscriber, without blocking: a
// subscriber whose buffer is full loses it (counted) and, if it asked,
// is disconnected. It returns the event as published. After Close it does
// nothing.
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
	b.seq++
	e.seq = b.seq
	e.ID = b.epoch + "-" + strconv.FormatUint(b.seq, 10)
	b.ring[b.seq%uint64(len(b.ring))] = e
	b.published.WithLabelValues(string(e.Kind)).Inc()
	for s := range b.subs {
		if !s.filter.Match(e) {
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
	// events the ring still holds after it are its Backlog.
	After string
}

// Subscription receives events. Read Backlog first, then C until it is
// closed; Err then says why.
type Subscription struct {
	b          *Bus
	name       string
	filter     Filter
	disconnect bool
	ch         chan Event
	// Backlog holds the replayed events, oldest first.
	Backlog []Event
	// Gap: After named an event older than the ring holds, so events
	// between it and Backlog[0] were lost.
	Gap bool

	dropped int // guarded by b.mu
	err     error
}

// Subscribe registers a subscription. The backlog and the live events
// meet without a gap or a repeat.
func (b *Bus) Subscribe(opts SubscribeOptions) *Subscription {
	if opts.Buffer <= 0 {
		opts.Buffer = 256
	}
	if opts.Name == "" {
		opts.Name = "anonymous"
	}
	s := &Subscription{b: b, name: opts.Name, filter: opts.Filter, disconnect: opts.Disconnect,
		ch: make(chan Event, opts.Buffer)}
	b.dropped.WithLabelValues(s.name)
	b.mu.Lock()
	defer b.mu.Unlock()
	if opts.After != "" {
		s.Backlog, s.Gap = b.replay(opts.After, opts.Filter)
	}
	if b.closed {
		s.err = ErrClosed
		close(s.ch)
		return s
	}
	b.subs[s] = struct{}{}
	return s
}

// replay returns the ring's events after the id after, matching f. Held
// under b.mu.
func (b *Bus) replay(after string, f Filter) ([]Event, bool) {
	epoch, seqText, ok := strings.Cut(after, "-")
	if !ok {
		return nil, false
	}
	var from uint64 // replay events with seq > from
	if epoch == b.epoch {
		n, err := strconv.ParseUint(seqText, 10, 64)
		if err != nil || n >= b.seq {
			return nil, false
		}
		from = n
	}
	oldest := uint64(1)
	if size := uint64(len(b.ring)); b.seq > size {
		oldest = b.seq - size + 1
	}
	gap := false
	if from+1 < oldest {
		// Older than the ring: events in between are gone. An id of
		// another epoch (a restart) loses nothing the ring ever held, but
		// events of this epoch may have left the ring already.
		gap = epoch == b.epoch || oldest > 1
		from = oldest - 1
	}
	var out []Event
	for q := from + 1; q <= b.seq; q++ {
		e := b.ring[q%uint64(len(b.ring))]
		if f.Match(e) {
			out = append(out, e)
		}
	}
	return out, gap
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
