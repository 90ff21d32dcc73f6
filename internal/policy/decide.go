// Package policy decides what to do about a drift under a stack's
// reconciliation policy. Decide is pure: the drift, the policy and the
// drift's healing history in, a Decision out; no I/O and no clock.
package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
)

// Outcome is what a Decision says to do.
type Outcome string

// The outcomes.
const (
	// Heal: run the heal action now (or, in dry-run mode, record that it
	// would run).
	Heal Outcome = "heal"
	// NeedsApproval: a person must approve the heal first.
	NeedsApproval Outcome = "needs_approval"
	// Suppressed: policy allows no heal now; Reason says why.
	Suppressed Outcome = "suppressed"
	// AlertOnly: there is no heal for this drift, or healing is off; report it.
	AlertOnly Outcome = "alert_only"
)

// Suppression reasons.
const (
	ReasonUnconfirmed  = "unconfirmed"
	ReasonAcknowledged = "acknowledged"
	ReasonExhausted    = "heal_exhausted"
	ReasonBackoff      = "backoff"
	ReasonMaintenance  = "maintenance_window"
	ReasonBreakerOpen  = "breaker_open"
	ReasonInFlight     = "heal_in_flight"
	// ReasonUnobserved: what the drift is about could not be observed
	// this pass (unknown is not drift, nor evidence that it persists); the
	// heal waits until it is seen again.
	ReasonUnobserved = "unobserved"
)

// Approval classes beyond "<role>_provider_change".
const (
	ClassDataDeletion        = "data_deletion"
	ClassResourceReplacement = "resource_replacement"
)

// History is what is known of earlier heals of this drift and of its
// component.
type History struct {
	// Attempts of this drift so far (since it was first seen), the
	// budget max_attempts bounds.
	Attempts int
	// Cancelled attempts of this drift (decided, then not run because the
	// policy stopped healing): they cost nothing of the budget, but their
	// idempotency keys are taken.
	Cancelled int
	// LastAttempt is when the last attempt started (zero: none).
	LastAttempt time.Time
	// InFlight: an attempt is running and not yet verified.
	InFlight bool
	// Returns counts how often this component's drift cleared and came
	// back within the policy's flapping window.
	Returns int
	// BreakerOpen: heals of the drift's provider (or of the whole instance)
	// are stopped by the heal-failure breaker.
	BreakerOpen bool
	// Approved: a person approved a heal of this drift that has not run yet.
	Approved bool
}

// Decision is the outcome for one drift.
type Decision struct {
	Outcome Outcome `json:"outcome"`
	// Reason explains the outcome in a few words.
	Reason string `json:"reason"`
	// Action is the heal action of the drift's code (empty when none).
	Action string `json:"action,omitempty"`
	// ApprovalClass is set for NeedsApproval.
	ApprovalClass string `json:"approval_class,omitempty"`
	// Attempt is the attempt number a Heal is (1-based); IdempotencyKey is
	// drift id + attempt, so a retried action has one effect.
	Attempt        int    `json:"attempt,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// DryRun: the policy's mode is dry_run; record, do not act.
	DryRun bool `json:"dry_run,omitempty"`
	// NotBefore is when the next attempt may run (ReasonBackoff, or a
	// maintenance window's end).
	NotBefore time.Time `json:"not_before,omitzero"`
	// Escalate is the raised severity of an exhausted drift.
	Escalate drift.Severity `json:"escalate,omitempty"`
}

// Input is everything Decide looks at.
type Input struct {
	Drift       drift.Drift
	Policy      config.AutoHeal
	Environment string // dev, staging or prod
	// Location is the policy's schedule timezone, for maintenance windows
	// (nil: UTC).
	Location *time.Location
	History  History
	Now      time.Time
	// Unobserved: what the drift is about was unknown this pass (the
	// drift is carried open from earlier passes, not seen now).
	Unobserved bool
}

// Decide says what to do about one drift. The checks run in a fixed order,
// each a reason a heal cannot run now; the first that applies decides.
func Decide(in Input) Decision {
	d, ah := in.Drift, in.Policy
	cl, _ := drift.Classify(d.Code)
	dec := Decision{Action: cl.HealAction}
	alert := func(reason string) Decision { dec.Outcome, dec.Reason = AlertOnly, reason; return dec }
	suppress := func(reason string) Decision { dec.Outcome, dec.Reason = Suppressed, reason; return dec }

	switch {
	case !d.Confirmed:
		return suppress(ReasonUnconfirmed)
	case cl.HealAction == "":
		// provider_unauthorized and provider_unreachable among others:
		// credentials and a provider's outage are never Blackwell's to
		// heal, whatever allowed_drift_types lists.
		return alert("no heal action for " + string(d.Code))
	case !ah.Enabled:
		return alert("auto_heal disabled")
	case !slices.Contains(ah.AllowedDriftTypes, string(d.Code)):
		return alert(string(d.Code) + " not in allowed_drift_types")
	case d.Acknowledged:
		// An acknowledged drift is a person's: no further heals.
		return suppress(ReasonAcknowledged)
	case in.History.InFlight:
		return suppress(ReasonInFlight)
	case in.Unobserved:
		// A heal acts on what was seen; a drift only carried through an
		// outage of observation may be gone already.
		return suppress(ReasonUnobserved)
	}
	if limit := ah.MaxAttempts; limit > 0 && in.History.Attempts >= limit {
		dec.Escalate = escalate(d.Severity)
		return suppress(fmt.Sprintf("%s: %d of %d attempts used", ReasonExhausted, in.History.Attempts, limit))
	}
	if in.History.BreakerOpen {
		return suppress(ReasonBreakerOpen)
	}
	if end, open := maintenance(ah.MaintenanceWindows, in.Location, in.Now); open {
		dec.NotBefore = end
		return suppress(ReasonMaintenance)
	}
	if in.History.Attempts > 0 {
		next := in.History.LastAttempt.Add(Backoff(ah, in.History.Attempts))
		if in.Now.Before(next) {
			dec.NotBefore = next
			return suppress(ReasonBackoff)
		}
	}
	if class := approvalClass(d, cl, in.Environment, ah.RequireApproval); class != "" && !in.History.Approved {
		dec.Outcome, dec.ApprovalClass, dec.Reason = NeedsApproval, class, class+" requires approval"
		return dec
	}
	if f := ah.Flapping; f.Threshold > 0 && in.History.Returns > f.Threshold && !in.History.Approved {
		dec.Outcome, dec.ApprovalClass = NeedsApproval, "flapping"
		dec.Reason = fmt.Sprintf("flapping: returned %d times within %s", in.History.Returns, f.Window.D())
		return dec
	}
	dec.Outcome, dec.Reason = Heal, "allowed by policy"
	dec.Attempt = in.History.Attempts + 1
	dec.IdempotencyKey = IdempotencyKey(d, dec.Attempt+in.History.Cancelled)
	dec.DryRun = ah.Mode == "dry_run"
	return dec
}

// IdempotencyKey is the key of one heal attempt of a drift: the drift's id,
// the occurrence (its FirstSeen, when known: a drift that clears and comes
// back is a new occurrence with a fresh attempt budget) and the attempt's
// number among all attempts of the occurrence, cancelled ones included.
func IdempotencyKey(d drift.Drift, attempt int) string {
	if d.FirstSeen.IsZero() {
		return fmt.Sprintf("%s/%d", d.ID, attempt)
	}
	return fmt.Sprintf("%s@%d/%d", d.ID, d.FirstSeen.UnixMicro(), attempt)
}

// approvalClass is the class of the drift's heal that needs approval, or "".
// Production is stricter than the policy's list: replacing a resource or
// deleting data always needs a person there.
func approvalClass(d drift.Drift, cl drift.Class, env string, required []string) string {
	class := cl.ApprovalClass
	if class == "provider_change" {
		class = d.Component + "_provider_change"
	}
	if class == "" {
		return ""
	}
	if slices.Contains(required, class) {
		return class
	}
	if env == "prod" && (class == ClassResourceReplacement || class == ClassDataDeletion) {
		return class
	}
	if strings.HasSuffix(class, "_provider_change") && env == "prod" {
		// Switching a provider binding in production is never automatic.
		return class
	}
	return ""
}

// Backoff is the wait after the attempts-th attempt: base × attempts
// (linear) or base × 2^(attempts-1) (exponential), capped.
func Backoff(ah config.AutoHeal, attempts int) time.Duration {
	base, ceiling := ah.BackoffBase.D(), ah.BackoffCap.D()
	if base <= 0 {
		base = 10 * time.Second
	}
	if attempts < 1 {
		return 0
	}
	var d time.Duration
	if ah.BackoffStrategy == "linear" {
		d = base * time.Duration(attempts)
	} else {
		const forever = time.Duration(1<<63 - 1)
		d = base
		for i := 1; i < attempts && d < forever; i++ {
			if d > forever/2 {
				d = forever
			} else {
				d *= 2
			}
		}
	}
	if ceiling > 0 && d > ceiling {
		d = ceiling
	}
	return d
}

// escalate raises a severity one step (critical stays critical).
func escalate(s drift.Severity) drift.Severity {
	r := s.Rank()
	if r <= 0 || r >= len(drift.Severities) {
		return drift.SeverityCritical
	}
	return drift.Severities[r]
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// maintenance reports whether now falls in a window, and when it ends. A
// window may run past midnight (a Saturday 23:00 window of 3h covers Sunday
// 01:00).
func maintenance(ws []config.MaintenanceWindow, loc *time.Location, now time.Time) (end time.Time, in bool) {
	if loc == nil {
		loc = time.UTC
	}
	local := now.In(loc)
	for _, w := range ws {
		start, err := time.Parse("15:04", w.Start)
		if err != nil {
			continue
		}
		// A window that started on one of the last 7 days may still be open.
		for back := 0; back <= 7; back++ {
			day := local.AddDate(0, 0, -back)
			if !slices.ContainsFunc(w.Days, func(s string) bool { wd, ok := weekdays[s]; return ok && wd == day.Weekday() }) {
				continue
			}
			from := time.Date(day.Year(), day.Month(), day.Day(), start.Hour(), start.Minute(), 0, 0, loc)
			to := from.Add(w.Duration.D())
			if !local.Before(from) && local.Before(to) && to.After(end) {
				end, in = to, true
			}
		}
	}
	return end, in
}
