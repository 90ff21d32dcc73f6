package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
)

func TestScore(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 9, 7, 0, 0, 0, 0, time.UTC)
	w := world{start: start, end: start.Add(7 * day), stacks: make([]timeline, 2)}
	cert := forecast.Key{Code: drift.ResourceUnhealthy, Component: "cert"}
	hook := forecast.Key{Code: drift.WebhookBroken, Component: "orders"}
	h := func(d time.Duration) time.Time { return start.Add(d) }
	cleared := h(30 * time.Hour)
	r := replayResult{
		onsets: []onset{
			{0, cert, h(48 * time.Hour), famCertificate}, // predicted 24h ahead
			{0, hook, h(10 * time.Hour), famOutage},      // forecast only 10 minutes ahead: late
			{1, hook, h(20 * time.Hour), famHandDeleted}, // no forecast
			{1, cert, h(-time.Hour), famCertificate},     // before the window: not scored
		},
		forecasts: []raised{
			{stack: 0, key: cert, raisedAt: h(24 * time.Hour), eta: h(48 * time.Hour), confidence: 0.9, class: forecast.ClassDated},
			{stack: 0, key: hook, raisedAt: h(10*time.Hour - 10*time.Minute), eta: h(10 * time.Hour), confidence: 0.5, class: forecast.ClassTrend},
			{stack: 1, key: cert, raisedAt: h(24 * time.Hour), eta: h(40 * time.Hour), confidence: 0.6, clearedAt: &cleared}, // faded
			{stack: 1, key: hook, raisedAt: h(6 * day), eta: h(8 * day), confidence: 0.7},                                    // undecided
		},
	}
	s := score(w, r, 15*time.Minute, day)
	require.Len(t, s.onsets, 3)
	require.Equal(t, []string{verdictHit, verdictLate, verdictFalse, verdictUndetermined}, s.verdicts)
	f := s.figuresOf(func(onset) bool { return true }, func(raised) bool { return true })
	require.Equal(t, 3, f.Onsets)
	require.Equal(t, 1, f.Predicted)
	require.InDelta(t, 1.0/3, f.Recall, 1e-9)
	require.InDelta(t, 1.0/3, f.Precision, 1e-9, "one hit of three judged (late counts against)")
	require.Equal(t, 1, f.Undetermined)
	require.Equal(t, 24*time.Hour, f.LeadP50)
	// Brier over judged forecasts: (0.9-1)^2, (0.5-1)^2, (0.6-0)^2.
	require.InDelta(t, (0.01+0.25+0.36)/3, f.Brier, 1e-9)
	require.InDelta(t, 2.0/2, f.FalsePerStackWeek, 1e-9, "a late and a false forecast over 2 stack-weeks")
}

func TestAForecastPredictsOneOnset(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 9, 7, 0, 0, 0, 0, time.UTC)
	w := world{start: start, end: start.Add(7 * day), stacks: make([]timeline, 1)}
	hook := forecast.Key{Code: drift.WebhookBroken, Component: "orders"}
	r := replayResult{
		onsets: []onset{{0, hook, start.Add(4 * time.Hour), famOutage}, {0, hook, start.Add(9 * time.Hour), famOutage}},
		forecasts: []raised{{stack: 0, key: hook, raisedAt: start.Add(time.Hour), eta: start.Add(4 * time.Hour), confidence: 0.8,
			class: forecast.ClassTrend}},
	}
	s := score(w, r, 15*time.Minute, day)
	f := s.figuresOf(func(onset) bool { return true }, func(raised) bool { return true })
	require.Equal(t, 1, f.Predicted, "the second deletion was not forecast on its own")
	require.Equal(t, 3*time.Hour, f.LeadP50)
}

func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	o := genOptions{stacks: 5, weeks: 2, start: time.Date(2026, 9, 7, 0, 0, 0, 0, time.UTC)}
	a, b, c := generate(7, o), generate(7, o), generate(8, o)
	require.Equal(t, a, b)
	require.NotEqual(t, a, c)
	for _, tl := range a.stacks {
		require.NotEmpty(t, tl.certs)
		require.NotEmpty(t, tl.apiVersions)
	}
}

func TestContentOnsets(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 9, 7, 0, 0, 0, 0, time.UTC)
	h := func(d time.Duration) time.Time { return start.Add(d) }
	tl := timeline{content: contentTL{
		publishes: []time.Time{h(time.Hour), h(90 * time.Minute), h(10 * time.Hour), h(20 * time.Hour)},
		builds: []build{
			{start: h(time.Hour), duration: 5 * time.Minute, ok: false},
			{start: h(90 * time.Minute), duration: 5 * time.Minute, ok: false},
			{start: h(4 * time.Hour), duration: 5 * time.Minute, ok: true},   // after the broken builds: 3 h late
			{start: h(10 * time.Hour), duration: 5 * time.Minute, ok: true},  // on time
			{start: h(21 * time.Hour), duration: 10 * time.Minute, ok: true}, // 1 h 10 m: on time
		},
		broken: []interval{{h(time.Hour), h(4 * time.Hour)}},
	}}
	tl.content.onsets(&tl, 0)
	stale := forecast.Key{Code: drift.ContentStale, Component: "post"}
	require.Equal(t, []onset{{0, stale, h(3 * time.Hour), famBroken}}, tl.onsets, "one onset for the wait, none for content published meanwhile")
	require.Equal(t, []time.Time{h(4*time.Hour + 5*time.Minute), h(4*time.Hour + 5*time.Minute), h(10*time.Hour + 5*time.Minute),
		h(21*time.Hour + 10*time.Minute)}, tl.content.deployed)
}

func TestSignalConfirmsOnTwoFailedPasses(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 9, 7, 0, 0, 0, 0, time.UTC)
	eps := []episode{{from: start.Add(time.Hour), end: start.Add(2 * time.Hour), sudden: true, fix: 30 * time.Minute, family: famSudden}}
	var s signal
	var onsets []time.Time
	resolved := 0
	for t0 := start; t0.Before(start.Add(4 * time.Hour)); t0 = t0.Add(5 * time.Minute) {
		_, fam, res := s.step(eps, t0, func(e *episode, level float64) bool { return e != nil && level > 0 })
		if fam != "" {
			require.Equal(t, famSudden, fam)
			onsets = append(onsets, t0)
		}
		if res {
			resolved++
		}
	}
	require.Equal(t, []time.Time{start.Add(65 * time.Minute)}, onsets, "the second failed pass confirms it")
	require.Equal(t, 1, resolved, "fixed after 30 minutes, and the episode is over")
}

func TestGenerateMoreIsDeterministicAndKeepsTheOldFamilies(t *testing.T) {
	t.Parallel()
	o := genOptions{stacks: 4, weeks: 3, start: time.Date(2026, 9, 7, 0, 0, 0, 0, time.UTC)}
	old := generate(3, o)
	o.more = true
	a, b := generate(3, o), generate(3, o)
	require.Equal(t, a, b)
	for i := range a.stacks {
		require.NotEmpty(t, a.stacks[i].content.publishes)
		require.Equal(t, old.stacks[i].certs, a.stacks[i].certs, "the families of the old mix are generated as before")
		require.Equal(t, old.stacks[i].homeDown, a.stacks[i].homeDown)
	}
}
