package config

import (
	"fmt"
	"strings"
	"time"
)

// Notes returns what about the config's written policies may surprise
// their reader, one sentence each, prefixed with the policy it is about
// ("policy acme-corp/web: ..."). They are not errors: the config is valid.
// Each policy is judged as it takes effect (EffectivePolicy).
func (c *Config) Notes() []string {
	var out []string
	for _, p := range c.Policies {
		name := p.Metadata.ClientID
		if p.Metadata.StackID != "" {
			name += "/" + p.Metadata.StackID
		}
		eff := EffectivePolicy(&p.Spec, nil)
		for _, n := range eff.Notes() {
			out = append(out, "policy "+name+": "+n)
		}
	}
	return out
}

// Notes returns what about an effective policy may surprise its reader.
func (p PolicySpec) Notes() []string {
	var out []string
	c, interval := p.Confirmation, p.Schedule.Interval.D()
	if c.Observations <= 1 && c.GracePeriod == 0 {
		out = append(out, "confirmation: observations 1 and no grace_period confirm drift on a single pass's "+
			"observation (from a stack's second pass on): one blip is reported, and healed where auto_heal allows")
	}
	// A grace_period shorter than schedule.interval is not surprising:
	// a suspected drift brings its next pass forward to when it could be
	// confirmed, so confirmation takes about the grace period, not
	// observations × interval.
	if m := c.MaxUnknown.D(); m > 0 && m < interval {
		out = append(out, fmt.Sprintf("confirmation: max_unknown %s is shorter than schedule.interval %s: a provider "+
			"API unknown at two scheduled passes in a row becomes provider_unreachable", short(m), short(interval)))
	}
	return out
}

// short formats a duration without trailing zero units ("5m", not "5m0s").
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
