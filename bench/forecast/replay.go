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
		specs := map[string]config.StackSpec{}
		var (
			open      []forecast.Forecast
			index     = map[string]int{} // forecast id -> res.forecasts index
			next      int
			streaks   = map[string]*forecast.RefusalStreak{}
			ai        int // next attempt
			homeOpen  bool
			home      = drift.Drift{ID: "home", Code: drift.ResourceUnhealthy, Component: "home"}
			openings  []time.Time
			everOpen  bool
			firstOpen time.Time
		)
		newID := func() string { next++; return fmt.Sprintf("s%d-f%d", si, next) }
		for t := w.start.Add(tl.phase); t.Before(w.end); t = t.Add(interval) {
			res.passes++
			version := tl.apiVersions[0].version
			for _, pv := range tl.apiVersions {
				if !pv.from.After(t) {
					version = pv.version
				}
			}
			spec, ok := specs[version]
			if !ok {
				spec = stackSpec(version)
				specs[version] = spec
			}
			obs := forecast.Observation{ClientID: "bench", StackID: fmt.Sprint(si), Spec: spec, Now: t,
				Resources: map[string]drift.ResourceObservation{}}

			// The certificate in force, as the tls probe reports it.
			c := tl.certs[0]
			for _, x := range tl.certs {
				if !x.from.After(t) {
					c = x
				}
			}
			na := c.notAfter
			st := drift.StatusHealthy
			if na.Sub(t) < 14*day {
				st = drift.StatusUnhealthy
			}
			obs.Resources["cert"] = drift.ResourceObservation{Status: st, NotAfter: &na}

			// The http resource and its drift: opened and resolved by passes.
			down, flap := false, false
			for _, d := range tl.homeDown {
				if d.holds(t) {
					down, flap = true, d.flap
					break
				}
				if d.from.After(t) {
					break
				}
			}
			switch {
			case down && !homeOpen:
				homeOpen = true
				home.ResolvedAt = nil
				fam := famBlip
				if flap {
					fam = famFlapping
				}
				res.onsets = append(res.onsets, onset{si, forecast.Key{Code: drift.ResourceUnhealthy, Component: "home"}, t, fam})
				if !everOpen {
					everOpen, firstOpen = true, t
				}
				openings = append(openings, t)
			case !down && homeOpen:
				homeOpen = false
				at := t
				home.ResolvedAt = &at
			}
			obs.Resources["home"] = drift.ResourceObservation{Status: map[bool]drift.ResourceStatus{true: drift.StatusUnhealthy, false: drift.StatusHealthy}[down]}
			if everOpen {
				returns := 0
				for _, o := range openings {
					if o.After(t.Add(-window)) && !o.Equal(firstOpen) {
						returns++
					}
				}
				obs.Drifts = []drift.Drift{home}
				obs.Returns = map[string]int{"home": returns}
			}

			// The refusal streaks, from the receiver's view of the attempts.
			for ; ai < len(tl.attempts) && !tl.attempts[ai].at.After(t); ai++ {
				a := tl.attempts[ai]
				if !a.refused {
					delete(streaks, a.topic)
					continue
				}
				s := streaks[a.topic]
				if s == nil {
					s = &forecast.RefusalStreak{Provider: "shopify", Topic: a.topic, First: a.at}
					streaks[a.topic] = s
				}
				s.Count++
				s.Last, s.LastStatus = a.at, 503
			}
			for _, tp := range topics {
				if s := streaks[tp.topic]; s != nil {
					obs.Refusals = append(obs.Refusals, *s)
				}
			}

			// The CMS's Sunset header.
			if a := tl.sunset; a != nil && !a.announced.After(t) && (a.migrated.IsZero() || t.Before(a.migrated)) {
				sunset := a.sunset
				obs.Notices = map[string]forecast.NoticeReading{"cms": {Notice: forecast.Notice{Sunset: &sunset, Seen: t}}}
			}

			openKeys := map[forecast.Key]bool{}
			for _, f := range open {
				openKeys[f.Key()] = true
			}
			reading := forecast.Indicate(obs, p, func(k forecast.Key) bool { return openKeys[k] })
			tr := forecast.Track(open, reading, t, newID)
			for _, f := range tr.Raised {
				index[f.ID] = len(res.forecasts)
				res.forecasts = append(res.forecasts, raised{stack: si, key: f.Key(), indicator: f.Evidence.Indicator, class: f.Class,
					raisedAt: t, eta: f.ETA, confidence: f.Confidence})
			}
			for _, f := range tr.Updated {
				res.forecasts[index[f.ID]].eta = f.ETA
			}
			for _, f := range tr.Cleared {
				at := t
				res.forecasts[index[f.ID]].clearedAt = &at
			}
			open = tr.Open()
		}
	}
	return res
}
