package report

import (
	"math"
	"slices"
)

// Durations summarises a set of durations, in seconds. The pointers are
// nil when Count is 0: there is no mean of nothing.
type Durations struct {
	Count       int      `json:"count"`
	MeanSeconds *float64 `json:"mean_seconds"`
	P50Seconds  *float64 `json:"p50_seconds"`
	P95Seconds  *float64 `json:"p95_seconds"`
	MaxSeconds  *float64 `json:"max_seconds"`
}

// summarise sorts samples (seconds) in place and summarises them;
// percentiles are nearest-rank.
func summarise(samples []float64) Durations {
	d := Durations{Count: len(samples)}
	if len(samples) == 0 {
		return d
	}
	slices.Sort(samples)
	var sum float64
	for _, v := range samples {
		sum += v
	}
	d.MeanSeconds = ptr(sum / float64(len(samples)))
	d.P50Seconds = ptr(nearestRank(samples, 0.50))
	d.P95Seconds = ptr(nearestRank(samples, 0.95))
	d.MaxSeconds = ptr(samples[len(samples)-1])
	return d
}

// nearestRank is the p-th percentile of sorted samples: the smallest
// sample with at least p of the samples at or below it.
func nearestRank(sorted []float64, p float64) float64 {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// ratio is num/den, or nil when den is 0.
func ratio(num, den float64) *float64 {
	if den == 0 {
		return nil
	}
	return ptr(num / den)
}

func ptr[T any](v T) *T { return &v }
