package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/store"
)

const forecastColumns = `id, client_id, stack_id, code, component, eta, confidence, class, evidence, raised_at, cleared_at`

func scanForecast(row pgx.Row) (forecast.Forecast, error) {
	var (
		f               forecast.Forecast
		code, class, ev string
		conf            int64
		cleared         *time.Time
	)
	if err := row.Scan(&f.ID, &f.ClientID, &f.StackID, &code, &f.Component, &f.ETA, &conf, &class, &ev, &f.RaisedAt, &cleared); err != nil {
		return forecast.Forecast{}, translate(err)
	}
	e, err := store.ForecastEvidenceOf(ev)
	if err != nil {
		return forecast.Forecast{}, fmt.Errorf("forecast %s: %w", f.ID, err)
	}
	f.Code, f.Class, f.Evidence = drift.Code(code), forecast.Class(class), e
	f.ETA, f.RaisedAt, f.ClearedAt = utc(f.ETA), utc(f.RaisedAt), utcPtr(cleared)
	f.Confidence = store.ForecastConfidenceOf(conf)
	return f, nil
}

// WriteForecasts raises, updates and clears forecasts and appends audit in
// one transaction. A raise of a key that is open upserts into the open row
// (the partial unique index forecasts_open is the conflict target).
func (s *Store) WriteForecasts(ctx context.Context, w store.ForecastWrite) ([]forecast.Forecast, error) {
	if err := store.CheckForecastWrite(w); err != nil {
		return nil, fmt.Errorf("write forecasts: %w", err)
	}
	evidence := func(fs []forecast.Forecast) ([]string, error) {
		out := make([]string, len(fs))
		for i, f := range fs {
			ev, err := store.ForecastEvidence(f.Evidence)
			if err != nil {
				return nil, err
			}
			out[i] = ev
		}
		return out, nil
	}
	raiseEv, err := evidence(w.Raise)
	if err != nil {
		return nil, fmt.Errorf("write forecasts: %w", err)
	}
	updateEv, err := evidence(w.Update)
	if err != nil {
		return nil, fmt.Errorf("write forecasts: %w", err)
	}
	raised := make([]forecast.Forecast, len(w.Raise))
	var out []store.AuditEntry
	err = s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		var head auditHead
		b := tx.batch()
		for i, f := range w.Raise {
			b.Queue(`INSERT INTO forecasts (`+forecastColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)
ON CONFLICT (client_id, stack_id, code, component) WHERE cleared_at IS NULL DO UPDATE SET
	eta = excluded.eta, confidence = excluded.confidence, class = excluded.class, evidence = excluded.evidence
RETURNING `+forecastColumns,
				f.ID, f.ClientID, f.StackID, string(f.Code), f.Component, ts(f.ETA),
				store.ForecastConfidence(f.Confidence), string(f.Class), raiseEv[i], ts(f.RaisedAt)).
				QueryRow(func(row pgx.Row) error {
					got, err := scanForecast(row)
					if err != nil {
						return fmt.Errorf("raise forecast %s: %w", f.ID, err)
					}
					raised[i] = got
					return nil
				})
		}
		for i, f := range w.Update {
			b.Queue(`UPDATE forecasts SET eta = $1, confidence = $2, class = $3, evidence = $4
WHERE id = $5 AND cleared_at IS NULL`, ts(f.ETA), store.ForecastConfidence(f.Confidence), string(f.Class), updateEv[i], f.ID).
				Exec(func(pgconn.CommandTag) error { return nil })
		}
		for _, f := range w.Clear {
			b.Queue(`UPDATE forecasts SET cleared_at = $1 WHERE id = $2 AND cleared_at IS NULL`, ts(*f.ClearedAt), f.ID).
				Exec(func(pgconn.CommandTag) error { return nil })
		}
		if len(w.Audit) == 0 {
			return tx.commit(ctx, b)
		}
		head.queue(b, len(w.Audit))
		if err := tx.send(ctx, b); err != nil {
			return err
		}
		b = tx.batch()
		out = s.queueAudit(b, head, w.Audit)
		return tx.commit(ctx, b)
	})
	if err != nil {
		return nil, fmt.Errorf("write forecasts: %w", translate(err))
	}
	copy(w.Audit, out)
	return raised, nil
}

// ListForecasts lists a client's forecasts by stack, raised_at and id.
func (s *Store) ListForecasts(ctx context.Context, q store.ForecastQuery) ([]forecast.Forecast, store.Page, error) {
	if q.ClientID == "" {
		return nil, "", errors.New("list forecasts: client is required")
	}
	var p params
	p.where(`client_id = ` + p.add(q.ClientID))
	if q.StackID != "" {
		p.where(`stack_id = ` + p.add(q.StackID))
	}
	if !q.IncludeCleared {
		p.where(`cleared_at IS NULL`)
	}
	if q.Cursor != "" {
		var (
			stack, id string
			raised    int64
		)
		if err := store.DecodeCursor(q.Cursor, &stack, &raised, &id); err != nil {
			return nil, "", fmt.Errorf("list forecasts: %w", err)
		}
		p.where(`(stack_id, raised_at, id) > (` + p.add(stack) + `, ` + p.add(fromMicros(raised)) + `, ` + p.add(id) + `)`)
	}
	limit := store.PageLimit(q.Limit)
	rows, _ := s.pool.Query(ctx, `SELECT `+forecastColumns+` FROM forecasts`+p.clause()+
		` ORDER BY stack_id, raised_at, id LIMIT `+p.add(limit+1), p.args...)
	defer rows.Close()
	var out []forecast.Forecast
	for rows.Next() {
		f, err := scanForecast(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list forecasts: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list forecasts: %w", err)
	}
	out, next := store.NextPage(out, limit, store.ForecastKey)
	return out, next, nil
}

// OpenForecastCounts counts open forecasts per code.
func (s *Store) OpenForecastCounts(ctx context.Context) (map[drift.Code]int, error) {
	rows, _ := s.pool.Query(ctx, `SELECT code, count(*) FROM forecasts WHERE cleared_at IS NULL GROUP BY code`)
	defer rows.Close()
	out := map[drift.Code]int{}
	for rows.Next() {
		var (
			code string
			n    int64
		)
		if err := rows.Scan(&code, &n); err != nil {
			return nil, fmt.Errorf("count open forecasts: %w", err)
		}
		out[drift.Code(code)] = int(n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count open forecasts: %w", err)
	}
	return out, nil
}
