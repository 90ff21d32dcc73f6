package drift_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
)

// found is one drift as Compare returns it, detected at the given time.
func found(code drift.Code, component string, at time.Time) drift.Drift {
	cl, _ := drift.Classify(code)
	return drift.Drift{
		ID:         drift.ID(client, stack, cl.Type, component),
		ClientID:   client,
		StackID:    stack,
		Code:       code,
		Type:       cl.Type,
		Component:  component,
		Expected:   "healthy",
		Observed:   string(code),
		Severity:   cl.Severity,
		DetectedAt: at,
	}
}

// known marks found drifts authoritative.
func known(ds []drift.Drift) []drift.Drift {
	for i := range ds {
		ds[i].Authoritative = true
	}
	return ds
}

// passes runs Track once per step, feeding each pass's Open into the next,
// and returns every pass's result.
func passes(t *testing.T, rule drift.Rule, steps ...[]drift.Drift) []drift.Tracked {
	t.Helper()
	var open []drift.Drift
	var out []drift.Tracked
	for i, f := range steps {
		now := testNow.Add(time.Duration(i) * 5 * time.Minute)
		tr := drift.Track(open, f, nil, now, rule)
		out = append(out, tr)
		open = tr.Open
	}
	return out
}

func ids(ds []drift.Drift) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func TestTrackConfirmation(t *testing.T) {
	t.Parallel()
	at := func(i int) time.Time { return testNow.Add(time.Duration(i) * 5 * time.Minute) }
	high := func(i int) []drift.Drift { return []drift.Drift{found(drift.ResourceUnhealthy, "site", at(i))} }
	crit := func(i int) []drift.Drift { return []drift.Drift{found(drift.ProviderMissing, "cms", at(i))} }

	tests := []struct {
		name  string
		rule  drift.Rule
		steps [][]drift.Drift
		// confirmed and newly say, per pass, whether the single drift is
		// confirmed and whether it is in NewlyConfirmed.
		confirmed []bool
		newly     []bool
	}{
		{
			name:      "two observations",
			rule:      drift.Rule{Observations: 2},
			steps:     [][]drift.Drift{high(0), high(1), high(2)},
			confirmed: []bool{false, true, true},
			newly:     []bool{false, true, false},
		},
		{
			name:      "zero observations is one",
			rule:      drift.Rule{Observations: 0},
			steps:     [][]drift.Drift{high(0), high(1)},
			confirmed: []bool{true, true},
			newly:     []bool{true, false},
		},
		{
			name:      "negative observations is one",
			rule:      drift.Rule{Observations: -3},
			steps:     [][]drift.Drift{high(0)},
			confirmed: []bool{true},
			newly:     []bool{true},
		},
		{
			name:      "grace period alone does not confirm: observations and grace period",
			rule:      drift.Rule{Observations: 10, GracePeriod: 10 * time.Minute},
			steps:     [][]drift.Drift{high(0), high(1), high(2), high(3)},
			confirmed: []bool{false, false, false, false},
			newly:     []bool{false, false, false, false},
		},
		{
			name:      "observations alone do not confirm before the grace period",
			rule:      drift.Rule{Observations: 2, GracePeriod: time.Hour},
			steps:     [][]drift.Drift{high(0), high(1), high(2)},
			confirmed: []bool{false, false, false},
			newly:     []bool{false, false, false},
		},
		{
			name:      "confirmed once both hold",
			rule:      drift.Rule{Observations: 2, GracePeriod: 7 * time.Minute},
			steps:     [][]drift.Drift{high(0), high(1), high(2), high(3)},
			confirmed: []bool{false, false, true, true},
			newly:     []bool{false, false, true, false},
		},
		{
			name:      "grace period reached before the observations",
			rule:      drift.Rule{Observations: 3, GracePeriod: time.Minute},
			steps:     [][]drift.Drift{high(0), high(1), high(2)},
			confirmed: []bool{false, false, true},
			newly:     []bool{false, false, true},
		},
		{
			name:      "authoritative critical immediate",
			rule:      drift.Rule{Observations: 3, GracePeriod: time.Hour, CriticalImmediate: true},
			steps:     [][]drift.Drift{known(crit(0)), known(crit(1))},
			confirmed: []bool{true, true},
			newly:     []bool{true, false},
		},
		{
			name:      "inferred critical is confirmed like any drift",
			rule:      drift.Rule{Observations: 3, CriticalImmediate: true},
			steps:     [][]drift.Drift{crit(0), crit(1), crit(2)},
			confirmed: []bool{false, false, true},
			newly:     []bool{false, false, true},
		},
		{
			name:      "critical not immediate",
			rule:      drift.Rule{Observations: 3},
			steps:     [][]drift.Drift{known(crit(0)), known(crit(1)), known(crit(2))},
			confirmed: []bool{false, false, true},
			newly:     []bool{false, false, true},
		},
		{
			name:      "critical immediate does not apply to high, authoritative or not",
			rule:      drift.Rule{Observations: 2, CriticalImmediate: true},
			steps:     [][]drift.Drift{known(high(0)), known(high(1))},
			confirmed: []bool{false, true},
			newly:     []bool{false, true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := passes(t, tt.rule, tt.steps...)
			for i, tr := range res {
				require.Len(t, tr.Open, 1, "pass %d", i)
				d := tr.Open[0]
				require.Equal(t, tt.confirmed[i], d.Confirmed, "pass %d confirmed", i)
				require.Equal(t, i+1, d.Observations, "pass %d observations", i)
				require.Equal(t, testNow, d.FirstSeen, "pass %d first seen", i)
				require.Equal(t, testNow, d.DetectedAt, "pass %d detected at", i)
				require.Equal(t, at(i), d.LastSeen, "pass %d last seen", i)
				require.Empty(t, tr.Resolved, "pass %d", i)
				if tt.newly[i] {
					require.Equal(t, []drift.Drift{d}, tr.NewlyConfirmed, "pass %d", i)
				} else {
					require.Empty(t, tr.NewlyConfirmed, "pass %d", i)
				}
			}
		})
	}
}

func TestTrackResolution(t *testing.T) {
	t.Parallel()
	rule := drift.Rule{Observations: 1}
	a := found(drift.ResourceUnhealthy, "site", testNow)
	b := found(drift.WebhookBroken, "products", testNow)
	c := found(drift.ContentStale, "post", testNow)

	first := drift.Track(nil, []drift.Drift{b, a, c}, nil, testNow, rule)
	require.Equal(t, ids([]drift.Drift{b, a, c}), ids(first.Open), "Open keeps the order of found")

	later := testNow.Add(5 * time.Minute)
	second := drift.Track(first.Open, []drift.Drift{a}, nil, later, rule)
	require.Equal(t, ids([]drift.Drift{a}), ids(second.Open))
	require.Equal(t, ids([]drift.Drift{b, c}), ids(second.Resolved), "sorted by code order")
	for _, r := range second.Resolved {
		require.NotNil(t, r.ResolvedAt)
		require.Equal(t, later, *r.ResolvedAt)
		require.Equal(t, testNow, r.LastSeen, "a resolved drift was last seen when it was last found")
		require.True(t, r.Confirmed)
	}
	require.NotSame(t, second.Resolved[0].ResolvedAt, second.Resolved[1].ResolvedAt)
	require.Empty(t, second.NewlyConfirmed)

	// A resolved drift passed back in as open is ignored.
	third := drift.Track(append(second.Open, second.Resolved...), nil, nil, later.Add(time.Minute), rule)
	require.Empty(t, third.Open)
	require.Equal(t, ids([]drift.Drift{a}), ids(third.Resolved))

	// A drift that comes back after resolution starts over.
	fourth := drift.Track(third.Open, []drift.Drift{b}, nil, later.Add(2*time.Minute), drift.Rule{Observations: 2})
	require.Len(t, fourth.Open, 1)
	require.Equal(t, 1, fourth.Open[0].Observations)
	require.False(t, fourth.Open[0].Confirmed)
	require.Equal(t, later.Add(2*time.Minute), fourth.Open[0].FirstSeen)
}

func TestTrackCarriesLifecycle(t *testing.T) {
	t.Parallel()
	rule := drift.Rule{Observations: 5}
	first := testNow.Add(-time.Hour)
	open := found(drift.ResourceUnhealthy, "site", first)
	open.FirstSeen = first
	open.LastSeen = testNow.Add(-5 * time.Minute)
	open.DetectedAt = first
	open.Observations = 7
	open.Confirmed = true
	open.Acknowledged = true
	open.AcknowledgedBy = "ops@acme.example"

	tests := []struct {
		name  string
		found drift.Drift
	}{
		{name: "same code", found: found(drift.ResourceUnhealthy, "site", testNow)},
		{name: "code changes, same drift", found: found(drift.ResourceMissing, "site", testNow)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := tt.found
			f.Expected = "present"
			f.Observed = "no such host"
			f.Cause = "ssg"
			require.Equal(t, open.ID, f.ID)

			tr := drift.Track([]drift.Drift{open}, []drift.Drift{f}, nil, testNow, rule)
			require.Empty(t, tr.Resolved)
			require.Empty(t, tr.NewlyConfirmed, "already confirmed")
			require.Len(t, tr.Open, 1)
			got := tr.Open[0]
			require.Equal(t, open.ID, got.ID)
			require.Equal(t, f.Code, got.Code)
			require.Equal(t, f.Severity, got.Severity)
			require.Equal(t, "present", got.Expected)
			require.Equal(t, "no such host", got.Observed)
			require.Equal(t, "ssg", got.Cause)
			require.Equal(t, first, got.FirstSeen)
			require.Equal(t, first, got.DetectedAt)
			require.Equal(t, testNow, got.LastSeen)
			require.Equal(t, 8, got.Observations)
			require.True(t, got.Confirmed)
			require.True(t, got.Acknowledged)
			require.Equal(t, "ops@acme.example", got.AcknowledgedBy)
			require.Nil(t, got.ResolvedAt)
		})
	}
}

func TestTrackNewDriftIgnoresLifecycleOfFound(t *testing.T) {
	t.Parallel()
	f := found(drift.ContentStale, "post", testNow.Add(-time.Hour))
	f.Acknowledged = true
	f.Confirmed = true
	f.Observations = 9
	tr := drift.Track(nil, []drift.Drift{f}, nil, testNow, drift.Rule{Observations: 2})
	require.Len(t, tr.Open, 1)
	got := tr.Open[0]
	require.False(t, got.Confirmed)
	require.False(t, got.Acknowledged)
	require.Equal(t, 1, got.Observations)
	require.Equal(t, testNow, got.FirstSeen)
	require.Equal(t, testNow, got.LastSeen)
	require.Equal(t, testNow, got.DetectedAt)
}

func TestHighestAndConfirmed(t *testing.T) {
	t.Parallel()
	mk := func(code drift.Code, component string, confirmed bool) drift.Drift {
		d := found(code, component, testNow)
		d.Confirmed = confirmed
		return d
	}
	resolved := mk(drift.ProviderMissing, "cms", true)
	resolved.ResolvedAt = &testNow

	tests := []struct {
		name      string
		ds        []drift.Drift
		highest   drift.Severity
		confirmed []drift.Drift
	}{
		{name: "none"},
		{
			name:    "unconfirmed only",
			ds:      []drift.Drift{mk(drift.ProviderMissing, "cms", false)},
			highest: "",
		},
		{
			name: "highest confirmed wins over a higher unconfirmed",
			ds: []drift.Drift{
				mk(drift.ContentStale, "post", true),
				mk(drift.ProviderChanged, "cms", false),
				mk(drift.ResourceMissing, "site", true),
				mk(drift.ConfigPending, "desired_state", true),
			},
			highest: drift.SeverityHigh,
			confirmed: []drift.Drift{
				mk(drift.ContentStale, "post", true),
				mk(drift.ResourceMissing, "site", true),
				mk(drift.ConfigPending, "desired_state", true),
			},
		},
		{
			name:      "resolved drifts do not count",
			ds:        []drift.Drift{resolved, mk(drift.ConfigPending, "desired_state", true)},
			highest:   drift.SeverityLow,
			confirmed: []drift.Drift{mk(drift.ConfigPending, "desired_state", true)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.highest, drift.Highest(tt.ds))
			require.Equal(t, tt.confirmed, drift.Confirmed(tt.ds))
		})
	}
}

func TestTrackWithCompare(t *testing.T) {
	t.Parallel()
	in := setup(t)
	in.Observed.Resources["site"] = drift.ResourceObservation{Status: drift.StatusUnhealthy}
	rule := drift.Rule{Observations: 2, CriticalImmediate: true}

	tr := drift.Track(nil, drift.Compare(in), nil, in.Now, rule)
	require.Len(t, tr.Open, 1)
	require.Empty(t, tr.NewlyConfirmed)

	in.Now = in.Now.Add(5 * time.Minute)
	in.Observed.Resources["site"] = drift.ResourceObservation{Status: drift.StatusMissing}
	tr = drift.Track(tr.Open, drift.Compare(in), nil, in.Now, rule)
	require.Len(t, tr.Open, 1)
	require.Equal(t, drift.ResourceMissing, tr.Open[0].Code)
	require.Equal(t, 2, tr.Open[0].Observations)
	require.Equal(t, ids(tr.Open), ids(tr.NewlyConfirmed))
	require.Equal(t, drift.SeverityHigh, drift.Highest(tr.Open))

	in.Now = in.Now.Add(5 * time.Minute)
	in.Observed.Resources["site"] = drift.ResourceObservation{Status: drift.StatusHealthy}
	tr = drift.Track(tr.Open, drift.Compare(in), nil, in.Now, rule)
	require.Empty(t, tr.Open)
	require.Len(t, tr.Resolved, 1)
	require.Equal(t, drift.Severity(""), drift.Highest(tr.Open))
}

func TestTrackDuplicateIDs(t *testing.T) {
	t.Parallel()
	a := found(drift.ResourceUnhealthy, "site", testNow)
	old := a
	old.Observations = 1
	old.FirstSeen = testNow.Add(-time.Minute)
	second := old
	second.Observations = 40
	tr := drift.Track([]drift.Drift{old, second}, []drift.Drift{a, found(drift.ResourceMissing, "site", testNow)}, nil, testNow, drift.Rule{Observations: 3})
	require.Len(t, tr.Open, 1, "one drift per ID")
	require.Equal(t, drift.ResourceUnhealthy, tr.Open[0].Code, "the first found wins")
	require.Equal(t, 2, tr.Open[0].Observations, "the first open wins")
	require.Empty(t, tr.Resolved)
}

// TestTrackStartupBurst is the regression of passes in quick succession
// (the start-up pass and an apply trigger 15ms apart): under
// observations 2 and grace_period 1s they are two observations, but the
// drift has not persisted for the grace period, so it is not confirmed;
// a third pass after the grace period confirms it.
func TestTrackStartupBurst(t *testing.T) {
	t.Parallel()
	rule := drift.Rule{Observations: 2, GracePeriod: time.Second, CriticalImmediate: true}
	var open []drift.Drift
	for i, step := range []struct {
		at        time.Duration
		confirmed bool
	}{{0, false}, {15 * time.Millisecond, false}, {900 * time.Millisecond, false}, {1200 * time.Millisecond, true}} {
		now := testNow.Add(step.at)
		tr := drift.Track(open, []drift.Drift{found(drift.ResourceUnhealthy, "site", now)}, nil, now, rule)
		require.Len(t, tr.Open, 1)
		require.Equal(t, step.confirmed, tr.Open[0].Confirmed, "pass %d at +%s", i, step.at)
		require.Equal(t, i+1, tr.Open[0].Observations)
		open = tr.Open
	}
}

// TestTrackFirstPass: a stack's first pass confirms nothing, not even
// authoritative critical drift under critical_immediate or a rule of one
// observation; the next pass confirms what the rule allows.
func TestTrackFirstPass(t *testing.T) {
	t.Parallel()
	crit := found(drift.ProviderMissing, "cms", testNow)
	crit.Authoritative = true
	high := found(drift.ResourceUnhealthy, "site", testNow)
	rule := drift.Rule{Observations: 1, CriticalImmediate: true, FirstPass: true}

	first := drift.Track(nil, []drift.Drift{crit, high}, nil, testNow, rule)
	require.Len(t, first.Open, 2)
	require.Empty(t, first.NewlyConfirmed)
	require.Empty(t, drift.Confirmed(first.Open))

	rule.FirstPass = false
	later := testNow.Add(time.Minute)
	second := drift.Track(first.Open, []drift.Drift{crit, high}, nil, later, rule)
	require.Equal(t, ids(second.Open), ids(second.NewlyConfirmed))
}

// TestTrackCarriesUnjudged: an open drift about something this pass could
// not observe is neither resolved nor seen again; one that is judged and
// not found resolves.
func TestTrackCarriesUnjudged(t *testing.T) {
	t.Parallel()
	rule := drift.Rule{Observations: 1}
	broken := found(drift.WebhookBroken, "products", testNow)
	site := found(drift.ResourceUnhealthy, "site", testNow)
	first := drift.Track(nil, []drift.Drift{broken, site}, nil, testNow, rule)
	require.Len(t, first.NewlyConfirmed, 2)

	later := testNow.Add(5 * time.Minute)
	second := drift.Track(first.Open, nil, map[string]bool{broken.ID: true}, later, rule)
	require.Equal(t, ids([]drift.Drift{broken}), ids(second.Open))
	require.Equal(t, first.Open[0], second.Open[0], "carried unchanged")
	require.Equal(t, ids([]drift.Drift{site}), ids(second.Resolved))
	require.Empty(t, second.NewlyConfirmed)

	// Unjudged never starts a drift: it only keeps an open one.
	third := drift.Track(nil, nil, map[string]bool{broken.ID: true}, later, rule)
	require.Empty(t, third.Open)
}

func TestConfirmableAt(t *testing.T) {
	t.Parallel()
	d := found(drift.ResourceUnhealthy, "site", testNow)
	d.FirstSeen, d.LastSeen, d.Observations = testNow, testNow, 1
	tests := []struct {
		name string
		rule drift.Rule
		d    drift.Drift
		want time.Time
	}{
		{"grace period", drift.Rule{Observations: 2, GracePeriod: 30 * time.Second}, d, testNow.Add(30 * time.Second)},
		{"passes", drift.Rule{Observations: 4}, d, testNow.Add(3 * time.Second)},
		{"confirmed", drift.Rule{Observations: 4}, func() drift.Drift { c := d; c.Confirmed = true; return c }(), time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, drift.ConfirmableAt(tt.d, tt.rule, time.Second))
		})
	}
}
