package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// The dashboards' aggregates (store.Dashboards), the same in meaning as
// SQLite's. Times are timestamptz here where SQLite keeps unix
// microseconds, so a bucket is the whole microseconds since Since divided
// by the step: floor(extract(epoch from t - since) * 1e6 / step). extract
// gives numeric, exact at microseconds, so buckets fall where SQLite's do.

// bucketExpr is the bucket of time column col, since $since, step $step.
func bucketExpr(col, since, step string) string {
	return `floor(extract(epoch from (` + col + ` - ` + since + `)) * 1000000 / ` + step + `)::bigint`
}

// durationCase is the SQL CASE giving a pass's duration bucket (the index in
// store.PassBucket.Durations); a negative duration (skewed clocks) is
// bucket 0.
func durationCase() string {
	var b strings.Builder
	b.WriteString(`CASE`)
	for i, d := range store.DurationBounds {
		b.WriteString(` WHEN completed_at - started_at <= interval '` + strconv.FormatInt(d.Microseconds(), 10) +
			` microseconds' THEN ` + strconv.Itoa(i))
	}
	b.WriteString(` ELSE ` + strconv.Itoa(len(store.DurationBounds)) + ` END`)
	return b.String()
}

// DashboardSeries aggregates passes, detections and heals into buckets.
func (s *Store) DashboardSeries(ctx context.Context, q store.SeriesQuery) (store.Series, error) {
	if err := q.Check(); err != nil {
		return store.Series{}, fmt.Errorf("dashboard series: %w", err)
	}
	// rng is the parameters and WHERE clause over a time column, with
	// $1 = since and $2 = step first for the bucket expression.
	rng := func(col string) (params, string) {
		var p params
		since := p.add(ts(q.Since))
		step := p.add(q.Step.Microseconds())
		if q.ClientID != "" {
			p.where(`client_id = ` + p.add(q.ClientID))
		}
		p.where(col + ` >= ` + since)
		p.where(col + ` < ` + p.add(ts(q.Until)))
		return p, bucketExpr(col, since, step)
	}
	var out store.Series

	// Buckets of whole hours read the hourly roll-up (pass_hours.go), the
	// same answer for a fraction of the rows; finer ones the results.
	var p params
	var bucket, passes string
	if q.RollsUp() {
		p, bucket = rng("hour")
		passes = `SELECT ` + bucket + `, duration_class, SUM(passes), SUM(failed), SUM(partial), SUM(clean), SUM(drift_detected)
FROM pass_hours`
	} else {
		p, bucket = rng("started_at")
		passes = `SELECT ` + bucket + `, ` + durationCase() + `, ` + passCounts + `
FROM reconciliations`
	}
	rows, _ := s.pool.Query(ctx, passes+p.clause()+` GROUP BY 1, 2 ORDER BY 1, 2`, p.args...)
	var b, d, n, failed, partial, clean, detected int
	_, err := pgx.ForEachRow(rows, []any{&b, &d, &n, &failed, &partial, &clean, &detected}, func() error {
		if k := len(out.Passes); k == 0 || out.Passes[k-1].Bucket != b {
			out.Passes = append(out.Passes, store.PassBucket{Bucket: b})
		}
		pb := &out.Passes[len(out.Passes)-1]
		pb.Passes += n
		pb.Failed += failed
		pb.Partial += partial
		pb.Clean += clean
		pb.DriftDetected += detected
		pb.Durations[d] += n
		return nil
	})
	if err != nil {
		return store.Series{}, fmt.Errorf("dashboard series passes: %w", err)
	}

	p, bucket = rng("first_seen")
	p.where(`confirmed`)
	rows, _ = s.pool.Query(ctx, `SELECT `+bucket+`, type, COUNT(*) FROM drifts`+p.clause()+` GROUP BY 1, 2 ORDER BY 1, 2`, p.args...)
	out.Detections, err = collectRows(rows, func(row pgx.CollectableRow) (store.DetectionBucket, error) {
		var (
			d   store.DetectionBucket
			typ string
		)
		err := row.Scan(&d.Bucket, &typ, &d.Count)
		d.Type = drift.Type(typ)
		return d, err
	})
	if err != nil {
		return store.Series{}, fmt.Errorf("dashboard series detections: %w", err)
	}

	p, bucket = rng("created_at")
	rows, _ = s.pool.Query(ctx, `SELECT `+bucket+`, status, COUNT(*) FROM heals`+p.clause()+` GROUP BY 1, 2 ORDER BY 1, 2`, p.args...)
	out.Heals, err = collectRows(rows, func(row pgx.CollectableRow) (store.HealBucket, error) {
		var (
			h      store.HealBucket
			status string
		)
		err := row.Scan(&h.Bucket, &status, &h.Count)
		h.Status = store.HealStatus(status)
		return h, err
	})
	if err != nil {
		return store.Series{}, fmt.Errorf("dashboard series heals: %w", err)
	}
	return out, nil
}

// CountStacks counts stacks by status.
func (s *Store) CountStacks(ctx context.Context, clientID string) (map[store.Status]int, error) {
	var p params
	if clientID != "" {
		p.where(`client_id = ` + p.add(clientID))
	}
	rows, _ := s.pool.Query(ctx, `SELECT status, COUNT(*) FROM states`+p.clause()+` GROUP BY status`, p.args...)
	out := map[store.Status]int{}
	var (
		st string
		n  int
	)
	_, err := pgx.ForEachRow(rows, []any{&st, &n}, func() error {
		out[store.Status(st)] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count stacks: %w", err)
	}
	return out, nil
}

// OpenDriftCounts groups the open drifts.
func (s *Store) OpenDriftCounts(ctx context.Context, clientID string, limit int) ([]store.DriftCount, error) {
	limit, err := store.BatchLimit(limit)
	if err != nil {
		return nil, fmt.Errorf("open drift counts: %w", err)
	}
	var p params
	if clientID != "" {
		p.where(`client_id = ` + p.add(clientID))
	}
	p.where(`resolved_at IS NULL AND confirmed`)
	rows, _ := s.pool.Query(ctx, `SELECT type, code, component, severity, COUNT(*), COUNT(DISTINCT (client_id, stack_id))
FROM drifts`+p.clause()+` GROUP BY type, code, component, severity
ORDER BY COUNT(*) DESC, type COLLATE "C", code COLLATE "C", component COLLATE "C", severity COLLATE "C" LIMIT `+p.add(limit), p.args...)
	out, err := collectRows(rows, func(row pgx.CollectableRow) (store.DriftCount, error) {
		var (
			c              store.DriftCount
			typ, code, sev string
		)
		err := row.Scan(&typ, &code, &c.Component, &sev, &c.Count, &c.Stacks)
		c.Type, c.Code, c.Severity = drift.Type(typ), drift.Code(code), drift.Severity(sev)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("open drift counts: %w", err)
	}
	return out, nil
}

// RecentDrifts lists a client's newest drifts.
func (s *Store) RecentDrifts(ctx context.Context, q store.RecentQuery) ([]drift.Drift, error) {
	limit, err := store.BatchLimit(q.Limit)
	if err != nil {
		return nil, fmt.Errorf("recent drifts of %s: %w", q.ClientID, err)
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+driftColumns+` FROM drifts WHERE client_id = $1 AND last_seen >= $2
ORDER BY last_seen DESC, stack_id, id LIMIT $3`, q.ClientID, ts(q.Since), limit)
	out, err := collectRows(rows, func(row pgx.CollectableRow) (drift.Drift, error) { return scanDrift(row) })
	if err != nil {
		return nil, fmt.Errorf("recent drifts of %s: %w", q.ClientID, err)
	}
	return out, nil
}

// RecentHeals lists a client's newest heal attempts.
func (s *Store) RecentHeals(ctx context.Context, q store.RecentQuery) ([]store.HealAttempt, error) {
	limit, err := store.BatchLimit(q.Limit)
	if err != nil {
		return nil, fmt.Errorf("recent heals of %s: %w", q.ClientID, err)
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+healColumns+` FROM heals WHERE client_id = $1 AND created_at >= $2
ORDER BY created_at DESC, id DESC LIMIT $3`, q.ClientID, ts(q.Since), limit)
	out, err := collectHeals(rows)
	if err != nil {
		return nil, fmt.Errorf("recent heals of %s: %w", q.ClientID, err)
	}
	return out, nil
}
