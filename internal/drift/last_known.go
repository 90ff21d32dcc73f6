package drift

import (
	"maps"
	"slices"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
)

// Sighting is what Blackwell last knew of one provider binding or resource,
// and whether the latest pass could observe it. An unknown observation
// never overwrites a known one: Value, Detail and SeenAt stay those of the
// last known observation, and only Known, Reason and UnknownSince change.
type Sighting struct {
	// Value is the last known value: a provider's reachability (ok,
	// unauthorized, not_found) or a resource's status (healthy,
	// unhealthy, missing); empty when it was never known.
	Value  string `json:"value,omitempty"`
	Detail string `json:"detail,omitempty"`
	// SeenAt is when Value was observed last; nil when never.
	SeenAt *time.Time `json:"seen_at,omitempty"`
	// Known is set when the latest pass observed it.
	Known bool `json:"known"`
	// Reason says why the latest pass could not observe it.
	Reason Reason `json:"reason,omitempty"`
	// UnknownSince is the first pass of the current run of unknown
	// observations; nil while Known.
	UnknownSince *time.Time `json:"unknown_since,omitempty"`
}

// LastKnown is a stack's last known observations, kept with its state.
type LastKnown struct {
	// Passes counts the stack's completed passes. While it is 0 the pass
	// under way is the stack's first, which confirms no drift.
	Passes int `json:"passes"`
	// Providers by role, resources by name.
	Providers map[string]Sighting `json:"providers,omitempty"`
	Resources map[string]Sighting `json:"resources,omitempty"`
}

// Remember folds one pass's observation into prev at now and returns the
// result; prev is not modified. Entries of roles and resources the spec no
// longer declares are dropped; ones this pass did not observe at all (a
// role absent from o.Providers) are kept as they were. Passes is left to
// the caller, which knows whether the pass completed.
func Remember(prev LastKnown, spec config.StackSpec, o Observed, now time.Time) LastKnown {
	next := LastKnown{Passes: prev.Passes}
	next.Providers = remember(prev.Providers, spec.Providers, func(role string) (Sighting, bool) {
		obs, ok := o.Providers[role]
		if !ok {
			return Sighting{}, false
		}
		if obs.Reachability.Known() {
			return Sighting{Value: string(obs.Reachability), Detail: obs.Detail, Known: true}, true
		}
		reason := obs.Reason
		if reason == "" {
			reason = reasonOf(obs.Reachability)
		}
		return Sighting{Detail: obs.Detail, Reason: reason}, true
	}, now)
	next.Resources = remember(prev.Resources, spec.Resources, func(name string) (Sighting, bool) {
		obs, ok := o.Resources[name]
		if !ok {
			return Sighting{}, false
		}
		if obs.Status != StatusUnknown && obs.Status != "" {
			return Sighting{Value: string(obs.Status), Detail: obs.Detail, Known: true}, true
		}
		reason := obs.Reason
		if reason == "" {
			reason = ReasonNotObserved
		}
		return Sighting{Detail: obs.Detail, Reason: reason}, true
	}, now)
	return next
}

// remember merges the sightings of the declared names.
func remember[V any](prev map[string]Sighting, declared map[string]V, observe func(string) (Sighting, bool), now time.Time) map[string]Sighting {
	var out map[string]Sighting
	for _, name := range slices.Sorted(maps.Keys(declared)) {
		old, had := prev[name]
		s, observed := observe(name)
		switch {
		case !observed:
			if !had {
				continue
			}
			s = old
		case s.Known:
			at := now
			s.SeenAt = &at
		default:
			// Unknown: keep what was last known, note why and since when.
			reason, detail := s.Reason, s.Detail
			s = old
			s.Known, s.Reason = false, reason
			if old.SeenAt == nil {
				s.Detail = detail
			}
			if s.UnknownSince == nil {
				at := now
				s.UnknownSince = &at
			}
		}
		if out == nil {
			out = map[string]Sighting{}
		}
		out[name] = s
	}
	return out
}

// reasonOf is the Reason of an unknown reachability that came without one.
func reasonOf(r Reachability) Reason {
	if r == Unreachable {
		return ReasonUnreachable
	}
	return ReasonNotObserved
}

// Unseen returns, sorted, the roles ("provider:ROLE") and resources
// ("resource:NAME") that were observed at least once but never known: the
// stack's state is not established while there are any.
func (k LastKnown) Unseen() []string {
	var out []string
	for role, s := range k.Providers {
		if s.SeenAt == nil {
			out = append(out, "provider:"+role)
		}
	}
	for name, s := range k.Resources {
		if s.SeenAt == nil {
			out = append(out, "resource:"+name)
		}
	}
	slices.Sort(out)
	return out
}
