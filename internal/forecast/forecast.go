// Package forecast holds predictive drift: a Forecast says that drift of a
// taxonomy code on a component is expected by a time, from a leading
// indicator Blackwell already sees or can cheaply read (a certificate's
// notAfter, a pinned API version's end of support, a provider's
// Deprecation or Sunset header, a streak of refused webhook deliveries, a
// drift that keeps reopening, probe latency or errors trending toward
// their limit over hours, a domain's RDAP expiration, a DNS delegation or
// CNAME that moved to an authority without the record, a token about to
// expire or a rising share of refused answers, failed or slowing builds
// and content waiting longer than usual for a deploy).
//
// The indicators are pure functions of an observation and a time passed in;
// Track merges what they found into a stack's open forecasts with
// hysteresis (a forecast is raised once, kept while its indicator holds,
// cleared when the indicator goes away, and kept unchanged while the
// indicator could not be read). The Evaluator runs both after a reconcile
// pass and writes the outcome to the store with audit entries.
package forecast

import (
	"fmt"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
)

// The audit actions of forecasts: the evaluator writes them (every
// change Track makes), the notification feed reads them.
const (
	AuditRaised  = "forecast_raised"
	AuditUpdated = "forecast_updated"
	AuditCleared = "forecast_cleared"
)

// Class says how a forecast's eta was found.
type Class string

// The classes.
const (
	// ClassDated: the eta is a date the indicator read (a certificate's
	// notAfter, an announced sunset, a version's end of support).
	ClassDated Class = "dated"
	// ClassTrend: the eta is extrapolated from a pattern (a streak of
	// failures, a drift that reopens).
	ClassTrend Class = "trend"
)

// Valid reports whether c is one of the classes.
func (c Class) Valid() bool { return c == ClassDated || c == ClassTrend }

// The indicators, named in Evidence.Indicator.
const (
	IndicatorCertificate = "tls_certificate"
	IndicatorAPIVersion  = "shopify_api_version"
	IndicatorSunset      = "provider_sunset"
	IndicatorRefusals    = "webhook_refusals"
	IndicatorFlapping    = "flapping"
	IndicatorLatency     = "probe_latency"
	IndicatorErrorShare  = "probe_errors"
	IndicatorDomain      = "domain_expiry"
	IndicatorDNS         = "dns_change"
	IndicatorToken       = "token_expiry"
	IndicatorAuthShare   = "unauthorized_share"
	IndicatorBuilds      = "failed_builds"
	IndicatorBuildTime   = "build_duration"
	IndicatorWaiting     = "content_waiting"
)

// Evidence is why a forecast was raised.
type Evidence struct {
	// Indicator names the leading indicator (Indicator* constants).
	Indicator string `json:"indicator"`
	// Detail says what was seen, for people.
	Detail string `json:"detail"`
	// Values are the numbers and dates behind Detail.
	Values map[string]any `json:"values,omitempty"`
}

// Forecast is "drift Code on Component of a stack is expected by ETA".
type Forecast struct {
	ID        string     `json:"id"`
	ClientID  string     `json:"client_id"`
	StackID   string     `json:"stack_id"`
	Code      drift.Code `json:"code"`
	Component string     `json:"component"`
	ETA       time.Time  `json:"eta"`
	// Confidence is the probability, 0..1, that the drift happens by ETA
	// if nobody acts.
	Confidence float64    `json:"confidence"`
	Class      Class      `json:"class"`
	Evidence   Evidence   `json:"evidence"`
	RaisedAt   time.Time  `json:"raised_at"`
	ClearedAt  *time.Time `json:"cleared_at"`
}

// Key is what makes a forecast the same forecast across passes: a stack
// holds at most one open forecast per code and component.
type Key struct {
	Code      drift.Code
	Component string
}

// Key returns f's key.
func (f Forecast) Key() Key { return Key{f.Code, f.Component} }

// String is "code/component".
func (k Key) String() string { return string(k.Code) + "/" + k.Component }

// Source is a key as one indicator reads it. Several indicators can aim
// at the same key (a certificate, a latency trend and flapping at
// resource_unhealthy on one resource); what one of them reads (a
// precursor, none, or unknown) speaks for the forecasts it raised, not
// for those another one raised.
type Source struct {
	Key       Key
	Indicator string
}

// Source returns f's key and the indicator of its evidence (the one that
// raised it, or the one it was last handed to: Track).
func (f Forecast) Source() Source { return Source{f.Key(), f.Evidence.Indicator} }

// String is "code/component (indicator)".
func (s Source) String() string { return s.Key.String() + " (" + s.Indicator + ")" }

// Check reports what makes f unfit to store: a missing client, stack or
// component, a code outside the taxonomy, a class other than dated or
// trend, a confidence outside 0..1, a zero ETA or RaisedAt.
func Check(f Forecast) error {
	switch {
	case f.ClientID == "" || f.StackID == "":
		return fmt.Errorf("forecast %s: client and stack are required", f.Key())
	case f.Component == "":
		return fmt.Errorf("forecast %s: component is required", f.Key())
	case !f.Code.Valid():
		return fmt.Errorf("forecast %s: unknown drift code %q", f.Key(), f.Code)
	case !f.Class.Valid():
		return fmt.Errorf("forecast %s: class %q is not dated or trend", f.Key(), f.Class)
	case !(f.Confidence >= 0 && f.Confidence <= 1):
		return fmt.Errorf("forecast %s: confidence %v is outside 0..1", f.Key(), f.Confidence)
	case f.ETA.IsZero() || f.RaisedAt.IsZero():
		return fmt.Errorf("forecast %s: eta and raised_at are required", f.Key())
	}
	return nil
}

// LeadTime is how long before its ETA f was raised (0 when raised after).
func (f Forecast) LeadTime() time.Duration { return max(f.ETA.Sub(f.RaisedAt), 0) }
