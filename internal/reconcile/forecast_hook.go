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
type ForecastHook interface {
	AfterPass(ctx context.Context, p PassObservation)
}

// PassObservation is what a committed pass saw of a stack, for ForecastHook.
type PassObservation struct {
	ClientID, StackID string
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
}

// forecast hands the committed pass to Options.Forecasts.
func (p *pass) forecast(ctx context.Context, res store.ReconciliationResult) {
	h := p.r.opts.Forecasts
	if h == nil || res.Status == store.ResultFailed {
		return
	}
	h.AfterPass(context.WithoutCancel(ctx), PassObservation{
		ClientID: res.ClientID, StackID: res.StackID, ReconciliationID: res.ReconciliationID,
		Trigger: p.trigger, At: p.started, Spec: p.spec, Observed: p.observed,
		Open: p.tracked.Open, Resolved: p.tracked.Resolved, Forecasts: p.forecasts,
	})
}
