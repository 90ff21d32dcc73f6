package report

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

// t0 is the start of the periods of these tests.
var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// entry is an audit entry at t0+at; changes are encoded as changes_made.
func entry(at time.Duration, action, client, stack, driftID string, changes map[string]any) store.AuditEntry {
	e := store.AuditEntry{Timestamp: t0.Add(at), Action: action, ClientID: client, StackID: stack, DriftID: driftID, Success: true}
	if changes != nil {
		e.ChangesMade, _ = json.Marshal(changes)
	}
	return e
}

func firstSeen(at time.Duration) map[string]any { return map[string]any{"first_seen": t0.Add(at)} }

// scenario is a small history with a figure of every kind; the expected
// figures in TestBuilderScenario are worked out by hand from it.
func scenario() []store.AuditEntry {
	h, m, s := time.Hour, time.Minute, time.Second
	approved := entry(30*m, "heal_succeeded", "globex", "site", "D", nil)
	approved.ApprovalRequired = true
	es := []store.AuditEntry{
		entry(-2*h, "desired_state_changed", "globex", "site", "", nil),
		entry(-h, "desired_state_changed", "acme", "web", "", nil),
		entry(-h, "token_created", "acme", "", "", nil), // no stack: no stack time
		entry(-29*m, "drift_detected", "globex", "site", "D", firstSeen(-30*m)),
		entry(20*m, "approval_granted", "globex", "site", "D", nil),
		approved,
		entry(30*m, "drift_resolved", "globex", "site", "D", firstSeen(-30*m)),
		entry(h+60*s, "drift_detected", "acme", "web", "A", firstSeen(h)),
		entry(h+60*s, "heal_scheduled", "acme", "web", "A", nil),
		entry(h+5*m, "heal_succeeded", "acme", "web", "A", nil),
		entry(h+5*m, "drift_resolved", "acme", "web", "A", firstSeen(h)),
		entry(2*h+120*s, "drift_detected", "acme", "web", "B", firstSeen(2*h)),
		entry(2*h+10*m, "drift_acknowledged", "acme", "web", "B", map[string]any{"reason": "false_positive", "first_seen": t0.Add(2 * h)}),
		entry(2*h+30*m, "drift_resolved", "acme", "web", "B", firstSeen(2*h)),
		entry(5*h, "desired_state_changed", "acme", "shop", "", nil),
		entry(8*h, "stack_deleted", "globex", "site", "", nil),
		entry(9*h+30*s, "drift_detected", "acme", "shop", "C", firstSeen(9*h)),
		entry(9*h+2*m, "heal_failed", "acme", "shop", "C", nil),
		entry(9*h+5*m, "drift_acknowledged", "acme", "shop", "C", map[string]any{"reason": "known outage"}),
		entry(10*h, "drift_resolved", "acme", "shop", "C", firstSeen(9*h)), // at the end: not read
	}
	for i := range es {
		es[i].Seq = int64(i + 1)
	}
	return es
}

func build(t *testing.T, p Params, entries []store.AuditEntry) Report {
	t.Helper()
	b := NewBuilder(p)
	for _, e := range entries {
		b.Add(e)
	}
	return b.Finish(Head{Seq: entries[len(entries)-1].Seq, Hash: "abc"})
}

func f64(v float64) *float64 { return &v }

func TestBuilderScenario(t *testing.T) {
	t.Parallel()
	r := build(t, Params{From: t0, To: t0.Add(10 * time.Hour)}, scenario())

	require.Equal(t, Source{HeadSeq: 20, HeadHash: "abc", FirstSeq: 1, EntriesRead: 19,
		Verify: "blackwell audit verify --expect-head 20:abc"}, r.Source)
	require.Len(t, r.Clients, 2)
	acme, globex := r.Clients[0], r.Clients[1]

	require.Equal(t, "acme", acme.ClientID)
	require.Equal(t, 2, acme.Stacks)
	require.Equal(t, []int{3, 2, 1}, []int{acme.DriftsDetected, acme.DriftsResolved, acme.DriftsOpenAtEnd})
	require.Equal(t, Durations{Count: 3, MeanSeconds: f64(70), P50Seconds: f64(60), P95Seconds: f64(120), MaxSeconds: f64(120)}, acme.DetectionTime)
	require.Equal(t, Durations{Count: 1, MeanSeconds: f64(300), P50Seconds: f64(300), P95Seconds: f64(300), MaxSeconds: f64(300)}, acme.TimeToHeal)
	require.Equal(t, Durations{Count: 2, MeanSeconds: f64(1050), P50Seconds: f64(300), P95Seconds: f64(1800), MaxSeconds: f64(1800)}, acme.TimeToRecovery)
	require.Equal(t, []int{1, 1}, []int{acme.HealsSucceeded, acme.HealsFailed})
	require.Equal(t, f64(0.5), acme.AutoHealSuccessRate)
	require.Equal(t, map[string]int{"false_positive": 1, "unspecified": 1}, acme.Acknowledgements)
	require.Equal(t, 1, acme.FalsePositives)
	require.InDelta(t, 1.0/3, *acme.FalsePositiveRate, 1e-12)
	require.Equal(t, []int{1, 0, 2}, []int{acme.AutomaticHeals, acme.ApprovedHeals, acme.ManualInterventions})
	require.InDelta(t, 1.0/3, *acme.AutomationRate, 1e-12)
	// web 10 h with drift A's 5 min (B was a false positive); shop 5 h
	// with drift C's last hour.
	require.Equal(t, []float64{54000, 3900}, []float64{acme.StackSeconds, acme.DriftStackSeconds})
	require.InDelta(t, 50100.0/54000, *acme.Compliance, 1e-12)

	require.Equal(t, "globex", globex.ClientID)
	require.Equal(t, 1, globex.Stacks)
	require.Equal(t, 0, globex.DriftsDetected, "D was detected before the period")
	require.Zero(t, globex.TimeToRecovery.Count)
	require.Nil(t, globex.FalsePositiveRate, "no drift detected: no rate")
	require.Equal(t, []int{1, 0, 1, 1}, []int{globex.HealsSucceeded, globex.AutomaticHeals, globex.ApprovedHeals, globex.ManualInterventions})
	require.Equal(t, f64(0), globex.AutomationRate)
	require.Equal(t, []float64{28800, 1800}, []float64{globex.StackSeconds, globex.DriftStackSeconds})

	o := r.Overall
	require.Equal(t, 3, o.Stacks)
	require.Equal(t, 3, o.DriftsDetected)
	require.Equal(t, []float64{82800, 5700}, []float64{o.StackSeconds, o.DriftStackSeconds})
	require.Equal(t, f64(2.0/3), o.AutoHealSuccessRate)
	require.Equal(t, 3, o.ManualInterventions)

	require.Len(t, r.Series, 10, "10 hours in buckets of an hour")
	b0, b1 := r.Series[0], r.Series[1]
	require.Equal(t, []int{0, 0, 1}, []int{b0.DriftsDetected, b0.AutomaticHeals, b0.ManualInterventions})
	require.Equal(t, []float64{7200, 1800}, []float64{b0.StackSeconds, b0.DriftStackSeconds})
	require.Equal(t, f64(0.75), b0.Compliance)
	require.Equal(t, []int{1, 1}, []int{b1.DriftsDetected, b1.AutomaticHeals})
	require.Equal(t, []float64{7200, 300}, []float64{b1.StackSeconds, b1.DriftStackSeconds}) // web and site
	require.Equal(t, 1, r.Series[9].HealsFailed)
}

func TestBuilderKPIs(t *testing.T) {
	t.Parallel()
	r := build(t, Params{From: t0, To: t0.Add(10 * time.Hour)}, scenario())
	byName := map[string]KPI{}
	for _, k := range r.Clients[0].KPIs {
		byName[k.Name] = k
	}
	for _, tc := range []struct {
		name  string
		value *float64
		met   *bool
	}{
		{"drift_detection_time", f64(120), ptr(false)}, // p95 120 s is not under 2 minutes
		{"mttd", f64(70), ptr(true)},
		{"mtth", f64(300), ptr(false)},
		{"mttr", f64(1050), ptr(false)},
		{"auto_heal_success_rate", f64(0.5), ptr(false)},
		{"configuration_compliance", f64(50100.0 / 54000), ptr(false)},
	} {
		k := byName[tc.name]
		require.Equal(t, tc.value, k.Value, tc.name)
		require.Equal(t, tc.met, k.Met, tc.name)
	}
	// Without a value, no verdict.
	for _, k := range r.Clients[1].KPIs {
		if k.Name == "mttd" {
			require.Nil(t, k.Value)
			require.Nil(t, k.Met)
		}
	}
}

// TestBuilderScopesAndBounds: a client's report reads only its entries;
// entries at or after the end are not read; a period before a stack
// existed has no stack time.
func TestBuilderScopesAndBounds(t *testing.T) {
	t.Parallel()
	r := build(t, Params{From: t0, To: t0.Add(10 * time.Hour), ClientID: "globex"}, scenario())
	require.Len(t, r.Clients, 1)
	require.Equal(t, "globex", r.Clients[0].ClientID)
	require.Equal(t, int64(6), r.Source.EntriesRead)
	require.Equal(t, r.Clients[0].StackSeconds, r.Overall.StackSeconds)

	r = build(t, Params{From: t0.Add(-3 * time.Hour), To: t0.Add(-150 * time.Minute)}, scenario())
	require.Zero(t, r.Overall.StackSeconds)
	require.Nil(t, r.Overall.Compliance)
	require.Zero(t, r.Source.EntriesRead)
	require.Equal(t, int64(0), r.Source.FirstSeq)
}

// TestBuilderOccurrences: a drift that comes back is a new occurrence; a
// resolution without a detection read (pruned) is ignored; an
// acknowledgement of a resolved drift marks nothing.
func TestBuilderOccurrences(t *testing.T) {
	t.Parallel()
	m := time.Minute
	es := []store.AuditEntry{
		entry(0, "desired_state_changed", "acme", "web", "", nil),
		entry(m, "drift_resolved", "acme", "web", "X", nil), // detected before the log starts
		entry(2*m, "drift_detected", "acme", "web", "A", firstSeen(2*m)),
		entry(3*m, "drift_resolved", "acme", "web", "A", nil),
		entry(4*m, "drift_acknowledged", "acme", "web", "A", map[string]any{"reason": "false_positive"}),
		entry(10*m, "drift_detected", "acme", "web", "A", firstSeen(8*m)),
		// No resolution: the next occurrence ends it at its onset.
		entry(20*m, "drift_detected", "acme", "web", "A", firstSeen(18*m)),
		entry(21*m, "drift_resolved", "acme", "web", "A", nil),
		// first_seen missing or after detection: the onset is the entry's time.
		entry(30*m, "drift_detected", "acme", "web", "B", map[string]any{"first_seen": t0.Add(time.Hour)}),
		entry(40*m, "drift_detected", "acme", "web", "C", nil),
	}
	r := build(t, Params{From: t0, To: t0.Add(time.Hour)}, es)
	f := r.Overall
	require.Equal(t, 5, f.DriftsDetected)
	require.Equal(t, 0, f.FalsePositives, "the acknowledgement came after the resolution")
	require.Equal(t, 2, f.DriftsResolved)
	require.Equal(t, 2, f.DriftsOpenAtEnd, "B and C; the middle A was ended by the next")
	// A: 2-3, 8-18, 18-21; B: 30-60; C: 40-60 (union 30-60).
	require.Equal(t, (1+13+30)*60.0, f.DriftStackSeconds)
	require.Equal(t, Durations{Count: 5, MeanSeconds: f64(48), P50Seconds: f64(0), P95Seconds: f64(120), MaxSeconds: f64(120)}, f.DetectionTime)
}

// TestBuilderStackLives: a deleted stack's time ends at stack_deleted; a
// late entry of it does not bring it back, applying it again does.
func TestBuilderStackLives(t *testing.T) {
	t.Parallel()
	h := time.Hour
	es := []store.AuditEntry{
		entry(0, "desired_state_changed", "acme", "web", "", nil),
		entry(2*h, "stack_deleted", "acme", "web", "", nil),
		entry(3*h, "heal_failed", "acme", "web", "A", nil),
		entry(6*h, "desired_state_changed", "acme", "web", "", nil),
		entry(7*h, "drift_detected", "acme", "web", "A", firstSeen(7*h)),
	}
	r := build(t, Params{From: t0, To: t0.Add(10 * time.Hour)}, es)
	require.Equal(t, 6*3600.0, r.Overall.StackSeconds, "0-2 h and 6-10 h")
	require.Equal(t, 3*3600.0, r.Overall.DriftStackSeconds)
	require.Equal(t, 1, r.Overall.Stacks)
	require.Equal(t, f64(0.5), r.Overall.Compliance)
}

// FuzzBuilder: any entries, in any order, with any changes_made, fold
// without a panic into figures that stay in range.
func FuzzBuilder(f *testing.F) {
	f.Add([]byte(`{"first_seen":"2026-11-01T00:00:00Z"}`), []byte(`{"reason":"false_positive"}`), int64(60), uint8(0))
	f.Add([]byte(`null`), []byte(`{"reason":7}`), int64(-3600), uint8(3))
	f.Add([]byte(`{"first_seen":"x"}`), []byte(`[]`), int64(1<<40), uint8(9))
	actions := []string{"drift_detected", "drift_resolved", "drift_acknowledged", "heal_succeeded", "heal_failed",
		"stack_deleted", "desired_state_changed", "approval_granted", "rollback"}
	f.Fuzz(func(t *testing.T, c1, c2 []byte, offset int64, seed uint8) {
		b := NewBuilder(Params{From: t0, To: t0.Add(48 * time.Hour)})
		for i := range 24 {
			k := int(seed) + i*7
			e := store.AuditEntry{Seq: int64(i + 1), Timestamp: t0.Add(time.Duration(offset) * time.Second * time.Duration(i%5-1)),
				Action: actions[k%len(actions)], ClientID: "acme", StackID: []string{"", "web", "shop"}[k%3],
				DriftID: []string{"A", "B", ""}[k%3], ApprovalRequired: k%2 == 0}
			if i%2 == 0 {
				e.ChangesMade = c1
			} else {
				e.ChangesMade = c2
			}
			b.Add(e)
		}
		r := b.Finish(Head{})
		if c := r.Overall.Compliance; c != nil && (*c < -1e-9 || *c > 1+1e-9) {
			t.Fatalf("compliance %v out of range", *c)
		}
		if r.Overall.DriftStackSeconds > r.Overall.StackSeconds+1e-6 {
			t.Fatalf("drift time %v above stack time %v", r.Overall.DriftStackSeconds, r.Overall.StackSeconds)
		}
	})
}

func TestBucketSize(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	for _, tc := range []struct{ period, want time.Duration }{
		{time.Hour, time.Hour},
		{92 * time.Hour, time.Hour},
		{93 * time.Hour, 6 * time.Hour},
		{30 * day, day},
		{92 * day, day},
		{365 * day, 7 * day},
		{10 * 365 * day, 60 * day},
	} {
		require.Equal(t, tc.want, bucketSize(tc.period), tc.period.String())
	}
}

func TestIntervals(t *testing.T) {
	t.Parallel()
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	sp := func(a, b int) span { return span{at(a), at(b)} }
	for _, tc := range []struct {
		name     string
		in       []span
		want     []span
		clip     []span
		clipWant []span
	}{
		{"empty", nil, nil, []span{sp(0, 10)}, nil},
		{"disjoint, unsorted", []span{sp(5, 6), sp(1, 2)}, []span{sp(1, 2), sp(5, 6)}, []span{sp(0, 10)}, []span{sp(1, 2), sp(5, 6)}},
		{"overlapping and touching", []span{sp(1, 3), sp(2, 5), sp(5, 7)}, []span{sp(1, 7)}, []span{sp(0, 2), sp(6, 9)}, []span{sp(1, 2), sp(6, 7)}},
		{"nested, empty dropped", []span{sp(1, 9), sp(2, 3), sp(4, 4)}, []span{sp(1, 9)}, []span{sp(3, 5)}, []span{sp(3, 5)}},
	} {
		got := merged(tc.in)
		require.Equal(t, tc.want, got, tc.name)
		require.Equal(t, tc.clipWant, intersect(got, tc.clip), tc.name)
	}
}
