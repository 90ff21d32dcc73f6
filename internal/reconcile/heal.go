package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/sony/gobreaker/v2"

	"github.com/blackwellio/blackwell/internal/bus"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// TriggerHeal: a pass that verifies a heal action that just ran.
const TriggerHeal = "heal"

// HealActions performs heal actions against the providers and build
// systems. internal/heal implements it over the provider drivers and the
// builder. Execute must be idempotent for one attempt ID (the idempotency
// key): a worker that dies mid-action leaves the attempt to be claimed and
// executed again.
type HealActions interface {
	// Execute runs a.Action for the drift a describes, on the stack whose
	// desired composition is spec, and says what it did.
	Execute(ctx context.Context, a store.HealAttempt, spec config.StackSpec) (detail string, err error)
	// Provider names the provider an attempt's action talks to ("" for
	// none), for the per-provider breaker and the metrics' label.
	Provider(d drift.Drift, spec config.StackSpec) string
}

// AutoHealEvent is the spec's AutoHealEvent: one per attempt and status.
type AutoHealEvent struct {
	EventID          string          `json:"event_id"`
	ReconciliationID string          `json:"reconciliation_id"`
	ClientID         string          `json:"client_id"`
	StackID          string          `json:"stack_id"`
	DriftDetail      json.RawMessage `json:"drift_detail"`
	HealAction       string          `json:"heal_action"`
	Status           string          `json:"status"` // started, success, failed
	StartedAt        time.Time       `json:"started_at"`
	CompletedAt      *time.Time      `json:"completed_at,omitempty"`
	ErrorMessage     string          `json:"error_message,omitempty"`
	// HealID is the attempt (idempotency key); Attempt its number.
	HealID  string `json:"heal_id"`
	Attempt int    `json:"attempt"`
}

// Event is the bus event of ev: heal.started, heal.succeeded or
// heal.failed by its status, with the drift's severity, its payload ev.
func (ev AutoHealEvent) Event() bus.Event {
	var d drift.Drift
	_ = json.Unmarshal(ev.DriftDetail, &d) // without it, the event has no severity
	e := bus.NewAutoHealEvent(bus.AutoHealEvent{Status: ev.Status, ClientID: ev.ClientID, DriftDetail: d,
		StartedAt: ev.StartedAt, CompletedAt: ev.CompletedAt})
	e.StackID = ev.StackID
	if data, err := json.Marshal(ev); err == nil {
		e.Data = data
	}
	return e
}

// HealOptions configure heal execution. Without Actions no heal runs:
// decisions are recorded and heal attempts wait in the store.
type HealOptions struct {
	Actions HealActions
	// Owner names this process as a claimer of heal attempts (default
	// host:pid:random).
	Owner string
	// Workers bounds the heal actions running at once (default 4).
	Workers int
	// Poll is how often the store is asked for attempts when nothing
	// nudged the runner (default 500ms): attempts decided here start at
	// once; this catches those left by a restart, another replica, or a
	// backoff's NotBefore.
	Poll time.Duration
	// Lease is how long a claimed attempt is held; an action must finish
	// within it or be claimed again elsewhere (default 2m).
	Lease time.Duration
	// ActionTimeout bounds one action (default 90s, under Lease).
	ActionTimeout time.Duration
	// ApprovalTTL is how long an approval request stays open (default 24h).
	ApprovalTTL time.Duration
	// Breaker: heals of a provider, and of the whole instance, stop for
	// BreakerOpenFor once at least BreakerMinRequests actions ran in the
	// last BreakerWindow and at least BreakerFailureRatio of them failed.
	// Defaults: 5, 0.5, 5m, 1m.
	BreakerMinRequests  uint32
	BreakerFailureRatio float64
	BreakerWindow       time.Duration
	BreakerOpenFor      time.Duration
	// OnHeal, when set, is called for every AutoHealEvent once it is in
	// the store's stream log (keep it quick).
	OnHeal func(context.Context, AutoHealEvent)
}

func (o *HealOptions) defaults() {
	if o.Owner == "" {
		host, _ := os.Hostname()
		o.Owner = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Poll <= 0 {
		o.Poll = 500 * time.Millisecond
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.ActionTimeout <= 0 || o.ActionTimeout > o.Lease {
		o.ActionTimeout = min(90*time.Second, o.Lease)
	}
	if o.ApprovalTTL <= 0 {
		o.ApprovalTTL = 24 * time.Hour
	}
	if o.BreakerMinRequests == 0 {
		o.BreakerMinRequests = 5
	}
	if o.BreakerFailureRatio <= 0 {
		o.BreakerFailureRatio = 0.5
	}
	if o.BreakerWindow <= 0 {
		o.BreakerWindow = 5 * time.Minute
	}
	if o.BreakerOpenFor <= 0 {
		o.BreakerOpenFor = time.Minute
	}
}

// instanceBreaker is the name of the breaker over every heal.
const instanceBreaker = "instance"

// healer runs claimed heal attempts through the actions, under breakers.
type healer struct {
	r    *Reconciler
	opts HealOptions
	wake chan struct{}

	mu       sync.Mutex
	breakers map[string]*gobreaker.CircuitBreaker[string]
}

func newHealer(r *Reconciler, opts HealOptions) *healer {
	opts.defaults()
	return &healer{r: r, opts: opts, wake: make(chan struct{}, 1), breakers: map[string]*gobreaker.CircuitBreaker[string]{}}
}

// breaker returns the breaker of a scope ("instance" or a provider name).
func (h *healer) breaker(scope string) *gobreaker.CircuitBreaker[string] {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b, ok := h.breakers[scope]; ok {
		return b
	}
	o := h.opts
	b := gobreaker.NewCircuitBreaker[string](gobreaker.Settings{
		Name:        scope,
		MaxRequests: 1, // half-open: one trial action
		Interval:    o.BreakerWindow,
		Timeout:     o.BreakerOpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.Requests >= o.BreakerMinRequests && float64(c.TotalFailures) >= o.BreakerFailureRatio*float64(c.Requests)
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			h.r.log.Warn("heal breaker", "scope", name, "from", from.String(), "to", to.String())
			if m := h.r.m; m != nil {
				m.breakerOpen.WithLabelValues(name).Set(boolFloat(to == gobreaker.StateOpen))
			}
		},
	})
	if m := h.r.m; m != nil {
		m.breakerOpen.WithLabelValues(scope).Set(0)
	}
	h.breakers[scope] = b
	return b
}

// open reports whether heals of the provider (or of every provider) are
// stopped by a breaker.
func (h *healer) open(provider string) bool {
	if h.breaker(instanceBreaker).State() == gobreaker.StateOpen {
		return true
	}
	return provider != "" && h.breaker(provider).State() == gobreaker.StateOpen
}

// BreakerStates reports the state of every heal breaker by scope.
func (r *Reconciler) BreakerStates() map[string]string {
	out := map[string]string{}
	if r.healer == nil {
		return out
	}
	r.healer.mu.Lock()
	defer r.healer.mu.Unlock()
	for name, b := range r.healer.breakers {
		out[name] = b.State().String()
	}
	return out
}

// nudge asks the runner to look for attempts now.
func (h *healer) nudge() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// run claims and executes attempts until stop is closed (then it waits
// for the actions in flight, which end early only when ctx does) or ctx
// ends.
func (h *healer) run(ctx context.Context, stop <-chan struct{}) {
	sem := make(chan struct{}, h.opts.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	t := h.r.clock.NewTicker(h.opts.Poll)
	defer t.Stop()
	lastExpiry := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-t.C():
		case <-h.wake:
		}
		now := h.r.clock.Now()
		if now.Sub(lastExpiry) >= time.Minute {
			lastExpiry = now
			if _, err := h.r.opts.Store.ExpireApprovals(ctx, now, 1000); err != nil && ctx.Err() == nil {
				h.r.log.Warn("expire approvals", "error", err)
			}
		}
		for {
			free := cap(sem) - len(sem)
			if free == 0 || ctx.Err() != nil {
				break
			}
			claimed, err := h.r.opts.Store.ClaimHeals(ctx, store.Claim{Owner: h.opts.Owner, Now: h.r.clock.Now(), Lease: h.opts.Lease, Limit: min(free, store.MaxLimit)})
			if err != nil {
				if ctx.Err() == nil {
					h.r.log.Warn("claim heal attempts", "error", err)
				}
				break
			}
			for _, a := range claimed {
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer func() { <-sem; wg.Done() }()
					h.execute(ctx, a)
				}()
			}
			if len(claimed) < free {
				break
			}
		}
	}
}

// HealOnce claims the attempts that are due and runs them, waiting for
// them to finish; it returns how many ran. The running loop does this on
// its own; HealOnce is for one-shot runs (reconcile --once) and tests.
func (r *Reconciler) HealOnce(ctx context.Context) (int, error) {
	if r.healer == nil {
		return 0, nil
	}
	h := r.healer
	claimed, err := r.opts.Store.ClaimHeals(ctx, store.Claim{Owner: h.opts.Owner, Now: r.clock.Now(), Lease: h.opts.Lease, Limit: 1000})
	if err != nil {
		return 0, fmt.Errorf("claim heal attempts: %w", err)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, h.opts.Workers)
	for _, a := range claimed {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			h.execute(ctx, a)
		}()
	}
	wg.Wait()
	return len(claimed), nil
}

// execute runs one claimed attempt: policy, breakers, action, outcome and
// its audit entry (one transaction), event, and a pass to verify it. An
// attempt whose stack's policy no longer heals is cancelled, not failed:
// it never ran, so it neither costs an attempt of the budget nor counts
// as a failure for escalation.
func (h *healer) execute(ctx context.Context, a store.HealAttempt) {
	log := h.r.log.With("client_id", a.ClientID, "stack_id", a.StackID, "heal_id", a.ID, "action", a.Action)
	var d drift.Drift
	_ = json.Unmarshal(a.Drift, &d)
	started := h.r.clock.Now()
	if a.StartedAt != nil {
		started = *a.StartedAt
	}

	var detail string
	err := h.allowed(ctx, a)
	cancelled := errors.Is(err, errHealTurnedOff) || errors.Is(err, errPreemptTurnedOff)
	if err == nil {
		h.emitStarted(ctx, a, started)
		if m := h.r.m; m != nil {
			m.healAttempts.WithLabelValues(string(d.Type), string(a.Code), a.Provider).Inc()
		}
		detail, err = h.act(ctx, a)
	}
	if ctx.Err() != nil {
		// Shutting down: leave the attempt running; its lease lapses and
		// it is claimed again (the action is idempotent by its key).
		return
	}
	done := h.r.clock.Now()
	status, action, errText := store.HealExecuted, "heal_executed", ""
	switch {
	case cancelled:
		status, action, errText = store.HealCancelled, "heal_cancelled", err.Error()
	case err != nil:
		status, action, errText = store.HealFailed, "heal_failed", err.Error()
	}
	changes, _ := json.Marshal(map[string]any{
		"heal_id": a.ID, "attempt": a.Attempt, "heal_action": a.Action, "code": a.Code,
		"component": a.Component, "provider": a.Provider, "detail": detail, "error": errText,
	})
	var failed *AutoHealEvent // a failure is on the stream with the attempt's outcome
	var stream []store.StreamEvent
	if status == store.HealFailed {
		ev := healEvent(a, "failed", started, &done, errText)
		failed, stream = &ev, []store.StreamEvent{ev.Event().Record()}
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.r.opts.CommitTimeout)
	defer cancel()
	if _, ferr := h.r.opts.Store.FinishHeal(fctx, store.FinishHeal{
		ID: a.ID, Owner: h.opts.Owner, Status: status, Detail: detail, Error: errText, At: done,
		Audit: []store.AuditEntry{{
			Timestamp: done, Action: action, ClientID: a.ClientID, StackID: a.StackID,
			TriggeredBy: a.TriggeredBy, Success: err == nil, ChangesMade: changes,
			ApprovalRequired: a.ApprovalID != "", ReconciliationID: a.ReconciliationID, DriftID: a.DriftID,
		}},
		Stream: stream,
	}); ferr != nil {
		// Fenced off (another worker holds it now) or the store failed:
		// that worker, or the next claim, records the outcome.
		log.Warn("record heal outcome", "error", ferr)
		return
	}
	switch {
	case cancelled:
		log.Info("heal attempt cancelled: the stack's policy no longer heals")
		return
	case err != nil:
		log.Warn("heal action failed", "error", errText)
		if m := h.r.m; m != nil {
			m.healFailure.WithLabelValues(string(d.Type), string(a.Code), a.Provider).Inc()
		}
		h.announce(ctx, *failed)
	default:
		log.Info("heal action executed; verifying", "detail", detail)
	}
	// The next pass verifies the fix (or sees the drift persist).
	h.r.Trigger(a.ClientID, a.StackID, TriggerHeal)
}

// errHealTurnedOff: the stack's policy no longer heals (auto_heal turned
// off, or dry run) since the attempt was decided.
var errHealTurnedOff = errors.New("auto_heal is off (or dry run) in the stack's policy now; not run")

// allowed checks that the stack's policy still heals: an attempt decided
// before auto_heal was turned off does not run.
func (h *healer) allowed(ctx context.Context, a store.HealAttempt) error {
	if h.r.opts.Policies == nil {
		return nil
	}
	pol, err := h.r.opts.Policies.Policy(ctx, a.ClientID, a.StackID)
	if err != nil {
		return fmt.Errorf("load policy: %w", err)
	}
	if !pol.AutoHeal.Enabled || pol.AutoHeal.Mode == "dry_run" {
		return errHealTurnedOff
	}
	if a.TriggeredBy == TriggeredByForecast && (!pol.Predict.Enabled || !slices.Contains(pol.Predict.Preempt, a.Action)) {
		return errPreemptTurnedOff
	}
	return nil
}

// errPreemptTurnedOff: the stack's policy no longer runs this action
// ahead of forecasts (predict turned off, or the action taken out of
// predict.preempt) since the attempt was decided.
var errPreemptTurnedOff = errors.New("predict is off, or the action is not in predict.preempt, in the stack's policy now; not run")

// act runs the action under the instance and provider breakers.
func (h *healer) act(ctx context.Context, a store.HealAttempt) (string, error) {
	rec, err := h.r.opts.Store.GetState(ctx, a.ClientID, a.StackID)
	if err != nil {
		return "", fmt.Errorf("load stack: %w", err)
	}
	var spec config.StackSpec
	if err := json.Unmarshal(rec.Desired, &spec); err != nil {
		return "", fmt.Errorf("desired document does not decode: %w", err)
	}
	run := func() (string, error) {
		actx, cancel := context.WithTimeout(ctx, h.opts.ActionTimeout)
		defer cancel()
		return h.opts.Actions.Execute(actx, a, spec)
	}
	if a.Provider != "" {
		inner := run
		run = func() (string, error) { return h.breaker(a.Provider).Execute(inner) }
	}
	detail, err := h.breaker(instanceBreaker).Execute(run)
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		err = fmt.Errorf("heal breaker open: %w", err)
	}
	return detail, err
}

// emitStarted writes the heal.started event of an attempt about to run to
// the stream log (the one heal event that reports no write of its own)
// and announces it. A failure to write it is logged: the attempt runs.
func (h *healer) emitStarted(ctx context.Context, a store.HealAttempt, started time.Time) {
	ev := healEvent(a, "started", started, nil, "")
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.r.opts.CommitTimeout)
	defer cancel()
	if err := h.r.opts.Store.AppendStream(wctx, []store.StreamEvent{ev.Event().Record()}); err != nil {
		h.r.log.Warn("write heal.started to the stream log", "heal_id", a.ID, "error", err)
		return
	}
	h.announce(ctx, ev)
}

// announce calls OnHeal with an event in the stream log.
func (h *healer) announce(ctx context.Context, ev AutoHealEvent) {
	if h.opts.OnHeal != nil {
		h.opts.OnHeal(context.WithoutCancel(ctx), ev)
	}
}

func healEvent(a store.HealAttempt, status string, started time.Time, completed *time.Time, errText string) AutoHealEvent {
	return AutoHealEvent{
		EventID: "heal-" + uuid.NewString(), ReconciliationID: a.ReconciliationID,
		ClientID: a.ClientID, StackID: a.StackID, DriftDetail: a.Drift, HealAction: a.Action,
		Status: status, StartedAt: started, CompletedAt: completed, ErrorMessage: errText,
		HealID: a.ID, Attempt: a.Attempt,
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
