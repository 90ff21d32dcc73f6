package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
)

// build is one build of the site: it includes the content published up to
// its start.
type build struct {
	start    time.Time
	duration time.Duration
	ok       bool
}

func (b build) finish() time.Time { return b.start.Add(b.duration) }

// contentTL is a stack's content and builds: content of type "post"
// published as a Poisson stream (1 an hour), each publish triggering a
// build through the deploy hook (coalesced while one runs); builds take
// 3-6 minutes. Broken builds (about once in 3 weeks, log-normal, median
// 40 min) fail; slow episodes (once in 8 weeks) grow build time toward
// (lead: past) the 15-minute timeout; the deploy hook is lost (once in 12
// weeks, 1-8 h) and publishes trigger nothing. Each episode ends with a
// build triggered by hand.
type contentTL struct {
	publishes []time.Time
	builds    []build
	// deployed[i] is when publishes[i] went live (zero: not in the world).
	deployed []time.Time
	broken   []interval
	slow     []episode
	hookLost []interval
}

func poissonTimes(r *rand.Rand, start, end time.Time, every time.Duration) []time.Time {
	var out []time.Time
	for t := start; ; {
		t = t.Add(time.Duration(r.ExpFloat64() * float64(every)))
		if !t.Before(end) {
			return out
		}
		out = append(out, t)
	}
}

// genContent scripts tl.content and its content_stale onsets.
func genContent(r *rand.Rand, tl *timeline, stack int, start, end time.Time) {
	c := &tl.content
	c.publishes = poissonTimes(r, start, end, time.Hour)
	for _, t := range poissonTimes(r, start, end, 21*day) {
		c.broken = append(c.broken, interval{t, t.Add(time.Duration(math.Exp(math.Log(40)+1.2*r.NormFloat64()) * float64(time.Minute)))})
	}
	for _, t := range poissonTimes(r, start, end, 8*7*day) {
		e := episode{from: t, ramp: uniform(r, 12*time.Hour, 72*time.Hour), latency: true, fade: r.Float64() < 0.5, family: famSlow}
		e.peak = 20 // minutes
		e.end = t.Add(e.ramp + uniform(r, 2*time.Hour, 8*time.Hour))
		if e.fade {
			e.peak, e.end = uniform01(r, 9, 13), t.Add(e.ramp*3/2)
		}
		c.slow = append(c.slow, e)
	}
	for _, t := range poissonTimes(r, start, end, 12*7*day) {
		c.hookLost = append(c.hookLost, interval{t, t.Add(uniform(r, time.Hour, 8*time.Hour))})
	}
	var triggers []time.Time
	for _, p := range c.publishes {
		if !anyHolds(c.hookLost, p) {
			triggers = append(triggers, p)
		}
	}
	for _, iv := range slices.Concat(c.broken, c.hookLost) {
		triggers = append(triggers, iv.to)
	}
	for _, e := range c.slow {
		triggers = append(triggers, e.end)
	}
	slices.SortFunc(triggers, func(a, b time.Time) int { return a.Compare(b) })
	busy := time.Time{}
	for _, t := range triggers {
		if n := len(c.builds); n > 0 && !c.builds[n-1].start.Before(t) {
			continue // a queued build, not started yet, will include it
		}
		b := build{start: maxT(t, busy)}
		b.duration, b.ok = c.buildAt(r, b.start)
		c.builds = append(c.builds, b)
		busy = b.finish()
	}
	c.onsets(tl, stack)
}

func maxT(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func anyHolds(ivs []interval, t time.Time) bool {
	return slices.ContainsFunc(ivs, func(iv interval) bool { return iv.holds(t) })
}

// buildAt is the duration and outcome of a build started at t.
func (c *contentTL) buildAt(r *rand.Rand, t time.Time) (time.Duration, bool) {
	d := uniform(r, 3*time.Minute, 6*time.Minute)
	for _, e := range c.slow {
		if l := e.level(t); l > 0 {
			d += time.Duration(l * (e.peak - 4.5) * float64(time.Minute))
		}
	}
	if d >= buildTimeout {
		return buildTimeout, false
	}
	return d, !anyHolds(c.broken, t)
}

// onsets: content published at p waits for the first successful build
// started at or after p; when that one finishes later than p plus
// maxStaleness (or never), content_stale opens then, once per wait.
func (c *contentTL) onsets(tl *timeline, stack int) {
	c.deployed = make([]time.Time, len(c.publishes))
	bi := 0
	var staleUntil time.Time
	for i, p := range c.publishes {
		for bi < len(c.builds) && (c.builds[bi].start.Before(p) || !c.builds[bi].ok) {
			bi++
		}
		var live time.Time
		if bi < len(c.builds) {
			live = c.builds[bi].finish()
		}
		c.deployed[i] = live
		due := p.Add(maxStaleness)
		if (live.IsZero() || live.After(due)) && due.After(staleUntil) {
			tl.onsets = append(tl.onsets, onset{stack, forecast.Key{Code: drift.ContentStale, Component: "post"}, due, c.cause(p, due)})
			staleUntil = live
			if live.IsZero() {
				staleUntil = due.Add(100 * 365 * day)
			}
		}
	}
}

// cause names the episode that kept content published at p waiting until
// due.
func (c *contentTL) cause(p, due time.Time) string {
	overlaps := func(iv interval) bool { return iv.from.Before(due) && iv.to.After(p) }
	switch {
	case slices.ContainsFunc(c.hookLost, overlaps):
		return famHookLost
	case slices.ContainsFunc(c.broken, overlaps):
		return famBroken
	default:
		return famSlow
	}
}
