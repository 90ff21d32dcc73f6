package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/blackwellio/blackwell/internal/drift"
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

// decide verifies heal attempts that ran, then asks the policy about every
// confirmed open drift (policy.Decide) and turns its decision into a heal
// attempt, an approval request, an escalation, or a recorded reason.
func (p *pass) decide(ctx context.Context) error {
	st := p.r.opts.Store
	now := p.started
	openByID := map[string]int{}
	for i, d := range p.tracked.Open {
		openByID[d.ID] = i
	}

	// Verdicts on attempts in flight. With auto-heal off there are none
	// to make (the runner refuses attempts of a stack whose policy turned
	// it off), and a pass costs no heal query; executed attempts left over
	// are judged when it is on again.
	var (
		inflight []store.HealAttempt
		err      error
	)
	if p.policy.AutoHeal.Enabled {
		q := store.HealQuery{ClientID: p.rec.ClientID, StackID: p.rec.StackID, Status: openHealStatuses, Limit: store.MaxLimit}
		if inflight, err = listHeals(ctx, st, q); err != nil {
			return fmt.Errorf("read heal attempts: %w", err)
		}
	}
	judged := map[string]store.HealStatus{}
	for _, a := range inflight {
		i, open := openByID[a.DriftID]
		switch {
		case a.Status == store.HealExecuted && a.CompletedAt != nil && a.CompletedAt.Before(now) && !p.unjudged[a.DriftID]:
			// (An attempt whose drift could not be observed this pass is
			// judged by the next pass that sees it.)
			v := store.HealUpdate{ID: a.ID, From: []store.HealStatus{store.HealExecuted}, Status: store.HealSucceeded, At: now}
			if open {
				v.Status, v.Error = store.HealFailed, "drift persists after the heal action"
			} else {
				p.heal.success++
			}
			judged[a.ID] = v.Status
			p.heal.updates = append(p.heal.updates, v)
			a.Status, a.Error, a.VerifiedAt = v.Status, v.Error, &now
			p.heal.verdicts = append(p.heal.verdicts, a)
			p.heal.audit = append(p.heal.audit, p.healAudit(a, "heal_"+string(v.Status), v.Status == store.HealSucceeded, now))
		case a.Status == store.HealPending && (!open || p.tracked.Open[i].Acknowledged):
			judged[a.ID] = store.HealCancelled
			p.heal.updates = append(p.heal.updates, store.HealUpdate{ID: a.ID, From: []store.HealStatus{store.HealPending}, Status: store.HealCancelled, At: now})
		}
	}

	// One heal at a time per stack: two actions on one stack at once
	// (a subscription recreated while the desired state is applied) race
	// at the provider.
	busy := false
	for _, a := range inflight {
		if _, done := judged[a.ID]; !done {
			busy = true
		}
	}

	var confirmed []int
	since := time.Time{}
	for i, d := range p.tracked.Open {
		if d.Confirmed {
			confirmed = append(confirmed, i)
			if since.IsZero() || d.FirstSeen.Before(since) {
				since = d.FirstSeen
			}
		}
	}
	ah := p.policy.AutoHeal
	var (
		history   []store.HealAttempt
		approvals []store.Approval
		returns   map[string]int
	)
	if ah.Enabled {
		if approvals, err = p.liveApprovals(ctx, st, openByID); err != nil {
			return err
		}
	}
	if len(confirmed) == 0 {
		return nil
	}
	if ah.Enabled {
		q := store.HealQuery{ClientID: p.rec.ClientID, StackID: p.rec.StackID, Since: since, Limit: store.MaxLimit}
		if history, err = listHeals(ctx, st, q); err != nil {
			return fmt.Errorf("read heal history: %w", err)
		}
		if ah.Flapping.Threshold > 0 {
			if returns, err = p.returns(ctx, st, confirmed, now.Add(-ah.Flapping.Window.D())); err != nil {
				return err
			}
		}
	}
	var loc *time.Location
	if tz := p.policy.Schedule.Timezone; tz != "" {
		loc, _ = time.LoadLocation(tz)
	}
	newly := map[string]bool{}
	for _, d := range p.tracked.NewlyConfirmed {
		newly[d.ID] = true
	}
	wasExhausted := map[string]bool{}
	for _, d := range p.open {
		wasExhausted[d.ID] = d.HealStatus == ExhaustedStatus
	}
	p.decisions = map[string]string{}

	for _, i := range confirmed {
		d := &p.tracked.Open[i]
		provider := ""
		if acts := p.r.opts.Heal.Actions; acts != nil {
			provider = acts.Provider(*d, p.spec)
		}
		h := policy.History{Returns: returns[d.ID]}
		var dryRun bool
		for _, a := range history {
			if a.DriftID != d.ID || a.CreatedAt.Before(d.FirstSeen) {
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
		var approved, pending *store.Approval
		for j := range approvals {
			if approvals[j].DriftID != d.ID {
				continue
			}
			switch approvals[j].Status {
			case store.ApprovalApproved:
				approved = &approvals[j]
			case store.ApprovalPending:
				pending = &approvals[j]
			}
		}
		h.Approved = approved != nil
		h.InFlight = h.InFlight || busy
		h.BreakerOpen = p.r.healer != nil && p.r.healer.open(provider)

		dec := policy.Decide(policy.Input{Drift: *d, Policy: ah, Environment: p.rec.Environment, Location: loc, History: h, Now: now,
			Unobserved: p.unjudged[d.ID]})
		text := string(dec.Outcome) + ": " + dec.Reason
		d.HealStatus = ""
		switch dec.Outcome {
		case policy.Heal:
			a := p.attempt(*d, dec, provider, now)
			if dec.DryRun {
				text = "dry run: would heal (" + dec.Action + ")"
				if dryRun {
					break // recorded once per occurrence
				}
				a.Status = store.HealDryRun
				p.heal.heals = append(p.heal.heals, a)
				p.heal.audit = append(p.heal.audit, p.healAudit(a, "heal_dry_run", true, now))
				break
			}
			text = fmt.Sprintf("heal (%s), attempt %d", dec.Action, dec.Attempt)
			busy = true
			if approved != nil {
				a.ApprovalID = approved.ID
				a.TriggeredBy = "approval:" + approved.ID + " by " + approved.DecidedBy
			}
			p.heal.heals = append(p.heal.heals, a)
			p.heal.audit = append(p.heal.audit, p.healAudit(a, "heal_scheduled", true, now))
		case policy.NeedsApproval:
			if pending != nil {
				break
			}
			ap := p.approval(*d, dec, now)
			p.heal.approvals = append(p.heal.approvals, ap)
			changes, _ := json.Marshal(map[string]any{"approval_id": ap.ID, "approval_class": ap.Class,
				"heal_action": ap.Action, "expires_at": ap.ExpiresAt, "diff": ap.Diff})
			p.heal.audit = append(p.heal.audit, store.AuditEntry{
				Timestamp: now, Action: "approval_requested", ClientID: d.ClientID, StackID: d.StackID,
				TriggeredBy: "reconciler:" + p.trigger, Success: true, ChangesMade: changes, ApprovalRequired: true,
				ReconciliationID: p.id, DriftID: d.ID,
			})
		case policy.Suppressed:
			if dec.Escalate != "" {
				d.HealStatus = ExhaustedStatus
				d.Severity = dec.Escalate
				if !wasExhausted[d.ID] {
					changes, _ := json.Marshal(map[string]any{"code": d.Code, "component": d.Component,
						"attempts": h.Attempts, "max_attempts": ah.MaxAttempts, "severity": d.Severity})
					p.heal.audit = append(p.heal.audit, store.AuditEntry{
						Timestamp: now, Action: "heal_exhausted", ClientID: d.ClientID, StackID: d.StackID,
						TriggeredBy: "reconciler:" + p.trigger, Success: false, ChangesMade: changes,
						ReconciliationID: p.id, DriftID: d.ID,
					})
				}
			}
		}
		if newly[d.ID] {
			p.decisions[d.ID] = text
		}
	}
	return nil
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
// for (an approval must not run the heal of another occurrence).
func (p *pass) liveApprovals(ctx context.Context, st store.Store, openByID map[string]int) ([]store.Approval, error) {
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
		i, open := openByID[a.DriftID]
		if open && !a.CreatedAt.Before(store.Truncate(p.tracked.Open[i].FirstSeen)) {
			live = append(live, a)
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
// AutoHealEvents, and wakes the heal runner for new attempts.
func (p *pass) emitHeals(ctx context.Context) {
	for _, a := range p.heal.verdicts {
		var d drift.Drift
		_ = json.Unmarshal(a.Drift, &d)
		status := "success"
		if a.Status != store.HealSucceeded {
			status = "failed"
		}
		if m := p.r.m; m != nil {
			if status == "success" {
				m.healSuccess.WithLabelValues(string(d.Type), string(a.Code), a.Provider).Inc()
			} else {
				m.healFailure.WithLabelValues(string(d.Type), string(a.Code), a.Provider).Inc()
			}
		}
		p.log.Info("heal verified", "heal_id", a.ID, "drift_id", a.DriftID, "status", status)
		if h := p.r.healer; h != nil && h.opts.OnHeal != nil {
			started := a.CreatedAt
			if a.StartedAt != nil {
				started = *a.StartedAt
			}
			h.opts.OnHeal(context.WithoutCancel(ctx), healEvent(a, status, started, a.VerifiedAt, a.Error))
		}
	}
	if h := p.r.healer; h != nil && slices.ContainsFunc(p.heal.heals, func(a store.HealAttempt) bool { return a.Status == store.HealPending }) {
		h.nudge()
	}
}
