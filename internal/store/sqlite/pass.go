package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/store"
)

// CommitPass writes a pass in one transaction: the state (optimistic on
// Revision; on ErrConflict or ErrNotFound nothing at all is written), the
// open drifts (upserted), the stack's other open drifts resolved at
// Result.CompletedAt, the result, the audit entries (chained; Seq, PrevHash
// and Hash are filled in p.Audit too once committed) and the mark
// CheckedThrough for the stack's events and the client-wide ones (the
// events EventActivity reports to it).
//
// An acknowledgement is never lost to a concurrent pass: if a drift is open
// and acknowledged in the store, upserting it keeps the acknowledgement even
// when the pass read it before it was acknowledged.
func (s *Store) CommitPass(ctx context.Context, p store.Pass) (store.StateRecord, error) {
	key := p.State.Key()
	r, err := store.CheckPassResult(p)
	if err != nil {
		return store.StateRecord{}, fmt.Errorf("commit pass %s: %w", key, err)
	}
	drifts := make([][]any, len(p.Drifts))
	ids := make([]string, len(p.Drifts))
	for i, d := range p.Drifts {
		d, err := store.CheckPassDrift(p, d)
		if err != nil {
			return store.StateRecord{}, fmt.Errorf("commit pass %s: %w", key, err)
		}
		args, err := driftArgs(d)
		if err != nil {
			return store.StateRecord{}, fmt.Errorf("commit pass %s: %w", key, err)
		}
		drifts[i], ids[i] = args, d.ID
	}
	if err := store.CheckAudit(p.Audit); err != nil {
		return store.StateRecord{}, fmt.Errorf("commit pass %s: %w", key, err)
	}
	idsJSON, err := marshal(ids)
	if err != nil {
		return store.StateRecord{}, fmt.Errorf("commit pass %s: %w", key, err)
	}
	errorsJSON, err := marshal(r.Errors)
	if err != nil {
		return store.StateRecord{}, fmt.Errorf("commit pass %s: %w", key, err)
	}

	state := p.State
	state.UpdatedAt = s.now()
	row, err := encodeState(state)
	if err != nil {
		return store.StateRecord{}, fmt.Errorf("commit pass %s: %w", key, err)
	}
	var entries []store.AuditEntry
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := s.checkFence(ctx, tx, p.Fence, r.CompletedAt); err != nil {
			return err
		}
		if err := s.updateState(ctx, tx, &row); err != nil {
			return err
		}
		resolve, err := s.write(ctx, tx, qResolveDrifts)
		if err != nil {
			return err
		}
		if _, err := resolve.ExecContext(ctx, micros(r.CompletedAt), p.State.ClientID, p.State.StackID, idsJSON); err != nil {
			return fmt.Errorf("resolve drifts: %w", err)
		}
		if err := s.commitHeals(ctx, tx, p); err != nil {
			return err
		}
		if len(drifts) > 0 {
			if err := s.upsertDrifts(ctx, tx, drifts); err != nil {
				return err
			}
		}
		ins, err := s.write(ctx, tx, qInsertResult)
		if err != nil {
			return err
		}
		if _, err := ins.ExecContext(ctx, r.ReconciliationID, r.ClientID, r.StackID, r.Trigger,
			micros(r.StartedAt), micros(r.CompletedAt), string(r.Status), boolInt(r.DriftDetected), r.DriftCount,
			boolInt(r.AutoHealAttempted), r.AutoHealSuccessCount, errorsJSON, r.StateVersion); err != nil {
			return fmt.Errorf("insert reconciliation %s: %w", r.ReconciliationID, translate(err))
		}
		rollUp, err := s.write(ctx, tx, s.rollUp.add)
		if err != nil {
			return err
		}
		if _, err := rollUp.ExecContext(ctx); err != nil {
			return fmt.Errorf("roll up reconciliation %s: %w", r.ReconciliationID, err)
		}
		if entries, err = s.appendAudit(ctx, tx, p.Audit); err != nil {
			return err
		}
		if err := s.appendStream(ctx, tx, p.Stream); err != nil {
			return err
		}
		return s.markEvents(ctx, tx, p.State.ClientID, p.State.StackID, p.CheckedThrough)
	})
	if err != nil {
		return store.StateRecord{}, fmt.Errorf("commit pass %s: %w", key, err)
	}
	copy(p.Audit, entries)
	return row.stored(state)
}

const driftColumns = `client_id, stack_id, id, code, type, component, expected, observed, severity, cause,
	detected_at, first_seen, last_seen, observations, confirmed, acknowledged, acknowledged_by, resolved_at,
	heal_status`

// driftArgs encodes a drift as the values of driftColumns.
func driftArgs(d drift.Drift) ([]any, error) {
	d = store.TruncateDrift(d)
	expected, err := marshal(d.Expected)
	if err != nil {
		return nil, fmt.Errorf("drift %s expected: %w", d.ID, err)
	}
	observed, err := marshal(d.Observed)
	if err != nil {
		return nil, fmt.Errorf("drift %s observed: %w", d.ID, err)
	}
	return []any{d.ClientID, d.StackID, d.ID, string(d.Code), string(d.Type), d.Component,
		expected, observed, string(d.Severity), d.Cause, micros(d.DetectedAt), micros(d.FirstSeen),
		micros(d.LastSeen), d.Observations, boolInt(d.Confirmed), boolInt(d.Acknowledged), d.AcknowledgedBy,
		nullMicros(d.ResolvedAt), d.HealStatus}, nil
}

// upsertDrifts writes drifts encoded by driftArgs.
func (s *Store) upsertDrifts(ctx context.Context, tx *sql.Tx, drifts [][]any) error {
	up, err := s.write(ctx, tx, qUpsertDrift)
	if err != nil {
		return err
	}
	for _, args := range drifts {
		if _, err := up.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("upsert drift %s: %w", args[2], err)
		}
	}
	return nil
}

func scanDrift(sc scanner) (drift.Drift, error) {
	var (
		d                             drift.Drift
		code, typ, severity           string
		expected, observed            string
		detected, firstSeen, lastSeen int64
		confirmed, acknowledged       int64
		resolved                      sql.NullInt64
	)
	if err := sc.Scan(&d.ClientID, &d.StackID, &d.ID, &code, &typ, &d.Component, &expected, &observed, &severity,
		&d.Cause, &detected, &firstSeen, &lastSeen, &d.Observations, &confirmed, &acknowledged, &d.AcknowledgedBy,
		&resolved, &d.HealStatus); err != nil {
		return drift.Drift{}, err
	}
	d.Code, d.Type, d.Severity = drift.Code(code), drift.Type(typ), drift.Severity(severity)
	if err := json.Unmarshal([]byte(expected), &d.Expected); err != nil {
		return drift.Drift{}, fmt.Errorf("drift %s expected: %w", d.ID, err)
	}
	if err := json.Unmarshal([]byte(observed), &d.Observed); err != nil {
		return drift.Drift{}, fmt.Errorf("drift %s observed: %w", d.ID, err)
	}
	d.DetectedAt, d.FirstSeen, d.LastSeen = fromMicros(detected), fromMicros(firstSeen), fromMicros(lastSeen)
	d.Confirmed, d.Acknowledged = confirmed != 0, acknowledged != 0
	d.ResolvedAt = fromNullMicros(resolved)
	return d, nil
}

// ListDrifts returns drifts ordered by stack then id (by client first when
// q.ClientID is empty).
func (s *Store) ListDrifts(ctx context.Context, q store.DriftQuery) ([]drift.Drift, error) {
	var f filter
	if q.ClientID != "" {
		f.and(`client_id = ?`, q.ClientID)
	}
	if q.StackID != "" {
		f.and(`stack_id = ?`, q.StackID)
	}
	if !q.IncludeResolved {
		f.and(`resolved_at IS NULL`)
	}
	st, err := s.read(ctx, `SELECT `+driftColumns+` FROM drifts`+f.clause()+` ORDER BY client_id, stack_id, id`)
	if err != nil {
		return nil, fmt.Errorf("list drifts: %w", err)
	}
	rows, err := st.QueryContext(ctx, f.args...)
	if err != nil {
		return nil, fmt.Errorf("list drifts %s/%s: %w", q.ClientID, q.StackID, err)
	}
	defer rows.Close()
	var out []drift.Drift
	for rows.Next() {
		d, err := scanDrift(rows)
		if err != nil {
			return nil, fmt.Errorf("list drifts %s/%s: %w", q.ClientID, q.StackID, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list drifts %s/%s: %w", q.ClientID, q.StackID, err)
	}
	return out, nil
}

// AcknowledgeDrift marks an open drift of the client acknowledged by by, or
// returns store.ErrNotFound (unknown, another client's, or resolved).
func (s *Store) AcknowledgeDrift(ctx context.Context, a store.Acknowledge) (drift.Drift, error) {
	clientID, driftID, by, at := a.ClientID, a.DriftID, a.By, a.At
	var d drift.Drift
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := s.write(ctx, tx, qAckDrift)
		if err != nil {
			return err
		}
		d, err = scanDrift(st.QueryRowContext(ctx, by, micros(at), clientID, driftID))
		return translate(err)
	})
	if err != nil {
		return drift.Drift{}, fmt.Errorf("acknowledge drift %s of %s: %w", driftID, clientID, err)
	}
	return d, nil
}

// ListReconciliations returns results newest first by (StartedAt, insertion
// order); clientID and stackID filter when not empty.
func (s *Store) ListReconciliations(ctx context.Context, clientID, stackID, cursor string, limit int) ([]store.ReconciliationResult, store.Page, error) {
	var f filter
	if clientID != "" {
		f.and(`client_id = ?`, clientID)
	}
	if stackID != "" {
		f.and(`stack_id = ?`, stackID)
	}
	if cursor != "" {
		var started, seq int64
		if err := store.DecodeCursor(cursor, &started, &seq); err != nil {
			return nil, "", fmt.Errorf("list reconciliations: %w", err)
		}
		f.and(`started_at <= ? AND (started_at < ? OR seq < ?)`, started, started, seq)
	}
	limit = store.PageLimit(limit)
	f.args = append(f.args, limit+1)
	st, err := s.read(ctx, `SELECT reconciliation_id, client_id, stack_id, pass_trigger, started_at, completed_at,
	status, drift_detected, drift_count, auto_heal_attempted, auto_heal_success_count, errors, state_version, seq
FROM reconciliations`+f.clause()+` ORDER BY started_at DESC, seq DESC LIMIT ?`)
	if err != nil {
		return nil, "", fmt.Errorf("list reconciliations: %w", err)
	}
	rows, err := st.QueryContext(ctx, f.args...)
	if err != nil {
		return nil, "", fmt.Errorf("list reconciliations: %w", err)
	}
	defer rows.Close()
	var (
		out  []store.ReconciliationResult
		seqs []int64
	)
	for rows.Next() {
		var (
			r                       store.ReconciliationResult
			status, errs            string
			started, completed, seq int64
			detected, healAttempted int64
		)
		if err := rows.Scan(&r.ReconciliationID, &r.ClientID, &r.StackID, &r.Trigger, &started, &completed,
			&status, &detected, &r.DriftCount, &healAttempted, &r.AutoHealSuccessCount, &errs, &r.StateVersion,
			&seq); err != nil {
			return nil, "", fmt.Errorf("list reconciliations: %w", err)
		}
		r.StartedAt, r.CompletedAt = fromMicros(started), fromMicros(completed)
		r.Status, r.DriftDetected, r.AutoHealAttempted = store.ResultStatus(status), detected != 0, healAttempted != 0
		if err := json.Unmarshal([]byte(errs), &r.Errors); err != nil {
			return nil, "", fmt.Errorf("list reconciliations: %s errors: %w", r.ReconciliationID, err)
		}
		out = append(out, r)
		seqs = append(seqs, seq)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list reconciliations: %w", err)
	}
	out, next := store.NextPage(out, limit, func(last store.ReconciliationResult) []any {
		return store.ReconciliationKey(last, seqs[limit-1])
	})
	return out, next, nil
}

// AppendAudit appends entries to the chain in one transaction. Seq, PrevHash
// and Hash are filled in entries once committed; a zero Timestamp is set to
// now.
func (s *Store) AppendAudit(ctx context.Context, entries []store.AuditEntry) error {
	if err := store.CheckAudit(entries); err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	var out []store.AuditEntry
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		out, err = s.appendAudit(ctx, tx, entries)
		return err
	})
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	copy(entries, out)
	return nil
}

// appendAudit chains entries after the last stored one inside tx, which
// holds the write lock, so no other append can interleave.
func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, entries []store.AuditEntry) ([]store.AuditEntry, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	last, err := s.write(ctx, tx, qAuditHead)
	if err != nil {
		return nil, err
	}
	var (
		seq  int64
		prev string
	)
	if err := last.QueryRowContext(ctx).Scan(&seq, &prev); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read audit head: %w", err)
	}
	ins, err := s.write(ctx, tx, qInsertAudit)
	if err != nil {
		return nil, err
	}
	out := store.ChainAudit(entries, seq, prev, s.now())
	for _, e := range out {
		if _, err := ins.ExecContext(ctx, e.Seq, micros(e.Timestamp), e.Action, e.ClientID, e.StackID, e.TriggeredBy,
			boolInt(e.Success), nullJSON(e.ChangesMade), boolInt(e.ApprovalRequired), e.Approver, e.ReconciliationID,
			e.DriftID, e.PrevHash, e.Hash); err != nil {
			return nil, fmt.Errorf("insert audit %d: %w", e.Seq, translate(err))
		}
	}
	return out, nil
}

// ListAudit returns entries oldest first, cursor-paginated by Seq.
func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, store.Page, error) {
	var f filter
	if q.ClientID != "" {
		f.and(`client_id = ?`, q.ClientID)
	}
	if q.Action != "" {
		f.and(`action = ?`, q.Action)
	}
	if !q.Since.IsZero() {
		f.and(`timestamp >= ?`, micros(q.Since))
	}
	if !q.Until.IsZero() {
		f.and(`timestamp < ?`, micros(q.Until))
	}
	if q.Cursor != "" {
		var after int64
		if err := store.DecodeCursor(q.Cursor, &after); err != nil {
			return nil, "", fmt.Errorf("list audit: %w", err)
		}
		f.and(`seq > ?`, after)
	}
	limit := store.PageLimit(q.Limit)
	f.args = append(f.args, limit+1)
	columns, scan := auditColumns, scanAudit
	if q.Brief {
		columns, scan = briefAuditColumns, scanBriefAudit
	}
	st, err := s.read(ctx, `SELECT `+columns+` FROM audit`+f.clause()+` ORDER BY seq LIMIT ?`)
	if err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	rows, err := st.QueryContext(ctx, f.args...)
	if err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	out := make([]store.AuditEntry, 0, limit+1)
	for rows.Next() {
		e, err := scan(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list audit: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	out, next := store.NextPage(out, limit, store.AuditKey)
	return out, next, nil
}

// auditColumns are the columns of an audit entry as scanAudit reads them;
// briefAuditColumns those of a brief entry (AuditQuery.Brief), as
// scanBriefAudit reads them.
const (
	auditColumns = `seq, timestamp, action, client_id, stack_id, triggered_by, success, changes_made,
	approval_required, approver, reconciliation_id, drift_id, prev_hash, hash`
	briefAuditColumns = `seq, timestamp, action, client_id, stack_id, changes_made, approval_required, drift_id`
)

func scanAudit(rows *sql.Rows) (store.AuditEntry, error) {
	var (
		e                 store.AuditEntry
		ts                int64
		success, approval int64
		changes           sql.NullString
	)
	if err := rows.Scan(&e.Seq, &ts, &e.Action, &e.ClientID, &e.StackID, &e.TriggeredBy, &success, &changes,
		&approval, &e.Approver, &e.ReconciliationID, &e.DriftID, &e.PrevHash, &e.Hash); err != nil {
		return e, err
	}
	e.Timestamp, e.Success, e.ApprovalRequired = fromMicros(ts), success != 0, approval != 0
	if changes.Valid {
		e.ChangesMade = json.RawMessage(changes.String)
	}
	return e, nil
}

func scanBriefAudit(rows *sql.Rows) (store.AuditEntry, error) {
	var (
		e            store.AuditEntry
		ts, approval int64
		changes      sql.NullString
	)
	if err := rows.Scan(&e.Seq, &ts, &e.Action, &e.ClientID, &e.StackID, &changes, &approval, &e.DriftID); err != nil {
		return e, err
	}
	e.Timestamp, e.ApprovalRequired = fromMicros(ts), approval != 0
	if changes.Valid {
		e.ChangesMade = json.RawMessage(changes.String)
	}
	return e, nil
}

// LoadPass reads the stack's state, open drifts, event activity and open
// forecasts. Reads
// are in-process and cheap here: one after the other.
func (s *Store) LoadPass(ctx context.Context, clientID, stackID string, since time.Time) (store.PassInput, error) {
	var (
		in  store.PassInput
		err error
	)
	if in.State, err = s.GetState(ctx, clientID, stackID); err != nil {
		return store.PassInput{}, err
	}
	if in.Drifts, err = s.ListDrifts(ctx, store.DriftQuery{ClientID: clientID, StackID: stackID}); err != nil {
		return store.PassInput{}, err
	}
	if in.Activity, err = s.EventActivity(ctx, clientID, stackID, since); err != nil {
		return store.PassInput{}, err
	}
	if in.Forecasts, err = store.All(func(cursor store.Page) ([]forecast.Forecast, store.Page, error) {
		return s.ListForecasts(ctx, store.ForecastQuery{ClientID: clientID, StackID: stackID, Cursor: cursor, Limit: store.MaxLimit})
	}); err != nil {
		return store.PassInput{}, err
	}
	return in, nil
}
