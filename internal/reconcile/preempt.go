package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/policy"
	"github.com/blackwellio/blackwell/internal/store"
)

// TriggeredByForecast is the triggered_by of a heal attempt, approval
// request and audit entry run ahead of a forecast (predict.preempt).
const TriggeredByForecast = "forecast"

// preemptable are the stack's open forecasts that policy may heal ahead
// of (policy.PreemptAction and predict.preempt), by the id of the drift
// each expects, whose drift is not open (an open drift is decided as
// drift). None unless predict, preempt and auto_heal are on.
func (p *pass) preemptable() map[string]forecast.Forecast {
	pol := p.policy
	if !pol.Predict.Enabled || len(pol.Predict.Preempt) == 0 || !pol.AutoHeal.Enabled {
		return nil
	}
	openDrift := map[string]bool{}
	for _, d := range p.tracked.Open {
		openDrift[d.ID] = true
	}
	out := map[string]forecast.Forecast{}
	for _, f := range p.forecasts { // as loaded with the pass
		action := policy.PreemptAction(f.Code)
		id := forecastDriftID(f)
		if action == "" || !slices.Contains(pol.Predict.Preempt, action) || openDrift[id] {
			continue
		}
		out[id] = f
	}
	return out
}

// forecastDriftID is the id of the drift a forecast expects (the drift_id
// of its audit entries).
func forecastDriftID(f forecast.Forecast) string {
	cl, _ := drift.Classify(f.Code)
	return drift.ID(f.ClientID, f.StackID, cl.Type, f.Component)
}

// forecastDrift is the drift a forecast expects, as a heal decides on it:
// first seen when the forecast was raised (its attempts' keys and budget
// are the forecast's).
func forecastDrift(f forecast.Forecast, now time.Time) drift.Drift {
	cl, _ := drift.Classify(f.Code)
	return drift.Drift{
		ID: forecastDriftID(f), ClientID: f.ClientID, StackID: f.StackID, Type: cl.Type, Code: f.Code,
		Component: f.Component, Severity: cl.Severity, Expected: "no " + string(f.Code) + " by " + f.ETA.UTC().Format(time.RFC3339),
		Observed: f.Evidence.Detail, DetectedAt: f.RaisedAt, FirstSeen: f.RaisedAt, LastSeen: now, Confirmed: true,
	}
}

// preempt decides the heals run ahead of the preemptable forecasts
// (policy.Preempt) and adds them to the pass like heals of drift: an
// attempt (or a dry run's record), or an approval request, each recorded
// as triggered by the forecast.
func (p *pass) preempt(ctx context.Context, fcs map[string]forecast.Forecast, approvals []store.Approval, in *decideContext) error {
	if len(fcs) == 0 {
		return nil
	}
	since := time.Time{}
	for _, f := range fcs {
		if since.IsZero() || f.RaisedAt.Before(since) {
			since = f.RaisedAt
		}
	}
	all, err := listHeals(ctx, p.r.opts.Store, store.HealQuery{ClientID: p.rec.ClientID, StackID: p.rec.StackID,
		Since: store.Truncate(since), Limit: store.MaxLimit})
	if err != nil {
		return fmt.Errorf("read heal history: %w", err)
	}
	heals := map[string][]store.HealAttempt{}
	for _, a := range all {
		if a.TriggeredBy == TriggeredByForecast {
			heals[a.DriftID] = append(heals[a.DriftID], a)
		}
	}
	ids := make([]string, 0, len(fcs))
	for id := range fcs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		p.preemptOne(forecastDrift(fcs[id], p.started), heals[id], approvalsOf(approvals, id), in)
	}
	return nil
}

// preemptOne decides one forecast's heal and adds it to the pass.
func (p *pass) preemptOne(d drift.Drift, heals []store.HealAttempt, ap driftApprovals, in *decideContext) {
	now := p.started
	provider := ""
	if acts := p.r.opts.Heal.Actions; acts != nil {
		provider = acts.Provider(d, p.spec)
	}
	h, dryRun := healHistory(heals, store.Truncate(d.FirstSeen), in.judged)
	h.Approved = ap.approved != nil
	h.InFlight = h.InFlight || in.busy
	h.BreakerOpen = p.r.healer != nil && p.r.healer.open(provider)
	preempted := slices.ContainsFunc(heals, func(a store.HealAttempt) bool {
		st := a.Status
		if v, ok := in.judged[a.ID]; ok {
			st = v
		}
		return st == store.HealExecuted || st == store.HealSucceeded
	})
	dec := policy.Preempt(policy.PreemptInput{Input: policy.Input{Drift: d, Policy: p.policy.AutoHeal,
		Environment: p.rec.Environment, Location: in.loc, History: h, Now: now}, Predict: p.policy.Predict, Preempted: preempted})
	switch dec.Outcome {
	case policy.Heal:
		a := p.attempt(d, dec, provider, now)
		a.TriggeredBy = TriggeredByForecast
		if dec.DryRun {
			if !dryRun {
				a.Status = store.HealDryRun
				p.heal.heals = append(p.heal.heals, a)
				p.heal.audit = append(p.heal.audit, p.forecastAudit(p.healAudit(a, "heal_dry_run", true, now)))
			}
			return
		}
		in.busy = true
		if ap.approved != nil {
			a.ApprovalID = ap.approved.ID
		}
		p.heal.heals = append(p.heal.heals, a)
		p.heal.audit = append(p.heal.audit, p.forecastAudit(p.healAudit(a, "heal_scheduled", true, now)))
	case policy.NeedsApproval:
		if ap.pending == nil {
			p.requestApproval(d, dec)
			p.heal.approvals[len(p.heal.approvals)-1].TriggeredBy = TriggeredByForecast
			last := &p.heal.audit[len(p.heal.audit)-1]
			*last = p.forecastAudit(*last)
		}
	}
}

// forecastAudit marks an audit entry as triggered by a forecast, with
// "preempt": true in its changes.
func (p *pass) forecastAudit(e store.AuditEntry) store.AuditEntry {
	e.TriggeredBy = TriggeredByForecast
	var changes map[string]any
	if json.Unmarshal(e.ChangesMade, &changes) == nil {
		changes["preempt"] = true
		if b, err := json.Marshal(changes); err == nil {
			e.ChangesMade = b
		}
	}
	return e
}
