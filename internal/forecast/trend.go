package forecast

import (
	"cmp"
	"fmt"
	"math"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
)

// minTrendPoints is the fewest samples a line is ever fitted to, whatever
// Params say: a trend of three points is noise.
const minTrendPoints = 6

// DefaultProbeLimit is the latency a probe's trend is measured against
// when the resource sets neither max_latency nor timeout (the probe's
// default timeout).
const DefaultProbeLimit = 10 * time.Second

// ProbeSample is one probe of a resource: how long it took and whether it
// failed.
type ProbeSample struct {
	At      time.Time     `json:"at"`
	Latency time.Duration `json:"latency_ns"`
	Failed  bool          `json:"failed"`
}

// point is a sample of a trend: a value at a time.
type point struct {
	at time.Time
	v  float64
}

// line is a least-squares fit of points, v = at(t).
type line struct {
	slope  float64 // per hour
	origin time.Time
	v0     float64 // the value at origin
	n      int
	// lift is how far one more sample of 1 now would lift the line's
	// value now (its leverage there): the step in which a line of 0/1
	// answers moves, the finest share it can tell.
	lift float64
}

func (l line) at(t time.Time) float64 { return l.v0 + l.slope*t.Sub(l.origin).Hours() }

// reach is when the line reaches limit, from now on: now when it is there
// already, false when it never does (flat or going away).
func (l line) reach(limit float64, now time.Time) (time.Time, bool) {
	cur := l.at(now)
	if cur >= limit {
		return now, true
	}
	if !(l.slope > 0) {
		return time.Time{}, false
	}
	hours := (limit - cur) / l.slope
	if hours > 24*365 {
		return time.Time{}, false
	}
	return now.Add(time.Duration(hours * float64(time.Hour))), true
}

// fit fits a line to the points of the last window before now. It refuses
// (with the reason) fewer than minPoints points, points spanning less than
// half the window, points after now (clocks that disagree) and values that
// are not finite.
func fit(pts []point, now time.Time, window time.Duration, minPoints int) (line, error) {
	// One pass, no copy: x is hours since the window's start.
	origin := now.Add(-window)
	var sx, sy, sxx, sxy float64
	var first, last time.Time
	n := 0
	for _, p := range pts {
		if p.at.After(now.Add(time.Minute)) {
			return line{}, fmt.Errorf("a sample at %s is after now %s (clocks disagree)", p.at.Format(time.RFC3339), now.Format(time.RFC3339))
		}
		if math.IsNaN(p.v) || math.IsInf(p.v, 0) {
			return line{}, fmt.Errorf("a sample at %s is not a number", p.at.Format(time.RFC3339))
		}
		if !p.at.After(origin) {
			continue
		}
		if n == 0 {
			first, last = p.at, p.at
		}
		first, last = minTime(first, p.at), maxTime(last, p.at)
		x := p.at.Sub(origin).Hours()
		sx, sy, sxx, sxy, n = sx+x, sy+p.v, sxx+x*x, sxy+x*p.v, n+1
	}
	if n < minPoints {
		return line{}, fmt.Errorf("%d samples in the last %s, a trend needs %d", n, window, minPoints)
	}
	if last.Sub(first) < window/2 {
		return line{}, fmt.Errorf("samples span %s, a trend needs %s", last.Sub(first).Round(time.Minute), window/2)
	}
	fn := float64(n)
	den := fn*sxx - sx*sx
	slope := 0.0
	if den > 0 {
		slope = (fn*sxy - sx*sy) / den
	}
	// One more point at now, x = window: its leverage in the fit of the
	// n+1 points.
	xn, m := window.Hours(), fn+1
	mx := (sx + xn) / m
	lift := 1.0
	if cxx := sxx + xn*xn - m*mx*mx; cxx > 0 {
		lift = min(1/m+(xn-mx)*(xn-mx)/cxx, 1)
	}
	return line{slope: slope, origin: origin, v0: (sy - slope*sx) / fn, n: n, lift: lift}, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// trendCall is one trend indicator's question: does the line of pts reach
// limit soon enough to forecast?
type trendCall struct {
	key       Key
	indicator string
	pts       []point
	limit     float64
	// horizon is the trend's own horizon (zero: Params.TrendHorizon).
	horizon time.Duration
	// share says the points are 0 or 1 (refused or failed, or not), so
	// the line moves in steps of its lift: the limit is at least two
	// steps above zero (one answer alone never reaches it), and a line
	// within one step of its limit reaches it with the next refused
	// answer, whatever its slope.
	share bool
	// what names the measured value in the evidence; unit formats one.
	what string
	unit func(float64) string
}

// judge fits c's line and appends its forecast when the limit is reached
// within the horizon, or for a share when the line is within one step of
// it (twice either for an open forecast: hysteresis). A line that cannot
// be fitted makes the key unknown to c's indicator, with the reason.
func (c trendCall) judge(r *Reading, o Observation, p Params, open func(Source) bool) {
	l, err := fit(c.pts, o.Now, p.TrendWindow, p.TrendMinPoints)
	if err != nil {
		r.unknown(c.key, c.indicator, "%s trend: %v", c.what, err)
		return
	}
	isOpen := open(Source{c.key, c.indicator})
	limit, step := c.limit, 0.0
	if c.share {
		limit, step = min(max(limit, 2*l.lift), 1), l.lift
	}
	horizon := cmp.Or(c.horizon, p.TrendHorizon)
	if isOpen {
		horizon, step = 2*horizon, 2*step
	}
	eta, ok := l.reach(limit, o.Now)
	cur := l.at(o.Now)
	if !ok || !(l.slope > 0) || (eta.Sub(o.Now) > horizon && limit-cur > step) {
		return
	}
	if !eta.After(o.Now) && !isOpen {
		return // at its limit already: drift now (or in a pass), not a forecast
	}
	left := eta.Sub(o.Now)
	// Steadier rises (more points) and closer limits are likelier.
	conf := 0.5 + 0.3*clamp01(1-left.Hours()/horizon.Hours()) + 0.15*clamp01(float64(l.n)/float64(4*p.TrendMinPoints))
	values := map[string]any{"value": cur, "slope_per_hour": l.slope, "limit": limit, "samples": l.n,
		"window_seconds": p.TrendWindow.Seconds()}
	if c.share {
		values["step"] = l.lift
	}
	r.Forecasts = append(r.Forecasts, o.forecast(c.key.Code, c.key.Component, eta, conf, ClassTrend, Evidence{
		Indicator: c.indicator,
		Detail: fmt.Sprintf("%s is %s and rising %s an hour over the last %s; it reaches %s by %s",
			c.what, c.unit(cur), c.unit(l.slope), p.TrendWindow, c.unit(limit), eta.Format(time.RFC3339)),
		Values: values,
	}))
}

// probeTrends: a resource whose probe latency trends toward its limit
// (max_latency, else the probe timeout), or whose share of failed probes
// trends toward ErrorShareLimit, will be confirmed unhealthy.
func probeTrends(r *Reading, o Observation, p Params, open func(Source) bool) {
	for _, name := range sortedKeys(o.Spec.Resources) {
		res := o.Spec.Resources[name]
		samples, ok := o.Probes[name]
		if !ok || res.Probe == config.ProbeTLS {
			continue // the certificate indicator reads tls resources
		}
		k := Key{drift.ResourceUnhealthy, name}
		if obs, seen := o.Resources[name]; seen && obs.Status != drift.StatusHealthy && obs.Status != drift.StatusUnknown {
			// Unhealthy this pass: drift now (or about to be confirmed),
			// not a forecast; an open trend forecast is kept, not
			// cleared by it.
			r.unknownAll(k, []string{IndicatorLatency, IndicatorErrorShare}, "the resource is %s this pass", obs.Status)
			continue
		}
		limit := time.Duration(res.MaxLatency)
		if limit <= 0 {
			limit = time.Duration(res.Timeout)
		}
		if limit <= 0 {
			limit = DefaultProbeLimit
		}
		lat, fails := make([]point, 0, len(samples)), make([]point, 0, len(samples))
		for _, s := range samples {
			fails = append(fails, point{s.At, b2f(s.Failed)})
			if !s.Failed {
				lat = append(lat, point{s.At, s.Latency.Seconds()})
			}
		}
		secs := func(v float64) string { return fmt.Sprintf("%.2fs", v) }
		either(r,
			trendCall{key: k, indicator: IndicatorLatency, pts: lat, limit: limit.Seconds(), what: "probe latency", unit: secs},
			trendCall{key: k, indicator: IndicatorErrorShare, pts: fails, limit: p.ErrorShareLimit, share: true,
				what: "the share of failed probes", unit: share},
			o, p, open)
	}
}

// either judges a, then b when a forecast nothing, and adds the first
// forecast to r. What one trend could not read is unknown to its own
// indicator only: it holds the forecasts that trend raised, and neither
// hides the other's reading nor keeps a forecast the other raised and no
// longer supports.
func either(r *Reading, a, b trendCall, o Observation, p Params, open func(Source) bool) {
	for _, c := range []trendCall{a, b} {
		var rc Reading
		c.judge(&rc, o, p, open)
		if len(rc.Forecasts) > 0 {
			r.Forecasts = append(r.Forecasts, rc.Forecasts[0])
			return
		}
		r.merge(rc)
	}
}

// merge adds what x could not judge to r.
func (r *Reading) merge(x Reading) {
	for s, why := range x.Unknown {
		r.unknown(s.Key, s.Indicator, "%s", why)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func share(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) }
