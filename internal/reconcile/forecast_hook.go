package reconcile

import (
	"context"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/store"
)

// ForecastHook evaluates forecasts of drift after a pass (implemented by
// internal/forecast/evaluator). It is called on the pass's worker after
// the pass committed successfully, and writes on its own: the pass does
// not wait for its store writes to be part of its commit, and its
// failures are its own (logged by it), never the pass's.
type ForecastHook = PassHook

// PassHook is called after a committed successful pass with what it
// observed (Options.Forecasts, Options.Compliance), on the pass's worker;
// it writes on its own and its failures are its own.
type PassHook interface {
	AfterPass(ctx context.Context, p PassObservation)
}

// PassObservation is what a committed pass saw of a stack, for ForecastHook.
type PassObservation struct {
	ClientID, StackID string
	Environment       string
	ReconciliationID  string
	Trigger           string
	// At is when the pass started (the time of its observation).
	At       time.Time
	Spec     config.StackSpec
	Observed drift.Observed
	// Open are the stack's open drifts after the pass; Resolved those
	// this pass resolved.
	Open, Resolved []drift.Drift
	// Forecasts are the stack's open forecasts, as the pass loaded them
	// (store.PassInput): current, since only the hook after a pass writes a
	// stack's forecasts and a stack's passes run one at a time.
	Forecasts []forecast.Forecast
	// Policy is the effective policy the pass ran under.
	Policy config.PolicySpec
	// Hold is the stack's rollback hold as the pass committed it (active
	// or expired; nil: none).
	Hold *store.Hold
	// Activity is the event activity the pass observed (store.PassInput):
	// the forecast hook reads from it when a build finished, so that it
	// reads the builds themselves only then.
	Activity []store.Activity
	// NextPass is when the stack's next scheduled pass is due (about: the
	// loop counts the interval from the pass's end).
	NextPass time.Time
	// PassAt asks for a pass of the stack at a time before NextPass
	// (trigger "forecast": a forecast's eta is when its drift should be
	// visible, and waiting for the next interval would see it late);
	// a time that is not after now and before NextPass is ignored, and so
	// is every time asked after a pass of trigger "forecast" (no chains).
	// Never nil in a PassObservation the reconciler makes.
	PassAt func(at time.Time)
}

// forecast hands the committed pass to Options.Forecasts and
// Options.Compliance.
func (p *pass) forecast(ctx context.Context, res store.ReconciliationResult) {
	if res.Status == store.ResultFailed {
		return
	}
	obs := PassObservation{
		ClientID: res.ClientID, StackID: res.StackID, Environment: p.rec.Environment, ReconciliationID: res.ReconciliationID,
		Trigger: p.trigger, At: p.started, Spec: p.spec, Observed: p.observed,
		Open: p.tracked.Open, Resolved: p.tracked.Resolved, Forecasts: p.forecasts, Policy: p.policy, Hold: p.committed.Hold,
		Activity: p.activity.Activity, NextPass: p.started.Add(p.next), PassAt: p.passAt,
	}
	for _, h := range []PassHook{p.r.opts.Forecasts, p.r.opts.Compliance, p.r.opts.Holds} {
		if h != nil {
			h.AfterPass(context.WithoutCancel(ctx), obs)
		}
	}
}

// passAt is PassObservation.PassAt: a pass of the stack at at, when that
// is after now and before its next scheduled pass. A pass that was itself
// asked for by a forecast asks for none: a trend whose eta stays a few
// seconds ahead would otherwise pass the stack every few seconds, and so
// a stack gets at most one forecast pass between two others.
func (p *pass) passAt(at time.Time) {
	now := p.r.clock.Now()
	if p.trigger == TriggerForecast || !at.After(now) || (p.next > 0 && !at.Before(now.Add(p.next))) {
		return
	}
	clientID, stackID := SplitKey(p.key)
	p.r.TriggerAt(clientID, stackID, TriggerForecast, at)
}
