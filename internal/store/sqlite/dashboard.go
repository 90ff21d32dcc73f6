package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// The dashboards' aggregates (store.Dashboards). Times are unix
// microseconds, so a bucket is (t - since) / step in integers; every query
// is a range of an index on (client_id, time) or (time) and groups in the
// database.

// durationCase is the SQL CASE giving a pass's duration bucket (the index in
// store.PassBucket.Durations) from completed_at - started_at; a negative
// duration (skewed clocks) is bucket 0.
func durationCase() string {
	var b strings.Builder
	b.WriteString(`CASE`)
	for i, d := range store.DurationBounds {
		b.WriteString(` WHEN completed_at - started_at <= ` + strconv.FormatInt(d.Microseconds(), 10) + ` THEN ` + strconv.Itoa(i))
	}
	b.WriteString(` ELSE ` + strconv.Itoa(len(store.DurationBounds)) + ` END`)
	return b.String()
}

// DashboardSeries aggregates passes, detections and heals into buckets.
func (s *Store) DashboardSeries(ctx context.Context, q store.SeriesQuery) (store.Series, error) {
	if err := q.Check(); err != nil {
		return store.Series{}, fmt.Errorf("dashboard series: %w", err)
	}
	since, until, step := micros(q.Since), micros(q.Until), q.Step.Microseconds()
	// range is the WHERE clause over a time column, client first so that
	// the (client_id, time) indexes serve it.
	rng := func(col string) filter {
		var f filter
		if q.ClientID != "" {
			f.and(`client_id = ?`, q.ClientID)
		}
		f.and(col+` >= ?`, since)
		f.and(col+` < ?`, until)
		return f
	}
	var out store.Series

	// Buckets of whole hours read the hourly roll-up (pass_hours.go), the
	// same answer for a fraction of the rows; finer ones the results.
	passes := `SELECT (started_at - ?) / ?, ` + durationCase() + `, ` + passCounts + `
FROM reconciliations`
	f := rng("started_at")
	if q.RollsUp() {
		passes = `SELECT (hour - ?) / ?, duration_class, SUM(passes), SUM(failed), SUM(partial), SUM(clean), SUM(drift_detected)
FROM pass_hours`
		f = rng("hour")
	}
	rows, err := s.query(ctx, passes+f.clause()+` GROUP BY 1, 2 ORDER BY 1, 2`, append([]any{since, step}, f.args...)...)
	if err != nil {
		return store.Series{}, fmt.Errorf("dashboard series passes: %w", err)
	}
	err = scanRows(rows, func(sc scanner) error {
		var b, d, n, failed, partial, clean, detected int
		if err := sc.Scan(&b, &d, &n, &failed, &partial, &clean, &detected); err != nil {
			return err
		}
		if k := len(out.Passes); k == 0 || out.Passes[k-1].Bucket != b {
			out.Passes = append(out.Passes, store.PassBucket{Bucket: b})
		}
		p := &out.Passes[len(out.Passes)-1]
		p.Passes += n
		p.Failed += failed
		p.Partial += partial
		p.Clean += clean
		p.DriftDetected += detected
		p.Durations[d] += n
		return nil
	})
	if err != nil {
		return store.Series{}, fmt.Errorf("dashboard series passes: %w", err)
	}

	f = rng("first_seen")
	f.and(`confirmed != 0`)
	rows, err = s.query(ctx, `SELECT (first_seen - ?) / ?, type, COUNT(*) FROM drifts`+f.clause()+` GROUP BY 1, 2 ORDER BY 1, 2`,
		append([]any{since, step}, f.args...)...)
	if err != nil {
		return store.Series{}, fmt.Errorf("dashboard series detections: %w", err)
	}
	err = scanRows(rows, func(sc scanner) error {
		var d store.DetectionBucket
		var typ string
		if err := sc.Scan(&d.Bucket, &typ, &d.Count); err != nil {
			return err
		}
		d.Type = drift.Type(typ)
		out.Detections = append(out.Detections, d)
		return nil
	})
	if err != nil {
		return store.Series{}, fmt.Errorf("dashboard series detections: %w", err)
	}

	f = rng("created_at")
	rows, err = s.query(ctx, `SELECT (created_at - ?) / ?, status, COUNT(*) FROM heals`+f.clause()+` GROUP BY 1, 2 ORDER BY 1, 2`,
		append([]any{since, step}, f.args...)...)
	if err != nil {
		return store.Series{}, fmt.Errorf("dashboard series heals: %w", err)
	}
	err = scanRows(rows, func(sc scanner) error {
		var h store.HealBucket
		var status string
		if err := sc.Scan(&h.Bucket, &status, &h.Count); err != nil {
			return err
		}
		h.Status = store.HealStatus(status)
		out.Heals = append(out.Heals, h)
		return nil
	})
	if err != nil {
		return store.Series{}, fmt.Errorf("dashboard series heals: %w", err)
	}
	return out, nil
}

// CountStacks counts stacks by status.
func (s *Store) CountStacks(ctx context.Context, clientID string) (map[store.Status]int, error) {
	var f filter
	if clientID != "" {
		f.and(`client_id = ?`, clientID)
	}
	rows, err := s.query(ctx, `SELECT status, COUNT(*) FROM states`+f.clause()+` GROUP BY status`, f.args...)
	if err != nil {
		return nil, fmt.Errorf("count stacks: %w", err)
	}
	out := map[store.Status]int{}
	err = scanRows(rows, func(sc scanner) error {
		var st string
		var n int
		if err := sc.Scan(&st, &n); err != nil {
			return err
		}
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
	var f filter
	if clientID != "" {
		f.and(`client_id = ?`, clientID)
	}
	f.and(`resolved_at IS NULL AND confirmed != 0`)
	f.args = append(f.args, limit)
	rows, err := s.query(ctx, `SELECT type, code, component, severity, COUNT(*), COUNT(DISTINCT client_id || '/' || stack_id)
FROM drifts`+f.clause()+` GROUP BY type, code, component, severity ORDER BY 5 DESC, 1, 2, 3, 4 LIMIT ?`, f.args...)
	if err != nil {
		return nil, fmt.Errorf("open drift counts: %w", err)
	}
	var out []store.DriftCount
	err = scanRows(rows, func(sc scanner) error {
		var c store.DriftCount
		var typ, code, sev string
		if err := sc.Scan(&typ, &code, &c.Component, &sev, &c.Count, &c.Stacks); err != nil {
			return err
		}
		c.Type, c.Code, c.Severity = drift.Type(typ), drift.Code(code), drift.Severity(sev)
		out = append(out, c)
		return nil
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
	rows, err := s.query(ctx, `SELECT `+driftColumns+` FROM drifts WHERE client_id = ? AND last_seen >= ?
ORDER BY last_seen DESC, stack_id, id LIMIT ?`, q.ClientID, micros(q.Since), limit)
	if err != nil {
		return nil, fmt.Errorf("recent drifts of %s: %w", q.ClientID, err)
	}
	var out []drift.Drift
	err = scanRows(rows, func(sc scanner) error {
		d, err := scanDrift(sc)
		out = append(out, d)
		return err
	})
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
	st, err := s.read(ctx, `SELECT `+healColumns+` FROM heals WHERE client_id = ? AND created_at >= ?
ORDER BY created_at DESC, id DESC LIMIT ?`)
	if err != nil {
		return nil, fmt.Errorf("recent heals of %s: %w", q.ClientID, err)
	}
	out, err := queryHeals(ctx, st, q.ClientID, micros(q.Since), limit)
	if err != nil {
		return nil, fmt.Errorf("recent heals of %s: %w", q.ClientID, err)
	}
	return out, nil
}

// query runs a read through the reader pool's statement cache.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.read(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// scanRows calls fn for each row and closes rows.
func scanRows(rows *sql.Rows, fn func(sc scanner) error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
