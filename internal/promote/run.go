package promote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// Run carries a promotion from where its record says it is to the end, or
// to where it must wait (for an approval), writing each step before the
// next begins, so that a process that stops anywhere leaves a record that
// says what was done: Resume picks it up. It returns the promotion as
// last written. A step that lost a race to another process (ErrConflict)
// ends the run: that process carries it on; so does the loss of the
// target stack's ownership (Options.Owns), checked before each step and
// each verification pass: its new owner resumes it.
func (p *Promoter) Run(ctx context.Context, rec store.Promotion) (store.Promotion, error) {
	for rec.Status.Unfinished() {
		if !p.owns(rec.ClientID, rec.ToStack) {
			p.log.Info("promotion left to the replica that owns its stack now", "client_id", rec.ClientID, "promotion_id", rec.ID, "status", rec.Status)
			return rec, nil
		}
		var (
			next store.Promotion
			err  error
		)
		switch rec.Status {
		case store.PromotionAwaitingApproval:
			next, err = p.approval(ctx, rec)
			if err == nil && next.Status == store.PromotionAwaitingApproval {
				return next, nil
			}
		case store.PromotionApplying:
			next, err = p.apply(ctx, rec)
		case store.PromotionVerifying:
			next, err = p.verifyOrRollBack(ctx, rec)
		}
		if errors.Is(err, store.ErrConflict) || errors.Is(err, errNotOwner) {
			return rec, nil
		}
		if err != nil {
			return rec, err
		}
		rec = next
	}
	return rec, nil
}

// errNotOwner: this process no longer owns the promotion's target stack;
// the step was not written, and the new owner carries the promotion on.
var errNotOwner = errors.New("another replica owns the stack now")

// Resume carries on every unfinished promotion of every client whose
// target stack this process owns (Options.Owns): at start (a promotion
// interrupted by a crash), after an approval decision, when shards are
// gained (the promotions of a replica that died) and every minute. An
// approval decided or expired is written by whichever process sees it
// first; what follows runs on the owner.
func (p *Promoter) Resume(ctx context.Context) error {
	list, err := store.All(func(cursor store.Page) ([]store.Promotion, store.Page, error) {
		return p.opts.Store.ListPromotions(ctx, store.PromotionQuery{Unfinished: true, Cursor: cursor, Limit: store.MaxLimit})
	})
	if err != nil {
		return fmt.Errorf("list unfinished promotions: %w", err)
	}
	for _, rec := range list {
		if rec.Status == store.PromotionAwaitingApproval {
			// Cheap: decided here, applied in the background.
			next, err := p.approval(ctx, rec)
			if err != nil || next.Status != store.PromotionApplying {
				continue
			}
			rec = next
		} else if !p.owns(rec.ClientID, rec.ToStack) {
			continue
		}
		p.carryOut(rec)
	}
	return nil
}

// step writes rec with status and an audit entry action, changes merged
// with the promotion's identity.
func (p *Promoter) step(ctx context.Context, rec store.Promotion, status store.PromotionStatus, action string, success bool, changes map[string]any) (store.Promotion, error) {
	now := p.opts.Now()
	rec.Status, rec.UpdatedAt = status, now
	if !status.Unfinished() {
		rec.CompletedAt = &now
	}
	if changes == nil {
		changes = map[string]any{}
	}
	changes["promotion_id"], changes["from"], changes["to"], changes["status"] = rec.ID, rec.From, rec.To, status
	doc, _ := json.Marshal(changes)
	return p.opts.Store.UpdatePromotion(ctx, rec, []store.AuditEntry{{Timestamp: now, Action: action, ClientID: rec.ClientID,
		StackID: rec.ToStack, TriggeredBy: "promotion:" + rec.ID, Success: success, ChangesMade: doc, Approver: approverOf(changes)}})
}

func approverOf(changes map[string]any) string {
	s, _ := changes["approver"].(string)
	return s
}

// approval moves a promotion awaiting approval on: applying once approved,
// rejected once the request was rejected or expired.
func (p *Promoter) approval(ctx context.Context, rec store.Promotion) (store.Promotion, error) {
	a, err := p.opts.Store.GetApproval(ctx, rec.ApprovalID)
	if err != nil {
		return rec, fmt.Errorf("read approval %s of %s: %w", rec.ApprovalID, rec.ID, err)
	}
	expired := a.Status == store.ApprovalExpired || (a.Status == store.ApprovalPending && !p.opts.Now().Before(a.ExpiresAt))
	switch {
	case a.Status == store.ApprovalApproved || a.Status == store.ApprovalExecuted:
		return p.step(ctx, rec, store.PromotionApplying, "promotion_approved", true, map[string]any{"approval_id": a.ID, "approver": a.DecidedBy})
	case a.Status == store.ApprovalRejected || expired:
		rec.Error = fmt.Sprintf("approval %s was %s", a.ID, map[bool]string{true: "not given in time", false: "rejected: " + a.Reason}[expired])
		return p.step(ctx, rec, store.PromotionRejected, "promotion_rejected", false, map[string]any{"approval_id": a.ID, "reason": rec.Error})
	}
	return rec, nil
}

// apply writes the release as the target's desired state: built from the
// stored versions the promotion names (the source's FromVersion, the
// target's PreviousVersion), so a resumed apply writes the same document;
// writing it again is no change.
func (p *Promoter) apply(ctx context.Context, rec store.Promotion) (store.Promotion, error) {
	spec, err := p.releaseOf(ctx, rec)
	if err == nil {
		var res store.ApplyResult
		res, err = p.opts.State.ApplySpec(ctx, state.SpecRequest{ClientID: rec.ClientID, StackID: rec.ToStack, Spec: spec, By: "promotion:" + rec.ID,
			Action: "promotion_applied", Changes: map[string]any{"promotion_id": rec.ID, "from_stack": rec.FromStack, "from_version": rec.FromVersion}})
		if err == nil {
			rec.NewVersion = res.Version
			return p.step(ctx, rec, store.PromotionVerifying, "promotion_verifying", true, map[string]any{"new_version": res.Version})
		}
	}
	rec.Error = "apply: " + err.Error()
	return p.step(ctx, rec, store.PromotionFailed, "promotion_failed", false, map[string]any{"reason": rec.Error})
}

func (p *Promoter) releaseOf(ctx context.Context, rec store.Promotion) (config.StackSpec, error) {
	src, err := p.opts.Store.GetDesiredVersion(ctx, rec.ClientID, rec.FromStack, rec.FromVersion)
	if err != nil {
		return config.StackSpec{}, fmt.Errorf("read %s of %s: %w", rec.FromVersion, rec.FromStack, err)
	}
	dst, err := p.opts.Store.GetDesiredVersion(ctx, rec.ClientID, rec.ToStack, rec.PreviousVersion)
	if err != nil {
		return config.StackSpec{}, fmt.Errorf("read %s of %s: %w", rec.PreviousVersion, rec.ToStack, err)
	}
	spec, _, err := Release(src.Document, dst.Document)
	return spec, err
}

// Evidence is what a promotion's verification judged on.
type Evidence struct {
	// Passes are the passes of the new revision that were looked at, the
	// last one deciding.
	Passes   []store.ReconciliationResult `json:"passes"`
	Verified bool                         `json:"verified"`
	// Drifts are the open drifts the deciding pass saw.
	Drifts []drift.Drift `json:"drifts,omitempty"`
	Reason string        `json:"reason,omitempty"`

	// lost: verification stopped because this process no longer owns the
	// stack (nothing is judged).
	lost bool
}

// verifyOrRollBack verifies the new revision and ends the promotion:
// succeeded, or rolled back to the target's previous version.
func (p *Promoter) verifyOrRollBack(ctx context.Context, rec store.Promotion) (store.Promotion, error) {
	ev := p.verify(ctx, rec)
	if err := ctx.Err(); err != nil {
		// Stopping: the record stays verifying, resumed at the next start.
		return rec, err
	}
	if ev.lost {
		// The stack's new owner verifies again, with passes of its own.
		return rec, errNotOwner
	}
	rec.Evidence, _ = json.Marshal(ev)
	if ev.Verified {
		return p.step(ctx, rec, store.PromotionSucceeded, "promotion_succeeded", true, map[string]any{"new_version": rec.NewVersion, "evidence": json.RawMessage(rec.Evidence)})
	}
	rec.Error = "verification failed: " + ev.Reason
	prev, err := p.opts.Store.GetDesiredVersion(ctx, rec.ClientID, rec.ToStack, rec.PreviousVersion)
	var spec config.StackSpec
	if err == nil {
		err = json.Unmarshal(prev.Document, &spec)
	}
	var res store.ApplyResult
	if err == nil {
		res, err = p.opts.State.ApplySpec(ctx, state.SpecRequest{ClientID: rec.ClientID, StackID: rec.ToStack, Spec: spec, By: "promotion:" + rec.ID,
			Action: "promotion_rollback", Changes: map[string]any{"promotion_id": rec.ID, "restored": rec.PreviousVersion}})
	}
	if err != nil {
		rec.Error += "; rollback to " + rec.PreviousVersion + " failed: " + err.Error()
		return p.step(ctx, rec, store.PromotionFailed, "promotion_failed", false, map[string]any{"reason": rec.Error, "evidence": json.RawMessage(rec.Evidence)})
	}
	return p.step(ctx, rec, store.PromotionRolledBack, "promotion_rolled_back", false, map[string]any{"reason": rec.Error,
		"restored": rec.PreviousVersion, "rollback_version": res.Version, "evidence": json.RawMessage(rec.Evidence)})
}

// verify runs passes of the target until one that observed the new
// revision is clean, or VerifyTimeout ends. Each is a fresh pass (started
// after the call, never a stored status); one that observed another
// version (the stack changed meanwhile) fails verification at once.
func (p *Promoter) verify(ctx context.Context, rec store.Promotion) Evidence {
	wait, cancel := context.WithTimeout(ctx, p.opts.VerifyTimeout)
	defer cancel()
	var ev Evidence
	for {
		if !p.owns(rec.ClientID, rec.ToStack) {
			ev.lost = true
			return ev
		}
		res, err := p.opts.Passes.ReconcileWait(wait, rec.ClientID, rec.ToStack, TriggerPromotion)
		if err != nil && ctx.Err() == nil && !p.owns(rec.ClientID, rec.ToStack) {
			ev.lost = true
			return ev
		}
		if err != nil && ev.Reason != "" {
			ev.Reason += fmt.Sprintf(" (still, after %s)", p.opts.VerifyTimeout)
			return ev
		}
		if err != nil {
			ev.Reason = fmt.Sprintf("no pass of %s verified %s within %s (%v)", rec.ToStack, rec.NewVersion, p.opts.VerifyTimeout, err)
			return ev
		}
		ev.Passes = append(ev.Passes, res)
		if res.StateVersion != rec.NewVersion {
			ev.Reason = fmt.Sprintf("the pass %s observed %s, not the promoted %s: the stack changed meanwhile", res.ReconciliationID, res.StateVersion, rec.NewVersion)
			return ev
		}
		ev.Drifts, ev.Reason = p.judge(ctx, rec, res)
		if ev.Reason == "" {
			ev.Verified = true
			return ev
		}
		t := time.NewTimer(p.opts.VerifyInterval)
		select {
		case <-t.C:
		case <-wait.Done():
			t.Stop()
			ev.Reason += fmt.Sprintf(" (still, after %s)", p.opts.VerifyTimeout)
			return ev
		}
	}
}

// judge says what is wrong with a pass of the new revision ("" for
// nothing): a pass that did not succeed, or open drift it saw, suspected
// or confirmed (environment divergence aside: it is about configuration,
// not what runs).
func (p *Promoter) judge(ctx context.Context, rec store.Promotion, res store.ReconciliationResult) ([]drift.Drift, string) {
	if res.Status != store.ResultSuccess {
		return nil, fmt.Sprintf("the pass %s ended %s: %v", res.ReconciliationID, res.Status, res.Errors)
	}
	open, err := p.opts.Store.ListDrifts(ctx, store.DriftQuery{ClientID: rec.ClientID, StackID: rec.ToStack})
	if err != nil {
		return nil, "read drifts: " + err.Error()
	}
	var seen []drift.Drift
	for _, d := range open {
		if d.Code != drift.EnvironmentDivergence && !d.LastSeen.Before(store.Truncate(res.StartedAt)) {
			seen = append(seen, d)
		}
	}
	if len(seen) > 0 {
		return seen, fmt.Sprintf("the pass %s saw %d open drift(s), first %s on %s", res.ReconciliationID, len(seen), seen[0].Code, seen[0].Component)
	}
	return nil, ""
}
