package drift

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Rule says when a drift is confirmed, that is persisted long enough to be
// reported and acted on (DESIGN.md: "confirm drift before acting").
//
// Confirmation means persistence: a drift is confirmed once it has been
// seen in at least Observations passes AND GracePeriod has passed since it
// was first seen (both; a GracePeriod of 0 leaves Observations alone).
// Critical drift may skip both only on authoritative evidence
// (Drift.Authoritative: the provider itself answered), never on an
// inference. A stack's first pass confirms nothing.
type Rule struct {
	// Observations is how many passes must see the drift; 0 is taken as 1.
	Observations int
	// GracePeriod is how long the drift must have persisted since first
	// seen; 0: no time bound.
	GracePeriod time.Duration
	// CriticalImmediate confirms authoritative critical drift on its first
	// observation.
	CriticalImmediate bool
	// FirstPass is set on a stack's first pass: a new stack is reconciling,
	// not drifting, so nothing confirms (and nothing is announced) yet.
	FirstPass bool
}

// Tracked is the outcome of Track for one stack.
type Tracked struct {
	// Open are the drifts found this pass, with their lifecycle fields, in
	// the order Compare returned them, then the open drifts this pass could
	// not judge (carried as they were), sorted like Compare's output.
	Open []Drift
	// Resolved are the previously open drifts not found this pass, with
	// ResolvedAt set, sorted like Compare's output.
	Resolved []Drift
	// NewlyConfirmed are the drifts of Open that became confirmed on this
	// call; each drift appears here once in its life.
	NewlyConfirmed []Drift
}

// Track merges one pass's found drifts (Compare's output) into a stack's
// open drifts (from the store) at time now. It is pure.
//
// A found drift whose ID is open continues it: FirstSeen, the
// acknowledgement and a true Confirmed are kept, Observations grows by one,
// LastSeen and DetectedAt are updated (DetectedAt stays FirstSeen), and the
// content (Code, Severity, Expected, Observed, Cause) is taken from the
// found one. The ID hashes client, stack, type and component, not the code,
// so a drift whose code changes while open (resource_unhealthy becoming
// resource_missing, provider_missing becoming provider_changed) stays the
// same drift: same ID, same history, same acknowledgement.
//
// A found drift with a new ID starts with FirstSeen = LastSeen = DetectedAt
// = now and one observation. Entries of open that already carry ResolvedAt
// are not open and are ignored.
//
// An open drift not found this pass is resolved, unless its ID is in
// unjudged (Unjudged: what it is about was unknown this pass): it is then
// carried unchanged, neither seen again nor resolved, since an unknown
// observation is no evidence either way.
func Track(open []Drift, found []Drift, unjudged map[string]bool, now time.Time, rule Rule) Tracked {
	prev := make(map[string]Drift, len(open))
	for _, d := range open {
		if d.ResolvedAt != nil {
			continue
		}
		if _, dup := prev[d.ID]; !dup {
			prev[d.ID] = d
		}
	}

	need := max(rule.Observations, 1)
	var t Tracked
	seen := make(map[string]bool, len(found))
	for _, f := range found {
		if seen[f.ID] {
			continue
		}
		seen[f.ID] = true

		d := f
		d.ResolvedAt = nil
		old, continued := prev[f.ID]
		if continued {
			d.FirstSeen = old.FirstSeen
			d.Observations = old.Observations + 1
			d.Confirmed = old.Confirmed
			d.Acknowledged = old.Acknowledged
			d.AcknowledgedBy = old.AcknowledgedBy
		} else {
			d.FirstSeen = now
			d.Observations = 1
			d.Confirmed = false
			d.Acknowledged = false
			d.AcknowledgedBy = ""
		}
		d.LastSeen = now
		d.DetectedAt = d.FirstSeen

		if !d.Confirmed && confirms(d, now, need, rule) {
			d.Confirmed = true
			t.NewlyConfirmed = append(t.NewlyConfirmed, d)
		}
		t.Open = append(t.Open, d)
	}

	var carried []Drift
	for _, d := range prev {
		if seen[d.ID] {
			continue
		}
		if unjudged[d.ID] {
			carried = append(carried, d)
			continue
		}
		at := now
		d.ResolvedAt = &at
		t.Resolved = append(t.Resolved, d)
	}
	byTaxonomy := func(a, b Drift) int {
		return cmp.Or(
			cmp.Compare(codeIndex(a.Code), codeIndex(b.Code)),
			strings.Compare(a.Component, b.Component),
			strings.Compare(a.ID, b.ID))
	}
	slices.SortFunc(t.Resolved, byTaxonomy)
	slices.SortFunc(carried, byTaxonomy)
	t.Open = append(t.Open, carried...)
	return t
}

// confirms applies the rule (see Rule) to a drift seen at now.
func confirms(d Drift, now time.Time, need int, rule Rule) bool {
	switch {
	case rule.FirstPass:
		return false
	case rule.CriticalImmediate && d.Severity == SeverityCritical && d.Authoritative:
		return true
	}
	return d.Observations >= need && (rule.GracePeriod <= 0 || now.Sub(d.FirstSeen) >= rule.GracePeriod)
}

// ConfirmableAt returns when an open, unconfirmed drift can be confirmed
// at the earliest under rule, given that passes come no closer than every
// minGap: after its grace period, and after as many passes as it still
// needs. The zero time when d is confirmed already.
func ConfirmableAt(d Drift, rule Rule, minGap time.Duration) time.Time {
	if d.Confirmed || d.ResolvedAt != nil {
		return time.Time{}
	}
	at := d.LastSeen.Add(minGap * time.Duration(max(max(rule.Observations, 1)-d.Observations, 1)))
	if g := d.FirstSeen.Add(rule.GracePeriod); g.After(at) {
		at = g
	}
	return at
}

// Highest returns the highest severity among the confirmed, unresolved
// drifts of ds, or "" when there is none.
func Highest(ds []Drift) Severity {
	var top Severity
	for _, d := range ds {
		if d.Confirmed && d.ResolvedAt == nil && d.Severity.Rank() > top.Rank() {
			top = d.Severity
		}
	}
	return top
}

// Confirmed returns the confirmed, unresolved drifts of ds, in order.
func Confirmed(ds []Drift) []Drift {
	var out []Drift
	for _, d := range ds {
		if d.Confirmed && d.ResolvedAt == nil {
			out = append(out, d)
		}
	}
	return out
}
