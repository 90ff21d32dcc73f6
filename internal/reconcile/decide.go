package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/policy"
	"github.com/blackwellio/blackwell/internal/store"
)

// ExhaustedStatus marks a drift whose heal attempts are used up.
const ExhaustedStatus = "heal_exhausted"

// openHealStatuses are the statuses of attempts still in flight.
var openHealStatuses = []store.HealStatus{store.HealPending, store.HealRunning, store.HealExecuted}

// healPlan is what the decide step adds to the pass.
type healPlan struct {
	heals     []store.HealAttempt
	updates   []store.HealUpdate
	approvals []store.Approval
	retired   []string // approval ids that no longer apply
	audit     []store.AuditEntry
	// verdicts are the executed attempts this pass judged, for metrics
	// and AutoHealEvents after the commit.
	verdicts []store.HealAttempt
	success  int
}

// verdictEvents are the AutoHealEvents of the pass's verdicts: written to
// the stream log with the pass, announced after it.
func (h healPlan) verdictEvents() []AutoHealEvent {
	out := make([]AutoHealEvent, 0, len(h.verdicts))
	for _, a := range h.verdicts {
		status := "success"
		if a.Status != store.HealSucceeded {
			status = "failed"
		}
		started := a.CreatedAt
		if a.StartedAt != nil {
			started = *a.StartedAt
		}
		out = append(out, healEvent(a, status, started, a.VerifiedAt, a.Error))
	}
	return out
}

// decide verifies heal attempts that ran, then asks the policy about every
// confirmed open drift (policy.Decide) and turns its decision into a heal
// attempt, an approval request, an escalation, or a recorded reason. Its
// steps: read the forecasts policy may heal ahead of, judge the heals in
// flight, load the history of the confirmed drifts, decide each drift,
// then each forecast (preempt.go).
func (p *pass) decide(ctx context.Context) error {
	st := p.r.opts.Store
	ah := p.policy.AutoHeal
	fcs := p.preemptable()
	// Verdicts on attempts in flight. With auto-heal off there are none
	// to make (the runner refuses attempts of a stack whose policy turned
	// it off), and a pass costs no heal query; executed attempts left over
	// are judged when it is on again.
	var inflight []store.HealAttempt
	if ah.Enabled {
		q := store.HealQuery{ClientID: p.rec.ClientID, StackID: p.rec.StackID, Status: openHealStatuses, Limit: store.MaxLimit}
		var err error
		if inflight, err = listHeals(ctx, st, q); err != nil {
			return fmt.Errorf("read heal attempts: %w", err)
		}
	}
	j := judgeHeals(inflight, p.tracked.Open, p.unjudged, p.started, fcs)
	p.recordJudgement(j)

	openByID := map[string]int{}
	for i, d := range p.tracked.Open {
		openByID[d.ID] = i
	}
	var approvals []store.Approval
	if ah.Enabled {
		var err error
		if approvals, err = p.liveApprovals(ctx, st, openByID, fcs); err != nil {
			return err
		}
	}
	in := decideContext{judged: j.judged, busy: j.busy, newly: map[string]bool{}, wasExhausted: map[string]bool{}}
	if tz := p.policy.Schedule.Timezone; tz != "" {
		in.loc, _ = time.LoadLocation(tz)
	}
	confirmed, since := confirmedDrifts(p.tracked.Open)
	if len(confirmed) == 0 {
		return p.preempt(ctx, fcs, approvals, &in)
	}
	var hist driftHistory
	if ah.Enabled {
		var err error
		if hist, err = p.loadHistory(ctx, confirmed, since); err != nil {
			return err
		}
	}
	for _, d := range p.tracked.NewlyConfirmed {
		in.newly[d.ID] = true
	}
	for _, d := range p.open {
		in.wasExhausted[d.ID] = d.HealStatus == ExhaustedStatus
	}
	p.decisions = map[string]string{}
	for _, i := range confirmed {
		d := &p.tracked.Open[i]
		text := p.decideDrift(d, hist.heals[d.ID], approvalsOf(approvals, d.ID), hist.returns[d.ID], &in)
		if in.newly[d.ID] {
			p.decisions[d.ID] = text
		}
	}
	// Drift first: a heal of drift that is here goes ahead of one of
	// drift that is only forecast (one heal at a time per stack).
	return p.preempt(ctx, fcs, approvals, &in)
}

// healJudgement is what judging the attempts in flight decided.
type healJudgement struct {
	updates []store.HealUpdate
	// verdicts are the executed attempts judged, with their new status.
	verdicts []store.HealAttempt
	// judged is the new status of every attempt judged (verdicts and
	// cancellations), by attempt id.
	judged  map[string]store.HealStatus
	success int
	// busy: an attempt is still in flight (pending, running, or executed
	// and not yet judged): one heal at a time per stack.
	busy bool
}

// judgeHeals judges the stack's attempts in flight against the drifts
// open now: an attempt executed before now succeeded if its drift cleared
// and failed if it persists; a pending attempt whose drift cleared or was
// acknowledged is cancelled, unless it runs ahead of a forecast that is
// still open (forecasts: by the id of the drift each expects). Pure.
func judgeHeals(inflight []store.HealAttempt, open []drift.Drift, unjudged map[string]bool, now time.Time,
	forecasts map[string]forecast.Forecast) healJudgement {
	byID := map[string]drift.Drift{}
	for _, d := range open {
		byID[d.ID] = d
	}
	j := healJudgement{judged: map[string]store.HealStatus{}}
	for _, a := range inflight {
		d, isOpen := byID[a.DriftID]
		switch {
		case a.Status == store.HealExecuted && a.CompletedAt != nil && a.CompletedAt.Before(now) && !unjudged[a.DriftID]:
			// (An attempt whose drift could not be observed this pass is
			// judged by the next pass that sees it.)
			v := store.HealUpdate{ID: a.ID, From: []store.HealStatus{store.HealExecuted}, Status: store.HealSucceeded, At: now}
			if isOpen {
				v.Status, v.Error = store.HealFailed, "drift persists after the heal action"
			} else {
				j.success++
			}
			j.judged[a.ID] = v.Status
			j.updates = append(j.updates, v)
			a.Status, a.Error, a.VerifiedAt = v.Status, v.Error, &now
			j.verdicts = append(j.verdicts, a)
		case a.Status == store.HealPending && (!isOpen && !forecastHeld(a, forecasts) || d.Acknowledged):
			j.judged[a.ID] = store.HealCancelled
			j.updates = append(j.updates, store.HealUpdate{ID: a.ID, From: []store.HealStatus{store.HealPending}, Status: store.HealCancelled, At: now})
		}
	}
	// Two actions on one stack at once (a subscription recreated while the
	// desired state is applied) race at the provider.
	for _, a := range inflight {
		if _, done := j.judged[a.ID]; !done {
			j.busy = true
		}
	}
	return j
}

// forecastHeld reports whether a runs ahead of a forecast still open.
func forecastHeld(a store.HealAttempt, forecasts map[string]forecast.Forecast) bool {
	_, ok := forecasts[a.DriftID]
	return ok && a.TriggeredBy == TriggeredByForecast
}

// recordJudgement adds the judgement's updates to the pass, with an audit
// entry for each verdict (heal_succeeded or heal_failed).
func (p *pass) recordJudgement(j healJudgement) {
	p.heal.updates = append(p.heal.updates, j.updates...)
	p.heal.success += j.success
	for _, a := range j.verdicts {
		p.heal.verdicts = append(p.heal.verdicts, a)
		p.heal.audit = append(p.heal.audit, p.healAudit(a, "heal_"+string(a.Status), a.Status == store.HealSucceeded, p.started))
	}
}

// confirmedDrifts returns the indexes of the confirmed drifts among open,
// and when the oldest of them was first seen.
func confirmedDrifts(open []drift.Drift) (confirmed []int, since time.Time) {
	for i, d := range open {
		if d.Confirmed {
			confirmed = append(confirmed, i)
			if since.IsZero() || d.FirstSeen.Before(since) {
				since = d.FirstSeen
			}
		}
	}
	return confirmed, since
}

// driftHistory is what the policy weighs of the confirmed drifts' past.
type driftHistory struct {
	// heals are the stack's attempts since the oldest confirmed drift was
	// first seen, by drift id.
	heals map[string][]store.HealAttempt
	// returns counts how often each drift came back within the flapping
	// window (nil without flapping detection).
	returns map[string]int
}

// loadHistory reads the heal attempts of the stack since a time, every
// page, indexed by drift id, and the drifts' returns when the policy
// detects flapping.
func (p *pass) loadHistory(ctx context.Context, confirmed []int, since time.Time) (driftHistory, error) {
	st := p.r.opts.Store
	ah := p.policy.AutoHeal
	q := store.HealQuery{ClientID: p.rec.ClientID, StackID: p.rec.StackID, Since: since, Limit: store.MaxLimit}
	all, err := listHeals(ctx, st, q)
	if err != nil {
		return driftHistory{}, fmt.Errorf("read heal history: %w", err)
	}
	h := driftHistory{heals: map[string][]store.HealAttempt{}}
	for _, a := range all {
		h.heals[a.DriftID] = append(h.heals[a.DriftID], a)
	}
	if ah.Flapping.Threshold > 0 {
		if h.returns, err = p.returns(ctx, st, confirmed, p.started.Add(-ah.Flapping.Window.D())); err != nil {
			return driftHistory{}, err
		}
	}
	return h, nil
}

// healHistory is the policy.History of one occurrence of a drift (first
// seen at firstSeen) from its attempts, this pass's verdicts (judged)
// overriding their stored status; dryRun says a dry run was recorded for
// this occurrence already. Cancelled attempts cost no attempt. Pure.
func healHistory(attempts []store.HealAttempt, firstSeen time.Time, judged map[string]store.HealStatus) (h policy.History, dryRun bool) {
	for _, a := range attempts {
		if a.CreatedAt.Before(firstSeen) {
			continue
		}
		status := a.Status
		if v, ok := judged[a.ID]; ok {
			status = v
		}
		switch status {
		case store.HealDryRun:
			dryRun = true
			continue
		case store.HealCancelled:
			h.Cancelled++
			continue
		}
		h.Attempts++
		h.InFlight = h.InFlight || status.Open()
		last := a.CreatedAt
		if a.CompletedAt != nil {
			last = *a.CompletedAt
		}
		if last.After(h.LastAttempt) {
			h.LastAttempt = last
		}
	}
	return h, dryRun
}

// driftApprovals are a drift's live approval requests.
type driftApprovals struct {
	approved, pending *store.Approval
}

// approvalsOf picks the drift's approved and pending requests from the
// stack's live ones.
func approvalsOf(approvals []store.Approval, driftID string) driftApprovals {
	var out driftApprovals
	for j := range approvals {
		if approvals[j].DriftID != driftID {
			continue
		}
		switch approvals[j].Status {
		case store.ApprovalApproved:
			out.approved = &approvals[j]
		case store.ApprovalPending:
			out.pending = &approvals[j]
		}
	}
	return out
}

// decideContext is what deciding one drift needs of the pass beyond the
// drift's own history.
type decideContext struct {
	judged       map[string]store.HealStatus
	busy         bool // a heal of the stack is in flight or scheduled in this pass
	loc          *time.Location
	newly        map[string]bool // drifts confirmed in this pass
	wasExhausted map[string]bool // drifts already marked heal_exhausted
}

// decideDrift asks the policy about one confirmed drift and adds what it
// decided to the pass: a heal attempt (or a dry run's record), an
// approval request, or the drift's escalation when its attempts are used
// up. It returns the decision's text for the pass result.
func (p *pass) decideDrift(d *drift.Drift, heals []store.HealAttempt, ap driftApprovals, returns int, in *decideContext) string {
	now := p.started
	provider := ""
	if acts := p.r.opts.Heal.Actions; acts != nil {
		provider = acts.Provider(*d, p.spec)
	}
	h, dryRun := healHistory(heals, d.FirstSeen, in.judged)
	h.Returns = returns
	h.Approved = ap.approved != nil
	h.InFlight = h.InFlight || in.busy
	h.BreakerOpen = p.r.healer != nil && p.r.healer.open(provider)

	ah := p.policy.AutoHeal
	dec := policy.Decide(policy.Input{Drift: *d, Policy: ah, Environment: p.rec.Environment, Location: in.loc, History: h, Now: now,
		Unobserved: p.unjudged[d.ID]})
	d.HealStatus = ""
	switch dec.Outcome {
	case policy.Heal:
		a := p.attempt(*d, dec, provider, now)
		if dec.DryRun {
			if !dryRun { // recorded once per occurrence
				a.Status = store.HealDryRun
				p.heal.heals = append(p.heal.heals, a)
				p.heal.audit = append(p.heal.audit, p.healAudit(a, "heal_dry_run", true, now))
			}
			return "dry run: would heal (" + dec.Action + ")"
		}
		in.busy = true
		if ap.approved != nil {
			a.ApprovalID = ap.approved.ID
			a.TriggeredBy = "approval:" + ap.approved.ID + " by " + ap.approved.DecidedBy
		}
		p.heal.heals = append(p.heal.heals, a)
		p.heal.audit = append(p.heal.audit, p.healAudit(a, "heal_scheduled", true, now))
		return fmt.Sprintf("heal (%s), attempt %d", dec.Action, dec.Attempt)
	case policy.NeedsApproval:
		if ap.pending == nil {
			p.requestApproval(*d, dec)
		}
	case policy.Suppressed:
		if dec.Escalate != "" {
			d.HealStatus = ExhaustedStatus
			d.Severity = dec.Escalate
			if !in.wasExhausted[d.ID] {
				p.auditExhausted(*d, h.Attempts)
			}
		}
	}
	return string(dec.Outcome) + ": " + dec.Reason
}

// requestApproval adds an approval request for a NeedsApproval decision,
// with its audit entry.
func (p *pass) requestApproval(d drift.Drift, dec policy.Decision) {
	ap := p.approval(d, dec, p.started)
	p.heal.approvals = append(p.heal.approvals, ap)
	changes, _ := json.Marshal(map[string]any{"approval_id": ap.ID, "approval_class": ap.Class,
		"heal_action": ap.Action, "expires_at": ap.ExpiresAt, "diff": ap.Diff})
	p.heal.audit = append(p.heal.audit, store.AuditEntry{
		Timestamp: p.started, Action: "approval_requested", ClientID: d.ClientID, StackID: d.StackID,
		TriggeredBy: "reconciler:" + p.trigger, Success: true, ChangesMade: changes, ApprovalRequired: true,
		ReconciliationID: p.id, DriftID: d.ID,
	})
}

// auditExhausted records that a drift's heal attempts are used up (once
// per occurrence: the drift keeps its heal_exhausted status after).
func (p *pass) auditExhausted(d drift.Drift, attempts int) {
	changes, _ := json.Marshal(map[string]any{"code": d.Code, "component": d.Component,
		"attempts": attempts, "max_attempts": p.policy.AutoHeal.MaxAttempts, "severity": d.Severity})
	p.heal.audit = append(p.heal.audit, store.AuditEntry{
		Timestamp: p.started, Action: "heal_exhausted", ClientID: d.ClientID, StackID: d.StackID,
		TriggeredBy: "reconciler:" + p.trigger, Success: false, ChangesMade: changes,
		ReconciliationID: p.id, DriftID: d.ID,
	})
}

// listHeals reads every heal attempt q matches, page by page: max_attempts
// and backoff count them all.
func listHeals(ctx context.Context, st store.Store, q store.HealQuery) ([]store.HealAttempt, error) {
	return store.All(func(cursor store.Page) ([]store.HealAttempt, store.Page, error) {
		q.Cursor = cursor
		return st.ListHeals(ctx, q)
	})
}

// liveApprovals reads the stack's pending and approved requests and
// retires, in this pass, those that no longer apply: their drift is not
// open, or it is open as a later occurrence than the one they were made
// for (an approval must not run the heal of another occurrence). A
// promotion's request is neither live nor retired here.
func (p *pass) liveApprovals(ctx context.Context, st store.Store, openByID map[string]int, forecasts map[string]forecast.Forecast) ([]store.Approval, error) {
	q := store.ApprovalQuery{ClientID: p.rec.ClientID, StackID: p.rec.StackID,
		Status: []store.ApprovalStatus{store.ApprovalPending, store.ApprovalApproved}, Limit: store.MaxLimit}
	all, err := store.All(func(cursor store.Page) ([]store.Approval, store.Page, error) {
		q.Cursor = cursor
		return st.ListApprovals(ctx, q)
	})
	if err != nil {
		return nil, fmt.Errorf("read approvals: %w", err)
	}
	live := all[:0]
	for _, a := range all {
		if a.Class == store.ApprovalClassPromotion {
			continue // a promotion's, about no drift: its promotion decides
		}
		i, open := openByID[a.DriftID]
		if open && !a.CreatedAt.Before(store.Truncate(p.tracked.Open[i].FirstSeen)) {
			live = append(live, a)
			continue
		}
		if f, ok := forecasts[a.DriftID]; ok && !open && a.TriggeredBy == TriggeredByForecast &&
			!a.CreatedAt.Before(store.Truncate(f.RaisedAt)) {
			live = append(live, a) // made for a forecast still open
			continue
		}
		p.heal.retired = append(p.heal.retired, a.ID)
		changes, _ := json.Marshal(map[string]any{"approval_id": a.ID, "status": a.Status, "reason": "the drift it was made for cleared"})
		p.heal.audit = append(p.heal.audit, store.AuditEntry{
			Timestamp: p.started, Action: "approval_retired", ClientID: a.ClientID, StackID: a.StackID,
			TriggeredBy: "reconciler:" + p.trigger, Success: true, ChangesMade: changes, ApprovalRequired: true,
			ReconciliationID: p.id, DriftID: a.DriftID,
		})
	}
	return live, nil
}

// returns counts how often each drift came back since a time: the
// returns stored, plus this pass's, which CommitPass records only when it
// reopens the drift (a confirmed drift that was not open before this pass
// but is stored resolved).
func (p *pass) returns(ctx context.Context, st store.Store, confirmed []int, since time.Time) (map[string]int, error) {
	returns, err := st.DriftReturns(ctx, p.rec.ClientID, p.rec.StackID, since)
	if err != nil {
		return nil, fmt.Errorf("read drift returns: %w", err)
	}
	wasOpen := map[string]bool{}
	for _, d := range p.open {
		wasOpen[d.ID] = true
	}
	var appeared bool
	for _, i := range confirmed {
		appeared = appeared || !wasOpen[p.tracked.Open[i].ID]
	}
	if !appeared {
		return returns, nil
	}
	all, err := p.r.opts.Store.ListDrifts(ctx, store.DriftQuery{ClientID: p.rec.ClientID, StackID: p.rec.StackID, IncludeResolved: true})
	if err != nil {
		return nil, fmt.Errorf("read resolved drifts: %w", err)
	}
	for _, d := range all {
		if d.ResolvedAt != nil && !wasOpen[d.ID] {
			returns[d.ID]++
		}
	}
	return returns, nil
}

// attempt is a new heal attempt for a Heal decision.
func (p *pass) attempt(d drift.Drift, dec policy.Decision, provider string, now time.Time) store.HealAttempt {
	detail, _ := json.Marshal(d)
	return store.HealAttempt{
		ID: dec.IdempotencyKey, DriftID: d.ID, ClientID: d.ClientID, StackID: d.StackID,
		Code: d.Code, Component: d.Component, Provider: provider, Action: dec.Action, Attempt: dec.Attempt,
		Status: store.HealPending, ReconciliationID: p.id, TriggeredBy: "policy", Drift: detail,
		NotBefore: now, CreatedAt: now,
	}
}

// approval is a new approval request for a NeedsApproval decision.
func (p *pass) approval(d drift.Drift, dec policy.Decision, now time.Time) store.Approval {
	diff, _ := json.Marshal(map[string]any{"expected": d.Expected, "observed": d.Observed, "heal_action": dec.Action,
		"component": d.Component, "reason": dec.Reason})
	return store.Approval{
		ID: "appr-" + uuid.NewString(), ClientID: d.ClientID, StackID: d.StackID, DriftID: d.ID,
		Code: d.Code, Component: d.Component, Action: dec.Action, Class: dec.ApprovalClass, Diff: diff,
		TriggeredBy: "reconciler:" + p.trigger, ReconciliationID: p.id, Status: store.ApprovalPending,
		CreatedAt: now, ExpiresAt: now.Add(p.r.opts.Heal.ApprovalTTL),
	}
}

// healAudit is the audit entry of a heal attempt's step.
func (p *pass) healAudit(a store.HealAttempt, action string, success bool, now time.Time) store.AuditEntry {
	changes, _ := json.Marshal(map[string]any{
		"heal_id": a.ID, "attempt": a.Attempt, "heal_action": a.Action, "code": a.Code,
		"component": a.Component, "provider": a.Provider, "approval_id": a.ApprovalID, "error": a.Error,
	})
	return store.AuditEntry{
		Timestamp: now, Action: action, ClientID: a.ClientID, StackID: a.StackID,
		TriggeredBy: "reconciler:" + p.trigger, Success: success, ChangesMade: changes,
		ApprovalRequired: a.ApprovalID != "", ReconciliationID: p.id, DriftID: a.DriftID,
	}
}

// emitHeals records the committed pass's heal verdicts in metrics and
// announces their AutoHealEvents (events, in the stream log with the
// pass), and wakes the heal runner for new attempts.
func (p *pass) emitHeals(ctx context.Context, events []AutoHealEvent) {
	for i, a := range p.heal.verdicts {
		var d drift.Drift
		_ = json.Unmarshal(a.Drift, &d)
		status := events[i].Status
		if m := p.r.m; m != nil {
			if status == "success" {
				m.healSuccess.WithLabelValues(string(d.Type), string(a.Code), a.Provider).Inc()
			} else {
				m.healFailure.WithLabelValues(string(d.Type), string(a.Code), a.Provider).Inc()
			}
		}
		p.log.Info("heal verified", "heal_id", a.ID, "drift_id", a.DriftID, "status", status)
		if h := p.r.healer; h != nil {
			h.announce(ctx, events[i])
		}
	}
	if h := p.r.healer; h != nil && slices.ContainsFunc(p.heal.heals, func(a store.HealAttempt) bool { return a.Status == store.HealPending }) {
		h.nudge()
	}
}
