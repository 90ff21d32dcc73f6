package store

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The checks and defaults of the healing part of a Pass and of the Heals
// methods, shared by the drivers: they decide what is stored, the drivers
// only how.

// CheckHeal validates a new attempt of pass p and fills its defaults: an
// attempt without client and stack is the pass's stack's (any other stack
// is an error), an empty Status is pending, a zero CreatedAt is now, a zero
// NotBefore is CreatedAt and an empty ReconciliationID is the pass's.
func CheckHeal(h HealAttempt, p Pass, now time.Time) (HealAttempt, error) {
	if h.ClientID == "" && h.StackID == "" {
		h.ClientID, h.StackID = p.State.ClientID, p.State.StackID
	}
	switch {
	case h.ID == "" || h.DriftID == "":
		return h, fmt.Errorf("heal attempt %q of drift %q: id and drift id are required", h.ID, h.DriftID)
	case h.ClientID != p.State.ClientID || h.StackID != p.State.StackID:
		return h, fmt.Errorf("heal attempt %s is for %s/%s", h.ID, h.ClientID, h.StackID)
	case len(h.Drift) > 0 && !json.Valid(h.Drift):
		return h, fmt.Errorf("heal attempt %s: drift_detail is not valid JSON", h.ID)
	}
	if h.Status == "" {
		h.Status = HealPending
	}
	if h.CreatedAt.IsZero() {
		h.CreatedAt = now
	}
	if h.NotBefore.IsZero() {
		h.NotBefore = h.CreatedAt
	}
	if h.ReconciliationID == "" {
		h.ReconciliationID = p.Result.ReconciliationID
	}
	return h, nil
}

// CheckHealUpdate validates a verdict: it names an attempt, a status and
// the statuses it applies from.
func CheckHealUpdate(u HealUpdate) error {
	if u.ID == "" || u.Status == "" || len(u.From) == 0 {
		return fmt.Errorf("heal update %q: id, status and from statuses are required", u.ID)
	}
	return nil
}

// VerifiedAt is when the verdict verified its attempt: At for succeeded and
// failed, which are verdicts on an executed attempt; nil for cancelled,
// which is not.
func (u HealUpdate) VerifiedAt() *time.Time {
	if u.Status == HealSucceeded || u.Status == HealFailed {
		return &u.At
	}
	return nil
}

// CheckApproval validates a new approval request of pass p and fills its
// defaults: a request without client and stack is the pass's stack's (any
// other stack is an error), an empty Status is pending, a zero CreatedAt is
// now and an empty ReconciliationID is the pass's.
func CheckApproval(a Approval, p Pass, now time.Time) (Approval, error) {
	if a.ClientID == "" && a.StackID == "" {
		a.ClientID, a.StackID = p.State.ClientID, p.State.StackID
	}
	switch {
	case a.ID == "" || a.DriftID == "":
		return a, fmt.Errorf("approval %q of drift %q: id and drift id are required", a.ID, a.DriftID)
	case a.ClientID != p.State.ClientID || a.StackID != p.State.StackID:
		return a, fmt.Errorf("approval %s is for %s/%s", a.ID, a.ClientID, a.StackID)
	case len(a.Diff) > 0 && !json.Valid(a.Diff):
		return a, fmt.Errorf("approval %s: diff is not valid JSON", a.ID)
	}
	if a.Status == "" {
		a.Status = ApprovalPending
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now
	}
	if a.ReconciliationID == "" {
		a.ReconciliationID = p.Result.ReconciliationID
	}
	return a, nil
}

// OpenDriftIDs returns the ids of the drifts pass p reports open, in order:
// those stored resolved come back (a return, counted by DriftReturns).
func OpenDriftIDs(p Pass) []string {
	var open []string
	for _, d := range p.Drifts {
		if d.ResolvedAt == nil {
			open = append(open, d.ID)
		}
	}
	return open
}

// CheckClaimHeals validates the arguments of ClaimHeals.
func CheckClaimHeals(owner string, lease time.Duration) error {
	if owner == "" || lease <= 0 {
		return fmt.Errorf("claim heals: owner %q and a positive lease (%s) are required", owner, lease)
	}
	return nil
}

// CheckFinishHeal validates the arguments of FinishHeal: an attempt
// finishes executed, failed or cancelled, and its audit entries are valid.
func CheckFinishHeal(p FinishHeal) error {
	if p.Status != HealExecuted && p.Status != HealFailed && p.Status != HealCancelled {
		return fmt.Errorf("finish heal %s: status %q: want executed, failed or cancelled", p.ID, p.Status)
	}
	if err := CheckAudit(p.Audit); err != nil {
		return fmt.Errorf("finish heal %s: %w", p.ID, err)
	}
	if err := CheckStream(p.Stream); err != nil {
		return fmt.Errorf("finish heal %s: %w", p.ID, err)
	}
	return nil
}

// SortHeals orders attempts as ListHeals and ClaimHeals return them: by
// CreatedAt, then ID.
func SortHeals(hs []HealAttempt) {
	slices.SortFunc(hs, func(a, b HealAttempt) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// Decision is a decision on a pending approval: the approval as decided
// and the audit entry that records it.
type Decision struct {
	Approval Approval
	Audit    AuditEntry
}

// Decide decides approval a, read in DecideApproval's transaction: approved
// or rejected by by at at (truncated as stored), with the audit entry
// (approval_granted or approval_rejected) to append in the same
// transaction. It fails with ErrConflict when a is not pending, and with
// ErrExpired when a's ExpiresAt is not after at: the driver then stores a
// as expired and writes no audit entry.
func Decide(a Approval, approve bool, by, reason string, at time.Time) (Decision, error) {
	at = Truncate(at)
	if a.Status != ApprovalPending {
		return Decision{}, fmt.Errorf("%w: approval is %s", ErrConflict, a.Status)
	}
	if !a.ExpiresAt.After(at) {
		return Decision{}, ErrExpired
	}
	a.Status, a.DecidedAt, a.DecidedBy, a.Reason = ApprovalRejected, &at, by, reason
	action := "approval_rejected"
	if approve {
		a.Status, action = ApprovalApproved, "approval_granted"
	}
	changes, _ := json.Marshal(map[string]string{
		"approval_id": a.ID, "approval_class": a.Class, "heal_action": a.Action, "reason": reason,
	})
	return Decision{Approval: a, Audit: AuditEntry{
		Timestamp: at, Action: action, ClientID: a.ClientID, StackID: a.StackID, TriggeredBy: by,
		Success: true, ChangesMade: changes, ApprovalRequired: true, Approver: by, DriftID: a.DriftID,
	}}, nil
}
