package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/store"
)

const forecastColumns = `id, client_id, stack_id, code, component, eta, confidence, class, evidence, raised_at, cleared_at`

func scanForecast(row scanner) (forecast.Forecast, error) {
	var (
		f                 forecast.Forecast
		code, class, ev   string
		eta, raised, conf int64
		cleared           sql.NullInt64
	)
	if err := row.Scan(&f.ID, &f.ClientID, &f.StackID, &code, &f.Component, &eta, &conf, &class, &ev, &raised, &cleared); err != nil {
		return forecast.Forecast{}, translate(err)
	}
	e, err := store.ForecastEvidenceOf(ev)
	if err != nil {
		return forecast.Forecast{}, fmt.Errorf("forecast %s: %w", f.ID, err)
	}
	f.Code, f.Class, f.Evidence = drift.Code(code), forecast.Class(class), e
	f.ETA, f.RaisedAt, f.ClearedAt = fromMicros(eta), fromMicros(raised), fromNullMicros(cleared)
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
	raised := make([]forecast.Forecast, len(w.Raise))
	var out []store.AuditEntry
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for i, f := range w.Raise {
			ev, err := store.ForecastEvidence(f.Evidence)
			if err != nil {
				return err
			}
			got, err := scanForecast(tx.QueryRowContext(ctx, `INSERT INTO forecasts (`+forecastColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
ON CONFLICT (client_id, stack_id, code, component) WHERE cleared_at IS NULL DO UPDATE SET
	eta = excluded.eta, confidence = excluded.confidence, class = excluded.class, evidence = excluded.evidence
RETURNING `+forecastColumns,
				f.ID, f.ClientID, f.StackID, string(f.Code), f.Component, micros(f.ETA),
				store.ForecastConfidence(f.Confidence), string(f.Class), ev, micros(f.RaisedAt)))
			if err != nil {
				return fmt.Errorf("raise forecast %s: %w", f.ID, err)
			}
			raised[i] = got
		}
		for _, f := range w.Update {
			ev, err := store.ForecastEvidence(f.Evidence)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE forecasts SET eta = ?, confidence = ?, class = ?, evidence = ?
WHERE id = ? AND cleared_at IS NULL`, micros(f.ETA), store.ForecastConfidence(f.Confidence), string(f.Class), ev, f.ID); err != nil {
				return fmt.Errorf("update forecast %s: %w", f.ID, err)
			}
		}
		for _, f := range w.Clear {
			if _, err := tx.ExecContext(ctx, `UPDATE forecasts SET cleared_at = ? WHERE id = ? AND cleared_at IS NULL`,
				micros(*f.ClearedAt), f.ID); err != nil {
				return fmt.Errorf("clear forecast %s: %w", f.ID, err)
			}
		}
		var err error
		out, err = s.appendAudit(ctx, tx, w.Audit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("write forecasts: %w", err)
	}
	copy(w.Audit, out)
	return raised, nil
}

// ListForecasts lists a client's forecasts by stack, raised_at and id.
func (s *Store) ListForecasts(ctx context.Context, q store.ForecastQuery) ([]forecast.Forecast, store.Page, error) {
	if q.ClientID == "" {
		return nil, "", errors.New("list forecasts: client is required")
	}
	var f filter
	f.and(`client_id = ?`, q.ClientID)
	if q.StackID != "" {
		f.and(`stack_id = ?`, q.StackID)
	}
	if !q.IncludeCleared {
		f.and(`cleared_at IS NULL`)
	}
	if q.Cursor != "" {
		var (
			stack, id string
			raised    int64
		)
		if err := store.DecodeCursor(q.Cursor, &stack, &raised, &id); err != nil {
			return nil, "", fmt.Errorf("list forecasts: %w", err)
		}
		f.and(`(stack_id, raised_at, id) > (?, ?, ?)`, stack, raised, id)
	}
	limit := store.PageLimit(q.Limit)
	f.args = append(f.args, limit+1)
	rows, err := s.reader.QueryContext(ctx, `SELECT `+forecastColumns+` FROM forecasts`+f.clause()+
		` ORDER BY stack_id, raised_at, id LIMIT ?`, f.args...)
	if err != nil {
		return nil, "", fmt.Errorf("list forecasts: %w", err)
	}
	defer rows.Close()
	var out []forecast.Forecast
	for rows.Next() {
		fc, err := scanForecast(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list forecasts: %w", err)
		}
		out = append(out, fc)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list forecasts: %w", err)
	}
	out, next := store.NextPage(out, limit, store.ForecastKey)
	return out, next, nil
}

// OpenForecastCounts counts open forecasts per code.
func (s *Store) OpenForecastCounts(ctx context.Context) (map[drift.Code]int, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT code, count(*) FROM forecasts WHERE cleared_at IS NULL GROUP BY code`)
	if err != nil {
		return nil, fmt.Errorf("count open forecasts: %w", err)
	}
	defer rows.Close()
	out := map[drift.Code]int{}
	for rows.Next() {
		var (
			code string
			n    int
		)
		if err := rows.Scan(&code, &n); err != nil {
			return nil, fmt.Errorf("count open forecasts: %w", err)
		}
		out[drift.Code(code)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count open forecasts: %w", err)
	}
	return out, nil
}
