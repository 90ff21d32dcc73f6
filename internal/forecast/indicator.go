package forecast

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
)

// Facts the indicators rely on, each from the provider's public docs.
const (
	// ShopifySupportWindow: each stable Shopify API version is supported
	// for at least 12 months after its quarterly release (January, April,
	// July, October).
	ShopifySupportWindow = 12 // months
	// ShopifyRetryWindow: Shopify retries a failed webhook delivery 8
	// times over about 4 hours, then deletes a subscription that was
	// created through the Admin API.
	ShopifyRetryWindow = 4 * time.Hour
	// ShopifyAttempts is a delivery's first attempt and its 8 retries.
	ShopifyAttempts = 9
	// ShopifyDefaultAPIVersion is the shopify driver's default
	// api_version (shopify.DefaultAPIVersion; a test keeps them equal,
	// since the store imports this package and the driver the store).
	ShopifyDefaultAPIVersion = "2025-07"
	// DefaultMinDaysValid is the probe's default min_days_valid: a tls
	// probe turns unhealthy that many days before notAfter.
	DefaultMinDaysValid = 14
)

// Params are the thresholds of the indicators. The zero value of a field
// means its default (DefaultParams).
type Params struct {
	// CertificateHorizon: raise a certificate forecast when the probe will
	// call the certificate unhealthy within this.
	CertificateHorizon time.Duration
	// APIVersionHorizon: raise when the pinned Shopify version's end of
	// support is within this.
	APIVersionHorizon time.Duration
	// SunsetHorizon: raise when a provider's announced Sunset is within
	// this.
	SunsetHorizon time.Duration
	// RefusalStreak and RefusalAge: raise a webhook_broken forecast when
	// at least RefusalStreak consecutive deliveries of a subscription were
	// refused over at least RefusalAge (from the first refusal to the
	// last): Shopify deletes a subscription after a delivery failed for
	// about ShopifyRetryWindow, so how long the refusals have lasted says
	// more than how many there were. A negative RefusalAge does not
	// bound it.
	RefusalStreak int
	RefusalAge    time.Duration
	// FlapReturns and FlapWindow: raise when a resolved drift reopened at
	// least FlapReturns times within FlapWindow. An open flapping forecast
	// is kept while the drift reopened at least FlapReturns-1 times
	// (hysteresis).
	FlapReturns int
	FlapWindow  time.Duration
	// TrendWindow, TrendMinPoints and TrendHorizon shape the trend
	// indicators (probe latency and errors, the 401 share, build
	// durations): a line is fitted to the samples of the last TrendWindow
	// (hours, not minutes: short windows are the known source of noise of
	// linear forecasts), only when there are at least TrendMinPoints of
	// them spanning half the window, and a forecast is raised when the
	// line reaches its limit within TrendHorizon. An open one is kept
	// while the line reaches its limit within twice TrendHorizon
	// (hysteresis).
	TrendWindow    time.Duration
	TrendMinPoints int
	TrendHorizon   time.Duration
	// ErrorShareLimit is the share of failed probes at which the trend
	// indicators expect confirmed drift.
	ErrorShareLimit float64
	// AuthShareLimit and AuthHorizon are the unauthorized_share trend's
	// own limit and horizon (its window and points are the trends'): a
	// provider's answers can be many more a pass than a resource's one
	// probe, and its drift is confirmed at its own share.
	AuthShareLimit float64
	AuthHorizon    time.Duration
	// DomainHorizon: raise a domain forecast when the registration
	// expires (RDAP) within this.
	DomainHorizon time.Duration
	// DNSChangeWindow: a changed DNS answer (name servers, CNAME target)
	// whose new authority does not hold the record is a precursor for
	// this long after the change.
	DNSChangeWindow time.Duration
	// DNSWaitShare: raise a dns_change forecast only once this share of
	// the old answer's TTL has passed since the change with the record
	// still missing at the new authority (an open one is kept): a
	// migration's mistake is often fixed before resolvers drop the old
	// answer, and the longer it stays unfixed the likelier it lapses. A
	// negative value raises at the change.
	DNSWaitShare float64
	// TokenHorizon: raise a provider_unauthorized forecast when a token
	// expires within this and no refresh succeeded since.
	TokenHorizon time.Duration
	// BuildFailStreak: raise content_stale on waiting content when at
	// least this many builds in a row failed. WaitFactor: or when it has
	// waited longer than WaitFactor times the usual wait for a deploy.
	BuildFailStreak int
	WaitFactor      float64
	// ContentWaitShare: raise a content_stale forecast (whatever its
	// cause) only once the content has waited this share of the policy's
	// max_staleness (an open one is kept while it waits): builds that
	// fail and lost hooks are often fixed within the hour, and content
	// that waited most of its allowance is likelier to go stale. A
	// negative value does not gate.
	ContentWaitShare float64
}

// DefaultParams are the thresholds used when Params leaves them zero;
// bench/forecast tunes them on one generated set and scores them on
// another (docs/PERFORMANCE.md).
var DefaultParams = Params{
	CertificateHorizon: 3 * 24 * time.Hour,
	APIVersionHorizon:  7 * 24 * time.Hour,
	SunsetHorizon:      7 * 24 * time.Hour,
	RefusalStreak:      2,
	RefusalAge:         195 * time.Minute,
	FlapReturns:        2,
	FlapWindow:         24 * time.Hour,
	TrendWindow:        6 * time.Hour,
	TrendMinPoints:     12,
	TrendHorizon:       2 * time.Hour,
	ErrorShareLimit:    0.35,
	AuthShareLimit:     0.1,
	AuthHorizon:        30 * time.Minute,
	DomainHorizon:      24 * time.Hour,
	DNSChangeWindow:    24 * time.Hour,
	TokenHorizon:       24 * time.Hour,
	DNSWaitShare:       0.7,
	BuildFailStreak:    3,
	WaitFactor:         12,
	ContentWaitShare:   0.8,
}

// withDefaults fills the zero fields of p.
func (p Params) withDefaults() Params {
	d := DefaultParams
	if p.CertificateHorizon <= 0 {
		p.CertificateHorizon = d.CertificateHorizon
	}
	if p.APIVersionHorizon <= 0 {
		p.APIVersionHorizon = d.APIVersionHorizon
	}
	if p.SunsetHorizon <= 0 {
		p.SunsetHorizon = d.SunsetHorizon
	}
	if p.RefusalStreak <= 0 {
		p.RefusalStreak = d.RefusalStreak
	}
	switch {
	case p.RefusalAge == 0:
		p.RefusalAge = d.RefusalAge
	case p.RefusalAge < 0:
		p.RefusalAge = 0
	}
	if p.FlapReturns <= 0 {
		p.FlapReturns = d.FlapReturns
	}
	if p.FlapWindow <= 0 {
		p.FlapWindow = d.FlapWindow
	}
	return p.trendDefaults()
}

// trendDefaults fills the zero fields of the indicators added with the
// trends (kept apart to keep withDefaults short).
func (p Params) trendDefaults() Params {
	d := DefaultParams
	p.TrendWindow = orDur(p.TrendWindow, d.TrendWindow)
	p.TrendHorizon = orDur(p.TrendHorizon, d.TrendHorizon)
	p.DomainHorizon = orDur(p.DomainHorizon, d.DomainHorizon)
	p.DNSChangeWindow = orDur(p.DNSChangeWindow, d.DNSChangeWindow)
	p.TokenHorizon = orDur(p.TokenHorizon, d.TokenHorizon)
	p.DNSWaitShare = orShare(p.DNSWaitShare, d.DNSWaitShare)
	p.ContentWaitShare = orShare(p.ContentWaitShare, d.ContentWaitShare)
	if p.TrendMinPoints < minTrendPoints {
		p.TrendMinPoints = max(d.TrendMinPoints, minTrendPoints)
	}
	if !(p.ErrorShareLimit > 0 && p.ErrorShareLimit <= 1) {
		p.ErrorShareLimit = d.ErrorShareLimit
	}
	if !(p.AuthShareLimit > 0 && p.AuthShareLimit <= 1) {
		p.AuthShareLimit = d.AuthShareLimit
	}
	p.AuthHorizon = orDur(p.AuthHorizon, d.AuthHorizon)
	if p.BuildFailStreak <= 0 {
		p.BuildFailStreak = d.BuildFailStreak
	}
	if !(p.WaitFactor >= 1) {
		p.WaitFactor = d.WaitFactor
	}
	return p
}

// orShare is v when it is a share (0, 1), 0 when negative (no gate), d
// otherwise (zero, or 1 and more: a gate that never opens).
func orShare(v, d float64) float64 {
	switch {
	case v < 0:
		return 0
	case v > 0 && v < 1:
		return v
	}
	return d
}

func orDur(v, d time.Duration) time.Duration {
	if v <= 0 {
		return d
	}
	return v
}

// Notice is what a provider's answer said about its own future: the
// Deprecation (RFC 9745) and Sunset (RFC 8594) headers, and Shopify's
// X-Shopify-API-Deprecated-Reason, as read by ParseNotice.
type Notice struct {
	// Deprecation is when the resource is (or was) deprecated; nil when
	// the header is absent.
	Deprecation *time.Time `json:"deprecation,omitempty"`
	// Sunset is when the resource is expected to stop answering; nil when
	// the header is absent.
	Sunset *time.Time `json:"sunset,omitempty"`
	// Reason is Shopify's X-Shopify-API-Deprecated-Reason (a link).
	Reason string `json:"reason,omitempty"`
	// Seen is when the answer was received.
	Seen time.Time `json:"seen"`
}

// Empty reports whether n says nothing.
func (n Notice) Empty() bool { return n.Deprecation == nil && n.Sunset == nil && n.Reason == "" }

// ParseNotice reads the deprecation headers of a provider's answer. A
// header with a malformed value is an error naming it (the other is still
// read); absent headers give an empty Notice.
//
// RFC 9745 writes Deprecation as a structured-field Date, "@" and unix
// seconds ("@1688169599"); RFC 8594 writes Sunset as an HTTP-date ("Sat,
// 31 Dec 2026 23:59:59 GMT").
func ParseNotice(h http.Header, seen time.Time) (Notice, error) {
	n := Notice{Seen: seen, Reason: clip(strings.TrimSpace(h.Get("X-Shopify-API-Deprecated-Reason")), 200)}
	var errs []string
	if v := strings.TrimSpace(h.Get("Deprecation")); v != "" {
		t, err := parseSFDate(v)
		if err != nil {
			errs = append(errs, "Deprecation: "+err.Error())
		} else {
			n.Deprecation = &t
		}
	}
	if v := strings.TrimSpace(h.Get("Sunset")); v != "" {
		t, err := http.ParseTime(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("Sunset: %q is not an HTTP-date", clip(v, 64)))
		} else {
			t = t.UTC()
			n.Sunset = &t
		}
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("malformed provider notice: %s", strings.Join(errs, "; "))
	}
	return n, nil
}

// parseSFDate reads an RFC 9651 Date item: "@" then an integer of at most
// 15 digits, optionally negative.
func parseSFDate(v string) (time.Time, error) {
	digits, ok := strings.CutPrefix(v, "@")
	num := strings.TrimPrefix(digits, "-")
	if !ok || num == "" || len(num) > 15 || strings.Trim(num, "0123456789") != "" {
		return time.Time{}, fmt.Errorf("%q is not a structured-field date (@unix-seconds)", clip(v, 64))
	}
	secs, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a structured-field date: %v", clip(v, 64), err)
	}
	return time.Unix(secs, 0).UTC(), nil
}

// RefusalStreak is a run of consecutive deliveries of one subscription
// that Blackwell's receiver refused or could not take (a 5xx, a 503 while
// the store was down, a signature refused after a secret rotation), ended
// by the next accepted delivery.
type RefusalStreak struct {
	// Provider is the binding's provider name (shopify).
	Provider string `json:"provider"`
	// Topic is the delivery's topic; empty when the provider did not say.
	Topic string `json:"topic,omitempty"`
	// Count is how many deliveries in a row were refused.
	Count int `json:"count"`
	// First and Last are when the first and the last refusal happened.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// LastStatus is the status Blackwell answered the last one with.
	LastStatus int `json:"last_status"`
}

// Observation is what the indicators read of one stack at one time.
type Observation struct {
	ClientID, StackID string
	Spec              config.StackSpec
	// Resources are the probes' observations of this pass, by name.
	Resources map[string]drift.ResourceObservation
	// Notices are the provider notices seen, by role; an entry with Err
	// set is a notice that did not parse.
	Notices map[string]NoticeReading
	// Refusals are the current refusal streaks of the stack's client.
	Refusals []RefusalStreak
	// Drifts are the stack's drifts, open and resolved, and Returns how
	// often each (by id) reopened within Params.FlapWindow before Now.
	Drifts  []drift.Drift
	Returns map[string]int
	// Probes are each resource's recent probe samples, by name, oldest
	// first (ProbeHistory keeps them from pass to pass).
	Probes map[string][]ProbeSample
	// DNS are each resource's recent DNS answers, by name, oldest first.
	DNS map[string][]DNSAnswer
	// Domains are the registrations (RDAP) of the resources' domains, by
	// resource name.
	Domains map[string]DomainReading
	// Credentials are the providers' credentials, by role.
	Credentials map[string]CredentialReading
	// Content is the stack's waiting content and recent builds; nil when
	// not read.
	Content *ContentReading
	// Leading is the leading environment of the stack's application and
	// its open drifts; nil for a stack of no application, the first
	// environment, or when not read. Open are the stack's own open drifts
	// (a drift this stack shows is drift, not a forecast).
	Leading *Leading
	Open    []drift.Drift
	// Now is the time of the observation.
	Now time.Time
}

// NoticeReading is a notice, or why it could not be read.
type NoticeReading struct {
	Notice Notice
	Err    string
}

// Reading is what the indicators concluded for one stack.
type Reading struct {
	// Forecasts are the drifts the indicators expect; ID, RaisedAt and
	// ClearedAt are left to Track.
	Forecasts []Forecast
	// Unknown are the keys an indicator could not judge this pass, by
	// key and indicator, with the reason: an open forecast of such a key
	// that this indicator raised is kept as it is, since an unknown
	// observation is no evidence either way. It holds nothing another
	// indicator raised (Track).
	Unknown map[Source]string
}

// unknown records that indicator could not judge k this pass.
func (r *Reading) unknown(k Key, indicator, format string, args ...any) {
	if r.Unknown == nil {
		r.Unknown = map[Source]string{}
	}
	r.Unknown[Source{k, indicator}] = fmt.Sprintf(format, args...)
}

// unknownAll records that none of indicators could judge k this pass.
func (r *Reading) unknownAll(k Key, indicators []string, format string, args ...any) {
	for _, ind := range indicators {
		r.unknown(k, ind, format, args...)
	}
}

// Indicate runs every indicator over o. open reports whether a forecast of
// a key raised by an indicator (Forecast.Source) is open now, for the
// hysteresis of the indicators: each keeps its own forecast on a looser
// threshold than it raises one, not another indicator's. nil means none
// is.
func Indicate(o Observation, p Params, open func(Source) bool) Reading {
	p = p.withDefaults()
	if open == nil {
		open = func(Source) bool { return false }
	}
	var r Reading
	certificates(&r, o, p)
	apiVersions(&r, o, p)
	sunsets(&r, o, p)
	refusals(&r, o, p)
	flapping(&r, o, p, open)
	probeTrends(&r, o, p, open)
	domains(&r, o, p)
	dnsChanges(&r, o, p, open)
	credentials(&r, o, p, open)
	content(&r, o, p, open)
	environments(&r, o)
	slices.SortStableFunc(r.Forecasts, func(a, b Forecast) int { return strings.Compare(a.Key().String(), b.Key().String()) })
	return r
}

func (o Observation) forecast(code drift.Code, component string, eta time.Time, conf float64, class Class, ev Evidence) Forecast {
	return Forecast{
		ClientID: o.ClientID, StackID: o.StackID, Code: code, Component: component,
		ETA: eta.UTC(), Confidence: round2(conf), Class: class, Evidence: ev,
	}
}

// certificates: a tls probe reports the leaf's notAfter; the probe calls
// the certificate unhealthy min_days_valid days before it, which is the
// onset of resource_unhealthy.
func certificates(r *Reading, o Observation, p Params) {
	for _, name := range sortedKeys(o.Spec.Resources) {
		res := o.Spec.Resources[name]
		if res.Probe != config.ProbeTLS {
			continue
		}
		k := Key{drift.ResourceUnhealthy, name}
		obs, ok := o.Resources[name]
		switch {
		case !ok || obs.Status == drift.StatusUnknown:
			r.unknown(k, IndicatorCertificate, "certificate not observed this pass")
			continue
		case obs.Status != drift.StatusHealthy:
			// Unhealthy already (expiring, a bad chain, a wrong name):
			// that is drift now, not a forecast.
			continue
		case obs.NotAfter == nil || obs.NotAfter.IsZero():
			// Unhealthy for another reason (no certificate, bad chain):
			// that is drift now, not a forecast.
			r.unknown(k, IndicatorCertificate, "the probe reported no notAfter")
			continue
		}
		minDays := res.MinDaysValid
		if minDays <= 0 {
			minDays = DefaultMinDaysValid
		}
		onset := obs.NotAfter.Add(-time.Duration(minDays) * 24 * time.Hour)
		left := onset.Sub(o.Now)
		if left <= 0 || left > p.CertificateHorizon {
			// Already drift (the probe says so), or not close yet.
			continue
		}
		// The closer the onset without a renewal, the likelier it lapses.
		conf := 0.55 + 0.4*(1-left.Hours()/p.CertificateHorizon.Hours())
		r.Forecasts = append(r.Forecasts, o.forecast(drift.ResourceUnhealthy, name, onset, conf, ClassDated, Evidence{
			Indicator: IndicatorCertificate,
			Detail: fmt.Sprintf("certificate expires %s; the probe wants %d days left, so it turns unhealthy %s",
				obs.NotAfter.UTC().Format(time.DateOnly), minDays, onset.UTC().Format(time.DateOnly)),
			Values: map[string]any{"not_after": obs.NotAfter.UTC(), "min_days_valid": minDays},
		}))
	}
}

// ShopifyEndOfSupport returns when a stable Shopify API version (YYYY-MM,
// a quarterly release: MM is 01, 04, 07 or 10) is no longer guaranteed:
// ShopifySupportWindow months after the first of its release month, UTC.
func ShopifyEndOfSupport(version string) (time.Time, error) {
	y, m, ok := strings.Cut(version, "-")
	year, err1 := strconv.Atoi(y)
	month, err2 := strconv.Atoi(m)
	if !ok || len(y) != 4 || len(m) != 2 || err1 != nil || err2 != nil {
		return time.Time{}, fmt.Errorf("api_version %q is not a stable version (YYYY-MM)", clip(version, 40))
	}
	if month != 1 && month != 4 && month != 7 && month != 10 {
		return time.Time{}, fmt.Errorf("api_version %q is not a quarterly release (month 01, 04, 07 or 10)", version)
	}
	return time.Date(year, time.Month(month)+ShopifySupportWindow, 1, 0, 0, 0, 0, time.UTC), nil
}

// apiVersions: a stack that pins a Shopify api_version whose end of
// support is near will see Shopify answer (and deliver webhooks) in a
// newer version: integration_mismatch on each integration of that role.
func apiVersions(r *Reading, o Observation, p Params) {
	for _, role := range sortedKeys(o.Spec.Providers) {
		b := o.Spec.Providers[role]
		if b.Name != "shopify" {
			continue
		}
		version := b.Settings["api_version"]
		pinned := version != ""
		if !pinned {
			version = ShopifyDefaultAPIVersion
		}
		integrations := integrationsOf(o.Spec, role, "")
		end, err := ShopifyEndOfSupport(version)
		if err != nil {
			for _, name := range integrations {
				r.unknown(Key{drift.IntegrationMismatch, name}, IndicatorAPIVersion, "%v", err)
			}
			continue
		}
		left := end.Sub(o.Now)
		if left <= 0 || left > p.APIVersionHorizon {
			// Past its end the drift is here (or Shopify kept us): not a
			// forecast any more. Far from it: not yet.
			continue
		}
		conf := 0.6 + 0.35*clamp01(1-left.Hours()/p.APIVersionHorizon.Hours())
		for _, name := range integrations {
			r.Forecasts = append(r.Forecasts, o.forecast(drift.IntegrationMismatch, name, end, conf, ClassDated, Evidence{
				Indicator: IndicatorAPIVersion,
				Detail: fmt.Sprintf("Shopify api_version %s is supported until at least %s; after that Shopify answers in a newer version",
					version, end.Format(time.DateOnly)),
				Values: map[string]any{"api_version": version, "pinned": pinned, "end_of_support": end, "role": role},
			}))
		}
	}
}

// sunsets: a provider that announced a Sunset will stop answering as
// Blackwell expects: provider_changed on the role.
func sunsets(r *Reading, o Observation, p Params) {
	for _, role := range sortedKeys(o.Notices) {
		nr := o.Notices[role]
		k := Key{drift.ProviderChanged, role}
		if nr.Err != "" {
			r.unknown(k, IndicatorSunset, "%s", nr.Err)
			continue
		}
		n := nr.Notice
		if n.Sunset == nil {
			continue
		}
		left := n.Sunset.Sub(o.Now)
		if left <= 0 || left > p.SunsetHorizon {
			continue
		}
		values := map[string]any{"sunset": *n.Sunset}
		if n.Deprecation != nil {
			values["deprecation"] = *n.Deprecation
		}
		if n.Reason != "" {
			values["reason"] = n.Reason
		}
		conf := 0.7 + 0.25*clamp01(1-left.Hours()/p.SunsetHorizon.Hours())
		r.Forecasts = append(r.Forecasts, o.forecast(drift.ProviderChanged, role, *n.Sunset, conf, ClassDated, Evidence{
			Indicator: IndicatorSunset,
			Detail:    fmt.Sprintf("the %s provider announced a Sunset of %s", role, n.Sunset.Format(time.RFC3339)),
			Values:    values,
		}))
	}
}

// refusals: Shopify deletes an Admin API subscription whose delivery
// failed all its attempts over ShopifyRetryWindow, which is
// webhook_broken on the integration.
func refusals(r *Reading, o Observation, p Params) {
	for _, s := range o.Refusals {
		if s.Provider != "shopify" {
			continue // only Shopify documents deleting a failing subscription
		}
		for _, role := range rolesOf(o.Spec, s.Provider) {
			for _, name := range integrationsOf(o.Spec, role, s.Topic) {
				k := Key{drift.WebhookBroken, name}
				if s.First.After(o.Now) || s.Last.Before(s.First) {
					r.unknown(k, IndicatorRefusals, "refusal times disagree with the clock (first %s, last %s, now %s)",
						s.First.Format(time.RFC3339), s.Last.Format(time.RFC3339), o.Now.Format(time.RFC3339))
					continue
				}
				age := s.Last.Sub(s.First)
				if s.Count < p.RefusalStreak || age < p.RefusalAge {
					continue
				}
				// The share of Shopify's retry window already failed.
				conf := clamp01(max(float64(s.Count)/ShopifyAttempts, age.Hours()/ShopifyRetryWindow.Hours()))
				r.Forecasts = append(r.Forecasts, o.forecast(drift.WebhookBroken, name, s.First.Add(ShopifyRetryWindow), max(conf, 0.3), ClassTrend, Evidence{
					Indicator: IndicatorRefusals,
					Detail: fmt.Sprintf("%d consecutive %s deliveries refused since %s (last answered %d); Shopify deletes the subscription after its retries fail for about 4 hours",
						s.Count, orAll(s.Topic), s.First.Format(time.RFC3339), s.LastStatus),
					Values: map[string]any{"count": s.Count, "first": s.First, "last": s.Last, "last_status": s.LastStatus, "topic": s.Topic,
						"age_seconds": age.Seconds()},
				}))
			}
		}
	}
}

// flapping: a drift that resolved and reopened again and again will open
// again; its eta is the mean time between its returns.
func flapping(r *Reading, o Observation, p Params, open func(Source) bool) {
	for _, d := range o.Drifts {
		if d.ResolvedAt == nil {
			continue // open: the drift is here, nothing to forecast
		}
		k := Key{d.Code, d.Component}
		n := o.Returns[d.ID]
		need := p.FlapReturns
		if open(Source{k, IndicatorFlapping}) {
			need = max(need-1, 1)
		}
		if n < need {
			continue
		}
		if d.ResolvedAt.After(o.Now) {
			r.unknown(k, IndicatorFlapping, "drift resolved at %s, after now %s", d.ResolvedAt.Format(time.RFC3339), o.Now.Format(time.RFC3339))
			continue
		}
		gap := p.FlapWindow / time.Duration(n)
		eta := d.ResolvedAt.Add(gap)
		if eta.Before(o.Now) {
			eta = o.Now
		}
		conf := float64(n) / float64(n+1)
		r.Forecasts = append(r.Forecasts, o.forecast(d.Code, d.Component, eta, min(conf, 0.9), ClassTrend, Evidence{
			Indicator: IndicatorFlapping,
			Detail:    fmt.Sprintf("%s on %s reopened %d times in %s", d.Code, d.Component, n, p.FlapWindow),
			Values:    map[string]any{"returns": n, "window_seconds": p.FlapWindow.Seconds(), "resolved_at": *d.ResolvedAt},
		}))
	}
}

// rolesOf lists the roles bound to the provider name.
func rolesOf(spec config.StackSpec, name string) []string {
	var out []string
	for _, role := range sortedKeys(spec.Providers) {
		if spec.Providers[role].Name == name {
			out = append(out, role)
		}
	}
	return out
}

// integrationsOf lists the integrations of a role, those holding topic
// when topic is set (an integration that lists no topics holds every one).
func integrationsOf(spec config.StackSpec, role, topic string) []string {
	var out []string
	for _, name := range sortedKeys(spec.Integrations) {
		in := spec.Integrations[name]
		if in.Provider != role {
			continue
		}
		if topic != "" && len(in.Topics) > 0 && !slices.Contains(in.Topics, topic) {
			continue
		}
		out = append(out, name)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func clamp01(v float64) float64 { return math.Max(0, math.Min(1, v)) }

func round2(v float64) float64 { return math.Round(clamp01(v)*100) / 100 }

func orAll(topic string) string {
	if topic == "" {
		return "webhook"
	}
	return topic
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
