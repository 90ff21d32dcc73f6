package forecast

import (
	"fmt"
	"slices"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
)

// ContentReading is a stack's content waiting for a deploy and its recent
// builds.
type ContentReading struct {
	// MaxStaleness is how long changed content may wait for a build
	// before it is content_stale (the policy's).
	MaxStaleness time.Duration `json:"max_staleness_ns"`
	// Waiting are the content types changed after the last successful
	// build, each with the oldest such change.
	Waiting map[string]time.Time `json:"waiting,omitempty"`
	// Builds are the recent builds, oldest first.
	Builds []BuildSample `json:"builds,omitempty"`
	// BuildTimeout is when the build service stops a build; zero when
	// unknown.
	BuildTimeout time.Duration `json:"build_timeout_ns,omitempty"`
	// UsualWait is the usual time from a content change to its deploy
	// (the median of the recent ones); zero when unknown.
	UsualWait time.Duration `json:"usual_wait_ns,omitempty"`
}

// BuildSample is one finished build.
type BuildSample struct {
	At       time.Time     `json:"at"`
	Duration time.Duration `json:"duration_ns"`
	OK       bool          `json:"ok"`
}

// contentIndicators are the indicators of content_stale: what one pass
// cannot judge of waiting content, none of them can.
var contentIndicators = []string{IndicatorBuilds, IndicatorBuildTime, IndicatorWaiting}

// content: changed content that waits for a deploy becomes content_stale
// at its change plus MaxStaleness; it is forecast when the builds keep
// failing, when build time trends toward the build timeout, or when it has
// waited much longer than usual. An open forecast is kept while its
// content waits (the precursor holds until a deploy).
func content(r *Reading, o Observation, p Params, open func(Source) bool) {
	c := o.Content
	if c == nil || len(c.Waiting) == 0 {
		return
	}
	streak, bad := failedStreak(c.Builds, o.Now)
	// Open by any content indicator: the precursor of each is content
	// that waits, and an open one is kept (as content_waiting) while it
	// waits.
	openContent := func(k Key) bool {
		return slices.ContainsFunc(contentIndicators, func(ind string) bool { return open(Source{k, ind}) })
	}
	for _, t := range sortedKeys(c.Waiting) {
		since := c.Waiting[t]
		k := Key{drift.ContentStale, t}
		switch {
		case c.MaxStaleness <= 0:
			r.unknownAll(k, contentIndicators, "no max staleness to measure the wait against")
			continue
		case since.After(o.Now.Add(time.Minute)):
			r.unknownAll(k, contentIndicators, "content changed at %s, after now %s (clocks disagree)", since.Format(time.RFC3339), o.Now.Format(time.RFC3339))
			continue
		case bad != "":
			r.unknownAll(k, contentIndicators, "%s", bad)
			continue
		}
		eta := since.Add(c.MaxStaleness)
		if !eta.After(o.Now) {
			continue // stale already: drift now
		}
		if !openContent(k) && o.Now.Sub(since) < time.Duration(p.ContentWaitShare*float64(c.MaxStaleness)) {
			continue // not waited long enough to tell a fix on its way from a lapse
		}
		ind, detail, conf := contentCause(o, p, c, since, eta, streak)
		if ind == "" && openContent(k) {
			ind, detail, conf = IndicatorWaiting, fmt.Sprintf("content changed %s still waits for a deploy", since.Format(time.RFC3339)), 0.6
		}
		if ind == "" {
			continue
		}
		r.Forecasts = append(r.Forecasts, o.forecast(k.Code, k.Component, eta, conf, ClassTrend, Evidence{
			Indicator: ind, Detail: detail,
			Values: map[string]any{"waiting_since": since, "max_staleness_seconds": c.MaxStaleness.Seconds(), "failed_builds": streak},
		}))
	}
}

// contentCause names the first precursor that holds for content waiting
// since: a streak of failed builds, build time reaching the timeout before
// eta, or a wait longer than WaitFactor times the usual one.
func contentCause(o Observation, p Params, c *ContentReading, since, eta time.Time, streak int) (string, string, float64) {
	if streak >= p.BuildFailStreak {
		return IndicatorBuilds, fmt.Sprintf("the last %d builds failed; content changed %s waits for a deploy", streak, since.Format(time.RFC3339)),
			0.6 + 0.3*clamp01(float64(streak-p.BuildFailStreak)/float64(p.BuildFailStreak+1))
	}
	if c.BuildTimeout > 0 {
		pts := make([]point, 0, len(c.Builds))
		for _, b := range c.Builds {
			pts = append(pts, point{b.At, b.Duration.Seconds()})
		}
		// Builds are fewer than probes: their window is four times as
		// long and needs only the fewest points of any trend.
		if l, err := fit(pts, o.Now, 4*p.TrendWindow, minTrendPoints); err == nil {
			if at, ok := l.reach(c.BuildTimeout.Seconds(), o.Now); ok && at.Before(eta) && l.slope > 0 {
				return IndicatorBuildTime, fmt.Sprintf("build time rises %.0fs an hour and reaches the %s timeout by %s",
					l.slope, c.BuildTimeout, at.Format(time.RFC3339)), 0.65
			}
		}
	}
	waited := o.Now.Sub(since)
	if c.UsualWait > 0 && waited > time.Duration(p.WaitFactor*float64(c.UsualWait)) {
		return IndicatorWaiting, fmt.Sprintf("content changed %s has waited %s for a deploy; the usual wait is %s",
			since.Format(time.RFC3339), waited.Round(time.Minute), c.UsualWait.Round(time.Minute)), 0.5 + 0.4*clamp01(waited.Hours()/eta.Sub(since).Hours())
	}
	return "", "", 0
}

// failedStreak counts the builds that failed since the last one that
// succeeded; a build after now or of negative duration is bad input.
func failedStreak(builds []BuildSample, now time.Time) (int, string) {
	n := 0
	for _, b := range builds {
		switch {
		case b.At.After(now.Add(time.Minute)):
			return 0, fmt.Sprintf("a build finished at %s, after now %s (clocks disagree)", b.At.Format(time.RFC3339), now.Format(time.RFC3339))
		case b.Duration < 0:
			return 0, fmt.Sprintf("a build finished at %s has a negative duration", b.At.Format(time.RFC3339))
		case b.OK:
			n = 0
		default:
			n++
		}
	}
	return n, ""
}
