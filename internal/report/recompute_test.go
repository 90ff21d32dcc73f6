package report

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

// TestFiguresRecomputedIndependently recomputes figures of a generated
// history from its entries by other means than the Builder's: occurrences
// matched by (drift id, first_seen) rather than followed in order, and
// compliance by sampling every stack every 10 seconds rather than by
// interval arithmetic. The two must agree.
func TestFiguresRecomputedIndependently(t *testing.T) {
	t.Parallel()
	w := world{clients: 3, stacks: 6, start: t0, days: 6, rate: 3, seed: 7}
	entries := w.entries()
	from, to := t0.Add(24*time.Hour), t0.Add(5*24*time.Hour)
	r := build(t, Params{From: from, To: to}, entries)
	in := func(ts time.Time) bool { return !ts.Before(from) && ts.Before(to) }

	type key struct {
		drift string
		onset time.Time
	}
	var reason string
	keyOf := func(e store.AuditEntry) key {
		var c struct {
			FirstSeen time.Time `json:"first_seen"`
			Reason    string    `json:"reason"`
		}
		require.NoError(t, json.Unmarshal(e.ChangesMade, &c))
		reason = c.Reason
		return key{e.DriftID, c.FirstSeen.UTC()}
	}
	detected, resolved, falsePositive := map[key]time.Time{}, map[key]time.Time{}, map[key]bool{}
	var succeeded, failed int
	for _, e := range entries {
		if !e.Timestamp.Before(to) {
			continue
		}
		switch e.Action {
		case "drift_detected":
			detected[keyOf(e)] = e.Timestamp
		case "drift_resolved":
			resolved[keyOf(e)] = e.Timestamp
		case "drift_acknowledged":
			k := keyOf(e)
			falsePositive[k] = reason == "false_positive"
		case "heal_succeeded", "heal_failed":
			if in(e.Timestamp) && e.Action == "heal_succeeded" {
				succeeded++
			} else if in(e.Timestamp) {
				failed++
			}
		}
	}
	var recoveries []float64
	var inPeriod, fps int
	for k, at := range detected {
		if !in(at) {
			continue
		}
		inPeriod++
		if falsePositive[k] {
			fps++
		}
		if end, ok := resolved[k]; ok {
			recoveries = append(recoveries, end.Sub(k.onset).Seconds())
		}
	}
	require.Greater(t, inPeriod, 100, "the world is big enough to mean something")
	require.Equal(t, inPeriod, r.Overall.DriftsDetected)
	require.Equal(t, len(recoveries), r.Overall.TimeToRecovery.Count)
	require.InDelta(t, mean(recoveries), *r.Overall.TimeToRecovery.MeanSeconds, 1e-6, "MTTR")
	require.Equal(t, fps, r.Overall.FalsePositives)
	require.InDelta(t, float64(fps)/float64(inPeriod), *r.Overall.FalsePositiveRate, 1e-12)
	require.InDelta(t, float64(succeeded)/float64(succeeded+failed), *r.Overall.AutoHealSuccessRate, 1e-12)

	isFP := func(driftID string, onset time.Time) bool { return falsePositive[key{driftID, onset.UTC()}] }
	sampled := sampledCompliance(t, entries, from, to, 10*time.Second, isFP)
	require.InDelta(t, sampled, *r.Overall.Compliance, 0.001, "compliance: sampled %.5f, computed %.5f", sampled, *r.Overall.Compliance)
	require.Less(t, *r.Overall.Compliance, 0.999, "the world has drift to measure")
	t.Logf("%d occurrences, %d false positives, MTTR %.0f s, compliance %.5f (sampled %.5f)", inPeriod, fps, mean(recoveries), *r.Overall.Compliance, sampled)
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// sampledCompliance is the share of (stack, instant) samples, every step
// in [from, to), of stacks that exist with no open drift that was not a
// false positive. A stack exists from desired_state_changed to
// stack_deleted; a drift is open from first_seen to drift_resolved.
func sampledCompliance(t *testing.T, entries []store.AuditEntry, from, to time.Time, step time.Duration, fp func(string, time.Time) bool) float64 {
	t.Helper()
	type life struct{ start, end time.Time }
	type open struct {
		start, end time.Time
		fp         bool
	}
	far := to.Add(time.Hour)
	lives, drifts := map[string]*life{}, map[string][]*open{}
	current := map[string]*open{}
	for _, e := range entries {
		if !e.Timestamp.Before(to) {
			continue
		}
		stack := e.ClientID + "/" + e.StackID
		var c struct {
			FirstSeen time.Time `json:"first_seen"`
		}
		if len(e.ChangesMade) > 0 {
			require.NoError(t, json.Unmarshal(e.ChangesMade, &c))
		}
		switch e.Action {
		case "desired_state_changed":
			if lives[stack] == nil {
				lives[stack] = &life{start: e.Timestamp, end: far}
			}
		case "stack_deleted":
			lives[stack].end = e.Timestamp
		case "drift_detected":
			o := &open{start: c.FirstSeen, end: far, fp: fp(e.DriftID, c.FirstSeen)}
			current[e.DriftID] = o
			drifts[stack] = append(drifts[stack], o)
		case "drift_resolved":
			if o := current[e.DriftID]; o != nil {
				o.end = e.Timestamp
			}
		}
	}
	var alive, clean int
	for stack, l := range lives {
		for at := from; at.Before(to); at = at.Add(step) {
			if at.Before(l.start) || !at.Before(l.end) {
				continue
			}
			alive++
			drifted := false
			for _, o := range drifts[stack] {
				if !o.fp && !at.Before(o.start) && at.Before(o.end) {
					drifted = true
					break
				}
			}
			if !drifted {
				clean++
			}
		}
	}
	return float64(clean) / float64(alive)
}
