// Package dashboard computes the built-in dashboards of the web UI
// (Reconciliation, Client health, System overview) from the store's
// bounded aggregates (store.Dashboards) and the process's own metrics. Its
// functions are pure: the API reads the inputs and hands them in.
package dashboard

import (
	"math"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// Window is the time range of a view and its bucket width.
type Window struct {
	Since time.Time     `json:"since"`
	Until time.Time     `json:"until"`
	Step  time.Duration `json:"-"`
	// StepSeconds is Step, for JSON.
	StepSeconds int64 `json:"step_seconds"`
}

// steps are the bucket widths a window may have, smallest first.
var steps = [...]time.Duration{
	time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour,
	3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// MaxSpan is the longest window a view covers.
const MaxSpan = 31 * 24 * time.Hour

// targetBuckets is about how many buckets a chart has.
const targetBuckets = 48

// NewWindow is the window of span ending at now: the smallest step giving
// at most targetBuckets buckets, Until the end of now's bucket and Since
// span before it, both aligned to the step (UTC), so that a chart's buckets
// stay put as time passes. span is clamped to [1 minute, MaxSpan].
func NewWindow(now time.Time, span time.Duration) Window {
	span = min(max(span, time.Minute), MaxSpan)
	step := steps[len(steps)-1]
	for _, s := range steps {
		if span/s <= targetBuckets {
			step = s
			break
		}
	}
	until := now.UTC().Truncate(step).Add(step)
	n := (span + step - 1) / step
	return Window{Since: until.Add(-n * step), Until: until, Step: step, StepSeconds: int64(step / time.Second)}
}

// Query is the store query of the window for a client ("" every client).
func (w Window) Query(clientID string) store.SeriesQuery {
	return store.SeriesQuery{ClientID: clientID, Since: w.Since, Until: w.Until, Step: w.Step}
}

// Buckets is how many buckets the window has.
func (w Window) Buckets() int { return w.Query("").Buckets() }

// Quantile estimates the q-quantile (0 < q < 1) of a pass-duration
// histogram (store.PassBucket.Durations) in seconds, interpolating linearly
// within the bucket the rank falls in, as Prometheus's histogram_quantile
// does. Above is true when the rank falls in the open last bucket: the
// answer is then its lower bound (the largest bound) and means "longer
// than". ok is false for an empty histogram.
func Quantile(q float64, h [len(store.DurationBounds) + 1]int) (seconds float64, above, ok bool) {
	total := 0
	for _, n := range h {
		total += n
	}
	if total == 0 || math.IsNaN(q) {
		return 0, false, false
	}
	q = min(max(q, 0), 1)
	rank := q * float64(total)
	cum := 0
	for i, n := range h {
		if n == 0 {
			continue
		}
		if float64(cum+n) >= rank {
			if i == len(store.DurationBounds) {
				return store.DurationBounds[i-1].Seconds(), true, true
			}
			lo := 0.0
			if i > 0 {
				lo = store.DurationBounds[i-1].Seconds()
			}
			hi := store.DurationBounds[i].Seconds()
			return lo + (hi-lo)*(rank-float64(cum))/float64(n), false, true
		}
		cum += n
	}
	return store.DurationBounds[len(store.DurationBounds)-1].Seconds(), true, true
}

// ratio is n/d, nil when d is 0 ("no data", never a division by zero).
func ratio(n, d int) *float64 {
	if d <= 0 {
		return nil
	}
	r := float64(n) / float64(d)
	return &r
}

// Duration is a quantile for JSON: seconds, and whether it means "longer
// than" (the rank fell above the largest bound).
type Duration struct {
	Seconds float64 `json:"seconds"`
	Above   bool    `json:"above,omitempty"`
}

func quantile(q float64, h [len(store.DurationBounds) + 1]int) *Duration {
	s, above, ok := Quantile(q, h)
	if !ok {
		return nil
	}
	return &Duration{Seconds: math.Round(s*1000) / 1000, Above: above}
}

// HealCounts are heal attempts by outcome.
type HealCounts struct {
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	// Open attempts are pending, running or executed and not yet judged;
	// Other are cancelled or dry runs.
	Open  int `json:"open"`
	Other int `json:"other"`
	// SuccessRate is Succeeded / (Succeeded + Failed): outcomes only; nil
	// without any.
	SuccessRate *float64 `json:"success_rate"`
}

func (c *HealCounts) add(status store.HealStatus, n int) {
	switch {
	case status == store.HealSucceeded:
		c.Succeeded += n
	case status == store.HealFailed:
		c.Failed += n
	case status.Open():
		c.Open += n
	default:
		c.Other += n
	}
	c.SuccessRate = ratio(c.Succeeded, c.Succeeded+c.Failed)
}

// Bucket is one bucket of a view's charts. Every bucket of the window is
// present, empty ones with zero counts and nil ratios, so a chart has its
// gaps where nothing happened.
type Bucket struct {
	Start         time.Time `json:"start"`
	Passes        int       `json:"passes"`
	Failed        int       `json:"failed"`
	Partial       int       `json:"partial"`
	Clean         int       `json:"clean"`
	DriftDetected int       `json:"drift_detected"`
	// Consistency is Clean / Passes: the share of passes that found the
	// stacks as declared; nil without passes.
	Consistency *float64  `json:"consistency"`
	P50         *Duration `json:"p50"`
	P99         *Duration `json:"p99"`
	// Detections are confirmed drifts first seen in the bucket, by type.
	Detections map[drift.Type]int `json:"detections"`
	Heals      HealCounts         `json:"heals"`
}

// Totals sum a window's buckets.
type Totals struct {
	Passes        int      `json:"passes"`
	Failed        int      `json:"failed"`
	Partial       int      `json:"partial"`
	Clean         int      `json:"clean"`
	DriftDetected int      `json:"drift_detected"`
	Consistency   *float64 `json:"consistency"`
	// FailureRate is Failed / Passes.
	FailureRate *float64 `json:"failure_rate"`
	// PerMinute is the passes per minute over the window.
	PerMinute  float64            `json:"per_minute"`
	P50        *Duration          `json:"p50"`
	P99        *Duration          `json:"p99"`
	Detections map[drift.Type]int `json:"detections"`
	Heals      HealCounts         `json:"heals"`
	// Durations is the window's pass-duration histogram, with its bounds
	// in seconds (the last bucket is everything longer).
	Durations      [len(store.DurationBounds) + 1]int `json:"durations"`
	DurationBounds []float64                          `json:"duration_bounds"`
}

// Series turns the store's aggregates of a window into every bucket of
// the window and their totals. Buckets the store answers outside the
// window (which it should not) are ignored.
func Series(w Window, s store.Series) ([]Bucket, Totals) {
	n := w.Buckets()
	out := make([]Bucket, n)
	hists := make([][len(store.DurationBounds) + 1]int, n)
	for i := range out {
		out[i] = Bucket{Start: w.Since.Add(time.Duration(i) * w.Step), Detections: map[drift.Type]int{}}
	}
	t := Totals{Detections: map[drift.Type]int{}}
	for _, b := range store.DurationBounds {
		t.DurationBounds = append(t.DurationBounds, b.Seconds())
	}
	in := func(i int) bool { return i >= 0 && i < n }
	for _, p := range s.Passes {
		if !in(p.Bucket) {
			continue
		}
		b := &out[p.Bucket]
		b.Passes += p.Passes
		b.Failed += p.Failed
		b.Partial += p.Partial
		b.Clean += p.Clean
		b.DriftDetected += p.DriftDetected
		for i, c := range p.Durations {
			hists[p.Bucket][i] += c
			t.Durations[i] += c
		}
	}
	for _, d := range s.Detections {
		if in(d.Bucket) {
			out[d.Bucket].Detections[d.Type] += d.Count
			t.Detections[d.Type] += d.Count
		}
	}
	for _, h := range s.Heals {
		if in(h.Bucket) {
			out[h.Bucket].Heals.add(h.Status, h.Count)
			t.Heals.add(h.Status, h.Count)
		}
	}
	for i := range out {
		b := &out[i]
		b.Consistency = ratio(b.Clean, b.Passes)
		b.P50, b.P99 = quantile(0.5, hists[i]), quantile(0.99, hists[i])
		t.Passes += b.Passes
		t.Failed += b.Failed
		t.Partial += b.Partial
		t.Clean += b.Clean
		t.DriftDetected += b.DriftDetected
	}
	t.Consistency = ratio(t.Clean, t.Passes)
	t.FailureRate = ratio(t.Failed, t.Passes)
	if m := w.Until.Sub(w.Since).Minutes(); m > 0 {
		t.PerMinute = math.Round(float64(t.Passes)/m*100) / 100
	}
	t.P50, t.P99 = quantile(0.5, t.Durations), quantile(0.99, t.Durations)
	return out, t
}

// StackCounts are stacks by status.
type StackCounts struct {
	Total    int                  `json:"total"`
	ByStatus map[store.Status]int `json:"by_status"`
	// Healthy is the share of stacks healthy; nil without stacks.
	Healthy *float64 `json:"healthy"`
}

// Stacks summarises CountStacks.
func Stacks(by map[store.Status]int) StackCounts {
	c := StackCounts{ByStatus: map[store.Status]int{}}
	for s, n := range by {
		c.ByStatus[s] = n
		c.Total += n
	}
	c.Healthy = ratio(by[store.StatusHealthy], c.Total)
	return c
}
