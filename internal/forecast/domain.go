package forecast

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
)

// DomainReading is a resource's domain registration, as RDAP told.
type DomainReading struct {
	Domain string `json:"domain"`
	// Expiry is the registration's expiration event; nil when the
	// registry gave none.
	Expiry *time.Time `json:"expiry,omitempty"`
	// Seen is when the registry answered.
	Seen time.Time `json:"seen"`
	// Err says why the registration could not be read.
	Err string `json:"err,omitempty"`
}

// DNSAnswer is one look at a resource's name: the zone's name servers, the
// CNAME target, and whether the authority the delegation now points to
// holds the record (answers it rather than NXDOMAIN).
type DNSAnswer struct {
	At     time.Time     `json:"at"`
	NS     []string      `json:"ns,omitempty"`
	Target string        `json:"target,omitempty"`
	TTL    time.Duration `json:"ttl_ns"`
	Held   bool          `json:"held"`
}

// changed reports whether b delegates or points the name elsewhere than a.
func (a DNSAnswer) changed(b DNSAnswer) bool {
	norm := func(ns []string) []string {
		out := make([]string, len(ns))
		for i, n := range ns {
			out[i] = strings.TrimSuffix(strings.ToLower(n), ".")
		}
		slices.Sort(out)
		return out
	}
	return !slices.Equal(norm(a.NS), norm(b.NS)) || !strings.EqualFold(strings.TrimSuffix(a.Target, "."), strings.TrimSuffix(b.Target, "."))
}

// domains: a registration that expires within DomainHorizon takes the
// resource's name with it: resource_missing, dated.
func domains(r *Reading, o Observation, p Params) {
	for _, name := range sortedKeys(o.Domains) {
		d := o.Domains[name]
		k := Key{drift.ResourceMissing, name}
		switch {
		case d.Err != "":
			r.unknown(k, IndicatorDomain, "domain %s: %s", d.Domain, d.Err)
			continue
		case d.Expiry == nil || d.Expiry.IsZero():
			r.unknown(k, IndicatorDomain, "domain %s: the registry gave no expiration event", d.Domain)
			continue
		case d.Seen.After(o.Now.Add(time.Minute)):
			r.unknown(k, IndicatorDomain, "domain %s: read at %s, after now %s (clocks disagree)", d.Domain, d.Seen.Format(time.RFC3339), o.Now.Format(time.RFC3339))
			continue
		}
		left := d.Expiry.Sub(o.Now)
		if left <= 0 || left > p.DomainHorizon {
			continue
		}
		conf := 0.55 + 0.4*clamp01(1-left.Hours()/p.DomainHorizon.Hours())
		r.Forecasts = append(r.Forecasts, o.forecast(k.Code, name, *d.Expiry, conf, ClassDated, Evidence{
			Indicator: IndicatorDomain,
			Detail:    fmt.Sprintf("the registration of %s expires %s", d.Domain, d.Expiry.UTC().Format(time.RFC3339)),
			Values:    map[string]any{"domain": d.Domain, "expiry": d.Expiry.UTC()},
		}))
	}
}

// dnsChanges: a name whose delegation (NS) or CNAME target changed within
// DNSChangeWindow, and whose new authority does not hold the record, goes
// missing once resolvers drop the old answer (its TTL after the change);
// it is forecast once DNSWaitShare of that TTL passed unfixed.
func dnsChanges(r *Reading, o Observation, p Params, open func(Source) bool) {
	for _, name := range sortedKeys(o.DNS) {
		answers := o.DNS[name]
		k := Key{drift.ResourceMissing, name}
		if len(answers) == 0 {
			continue
		}
		if bad := dnsOrder(answers, o.Now); bad != "" {
			r.unknown(k, IndicatorDNS, "%s", bad)
			continue
		}
		last := answers[len(answers)-1]
		i := len(answers) - 1
		for i > 0 && !answers[i-1].changed(last) {
			i--
		}
		if i == 0 || last.Held || o.Now.Sub(answers[i].At) > p.DNSChangeWindow {
			continue // no change seen, the new authority holds it, or long ago
		}
		prev, change := answers[i-1], answers[i]
		ttl := max(prev.TTL, time.Minute)
		if !open(Source{k, IndicatorDNS}) && o.Now.Sub(change.At) < time.Duration(p.DNSWaitShare*float64(ttl)) {
			continue // not yet: a mistake is often fixed early in the TTL
		}
		eta := change.At.Add(ttl)
		if eta.Before(o.Now) {
			eta = o.Now // cached past its TTL: any moment now
		}
		r.Forecasts = append(r.Forecasts, o.forecast(k.Code, name, eta, 0.8, ClassTrend, Evidence{
			Indicator: IndicatorDNS,
			Detail: fmt.Sprintf("the answer changed at %s (name servers %s -> %s, target %q -> %q) and the new authority does not hold the record",
				change.At.Format(time.RFC3339), strings.Join(prev.NS, ","), strings.Join(last.NS, ","), prev.Target, last.Target),
			Values: map[string]any{"changed_at": change.At, "old_ns": prev.NS, "new_ns": last.NS, "old_target": prev.Target,
				"new_target": last.Target, "old_ttl_seconds": prev.TTL.Seconds()},
		}))
	}
}

// dnsOrder reports answers out of time order or after now.
func dnsOrder(answers []DNSAnswer, now time.Time) string {
	for i, a := range answers {
		if a.At.After(now.Add(time.Minute)) {
			return fmt.Sprintf("a DNS answer at %s is after now %s (clocks disagree)", a.At.Format(time.RFC3339), now.Format(time.RFC3339))
		}
		if i > 0 && a.At.Before(answers[i-1].At) {
			return "DNS answers out of time order"
		}
	}
	return ""
}
