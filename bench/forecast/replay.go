package main

import (
	"fmt"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
)

// raised is one forecast as the replay saw it live.
type raised struct {
	stack      int
	key        forecast.Key
	indicator  string
	class      forecast.Class
	raisedAt   time.Time
	eta        time.Time
	confidence float64 // at its raise
	clearedAt  *time.Time
}

// replayResult is what one replay of a world produced.
type replayResult struct {
	forecasts []raised
	// onsets are the world's scripted onsets plus those the passes saw of
	// the "home" resource (flapping and one-off failures).
	onsets []onset
	passes int
}

// stackSpec is the composition every generated stack declares.
func stackSpec(version string) config.StackSpec {
	return config.StackSpec{
		Providers: map[string]config.ProviderBinding{
			"ecommerce": {Name: "shopify", Settings: map[string]string{"shop": "bench", "api_version": version}},
			"cms":       {Name: "sanity"},
		},
		Integrations: map[string]config.Integration{
			"orders":   {Provider: "ecommerce", Topics: []string{"orders/create"}},
			"products": {Provider: "ecommerce", Topics: []string{"products/update"}},
		},
		Resources: map[string]config.Resource{
			"cert": {Probe: config.ProbeTLS, Address: "site.example:443", MinDaysValid: 14},
			"home": {Probe: config.ProbeHTTP, URL: "https://site.example/"},
			"api":  {Probe: config.ProbeHTTP, URL: "https://api.site.example/", MaxLatency: config.Duration(apiLimit)},
		},
	}
}

// replay runs every stack's scheduled passes over the world (shadow mode:
// forecasts change nothing), feeding what a pass would observe to the
// same pure core as the reconcile hook: forecast.Indicate, then
// forecast.Track against the forecasts open so far.
func replay(w world, p forecast.Params, interval time.Duration) replayResult {
	var res replayResult
	window := p.FlapWindow
	if window <= 0 {
		window = forecast.DefaultParams.FlapWindow
	}
	for si, tl := range w.stacks {
		res.onsets = append(res.onsets, tl.onsets...)
		sr := &stackReplay{si: si, tl: tl, window: window, res: &res,
			specs: map[string]config.StackSpec{}, index: map[string]int{}, streaks: map[string]*forecast.RefusalStreak{},
			home: drift.Drift{ID: "home", Code: drift.ResourceUnhealthy, Component: "home"}, more: &moreState{}}
		for t := w.start.Add(tl.phase); t.Before(w.end); t = t.Add(interval) {
			res.passes++
			sr.pass(t, p)
		}
	}
	return res
}

// stackReplay is one stack's replay: what its passes carry from one to
// the next.
type stackReplay struct {
	si     int
	tl     timeline
	window time.Duration // the flap window
	res    *replayResult

	specs   map[string]config.StackSpec // by API version
	open    []forecast.Forecast
	index   map[string]int // forecast id -> res.forecasts index
	next    int
	streaks map[string]*forecast.RefusalStreak
	ai      int // next attempt
	more    *moreState
	// The "home" resource's drift, opened and resolved by passes.
	homeOpen  bool
	home      drift.Drift
	openings  []time.Time
	everOpen  bool
	firstOpen time.Time
}

// pass is the stack's pass at t: what it observes, read by the forecast
// core, and the forecasts raised, updated and cleared.
func (sr *stackReplay) pass(t time.Time, p forecast.Params) {
	obs := forecast.Observation{ClientID: "bench", StackID: fmt.Sprint(sr.si), Spec: sr.spec(t), Now: t,
		Resources: map[string]drift.ResourceObservation{"cert": sr.cert(t)}}
	sr.observeHome(t, &obs)
	if sr.tl.content.publishes != nil {
		sr.observeMore(t, &obs)
	}
	obs.Refusals = sr.refusals(t)
	// The CMS's Sunset header.
	if a := sr.tl.sunset; a != nil && !a.announced.After(t) && (a.migrated.IsZero() || t.Before(a.migrated)) {
		sunset := a.sunset
		obs.Notices = map[string]forecast.NoticeReading{"cms": {Notice: forecast.Notice{Sunset: &sunset, Seen: t}}}
	}
	sr.track(t, obs, p)
}

// spec is the stack's composition at t: the Shopify API version pinned
// then.
func (sr *stackReplay) spec(t time.Time) config.StackSpec {
	version := sr.tl.apiVersions[0].version
	for _, pv := range sr.tl.apiVersions {
		if !pv.from.After(t) {
			version = pv.version
		}
	}
	spec, ok := sr.specs[version]
	if !ok {
		spec = stackSpec(version)
		sr.specs[version] = spec
	}
	return spec
}

// cert is the certificate in force at t, as the tls probe reports it.
func (sr *stackReplay) cert(t time.Time) drift.ResourceObservation {
	c := sr.tl.certs[0]
	for _, x := range sr.tl.certs {
		if !x.from.After(t) {
			c = x
		}
	}
	na := c.notAfter
	st := drift.StatusHealthy
	if na.Sub(t) < 14*day {
		st = drift.StatusUnhealthy
	}
	return drift.ResourceObservation{Status: st, NotAfter: &na}
}

// observeHome adds the http resource to obs, and its drift, opened and
// resolved by passes, with the times it came back within the flap window.
func (sr *stackReplay) observeHome(t time.Time, obs *forecast.Observation) {
	down, flap := false, false
	for _, d := range sr.tl.homeDown {
		if d.holds(t) {
			down, flap = true, d.flap
			break
		}
		if d.from.After(t) {
			break
		}
	}
	switch {
	case down && !sr.homeOpen:
		sr.homeOpen = true
		sr.home.ResolvedAt = nil
		fam := famBlip
		if flap {
			fam = famFlapping
		}
		sr.res.onsets = append(sr.res.onsets, onset{sr.si, forecast.Key{Code: drift.ResourceUnhealthy, Component: "home"}, t, fam})
		if !sr.everOpen {
			sr.everOpen, sr.firstOpen = true, t
		}
		sr.openings = append(sr.openings, t)
	case !down && sr.homeOpen:
		sr.homeOpen = false
		at := t
		sr.home.ResolvedAt = &at
	}
	obs.Resources["home"] = drift.ResourceObservation{Status: map[bool]drift.ResourceStatus{true: drift.StatusUnhealthy, false: drift.StatusHealthy}[down]}
	if sr.everOpen {
		returns := 0
		for _, o := range sr.openings {
			if o.After(t.Add(-sr.window)) && !o.Equal(sr.firstOpen) {
				returns++
			}
		}
		obs.Drifts = []drift.Drift{sr.home}
		obs.Returns = map[string]int{"home": returns}
	}
}

// refusals are the refusal streaks at t, from the receiver's view of the
// attempts.
func (sr *stackReplay) refusals(t time.Time) []forecast.RefusalStreak {
	for ; sr.ai < len(sr.tl.attempts) && !sr.tl.attempts[sr.ai].at.After(t); sr.ai++ {
		a := sr.tl.attempts[sr.ai]
		if a.recreated {
			// Shopify counts the new subscription's failures from zero
			// (forecast.RefusalLog.Recreated).
			if s := sr.streaks[a.topic]; s != nil && !s.Last.After(a.at) {
				delete(sr.streaks, a.topic)
			}
			continue
		}
		if !a.refused {
			delete(sr.streaks, a.topic)
			continue
		}
		s := sr.streaks[a.topic]
		if s == nil {
			s = &forecast.RefusalStreak{Provider: "shopify", Topic: a.topic, First: a.at}
			sr.streaks[a.topic] = s
		}
		s.Count++
		s.Last, s.LastStatus = a.at, 503
	}
	var out []forecast.RefusalStreak
	for _, tp := range topics {
		if s := sr.streaks[tp.topic]; s != nil {
			out = append(out, *s)
		}
	}
	return out
}

// track reads obs with the forecast core and records the forecasts it
// raises, updates and clears.
func (sr *stackReplay) track(t time.Time, obs forecast.Observation, p forecast.Params) {
	openSources := map[forecast.Source]bool{}
	for _, f := range sr.open {
		openSources[f.Source()] = true
	}
	newID := func() string { sr.next++; return fmt.Sprintf("s%d-f%d", sr.si, sr.next) }
	reading := forecast.Indicate(obs, p, func(s forecast.Source) bool { return openSources[s] })
	tr := forecast.Track(sr.open, reading, t, newID)
	res := sr.res
	for _, f := range tr.Raised {
		sr.index[f.ID] = len(res.forecasts)
		res.forecasts = append(res.forecasts, raised{stack: sr.si, key: f.Key(), indicator: f.Evidence.Indicator, class: f.Class,
			raisedAt: t, eta: f.ETA, confidence: f.Confidence})
	}
	for _, f := range tr.Updated {
		res.forecasts[sr.index[f.ID]].eta = f.ETA
	}
	for _, f := range tr.Cleared {
		at := t
		res.forecasts[sr.index[f.ID]].clearedAt = &at
	}
	sr.open = tr.Open()
}
