package notify

import (
	"sort"
	"sync"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
)

// NoisePolicy says when an open drift is announced again.
type NoisePolicy struct {
	// ReminderInterval: a reminder after this long without a message while
	// the drift is open and unacknowledged (0: no reminders).
	ReminderInterval time.Duration
	// EscalateAfterFailedHeals: escalate one severity step per this many
	// failed heal attempts (0: never for failures).
	EscalateAfterFailedHeals int
	// EscalateAfter: escalate one severity step per this long open (0:
	// never for time).
	EscalateAfter time.Duration
}

// DefaultNoisePolicy reminds every 4 hours and escalates after 3 failed
// heals or 1 hour open.
func DefaultNoisePolicy() NoisePolicy {
	return NoisePolicy{ReminderInterval: 4 * time.Hour, EscalateAfterFailedHeals: 3, EscalateAfter: time.Hour}
}

// EventType says what happened to a drift.
type EventType string

// The event types.
const (
	// EventObserved: a pass saw the drift (confirmed or not yet).
	EventObserved EventType = "observed"
	// EventResolved: the drift cleared.
	EventResolved EventType = "resolved"
	// EventAcknowledged: a person acknowledged the drift.
	EventAcknowledged EventType = "acknowledged"
	// EventTick: time passed (reminders and escalation by time).
	EventTick EventType = "tick"
)

// Event is what the reconcile loop reports about one drift.
type Event struct {
	Type  EventType
	Drift drift.Drift
	// ReconciliationID is the pass that saw it.
	ReconciliationID string
	// AutoHealAttempted: the pass attempted a heal.
	AutoHealAttempted bool
	// FailedHeals counts failed heal attempts on this drift so far.
	FailedHeals int
	// Action says what the reconciler did, for people ("" for a default).
	Action string
}

// DriftState is what noise control remembers of one drift. It is a plain
// value so that a store can persist it; the zero value is a drift never
// announced.
type DriftState struct {
	// Drift is the drift as last reported.
	Drift             drift.Drift `json:"drift"`
	ReconciliationID  string      `json:"reconciliation_id,omitempty"`
	AutoHealAttempted bool        `json:"auto_heal_attempted,omitempty"`
	FailedHeals       int         `json:"failed_heals,omitempty"`
	Action            string      `json:"action,omitempty"`
	// Open: detected was sent and resolved not yet.
	Open bool `json:"open"`
	// OpenedAt is when detected was sent.
	OpenedAt time.Time `json:"opened_at,omitzero"`
	// LastSent is when detected, a reminder or an escalation was last sent.
	LastSent time.Time `json:"last_sent,omitzero"`
	// Severity is the effective severity: the drift's, raised by escalations.
	Severity    drift.Severity `json:"severity,omitempty"`
	Escalations int            `json:"escalations,omitempty"`
	// Acknowledged stops reminders and escalation until the drift resolves.
	Acknowledged bool `json:"acknowledged,omitempty"`
	// Seq counts the messages of this drift, ever; the next one is Seq+1.
	Seq int `json:"seq"`
}

// Outcome is what one event produced.
type Outcome struct {
	Messages []Message
	// Suppressed: the event was a repeat of an open drift and nothing was
	// due, so channels that would have heard it again did not.
	Suppressed bool
}

// Step is noise control for one drift: pure, with time passed in. Given the
// drift's state and an event, it returns the next state and the messages
// due:
//
//   - detected, once, when an observation first finds the drift confirmed;
//   - nothing for further observations (Suppressed) unless something is due:
//   - escalated (severity one step up, to reach that severity's channels)
//     after every EscalateAfterFailedHeals failed heals or EscalateAfter
//     open, or at once when the drift's own severity rises; never above
//     critical;
//   - reminder when ReminderInterval passed since the last message;
//   - resolved, once, when a notified drift clears; a later confirmation
//     starts a new episode with a new detected.
//
// Acknowledgement stops reminders and escalation until the drift resolves.
// Messages carry no dashboard link (see Tracker).
func Step(st DriftState, ev Event, now time.Time, p NoisePolicy) (DriftState, Outcome) {
	switch ev.Type {
	case EventObserved:
		st = st.absorb(ev)
		if ev.Drift.Acknowledged {
			st.Acknowledged = true
		}
		if !st.Open {
			if !ev.Drift.Confirmed || ev.Drift.ResolvedAt != nil {
				return st, Outcome{}
			}
			st.Open, st.OpenedAt, st.LastSent = true, now, now
			st.Severity, st.Escalations = ev.Drift.Severity, 0
			st.Acknowledged = ev.Drift.Acknowledged
			return st, Outcome{Messages: []Message{st.message(KindDetected, now)}}
		}
		if ev.Drift.ResolvedAt != nil {
			return resolve(st, now)
		}
		if st, m, ok := due(st, now, p); ok {
			return st, Outcome{Messages: []Message{m}}
		}
		return st, Outcome{Suppressed: true}
	case EventTick:
		if !st.Open {
			return st, Outcome{}
		}
		if st, m, ok := due(st, now, p); ok {
			return st, Outcome{Messages: []Message{m}}
		}
		return st, Outcome{}
	case EventAcknowledged:
		if st.Drift.ID == "" {
			st.Drift = ev.Drift
		}
		st.Acknowledged = true
		st.Drift.Acknowledged = true
		return st, Outcome{}
	case EventResolved:
		// The event may carry only the drift's id: keep what is known.
		if ev.Drift.ClientID != "" {
			st.Drift = ev.Drift
		}
		if ev.ReconciliationID != "" {
			st.ReconciliationID = ev.ReconciliationID
		}
		if ev.Action != "" {
			st.Action = ev.Action
		}
		st.AutoHealAttempted = st.AutoHealAttempted || ev.AutoHealAttempted
		return resolve(st, now)
	}
	return st, Outcome{}
}

// absorb takes the event's facts into the state.
func (st DriftState) absorb(ev Event) DriftState {
	st.Drift = ev.Drift
	if ev.ReconciliationID != "" {
		st.ReconciliationID = ev.ReconciliationID
	}
	st.AutoHealAttempted = ev.AutoHealAttempted
	st.FailedHeals = ev.FailedHeals
	st.Action = ev.Action
	return st
}

func resolve(st DriftState, now time.Time) (DriftState, Outcome) {
	if !st.Open {
		return st, Outcome{}
	}
	m := st.message(KindResolved, now)
	st.Open, st.Acknowledged, st.Escalations = false, false, 0
	st.OpenedAt, st.LastSent = time.Time{}, time.Time{}
	return st, Outcome{Messages: []Message{m}}
}

// due returns the escalation or reminder due for an open drift.
func due(st DriftState, now time.Time, p NoisePolicy) (DriftState, Message, bool) {
	if st.Acknowledged {
		return st, Message{}, false
	}
	if reason, ok := escalationDue(st, now, p); ok {
		from := st.Severity
		next, _ := nextSeverity(from)
		if reason == ReasonSeverityIncreased {
			next = st.Drift.Severity
		} else {
			st.Escalations++
		}
		st.Severity, st.LastSent = next, now
		m := st.message(KindEscalated, now)
		m.EscalatedFrom, m.Reason = from, reason
		return st, m, true
	}
	if p.ReminderInterval > 0 && now.Sub(st.LastSent) >= p.ReminderInterval {
		st.LastSent = now
		return st, st.message(KindReminder, now), true
	}
	return st, Message{}, false
}

func escalationDue(st DriftState, now time.Time, p NoisePolicy) (string, bool) {
	if st.Drift.Severity.Rank() > st.Severity.Rank() {
		return ReasonSeverityIncreased, true
	}
	if _, ok := nextSeverity(st.Severity); !ok {
		return "", false
	}
	if n := p.EscalateAfterFailedHeals; n > 0 && st.FailedHeals >= n*(st.Escalations+1) {
		return ReasonFailedHeals, true
	}
	if t := p.EscalateAfter; t > 0 && now.Sub(st.OpenedAt) >= t*time.Duration(st.Escalations+1) {
		return ReasonOpenTooLong, true
	}
	return "", false
}

// message builds the next message of the drift and counts it.
func (st *DriftState) message(k Kind, now time.Time) Message {
	st.Seq++
	d := st.Drift
	sev := st.Severity
	if sev == "" {
		sev = d.Severity
	}
	return Message{
		ClientID:          d.ClientID,
		StackID:           d.StackID,
		DriftType:         d.Type,
		Expected:          d.Expected,
		Observed:          d.Observed,
		Severity:          sev,
		Timestamp:         now,
		AutoHealAttempted: st.AutoHealAttempted,
		ReconciliationID:  st.ReconciliationID,
		DriftID:           d.ID,
		Code:              d.Code,
		Component:         d.Component,
		Kind:              k,
		Sequence:          st.Seq,
		IdempotencyKey:    IdempotencyKey(d.ID, k, st.Seq),
		Action:            st.Action,
		FailedHeals:       st.FailedHeals,
		Cause:             d.Cause,
		DetectedAt:        d.DetectedAt,
	}
}

// Tracker applies Step to every drift, keyed by drift id, and adds
// dashboard links. It holds one small state per drift id ever seen (ids are
// stable per client, stack, type and component, so they are bounded by the
// configuration); Snapshot and Restore let a store persist them. Safe for
// concurrent use.
type Tracker struct {
	policy    NoisePolicy
	dashboard string

	mu     sync.Mutex
	states map[string]DriftState
}

// NewTracker returns a tracker with policy p, linking messages to the
// dashboard under dashboardURL ("" for no links).
func NewTracker(p NoisePolicy, dashboardURL string) *Tracker {
	return &Tracker{policy: p, dashboard: dashboardURL, states: map[string]DriftState{}}
}

// Handle applies ev (Drift.ID is required) at now.
func (t *Tracker) Handle(now time.Time, ev Event) Outcome {
	if ev.Drift.ID == "" {
		return Outcome{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	st, out := Step(t.states[ev.Drift.ID], ev, now, t.policy)
	t.states[ev.Drift.ID] = st
	t.link(out.Messages)
	return out
}

// Tick returns the reminders and escalations due at now, by drift id.
func (t *Tracker) Tick(now time.Time) []Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := make([]string, 0, len(t.states))
	for id, st := range t.states {
		if st.Open {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var out []Message
	for _, id := range ids {
		st, o := Step(t.states[id], Event{Type: EventTick}, now, t.policy)
		t.states[id] = st
		out = append(out, o.Messages...)
	}
	t.link(out)
	return out
}

func (t *Tracker) link(ms []Message) {
	for i := range ms {
		ms[i].DashboardURL = DashboardLink(t.dashboard, ms[i].ClientID, ms[i].StackID, ms[i].DriftID)
	}
}

// State returns the state of one drift.
func (t *Tracker) State(driftID string) (DriftState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.states[driftID]
	return st, ok
}

// Snapshot returns every state, by drift id.
func (t *Tracker) Snapshot() map[string]DriftState {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]DriftState, len(t.states))
	for k, v := range t.states {
		out[k] = v
	}
	return out
}

// Restore replaces the states, e.g. with those a store kept across a
// restart, so open drifts are not announced again.
func (t *Tracker) Restore(states map[string]DriftState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.states = make(map[string]DriftState, len(states))
	for k, v := range states {
		t.states[k] = v
	}
}
