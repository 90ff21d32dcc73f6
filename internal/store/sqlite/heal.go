package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

const healColumns = `id, drift_id, client_id, stack_id, code, component, provider, action, attempt, status,
	reconciliation_id, approval_id, triggered_by, drift_detail, not_before, owner, lease_until, claims,
	created_at, started_at, completed_at, verified_at, detail, error`

const approvalColumns = `id, client_id, stack_id, drift_id, code, component, action, approval_class, diff,
	triggered_by, reconciliation_id, status, created_at, expires_at, decided_at, decided_by, reason, heal_id`

// qInsertHeal stores a new attempt; one whose id is stored is left alone.
const qInsertHeal = `INSERT INTO heals (` + healColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING`

// qExecuteApproval marks an approved request executed by a new attempt:
// no row changes when the request is not approved (any more) or the
// attempt is stored already, and the attempt is then not written.
const qExecuteApproval = `UPDATE approvals SET status = 'executed', heal_id = ?
WHERE id = ? AND client_id = ? AND stack_id = ? AND status = 'approved'
	AND NOT EXISTS (SELECT 1 FROM heals WHERE id = ?)`

// qUpdateHeal applies a pass's verdict while the attempt is in one of the
// listed statuses (a JSON array). The lease ends: a worker still holding
// a cancelled attempt is fenced off (FinishHeal answers ErrConflict).
const qUpdateHeal = `UPDATE heals SET status = ?, verified_at = COALESCE(?, verified_at),
	completed_at = COALESCE(completed_at, ?), lease_until = NULL,
	error = CASE WHEN ? = '' THEN error ELSE ? END
WHERE id = ? AND client_id = ? AND stack_id = ? AND status IN (SELECT value FROM json_each(?))`

// qInsertApproval stores a new request unless its id is stored or its
// drift has a pending or approved one (the unique index approvals_open).
// qRetireApproval expires a request of the stack that no longer applies.
const qRetireApproval = `UPDATE approvals SET status = 'expired'
WHERE id = ? AND client_id = ? AND stack_id = ? AND status IN ('pending', 'approved')`

const qInsertApproval = `INSERT INTO approvals (` + approvalColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING`

// qRecordReturns records the drifts of a pass that are stored resolved:
// the upsert that follows reopens them.
const qRecordReturns = `INSERT INTO drift_returns (client_id, stack_id, drift_id, returned_at)
SELECT client_id, stack_id, id, ? FROM drifts
WHERE client_id = ? AND stack_id = ? AND resolved_at IS NOT NULL AND id IN (SELECT value FROM json_each(?))`

// healWrites is what a pass writes of healing, checked and encoded before
// the transaction runs it.
type healWrites struct {
	returns   string // JSON array of the ids of drifts the pass reports open
	heals     []healWrite
	updates   [][]any // qUpdateHeal's arguments
	approvals [][]any // qInsertApproval's arguments
}

type healWrite struct {
	args     []any // qInsertHeal's arguments
	approval []any // qExecuteApproval's arguments, nil without an approval
}

// prepareHeals checks and encodes the healing part of a pass. Heals and
// approvals without client and stack are the pass's stack's; others must
// be. A zero CreatedAt is now, a zero NotBefore is CreatedAt, an empty
// Status is pending, an empty ReconciliationID is the pass's.
func (s *Store) prepareHeals(p store.Pass) (healWrites, error) {
	var w healWrites
	client, stack := p.State.ClientID, p.State.StackID
	if open := store.OpenDriftIDs(p); len(open) > 0 {
		var err error
		if w.returns, err = marshal(open); err != nil {
			return w, err
		}
	}
	now := s.now()
	for _, h := range p.Heals {
		h, err := store.CheckHeal(h, p, now)
		if err != nil {
			return w, err
		}
		hw := healWrite{args: healArgs(h)}
		if h.ApprovalID != "" {
			hw.approval = []any{h.ID, h.ApprovalID, client, stack, h.ID}
		}
		w.heals = append(w.heals, hw)
	}
	for _, u := range p.HealUpdates {
		if err := store.CheckHealUpdate(u); err != nil {
			return w, err
		}
		from, err := marshal(u.From)
		if err != nil {
			return w, err
		}
		w.updates = append(w.updates, []any{string(u.Status), nullMicros(u.VerifiedAt()), micros(u.At),
			u.Error, u.Error, u.ID, client, stack, from})
	}
	for _, a := range p.Approvals {
		a, err := store.CheckApproval(a, p, now)
		if err != nil {
			return w, err
		}
		w.approvals = append(w.approvals, approvalArgs(a))
	}
	return w, nil
}

func nullJSON(b json.RawMessage) sql.NullString {
	if len(b) == 0 {
		return sql.NullString{}
	}
	return sql.NullString{String: string(b), Valid: true}
}

// healArgs encodes an attempt as the values of healColumns.
func healArgs(h store.HealAttempt) []any {
	return []any{h.ID, h.DriftID, h.ClientID, h.StackID, string(h.Code), h.Component, h.Provider, h.Action,
		h.Attempt, string(h.Status), h.ReconciliationID, h.ApprovalID, h.TriggeredBy, nullJSON(h.Drift),
		micros(h.NotBefore), h.Owner, nullMicros(h.LeaseUntil), h.Claims, micros(h.CreatedAt),
		nullMicros(h.StartedAt), nullMicros(h.CompletedAt), nullMicros(h.VerifiedAt), h.Detail, h.Error}
}

func scanHeal(sc scanner) (store.HealAttempt, error) {
	var (
		h                                   store.HealAttempt
		code, status                        string
		detail                              sql.NullString
		notBefore, created                  int64
		lease, started, completed, verified sql.NullInt64
	)
	if err := sc.Scan(&h.ID, &h.DriftID, &h.ClientID, &h.StackID, &code, &h.Component, &h.Provider, &h.Action,
		&h.Attempt, &status, &h.ReconciliationID, &h.ApprovalID, &h.TriggeredBy, &detail, &notBefore, &h.Owner,
		&lease, &h.Claims, &created, &started, &completed, &verified, &h.Detail, &h.Error); err != nil {
		return store.HealAttempt{}, err
	}
	h.Code, h.Status = drift.Code(code), store.HealStatus(status)
	if detail.Valid {
		h.Drift = json.RawMessage(detail.String)
	}
	h.NotBefore, h.CreatedAt = fromMicros(notBefore), fromMicros(created)
	h.LeaseUntil, h.StartedAt = fromNullMicros(lease), fromNullMicros(started)
	h.CompletedAt, h.VerifiedAt = fromNullMicros(completed), fromNullMicros(verified)
	return h, nil
}

// approvalArgs encodes an approval as the values of approvalColumns.
func approvalArgs(a store.Approval) []any {
	return []any{a.ID, a.ClientID, a.StackID, a.DriftID, string(a.Code), a.Component, a.Action, a.Class,
		nullJSON(a.Diff), a.TriggeredBy, a.ReconciliationID, string(a.Status), micros(a.CreatedAt),
		micros(a.ExpiresAt), nullMicros(a.DecidedAt), a.DecidedBy, a.Reason, a.HealID}
}

func scanApproval(sc scanner) (store.Approval, error) {
	var (
		a                store.Approval
		code, status     string
		diff             sql.NullString
		created, expires int64
		decided          sql.NullInt64
	)
	if err := sc.Scan(&a.ID, &a.ClientID, &a.StackID, &a.DriftID, &code, &a.Component, &a.Action, &a.Class, &diff,
		&a.TriggeredBy, &a.ReconciliationID, &status, &created, &expires, &decided, &a.DecidedBy, &a.Reason,
		&a.HealID); err != nil {
		return store.Approval{}, err
	}
	a.Code, a.Status = drift.Code(code), store.ApprovalStatus(status)
	if diff.Valid {
		a.Diff = json.RawMessage(diff.String)
	}
	a.CreatedAt, a.ExpiresAt, a.DecidedAt = fromMicros(created), fromMicros(expires), fromNullMicros(decided)
	return a, nil
}

// commitHeals writes the healing part of pass p inside CommitPass's
// transaction, before its drifts are upserted: the returns of drifts the
// pass reopens, the verdicts, the approval requests and the new attempts
// (an attempt with an approval only while that is approved, marking it
// executed).
func (s *Store) commitHeals(ctx context.Context, tx *sql.Tx, p store.Pass) error {
	w, err := s.prepareHeals(p)
	if err != nil {
		return err
	}
	client, stack := p.State.ClientID, p.State.StackID
	if w.returns != "" {
		if _, err := tx.ExecContext(ctx, qRecordReturns, micros(p.Result.CompletedAt), client, stack, w.returns); err != nil {
			return fmt.Errorf("record drift returns: %w", err)
		}
	}
	for _, args := range w.updates {
		if _, err := tx.ExecContext(ctx, qUpdateHeal, args...); err != nil {
			return fmt.Errorf("update heal %s: %w", args[5], err)
		}
	}
	for _, id := range p.RetiredApprovals {
		if _, err := tx.ExecContext(ctx, qRetireApproval, id, client, stack); err != nil {
			return fmt.Errorf("retire approval %s: %w", id, err)
		}
	}
	for _, args := range w.approvals {
		if _, err := tx.ExecContext(ctx, qInsertApproval, args...); err != nil {
			return fmt.Errorf("insert approval %s: %w", args[0], err)
		}
	}
	for _, h := range w.heals {
		if h.approval != nil {
			res, err := tx.ExecContext(ctx, qExecuteApproval, h.approval...)
			if err != nil {
				return fmt.Errorf("execute approval %s: %w", h.approval[1], err)
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				continue
			}
		}
		if _, err := tx.ExecContext(ctx, qInsertHeal, h.args...); err != nil {
			return fmt.Errorf("insert heal %s: %w", h.args[0], err)
		}
	}
	return nil
}

// ListHeals returns attempts oldest first by (CreatedAt, ID).
func (s *Store) ListHeals(ctx context.Context, q store.HealQuery) ([]store.HealAttempt, store.Page, error) {
	var f filter
	if q.ClientID != "" {
		f.and(`client_id = ?`, q.ClientID)
	}
	if q.StackID != "" {
		f.and(`stack_id = ?`, q.StackID)
	}
	if q.DriftID != "" {
		f.and(`drift_id = ?`, q.DriftID)
	}
	if len(q.Status) > 0 {
		st, err := marshal(q.Status)
		if err != nil {
			return nil, "", fmt.Errorf("list heals: %w", err)
		}
		f.and(`status IN (SELECT value FROM json_each(?))`, st)
	}
	if !q.Since.IsZero() {
		f.and(`created_at >= ?`, micros(q.Since))
	}
	if q.Cursor != "" {
		var created int64
		var id string
		if err := store.DecodeCursor(q.Cursor, &created, &id); err != nil {
			return nil, "", fmt.Errorf("list heals: %w", err)
		}
		f.and(`(created_at, id) > (?, ?)`, created, id)
	}
	limit := store.PageLimit(q.Limit)
	f.args = append(f.args, limit+1)
	st, err := s.read(ctx, `SELECT `+healColumns+` FROM heals`+f.clause()+` ORDER BY created_at, id LIMIT ?`)
	if err != nil {
		return nil, "", fmt.Errorf("list heals: %w", err)
	}
	out, err := queryHeals(ctx, st, f.args...)
	if err != nil {
		return nil, "", fmt.Errorf("list heals: %w", err)
	}
	out, next := store.NextPage(out, limit, store.HealKey)
	return out, next, nil
}

func queryHeals(ctx context.Context, st *sql.Stmt, args ...any) ([]store.HealAttempt, error) {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.HealAttempt
	for rows.Next() {
		h, err := scanHeal(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// qClaimHeals claims due attempts: pending ones whose not_before has come
// and running ones whose lease lapsed, oldest first. The writer
// transaction is the only one, so two claimers never take the same
// attempt.
const qClaimHeals = `UPDATE heals SET status = 'running', owner = ?, lease_until = ?, claims = claims + 1,
	started_at = COALESCE(started_at, ?)
WHERE id IN (SELECT id FROM heals
	WHERE (status = 'pending' AND not_before <= ?) OR (status = 'running' AND lease_until < ?)
	ORDER BY created_at, id LIMIT ?)
RETURNING ` + healColumns

// ClaimHeals takes up to c.Limit (store.BatchLimit) due attempts for
// owner until now+lease, oldest first.
func (s *Store) ClaimHeals(ctx context.Context, c store.Claim) ([]store.HealAttempt, error) {
	owner, now, lease, limit := c.Owner, c.Now, c.Lease, c.Limit
	if err := store.CheckClaimHeals(owner, lease); err != nil {
		return nil, err
	}
	limit, err := store.BatchLimit(limit)
	if err != nil {
		return nil, fmt.Errorf("claim heals: %w", err)
	}
	var out []store.HealAttempt
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := s.write(ctx, tx, qClaimHeals)
		if err != nil {
			return err
		}
		out, err = queryHeals(ctx, st, owner, micros(now.Add(lease)), micros(now), micros(now), micros(now), limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim heals for %s: %w", owner, err)
	}
	store.SortHeals(out) // RETURNING has no order
	return out, nil
}

// qFinishHeal records the outcome of an attempt running under owner. The
// lease ends; Owner stays, saying which worker ran it.
const qFinishHeal = `UPDATE heals SET status = ?, detail = ?, error = ?, completed_at = ?, lease_until = NULL
WHERE id = ? AND status = 'running' AND owner = ?
RETURNING ` + healColumns

// FinishHeal records the outcome of a running attempt held by p.Owner and
// appends p.Audit, in one transaction.
func (s *Store) FinishHeal(ctx context.Context, p store.FinishHeal) (store.HealAttempt, error) {
	if err := store.CheckFinishHeal(p); err != nil {
		return store.HealAttempt{}, err
	}
	var (
		h   store.HealAttempt
		out []store.AuditEntry
	)
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := s.write(ctx, tx, qFinishHeal)
		if err != nil {
			return err
		}
		h, err = scanHeal(st.QueryRowContext(ctx, string(p.Status), p.Detail, p.Error, micros(p.At), p.ID, p.Owner))
		if errors.Is(err, sql.ErrNoRows) {
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM heals WHERE id = ?`, p.ID).Scan(&one); err != nil {
				return translate(err)
			}
			return fmt.Errorf("%w: not running under %s", store.ErrConflict, p.Owner)
		}
		if err != nil {
			return err
		}
		if out, err = s.appendAudit(ctx, tx, p.Audit); err != nil {
			return err
		}
		return s.appendStream(ctx, tx, p.Stream)
	})
	if err != nil {
		return store.HealAttempt{}, fmt.Errorf("finish heal %s: %w", p.ID, err)
	}
	copy(p.Audit, out)
	return h, nil
}

// DriftReturns counts the reopenings of the stack's drifts at or after
// since, per drift id.
func (s *Store) DriftReturns(ctx context.Context, clientID, stackID string, since time.Time) (map[string]int, error) {
	st, err := s.read(ctx, `SELECT drift_id, count(*) FROM drift_returns
WHERE client_id = ? AND stack_id = ? AND returned_at >= ? GROUP BY drift_id`)
	if err != nil {
		return nil, fmt.Errorf("drift returns %s/%s: %w", clientID, stackID, err)
	}
	rows, err := st.QueryContext(ctx, clientID, stackID, micros(since))
	if err != nil {
		return nil, fmt.Errorf("drift returns %s/%s: %w", clientID, stackID, err)
	}
	defer rows.Close()
	out := make(map[string]int)
	for rows.Next() {
		var (
			id string
			n  int
		)
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("drift returns %s/%s: %w", clientID, stackID, err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("drift returns %s/%s: %w", clientID, stackID, err)
	}
	return out, nil
}

// ListApprovals returns approvals newest first by (CreatedAt, ID).
func (s *Store) ListApprovals(ctx context.Context, q store.ApprovalQuery) ([]store.Approval, store.Page, error) {
	var f filter
	if q.ClientID != "" {
		f.and(`client_id = ?`, q.ClientID)
	}
	if q.StackID != "" {
		f.and(`stack_id = ?`, q.StackID)
	}
	if q.DriftID != "" {
		f.and(`drift_id = ?`, q.DriftID)
	}
	if len(q.Status) > 0 {
		st, err := marshal(q.Status)
		if err != nil {
			return nil, "", fmt.Errorf("list approvals: %w", err)
		}
		f.and(`status IN (SELECT value FROM json_each(?))`, st)
	}
	if q.Cursor != "" {
		var created int64
		var id string
		if err := store.DecodeCursor(q.Cursor, &created, &id); err != nil {
			return nil, "", fmt.Errorf("list approvals: %w", err)
		}
		f.and(`(created_at, id) < (?, ?)`, created, id)
	}
	limit := store.PageLimit(q.Limit)
	f.args = append(f.args, limit+1)
	st, err := s.read(ctx, `SELECT `+approvalColumns+` FROM approvals`+f.clause()+
		` ORDER BY created_at DESC, id DESC LIMIT ?`)
	if err != nil {
		return nil, "", fmt.Errorf("list approvals: %w", err)
	}
	rows, err := st.QueryContext(ctx, f.args...)
	if err != nil {
		return nil, "", fmt.Errorf("list approvals: %w", err)
	}
	defer rows.Close()
	var out []store.Approval
	for rows.Next() {
		a, err := scanApproval(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list approvals: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list approvals: %w", err)
	}
	out, next := store.NextPage(out, limit, store.ApprovalKey)
	return out, next, nil
}

// GetApproval returns one approval, or store.ErrNotFound.
func (s *Store) GetApproval(ctx context.Context, id string) (store.Approval, error) {
	st, err := s.read(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE id = ?`)
	if err != nil {
		return store.Approval{}, fmt.Errorf("get approval %s: %w", id, err)
	}
	a, err := scanApproval(st.QueryRowContext(ctx, id))
	if err != nil {
		return store.Approval{}, fmt.Errorf("get approval %s: %w", id, translate(err))
	}
	return a, nil
}

// DecideApproval approves or rejects a pending approval and appends its
// audit entry in one writer transaction. An expired one is marked expired
// (committed) and the call answers store.ErrExpired.
func (s *Store) DecideApproval(ctx context.Context, d store.ApprovalDecision) (store.Approval, error) {
	id, approve, by, reason, at := d.ID, d.Approve, d.By, d.Reason, d.At
	var (
		a       store.Approval
		expired bool
	)
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		expired = false
		a, err = scanApproval(tx.QueryRowContext(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE id = ?`, id))
		if err != nil {
			return translate(err)
		}
		d, err := store.Decide(a, approve, by, reason, at)
		if errors.Is(err, store.ErrExpired) {
			expired, a.Status = true, store.ApprovalExpired
			_, err := tx.ExecContext(ctx, `UPDATE approvals SET status = 'expired' WHERE id = ?`, id)
			return err
		}
		if err != nil {
			return err
		}
		a = d.Approval
		if _, err := tx.ExecContext(ctx, `UPDATE approvals SET status = ?, decided_at = ?, decided_by = ?, reason = ?
WHERE id = ?`, string(a.Status), nullMicros(a.DecidedAt), a.DecidedBy, a.Reason, id); err != nil {
			return err
		}
		_, err = s.appendAudit(ctx, tx, []store.AuditEntry{d.Audit})
		return err
	})
	if err != nil {
		return store.Approval{}, fmt.Errorf("decide approval %s: %w", id, err)
	}
	if expired {
		return store.Approval{}, fmt.Errorf("decide approval %s: %w at %s", id, store.ErrExpired, a.ExpiresAt.Format(time.RFC3339))
	}
	return a, nil
}

// qExpireApprovals expires a bounded batch of pending approvals.
const qExpireApprovals = `UPDATE approvals SET status = 'expired' WHERE id IN (
	SELECT id FROM approvals WHERE status = 'pending' AND expires_at <= ? ORDER BY expires_at LIMIT ?)`

// ExpireApprovals marks up to limit (store.BatchLimit) pending approvals
// whose ExpiresAt is not after now expired.
func (s *Store) ExpireApprovals(ctx context.Context, now time.Time, limit int) (int, error) {
	limit, err := store.BatchLimit(limit)
	if err != nil {
		return 0, fmt.Errorf("expire approvals: %w", err)
	}
	var n int64
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, qExpireApprovals, micros(now), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("expire approvals: %w", err)
	}
	return int(n), nil
}
