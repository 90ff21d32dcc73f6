package policy

import (
	"slices"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
)

// ClassPreempt is the approval class of a pre-emptive heal: listed in
// auto_heal.require_approval, every heal run ahead of a forecast waits for
// a person.
const ClassPreempt = "preempt"

// PreemptAction is the heal action predict.preempt may run ahead of a
// forecast of code: reregister_subscription before webhook_broken (a
// subscription the provider is about to delete for failed deliveries is
// replaced by a fresh one),
// rebuild before content_stale (content waiting for a deploy); "" for
// every other code. A dated forecast of a certificate, a domain or an API
// version has no heal that prevents it: it is only announced.
func PreemptAction(code drift.Code) string {
	switch code {
	case drift.WebhookBroken:
		return config.PreemptReregisterSubscription
	case drift.ContentStale:
		return config.PreemptRebuild
	}
	return ""
}

// PreemptInput is everything Preempt looks at: Decide's input, whose
// Drift is the drift the forecast expects (confirmed, first seen when the
// forecast was raised, History that of the heals run ahead of it), the
// policy's predict block, and whether a pre-emptive heal of this forecast
// ran already (executed or succeeded).
type PreemptInput struct {
	Input
	Predict   config.Predict
	Preempted bool
}

// Preempt says whether to heal ahead of a forecast. Its own checks come
// first, in this order: predict enabled, a pre-emptive action for the
// code, the action listed in predict.preempt, no pre-emptive heal of this
// forecast ran yet; then Decide's (auto_heal enabled, the code in
// allowed_drift_types, attempts, breakers, maintenance windows, backoff,
// approval classes), and last the preempt approval class. Pure.
func Preempt(in PreemptInput) Decision {
	action := PreemptAction(in.Drift.Code)
	dec := Decision{Action: action}
	switch {
	case !in.Predict.Enabled:
		dec.Outcome, dec.Reason = AlertOnly, "predict disabled"
		return dec
	case action == "":
		dec.Outcome, dec.Reason = AlertOnly, "no pre-emptive heal for "+string(in.Drift.Code)
		return dec
	case !slices.Contains(in.Predict.Preempt, action):
		dec.Outcome, dec.Reason = AlertOnly, action+" not in predict.preempt"
		return dec
	case in.Preempted:
		dec.Outcome, dec.Reason = Suppressed, "preempted already"
		return dec
	}
	in.Drift.Confirmed = true
	dec = Decide(in.Input)
	dec.Action = action
	if dec.Outcome == Heal && slices.Contains(in.Policy.RequireApproval, ClassPreempt) && !in.History.Approved {
		return Decision{Outcome: NeedsApproval, Reason: ClassPreempt + " requires approval", Action: dec.Action,
			ApprovalClass: ClassPreempt}
	}
	if dec.Outcome == Suppressed && dec.Escalate != "" {
		// Escalation is the drift's, once it happens; a forecast is only
		// announced.
		dec.Escalate = ""
	}
	return dec
}
