package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
)

// Dashboards is what the built-in dashboards read: aggregates computed by
// the database over bounded ranges, so that a client with thousands of
// stacks and weeks of history costs a few hundred rows, never its history.
type Dashboards interface {
	// DashboardSeries aggregates the passes, confirmed drift detections and
	// heal attempts of [Since, Until) into buckets of Step (see
	// SeriesQuery). It returns ErrInvalid for a query it cannot answer in
	// bounded work (Step not positive, Until not after Since, more than
	// MaxSeriesBuckets buckets).
	DashboardSeries(ctx context.Context, q SeriesQuery) (Series, error)
	// CountStacks counts stacks by status; clientID filters when not empty.
	CountStacks(ctx context.Context, clientID string) (map[Status]int, error)
	// OpenDriftCounts counts open confirmed drifts by type, code, component and
	// severity, most first (then by type, code, component), up to limit
	// (BatchLimit) groups; clientID filters when not empty.
	OpenDriftCounts(ctx context.Context, clientID string, limit int) ([]DriftCount, error)
	// RecentDrifts returns a client's drifts, open and resolved, last seen
	// at or after since, newest LastSeen first (then stack, id), up to
	// limit (BatchLimit).
	RecentDrifts(ctx context.Context, q RecentQuery) ([]drift.Drift, error)
	// RecentHeals returns a client's heal attempts created at or after
	// since, newest first (by CreatedAt, then ID descending), up to limit
	// (BatchLimit).
	RecentHeals(ctx context.Context, q RecentQuery) ([]HealAttempt, error)
}

// ErrInvalid: a query was malformed or unbounded.
var ErrInvalid = errors.New("invalid query")

// MaxSeriesBuckets bounds the buckets of one DashboardSeries query.
const MaxSeriesBuckets = 500

// SeriesQuery asks DashboardSeries for buckets [Since+i*Step,
// Since+(i+1)*Step) covering [Since, Until). ClientID filters when not
// empty.
type SeriesQuery struct {
	ClientID     string
	Since, Until time.Time
	Step         time.Duration
}

// Check reports ErrInvalid for a query DashboardSeries refuses.
func (q SeriesQuery) Check() error {
	switch {
	case q.Step <= 0:
		return fmt.Errorf("%w: step must be positive", ErrInvalid)
	case !q.Until.After(q.Since):
		return fmt.Errorf("%w: until must be after since", ErrInvalid)
	case q.Until.Sub(q.Since)/q.Step >= MaxSeriesBuckets:
		return fmt.Errorf("%w: more than %d buckets", ErrInvalid, MaxSeriesBuckets)
	}
	return nil
}

// RollsUp reports whether every bucket of the query is whole UTC hours
// (Since and Until on the hour, Step a multiple of an hour), so that the
// passes of each bucket are the sum of hourly aggregates: a driver may
// then read an hourly roll-up instead of the results, with the same
// answer.
func (q SeriesQuery) RollsUp() bool {
	onHour := func(t time.Time) bool { return Truncate(t).UnixMicro()%time.Hour.Microseconds() == 0 }
	return q.Step > 0 && q.Step%time.Hour == 0 && onHour(q.Since) && onHour(q.Until)
}

// Buckets is how many buckets the query covers (the last may be partial).
func (q SeriesQuery) Buckets() int {
	n := int(q.Until.Sub(q.Since) / q.Step)
	if q.Since.Add(time.Duration(n) * q.Step).Before(q.Until) {
		n++
	}
	return n
}

// DurationBounds are the upper bounds of the pass-duration histogram of a
// PassBucket (the buckets of blackwell_reconciliation_duration_seconds and
// one at a minute); the last bucket is everything longer. A pass whose
// completion is before its start (clocks of replicas apart) counts as 0.
var DurationBounds = [...]time.Duration{
	50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute,
}

// Series is DashboardSeries's answer: only buckets with something in them,
// each list ordered by bucket.
type Series struct {
	Passes     []PassBucket      `json:"passes"`
	Detections []DetectionBucket `json:"detections"`
	Heals      []HealBucket      `json:"heals"`
}

// PassBucket aggregates the passes that started in one bucket.
type PassBucket struct {
	// Bucket is the index of the bucket: it starts at Since+Bucket*Step.
	Bucket  int `json:"bucket"`
	Passes  int `json:"passes"`
	Failed  int `json:"failed"`
	Partial int `json:"partial"`
	// Clean passes succeeded and found no drift.
	Clean int `json:"clean"`
	// DriftDetected passes found drift.
	DriftDetected int `json:"drift_detected"`
	// Durations counts passes by duration: Durations[i] those at most
	// DurationBounds[i] (and above the previous bound), the last those
	// longer than every bound.
	Durations [len(DurationBounds) + 1]int `json:"durations"`
}

// DetectionBucket counts the confirmed drifts of one type first seen in
// one bucket.
type DetectionBucket struct {
	Bucket int        `json:"bucket"`
	Type   drift.Type `json:"type"`
	Count  int        `json:"count"`
}

// HealBucket counts heal attempts created in one bucket by status.
type HealBucket struct {
	Bucket int        `json:"bucket"`
	Status HealStatus `json:"status"`
	Count  int        `json:"count"`
}

// DriftCount is one group of OpenDriftCounts.
type DriftCount struct {
	Type      drift.Type     `json:"type"`
	Code      drift.Code     `json:"code"`
	Component string         `json:"component"`
	Severity  drift.Severity `json:"severity"`
	// Count is the open drifts, Stacks the stacks they are on.
	Count  int `json:"count"`
	Stacks int `json:"stacks"`
}

// RecentQuery asks RecentDrifts and RecentHeals for a client's newest
// records since a time.
type RecentQuery struct {
	ClientID string
	Since    time.Time
	Limit    int
}

// DurationBucket is the index in PassBucket.Durations of a pass that took d.
func DurationBucket(d time.Duration) int {
	for i, b := range DurationBounds {
		if d <= b {
			return i
		}
	}
	return len(DurationBounds)
}
