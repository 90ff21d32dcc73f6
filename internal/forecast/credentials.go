package forecast

import (
	"fmt"
	"net/http"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
)

// CredentialReading is what Blackwell knows of one provider credential.
type CredentialReading struct {
	// ExpiresAt is when the token expires; nil when it does not (or the
	// provider does not say, or the operator declared none: the only feed
	// today is settings.token_expires_at). nil is no precursor, not
	// unknown: a token_expiry forecast clears when its expiry goes away.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Refreshable says Blackwell can refresh the token itself (an OAuth
	// refresh token); RefreshFailures counts the refreshes that failed
	// since the last one that succeeded.
	Refreshable     bool `json:"refreshable,omitempty"`
	RefreshFailures int  `json:"refresh_failures,omitempty"`
	// Statuses are the provider's recent answers to Blackwell, oldest
	// first.
	Statuses []StatusSample `json:"statuses,omitempty"`
	// Err says why the expiry could not be read (a malformed date).
	Err string `json:"err,omitempty"`
}

// StatusSample is one answer of a provider.
type StatusSample struct {
	At     time.Time `json:"at"`
	Status int       `json:"status"`
}

// credentials: a token that expires soon with no refresh that can save it
// (dated), or a share of 401 and 403 answers trending up (trend), is
// provider_unauthorized on the role.
func credentials(r *Reading, o Observation, p Params, open func(Source) bool) {
	for _, role := range sortedKeys(o.Credentials) {
		c := o.Credentials[role]
		k := Key{drift.ProviderUnauthorized, role}
		var dated Reading
		tokenExpiry(&dated, o, p, k, c)
		if len(dated.Forecasts) > 0 {
			r.Forecasts = append(r.Forecasts, dated.Forecasts[0])
			continue
		}
		pts := make([]point, 0, len(c.Statuses))
		for _, s := range c.Statuses {
			pts = append(pts, point{s.At, b2f(s.Status == http.StatusUnauthorized || s.Status == http.StatusForbidden)})
		}
		var trend Reading
		trendCall{key: k, indicator: IndicatorAuthShare, pts: pts, limit: p.AuthShareLimit, horizon: p.AuthHorizon, share: true,
			what: "the share of refused answers (401, 403)", unit: share}.judge(&trend, o, p, open)
		if len(trend.Forecasts) > 0 {
			r.Forecasts = append(r.Forecasts, trend.Forecasts[0])
			continue
		}
		// Each unreadable indicator holds only what it raised.
		r.merge(dated)
		r.merge(trend)
	}
}

// tokenExpiry reads c's expiry: within TokenHorizon, and not refreshable
// or its refreshes failing, it forecasts the day the token stops working.
// No expiry (none declared, or the declaration removed) is no precursor:
// a token expiry forecast raised from an expiry that is no longer there
// clears; a malformed or zero date is unknown and holds it.
func tokenExpiry(r *Reading, o Observation, p Params, k Key, c CredentialReading) {
	switch {
	case c.Err != "":
		r.unknown(k, IndicatorToken, "token expiry: %s", c.Err)
		return
	case c.ExpiresAt == nil:
		return
	case c.ExpiresAt.IsZero():
		r.unknown(k, IndicatorToken, "token expiry: a zero date")
		return
	}
	left := c.ExpiresAt.Sub(o.Now)
	if left <= 0 || left > p.TokenHorizon || (c.Refreshable && c.RefreshFailures == 0) {
		return // expired (drift now), far, or refreshed as usual
	}
	conf := 0.6 + 0.3*clamp01(1-left.Hours()/p.TokenHorizon.Hours())
	if c.RefreshFailures > 0 {
		conf += 0.05
	}
	r.Forecasts = append(r.Forecasts, o.forecast(k.Code, k.Component, *c.ExpiresAt, conf, ClassDated, Evidence{
		Indicator: IndicatorToken,
		Detail: fmt.Sprintf("the %s token expires %s (refreshable: %t, failed refreshes: %d)",
			k.Component, c.ExpiresAt.UTC().Format(time.RFC3339), c.Refreshable, c.RefreshFailures),
		Values: map[string]any{"expires_at": c.ExpiresAt.UTC(), "refreshable": c.Refreshable, "refresh_failures": c.RefreshFailures},
	}))
}
