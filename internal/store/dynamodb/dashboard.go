package dynamodb

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// The dashboards' aggregates are computed from the client's partitions
// (results, drifts, heal attempts, states), read whole for the range
// asked; without a client, from a scan of every client's. DynamoDB has no
// GROUP BY: at the scale of one client (hundreds of stacks) that is a few
// queries; a roll-up table kept by the passes would be the next step.

// clientItems reads a client's partition prefix+client (every client's
// when clientID is empty), from sk lo (inclusive) when lo is set.
func (s *Store) clientItems(ctx context.Context, prefix, clientID, lo string) ([]map[string]types.AttributeValue, error) {
	if clientID != "" {
		in := &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
			KeyConditionExpression:    aws.String("pk = :pk AND sk >= :lo"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(prefix + clientID), ":lo": str(lo)}}
		return s.queryAll(ctx, in)
	}
	return s.scanAll(ctx, &dynamodb.ScanInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		FilterExpression:          aws.String("begins_with(pk, :p) AND sk >= :lo"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": str(prefix), ":lo": str(lo)}})
}

// DashboardSeries aggregates passes, detections and heals into buckets.
func (s *Store) DashboardSeries(ctx context.Context, q store.SeriesQuery) (store.Series, error) {
	if err := q.Check(); err != nil {
		return store.Series{}, fmt.Errorf("dashboard series: %w", err)
	}
	since, until, step := microsOf(q.Since), microsOf(q.Until), q.Step.Microseconds()
	bucket := func(us int64) (int, bool) {
		if us < since || us >= until {
			return 0, false
		}
		return int((us - since) / step), true
	}
	var out store.Series
	results, err := s.clientItems(ctx, "RESULT/", q.ClientID, padMicros(since))
	if err != nil {
		return out, fmt.Errorf("dashboard series passes: %w", err)
	}
	passes := map[int]*store.PassBucket{}
	for _, it := range results {
		r, err := decodeResult(it)
		if err != nil {
			return out, err
		}
		b, ok := bucket(microsOf(r.StartedAt))
		if !ok {
			continue
		}
		p := passes[b]
		if p == nil {
			p = &store.PassBucket{Bucket: b}
			passes[b] = p
		}
		p.Passes++
		switch {
		case r.Status == store.ResultFailed:
			p.Failed++
		case r.Status == store.ResultPartial:
			p.Partial++
		case !r.DriftDetected:
			p.Clean++
		}
		if r.DriftDetected {
			p.DriftDetected++
		}
		p.Durations[store.DurationBucket(max(0, r.CompletedAt.Sub(r.StartedAt)))]++
	}
	for _, b := range slices.Sorted(mapKeysInt(passes)) {
		out.Passes = append(out.Passes, *passes[b])
	}
	if out.Detections, err = s.detections(ctx, q.ClientID, bucket); err != nil {
		return out, err
	}
	if out.Heals, err = s.healBuckets(ctx, q.ClientID, padMicros(since), bucket); err != nil {
		return out, err
	}
	return out, nil
}

func mapKeysInt[V any](m map[int]V) func(func(int) bool) {
	return func(yield func(int) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func (s *Store) detections(ctx context.Context, clientID string, bucket func(int64) (int, bool)) ([]store.DetectionBucket, error) {
	items, err := s.clientItems(ctx, "DRIFT/", clientID, "")
	if err != nil {
		return nil, fmt.Errorf("dashboard series detections: %w", err)
	}
	counts := map[store.DetectionBucket]int{}
	for _, it := range items {
		d, err := decodeDrift(it)
		if err != nil {
			return nil, err
		}
		if b, ok := bucket(microsOf(d.FirstSeen)); ok && d.Confirmed {
			counts[store.DetectionBucket{Bucket: b, Type: d.Type}]++
		}
	}
	out := []store.DetectionBucket(nil)
	for k, n := range counts {
		k.Count = n
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b store.DetectionBucket) int {
		if a.Bucket != b.Bucket {
			return a.Bucket - b.Bucket
		}
		return strings.Compare(string(a.Type), string(b.Type))
	})
	return out, nil
}

func (s *Store) healBuckets(ctx context.Context, clientID, lo string, bucket func(int64) (int, bool)) ([]store.HealBucket, error) {
	items, err := s.clientItems(ctx, "HEAL/", clientID, lo)
	if err != nil {
		return nil, fmt.Errorf("dashboard series heals: %w", err)
	}
	counts := map[store.HealBucket]int{}
	for _, it := range items {
		h, err := decodeHeal(it)
		if err != nil {
			return nil, err
		}
		if b, ok := bucket(microsOf(h.CreatedAt)); ok {
			counts[store.HealBucket{Bucket: b, Status: h.Status}]++
		}
	}
	out := []store.HealBucket(nil)
	for k, n := range counts {
		k.Count = n
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b store.HealBucket) int {
		if a.Bucket != b.Bucket {
			return a.Bucket - b.Bucket
		}
		return strings.Compare(string(a.Status), string(b.Status))
	})
	return out, nil
}

// CountStacks counts stacks by status.
func (s *Store) CountStacks(ctx context.Context, clientID string) (map[store.Status]int, error) {
	recs, err := store.AllStates(ctx, s, clientID)
	if err != nil {
		return nil, fmt.Errorf("count stacks: %w", err)
	}
	out := map[store.Status]int{}
	for _, r := range recs {
		out[r.Status]++
	}
	return out, nil
}

// OpenDriftCounts groups the open confirmed drifts, most first.
func (s *Store) OpenDriftCounts(ctx context.Context, clientID string, limit int) ([]store.DriftCount, error) {
	limit, err := store.BatchLimit(limit)
	if err != nil {
		return nil, fmt.Errorf("open drift counts: %w", err)
	}
	items, err := s.clientItems(ctx, "DRIFT/", clientID, "")
	if err != nil {
		return nil, fmt.Errorf("open drift counts: %w", err)
	}
	type key struct {
		t    drift.Type
		c    drift.Code
		comp string
		sev  drift.Severity
	}
	groups := map[key]*store.DriftCount{}
	stacks := map[key]map[string]bool{}
	for _, it := range items {
		d, err := decodeDrift(it)
		if err != nil {
			return nil, err
		}
		if d.ResolvedAt != nil || !d.Confirmed {
			continue
		}
		k := key{d.Type, d.Code, d.Component, d.Severity}
		if groups[k] == nil {
			groups[k] = &store.DriftCount{Type: d.Type, Code: d.Code, Component: d.Component, Severity: d.Severity}
			stacks[k] = map[string]bool{}
		}
		groups[k].Count++
		stacks[k][d.ClientID+"/"+d.StackID] = true
	}
	out := []store.DriftCount(nil)
	for k, g := range groups {
		g.Stacks = len(stacks[k])
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b store.DriftCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(fmt.Sprint(a.Type, "\x00", a.Code, "\x00", a.Component, "\x00", a.Severity),
			fmt.Sprint(b.Type, "\x00", b.Code, "\x00", b.Component, "\x00", b.Severity))
	})
	return out[:min(len(out), limit)], nil
}

// RecentDrifts lists a client's drifts last seen since q.Since, newest
// first.
func (s *Store) RecentDrifts(ctx context.Context, q store.RecentQuery) ([]drift.Drift, error) {
	limit, err := store.BatchLimit(q.Limit)
	if err != nil {
		return nil, fmt.Errorf("recent drifts of %s: %w", q.ClientID, err)
	}
	all, err := s.stackDrifts(ctx, q.ClientID, "", true)
	if err != nil {
		return nil, fmt.Errorf("recent drifts of %s: %w", q.ClientID, err)
	}
	since := store.Truncate(q.Since)
	out := slices.DeleteFunc(all, func(d drift.Drift) bool { return d.LastSeen.Before(since) })
	slices.SortFunc(out, func(a, b drift.Drift) int {
		if d := b.LastSeen.Compare(a.LastSeen); d != 0 {
			return d
		}
		if d := strings.Compare(a.StackID, b.StackID); d != 0 {
			return d
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out[:min(len(out), limit)], nil
}

// RecentHeals lists a client's attempts created since q.Since, newest
// first.
func (s *Store) RecentHeals(ctx context.Context, q store.RecentQuery) ([]store.HealAttempt, error) {
	limit, err := store.BatchLimit(q.Limit)
	if err != nil {
		return nil, fmt.Errorf("recent heals of %s: %w", q.ClientID, err)
	}
	items, err := s.queryPage(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk AND sk >= :lo"), ScanIndexForward: aws.Bool(false),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("HEAL/" + q.ClientID), ":lo": str(padMicros(microsOf(q.Since)))}}, limit)
	if err != nil {
		return nil, fmt.Errorf("recent heals of %s: %w", q.ClientID, err)
	}
	var out []store.HealAttempt
	for _, it := range items[:min(len(items), limit)] {
		h, err := decodeHeal(it)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}
