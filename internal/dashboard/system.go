package dashboard

import (
	"math"
	"time"

	"github.com/blackwellio/blackwell/internal/store"
)

// SystemInput is what the System overview is computed from: the store's
// aggregates of the last half hour (every client, 5-minute buckets), its
// stack counts, and what the process measured. Measurements that are not
// available are nil and count as "no data" (never as good).
type SystemInput struct {
	Now    time.Time
	Recent store.Series // Window RecentWindow(Now)
	Stacks map[store.Status]int
	// StorePing is how long a ping of the store took; StoreErr its error.
	StorePing time.Duration
	StoreErr  error
	// QueueDepth, InFlight: blackwell_reconcile_queue_depth and
	// blackwell_active_reconciliations.
	QueueDepth, InFlight *float64
	// LagP99 is the p99 of blackwell_event_processing_lag_seconds since
	// the process started (a cumulative histogram: no rate over a window).
	LagP99 *float64
	// WebhooksRejected and NotificationsFailed are counters since start.
	WebhooksRejected, NotificationsFailed *float64
}

// RecentWindow is the window SystemInput.Recent covers: the last 30
// minutes in 5-minute buckets.
func RecentWindow(now time.Time) Window { return NewWindow(now, 30*time.Minute) }

// Component is one part of the health score.
type Component struct {
	Name string `json:"name"`
	// Score is 0..1; nil when there was nothing to judge (left out of the
	// score, its weight shared by the others).
	Score  *float64 `json:"score"`
	Weight float64  `json:"weight"`
	Detail string   `json:"detail"`
}

// Health is a score of 0..100 and what it is made of.
type Health struct {
	Score      *float64    `json:"score"`
	Components []Component `json:"components"`
}

// Alert is one rule of deploy/prometheus/blackwell-rules.yml evaluated in
// process on the numbers of this view.
type Alert struct {
	Name      string   `json:"name"`
	Severity  string   `json:"severity"`
	Firing    bool     `json:"firing"`
	Value     *float64 `json:"value"`
	Threshold float64  `json:"threshold"`
	// How says what was evaluated, and how it differs from the rule.
	How string `json:"how"`
}

// System is the System overview's computed part.
type System struct {
	Health Health      `json:"health"`
	Alerts []Alert     `json:"alerts"`
	Stacks StackCounts `json:"stacks"`
	// Passes are the last 30 minutes' totals.
	Passes Totals `json:"passes"`
}

// sumSince adds the buckets of s whose start is at or after from.
func sumSince(w Window, s store.Series, from time.Time) (p store.PassBucket, heals HealCounts) {
	first := int(from.Sub(w.Since) / w.Step)
	for _, b := range s.Passes {
		if b.Bucket < first {
			continue
		}
		p.Passes += b.Passes
		p.Failed += b.Failed
		p.Clean += b.Clean
		for i, n := range b.Durations {
			p.Durations[i] += n
		}
	}
	for _, h := range s.Heals {
		if h.Bucket >= first {
			heals.add(h.Status, h.Count)
		}
	}
	return p, heals
}

func f(v float64) *float64 { return &v }

// clamp01 limits v to [0, 1].
func clamp01(v float64) float64 { return math.Min(1, math.Max(0, v)) }

// ComputeSystem computes the health score and the alerts.
//
// Health components (weights; a component without data is left out and the
// others share its weight):
//   - stacks (0.4): the share of stacks healthy;
//   - passes (0.25): 1 - the failure rate of the passes of the last 15 min;
//   - heals (0.15): the success rate of the heal outcomes of the last 30 min;
//   - store (0.1): 1 when a ping takes 50 ms or less, falling to 0 at 1 s, 0 when it fails;
//   - events (0.1): 1 when the p99 event lag is 60 s or less, falling to 0 at 300 s.
func ComputeSystem(in SystemInput) System {
	w := RecentWindow(in.Now)
	_, totals := Series(w, in.Recent)
	out := System{Stacks: Stacks(in.Stacks), Passes: totals}
	windowStart := func(d time.Duration) time.Time { return w.Until.Add(-d) }

	last15, _ := sumSince(w, in.Recent, windowStart(15*time.Minute))
	last5, _ := sumSince(w, in.Recent, windowStart(5*time.Minute))
	last10, _ := sumSince(w, in.Recent, windowStart(10*time.Minute))
	_, heals30 := sumSince(w, in.Recent, w.Since)

	comps := []Component{
		{Name: "stacks", Weight: 0.4, Score: out.Stacks.Healthy, Detail: "share of stacks healthy"},
		{Name: "passes", Weight: 0.25, Detail: "passes of the last 15 minutes that did not fail"},
		{Name: "heals", Weight: 0.15, Score: heals30.SuccessRate, Detail: "heal outcomes of the last 30 minutes that succeeded"},
		{Name: "store", Weight: 0.1, Detail: "store ping"},
		{Name: "events", Weight: 0.1, Detail: "p99 event processing lag since start"},
	}
	if r := ratio(last15.Failed, last15.Passes); r != nil {
		comps[1].Score = f(1 - *r)
	}
	if in.StoreErr != nil {
		comps[3].Score = f(0)
		comps[3].Detail = "store unreachable"
	} else {
		ms := float64(in.StorePing) / float64(time.Millisecond)
		comps[3].Score = f(clamp01(1 - (ms-50)/950))
	}
	if in.LagP99 != nil {
		comps[4].Score = f(clamp01(1 - (*in.LagP99-60)/240))
	}
	var sum, weights float64
	for _, c := range comps {
		if c.Score != nil {
			sum += *c.Score * c.Weight
			weights += c.Weight
		}
	}
	out.Health.Components = comps
	if weights > 0 {
		out.Health.Score = f(math.Round(sum / weights * 100))
	}

	healFail := ratio(heals30.Failed, heals30.Succeeded+heals30.Failed)
	slow := ratio(last10.Durations[len(last10.Durations)-1]+last10.Durations[len(last10.Durations)-2], last10.Passes)
	inconsistent, stalled := out.Stacks.Healthy, in.QueueDepth
	out.Alerts = []Alert{
		{Name: "BlackwellReconciliationFailureRateHigh", Severity: "critical", Threshold: 0.10,
			Value: ratio(last5.Failed, last5.Passes), How: "failed passes of the last 5 minutes over all passes, from the store (the rule also waits 5m)"},
		{Name: "BlackwellAutoHealFailureRateHigh", Severity: "critical", Threshold: 0.25,
			Value: healFail, How: "failed heal outcomes of the last 30 minutes (at least 2) over all outcomes, from the store (the rule also waits 5m)"},
		{Name: "BlackwellReconcileStalled", Severity: "critical", Threshold: 0,
			Value: stalled, How: "stacks wait in this replica's queue and no pass finished in the last 5 minutes (the rule also waits 2m)"},
		{Name: "BlackwellStoreUnreachable", Severity: "critical", Threshold: 0,
			How: "a ping of the store fails now"},
		{Name: "BlackwellReconciliationSlow", Severity: "warning", Threshold: 0.05,
			Value: slow, How: "passes of the last 10 minutes longer than 30 s over all passes, from the store (the rule also waits 10m)"},
		{Name: "BlackwellEventProcessingLagHigh", Severity: "warning", Threshold: 60,
			Value: in.LagP99, How: "p99 of blackwell_event_processing_lag_seconds since the process started (the rule takes a 5m rate)"},
		{Name: "BlackwellStateInconsistent", Severity: "warning", Threshold: 0.95,
			Value: inconsistent, How: "share of stacks healthy, from the store, below the threshold (the rule also waits 15m)"},
	}
	a := out.Alerts
	a[0].Firing = a[0].Value != nil && *a[0].Value > a[0].Threshold
	a[1].Firing = a[1].Value != nil && *a[1].Value > a[1].Threshold && heals30.Failed >= 2
	a[2].Firing = stalled != nil && *stalled > 0 && last5.Passes == 0
	if in.StoreErr != nil {
		a[3].Value, a[3].Firing = f(1), true
	} else {
		a[3].Value = f(0)
	}
	a[4].Firing = a[4].Value != nil && *a[4].Value > a[4].Threshold
	a[5].Firing = a[5].Value != nil && *a[5].Value > a[5].Threshold
	a[6].Firing = a[6].Value != nil && *a[6].Value < a[6].Threshold
	return out
}
