package forecast

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
)

// IndicatorEnvironment names forecasts raised from the leading
// environment of a stack's application: a drift open there that this
// stack's composition shares.
const IndicatorEnvironment = "environment_drift"

// Leading is the stack of the environment before a stack's own in its
// application's pipeline (the nearest one that has a stack), as a pass of
// the later stack reads it.
type Leading struct {
	StackID     string
	Environment string
	// Spec is the leading stack's desired composition.
	Spec config.StackSpec
	// Drifts are its open drifts.
	Drifts []drift.Drift
}

// environmentCodes are the drifts of a leading environment that forecast
// the same drift in the next one when its composition shares the
// component: what a provider changed (another provider's events, a
// subscription's topics, filter or API version), not what is the leading
// stack's own (its site, its content, its credentials).
var environmentCodes = map[drift.Code]float64{
	// An inference from events, never authoritative: less likely to
	// reach the next environment.
	drift.ProviderChanged:     0.5,
	drift.IntegrationMismatch: 0.7,
	drift.WebhookBroken:       0.7,
}

// environments forecasts, for each confirmed and unacknowledged drift of
// environmentCodes open in the leading environment, the same drift on this
// stack when this stack declares the component the same way (sharesRole,
// sharesIntegration) and does not show the drift itself (it is drift then,
// not a forecast). The eta is when the leading environment first saw it:
// the provider changed then, so the drift may show here at any pass.
func environments(r *Reading, o Observation) {
	lead := o.Leading
	if lead == nil {
		return
	}
	showing := map[Key]bool{}
	for _, d := range o.Open {
		showing[Key{d.Code, d.Component}] = true
	}
	for _, d := range lead.Drifts {
		conf, ok := environmentCodes[d.Code]
		if !ok || !d.Confirmed || d.Acknowledged || d.ResolvedAt != nil || showing[Key{d.Code, d.Component}] {
			continue
		}
		shared := false
		switch d.Code {
		case drift.ProviderChanged:
			shared = sharesRole(lead.Spec, o.Spec, d.Component)
		default:
			shared = sharesIntegration(lead.Spec, o.Spec, d.Component)
		}
		if !shared {
			continue
		}
		first := d.FirstSeen
		if first.IsZero() {
			first = o.Now
		}
		ev := Evidence{Indicator: IndicatorEnvironment,
			Detail: fmt.Sprintf("%s on %s is open in %s (%s) since %s, and this stack declares %s the same way",
				d.Code, d.Component, lead.Environment, lead.StackID, first.UTC().Format(time.RFC3339), d.Component),
			Values: map[string]any{"stack_id": lead.StackID, "environment": lead.Environment, "drift_id": d.ID,
				"first_seen": first.UTC(), "expected": d.Expected, "observed": d.Observed}}
		r.Forecasts = append(r.Forecasts, o.forecast(d.Code, d.Component, first, conf, ClassTrend, ev))
	}
}

// sharesRole reports whether two compositions bind role to the same
// provider at the same API version (settings.api_version, unset in both
// counting as the same).
func sharesRole(a, b config.StackSpec, role string) bool {
	pa, ok := a.Providers[role]
	if !ok {
		return false
	}
	pb, ok := b.Providers[role]
	return ok && strings.EqualFold(strings.TrimSpace(pa.Name), strings.TrimSpace(pb.Name)) &&
		pa.Settings["api_version"] == pb.Settings["api_version"]
}

// sharesIntegration reports whether two compositions declare the
// integration alike (its provider role, topics, filter and the rest) on a
// shared role.
func sharesIntegration(a, b config.StackSpec, name string) bool {
	ia, ok := a.Integrations[name]
	if !ok {
		return false
	}
	ib, ok := b.Integrations[name]
	return ok && reflect.DeepEqual(ia, ib) && sharesRole(a, b, ia.Provider)
}
