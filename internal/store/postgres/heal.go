package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

const healColumns = `id, drift_id, client_id, stack_id, code, component, provider, action, attempt, status,
	reconciliation_id, approval_id, triggered_by, drift_detail, not_before, owner, lease_until, claims,
	created_at, started_at, completed_at, verified_at, detail, error`

const approvalColumns = `id, client_id, stack_id, drift_id, code, component, action, approval_class, diff,
	triggered_by, reconciliation_id, status, created_at, expires_at, decided_at, decided_by, reason, heal_id`

// healValues are the placeholders of healColumns, typed: in INSERT ...
// SELECT the server cannot infer them from the target columns.
const healValues = `$1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text, $9::bigint,
	$10::text, $11::text, $12::text, $13::text, $14::text, $15::timestamptz, $16::text, $17::timestamptz,
	$18::bigint, $19::timestamptz, $20::timestamptz, $21::timestamptz, $22::timestamptz, $23::text, $24::text`

// qInsertHeal stores a new attempt; one whose id is stored is left alone.
const qInsertHeal = `INSERT INTO heals (` + healColumns + `) VALUES (` + healValues + `)
ON CONFLICT (id) DO NOTHING`

// qInsertApprovedHeal stores an attempt of an approved request and marks
// the request executed, in one statement: nothing is written when the
// request is not approved (any more) or the attempt is stored already. The
// UPDATE locks the request's row, so of two passes executing it, the
// second finds it executed.
const qInsertApprovedHeal = `WITH executed AS (
	UPDATE approvals SET status = 'executed', heal_id = $1
	WHERE id = $25 AND client_id = $3 AND stack_id = $4 AND status = 'approved'
		AND NOT EXISTS (SELECT 1 FROM heals WHERE id = $1)
	RETURNING id)
INSERT INTO heals (` + healColumns + `) SELECT ` + healValues + ` FROM executed
ON CONFLICT (id) DO NOTHING`

// qUpdateHeal applies a pass's verdict while the attempt is in one of the
// listed statuses. The lease ends: a worker still holding a cancelled
// attempt is fenced off (FinishHeal answers ErrConflict).
const qUpdateHeal = `UPDATE heals SET status = $1, verified_at = COALESCE($2::timestamptz, verified_at),
	completed_at = COALESCE(completed_at, $3), lease_until = NULL,
	error = CASE WHEN $4::text = '' THEN error ELSE $4::text END
WHERE id = $5 AND client_id = $6 AND stack_id = $7 AND status = ANY($8::text[])`

// qRetireApproval expires requests of the stack that no longer apply.
const qRetireApproval = `UPDATE approvals SET status = 'expired'
WHERE id = ANY($1::text[]) AND client_id = $2 AND stack_id = $3 AND status IN ('pending', 'approved')`

// qInsertApproval stores a new request unless its id is stored or its
// drift has a pending or approved one (the unique index approvals_open).
const qInsertApproval = `INSERT INTO approvals (` + approvalColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
ON CONFLICT DO NOTHING`

// qRecordReturns records the drifts of a pass that are stored resolved:
// the upsert that follows in the batch reopens them.
const qRecordReturns = `INSERT INTO drift_returns (client_id, stack_id, drift_id, returned_at)
SELECT client_id, stack_id, id, $1 FROM drifts
WHERE client_id = $2 AND stack_id = $3 AND id = ANY($4::text[]) AND resolved_at IS NOT NULL`

// queueHeals checks the healing part of pass p and queues its writes on
// CommitPass's batch, before the drifts are upserted: the returns of drifts
// the pass reopens, the verdicts, the approval requests and the new
// attempts (an attempt with an approval only while that is approved,
// marking it executed). Heals and approvals without client and stack are
// the pass's stack's; others must be. A zero CreatedAt is now, a zero
// NotBefore is CreatedAt, an empty Status is pending, an empty
// ReconciliationID is the pass's.
func (s *Store) queueHeals(b *pgx.Batch, p store.Pass) error {
	client, stack := p.State.ClientID, p.State.StackID
	now := s.now()
	var (
		heals     [][]any
		approved  []bool
		updates   [][]any
		approvals [][]any
	)
	for _, h := range p.Heals {
		h, err := store.CheckHeal(h, p, now)
		if err != nil {
			return err
		}
		args := healArgs(h)
		if h.ApprovalID != "" {
			args = append(args, h.ApprovalID)
		}
		heals, approved = append(heals, args), append(approved, h.ApprovalID != "")
	}
	for _, u := range p.HealUpdates {
		if err := store.CheckHealUpdate(u); err != nil {
			return err
		}
		updates = append(updates, []any{string(u.Status), tsPtr(u.VerifiedAt()), ts(u.At), u.Error, u.ID, client, stack,
			strs(u.From)})
	}
	for _, a := range p.Approvals {
		a, err := store.CheckApproval(a, p, now)
		if err != nil {
			return err
		}
		approvals = append(approvals, approvalArgs(a))
	}

	if open := store.OpenDriftIDs(p); len(open) > 0 {
		b.Queue(qRecordReturns, ts(p.Result.CompletedAt), client, stack, open)
	}
	for _, args := range updates {
		b.Queue(qUpdateHeal, args...)
	}
	if len(p.RetiredApprovals) > 0 {
		b.Queue(qRetireApproval, p.RetiredApprovals, client, stack)
	}
	for _, args := range approvals {
		b.Queue(qInsertApproval, args...)
	}
	for i, args := range heals {
		if approved[i] {
			b.Queue(qInsertApprovedHeal, args...)
		} else {
			b.Queue(qInsertHeal, args...)
		}
	}
	return nil
}

// nullJSON is a JSON document as a nullable text: nil when empty.
func nullJSON(b json.RawMessage) *string {
	if len(b) == 0 {
		return nil
	}
	v := string(b)
	return &v
}

// healArgs encodes an attempt as the values of healColumns.
func healArgs(h store.HealAttempt) []any {
	return []any{h.ID, h.DriftID, h.ClientID, h.StackID, string(h.Code), h.Component, h.Provider, h.Action,
		int64(h.Attempt), string(h.Status), h.ReconciliationID, h.ApprovalID, h.TriggeredBy, nullJSON(h.Drift),
		ts(h.NotBefore), h.Owner, tsPtr(h.LeaseUntil), int64(h.Claims), ts(h.CreatedAt),
		tsPtr(h.StartedAt), tsPtr(h.CompletedAt), tsPtr(h.VerifiedAt), h.Detail, h.Error}
}

func scanHeal(sc scanner) (store.HealAttempt, error) {
	var (
		h               store.HealAttempt
		code, status    string
		detail          *string
		attempt, claims int64
	)
	if err := sc.Scan(&h.ID, &h.DriftID, &h.ClientID, &h.StackID, &code, &h.Component, &h.Provider, &h.Action,
		&attempt, &status, &h.ReconciliationID, &h.ApprovalID, &h.TriggeredBy, &detail, &h.NotBefore, &h.Owner,
		&h.LeaseUntil, &claims, &h.CreatedAt, &h.StartedAt, &h.CompletedAt, &h.VerifiedAt, &h.Detail,
		&h.Error); err != nil {
		return store.HealAttempt{}, err
	}
	h.Code, h.Status, h.Attempt, h.Claims = drift.Code(code), store.HealStatus(status), int(attempt), int(claims)
	if detail != nil {
		h.Drift = json.RawMessage(*detail)
	}
	h.NotBefore, h.CreatedAt = utc(h.NotBefore), utc(h.CreatedAt)
	h.LeaseUntil, h.StartedAt = utcPtr(h.LeaseUntil), utcPtr(h.StartedAt)
	h.CompletedAt, h.VerifiedAt = utcPtr(h.CompletedAt), utcPtr(h.VerifiedAt)
	return h, nil
}

// approvalArgs encodes an approval as the values of approvalColumns.
func approvalArgs(a store.Approval) []any {
	return []any{a.ID, a.ClientID, a.StackID, a.DriftID, string(a.Code), a.Component, a.Action, a.Class,
		nullJSON(a.Diff), a.TriggeredBy, a.ReconciliationID, string(a.Status), ts(a.CreatedAt),
		ts(a.ExpiresAt), tsPtr(a.DecidedAt), a.DecidedBy, a.Reason, a.HealID}
}

func scanApproval(sc scanner) (store.Approval, error) {
	var (
		a            store.Approval
		code, status string
		diff         *string
	)
	if err := sc.Scan(&a.ID, &a.ClientID, &a.StackID, &a.DriftID, &code, &a.Component, &a.Action, &a.Class, &diff,
		&a.TriggeredBy, &a.ReconciliationID, &status, &a.CreatedAt, &a.ExpiresAt, &a.DecidedAt, &a.DecidedBy,
		&a.Reason, &a.HealID); err != nil {
		return store.Approval{}, err
	}
	a.Code, a.Status = drift.Code(code), store.ApprovalStatus(status)
	if diff != nil {
		a.Diff = json.RawMessage(*diff)
	}
	a.CreatedAt, a.ExpiresAt, a.DecidedAt = utc(a.CreatedAt), utc(a.ExpiresAt), utcPtr(a.DecidedAt)
	return a, nil
}

// ListHeals returns attempts oldest first by (CreatedAt, ID). The cursor is
// the SQLite driver's: created_at in unix microseconds and id.
func (s *Store) ListHeals(ctx context.Context, q store.HealQuery) ([]store.HealAttempt, store.Page, error) {
	var p params
	if q.ClientID != "" {
		p.where(`client_id = ` + p.add(q.ClientID))
	}
	if q.StackID != "" {
		p.where(`stack_id = ` + p.add(q.StackID))
	}
	if q.DriftID != "" {
		p.where(`drift_id = ` + p.add(q.DriftID))
	}
	if len(q.Status) > 0 {
		p.where(`status = ANY(` + p.add(strs(q.Status)) + `::text[])`)
	}
	if !q.Since.IsZero() {
		p.where(`created_at >= ` + p.add(ts(q.Since)))
	}
	if q.Cursor != "" {
		var created int64
		var id string
		if err := store.DecodeCursor(q.Cursor, &created, &id); err != nil {
			return nil, "", fmt.Errorf("list heals: %w", err)
		}
		p.where(`(created_at, id) > (` + p.add(fromMicros(created)) + `, ` + p.add(id) + `)`)
	}
	limit := store.PageLimit(q.Limit)
	rows, _ := s.pool.Query(ctx, `SELECT `+healColumns+` FROM heals`+p.clause()+
		` ORDER BY created_at, id LIMIT `+p.add(limit+1), p.args...)
	out, err := collectHeals(rows)
	if err != nil {
		return nil, "", fmt.Errorf("list heals: %w", err)
	}
	out, next := store.NextPage(out, limit, store.HealKey)
	return out, next, nil
}

// strs converts statuses (or any string type) to the text[] pgx encodes.
func strs[T ~string](v []T) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = string(x)
	}
	return out
}

func collectHeals(rows pgx.Rows) ([]store.HealAttempt, error) {
	return collectRows(rows, func(row pgx.CollectableRow) (store.HealAttempt, error) { return scanHeal(row) })
}

// qClaimHeals claims due attempts: pending ones whose not_before has come
// and running ones whose lease lapsed, oldest first. FOR UPDATE SKIP
// LOCKED: a row another claimer holds is skipped, not waited for, and a row
// it has claimed meanwhile is re-checked against the conditions (READ
// COMMITTED), so two claimers never take the same attempt.
const qClaimHeals = `WITH due AS (
	SELECT id FROM heals
	WHERE (status = 'pending' AND not_before <= $3) OR (status = 'running' AND lease_until < $3)
	ORDER BY created_at, id LIMIT $4
	FOR UPDATE SKIP LOCKED)
UPDATE heals h SET status = 'running', owner = $1, lease_until = $2, claims = h.claims + 1,
	started_at = COALESCE(h.started_at, $3)
FROM due WHERE h.id = due.id
RETURNING h.id, h.drift_id, h.client_id, h.stack_id, h.code, h.component, h.provider, h.action, h.attempt,
	h.status, h.reconciliation_id, h.approval_id, h.triggered_by, h.drift_detail, h.not_before, h.owner,
	h.lease_until, h.claims, h.created_at, h.started_at, h.completed_at, h.verified_at, h.detail, h.error`

// ClaimHeals takes up to c.Limit (store.BatchLimit) due attempts for
// owner until now+lease, oldest first.
func (s *Store) ClaimHeals(ctx context.Context, c store.Claim) ([]store.HealAttempt, error) {
	owner, now, lease, limit := c.Owner, c.Now, c.Lease, c.Limit
	if err := store.CheckClaimHeals(owner, lease); err != nil {
		return nil, err
	}
	limit, err := store.BatchLimit(limit)
	if err != nil {
		return nil, fmt.Errorf("claim heals for %s: %w", owner, err)
	}
	var out []store.HealAttempt
	err = s.retry(ctx, func() error {
		var err error
		rows, _ := s.pool.Query(ctx, qClaimHeals, owner, ts(now.Add(lease)), ts(now), limit)
		out, err = collectHeals(rows)
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
const qFinishHeal = `UPDATE heals SET status = $1, detail = $2, error = $3, completed_at = $4, lease_until = NULL
WHERE id = $5 AND status = 'running' AND owner = $6
RETURNING ` + healColumns

// FinishHeal records the outcome of a running attempt held by p.Owner and
// appends p.Audit, in one transaction: the update and the reservation of
// the audit head in one round trip, the entries and COMMIT in a second.
func (s *Store) FinishHeal(ctx context.Context, p store.FinishHeal) (store.HealAttempt, error) {
	if err := store.CheckFinishHeal(p); err != nil {
		return store.HealAttempt{}, err
	}
	stream, err := s.encodeStream(ctx, p.Stream)
	if err != nil {
		return store.HealAttempt{}, fmt.Errorf("finish heal %s: %w", p.ID, err)
	}
	var (
		h   store.HealAttempt
		out []store.AuditEntry
	)
	err = s.inTx(ctx, func(ctx context.Context, t *txn) error {
		var (
			head  auditHead
			found bool
		)
		b := t.batch()
		b.Queue(qFinishHeal, string(p.Status), p.Detail, p.Error, ts(p.At), p.ID, p.Owner).QueryRow(func(row pgx.Row) error {
			var err error
			h, err = scanHeal(row)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			found = err == nil
			return err
		})
		if len(p.Audit) > 0 {
			head.queue(b, len(p.Audit))
		}
		if err := t.send(ctx, b); err != nil {
			return err
		}
		if !found {
			// Attempts are never deleted: if it exists now, it is not
			// running under owner.
			var one int
			if err := t.conn.QueryRow(ctx, `SELECT 1 FROM heals WHERE id = $1`, p.ID).Scan(&one); err != nil {
				return translate(err)
			}
			return fmt.Errorf("%w: not running under %s", store.ErrConflict, p.Owner)
		}
		b = t.batch()
		out = s.queueAudit(b, head, p.Audit)
		queueStream(b, stream)
		return t.commit(ctx, b)
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
	rows, _ := s.pool.Query(ctx, `SELECT drift_id, count(*) FROM drift_returns
WHERE client_id = $1 AND stack_id = $2 AND returned_at >= $3 GROUP BY drift_id`, clientID, stackID, ts(since))
	out := make(map[string]int)
	var (
		id string
		n  int64
	)
	_, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error {
		out[id] = int(n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("drift returns %s/%s: %w", clientID, stackID, err)
	}
	return out, nil
}

// ListApprovals returns approvals newest first by (CreatedAt, ID). The
// cursor is the SQLite driver's: created_at in unix microseconds and id.
func (s *Store) ListApprovals(ctx context.Context, q store.ApprovalQuery) ([]store.Approval, store.Page, error) {
	var p params
	if q.ClientID != "" {
		p.where(`client_id = ` + p.add(q.ClientID))
	}
	if q.StackID != "" {
		p.where(`stack_id = ` + p.add(q.StackID))
	}
	if q.DriftID != "" {
		p.where(`drift_id = ` + p.add(q.DriftID))
	}
	if len(q.Status) > 0 {
		p.where(`status = ANY(` + p.add(strs(q.Status)) + `::text[])`)
	}
	if q.Cursor != "" {
		var created int64
		var id string
		if err := store.DecodeCursor(q.Cursor, &created, &id); err != nil {
			return nil, "", fmt.Errorf("list approvals: %w", err)
		}
		p.where(`(created_at, id) < (` + p.add(fromMicros(created)) + `, ` + p.add(id) + `)`)
	}
	limit := store.PageLimit(q.Limit)
	rows, _ := s.pool.Query(ctx, `SELECT `+approvalColumns+` FROM approvals`+p.clause()+
		` ORDER BY created_at DESC, id DESC LIMIT `+p.add(limit+1), p.args...)
	out, err := collectRows(rows, func(row pgx.CollectableRow) (store.Approval, error) { return scanApproval(row) })
	if err != nil {
		return nil, "", fmt.Errorf("list approvals: %w", err)
	}
	out, next := store.NextPage(out, limit, store.ApprovalKey)
	return out, next, nil
}

// GetApproval returns one approval, or store.ErrNotFound.
func (s *Store) GetApproval(ctx context.Context, id string) (store.Approval, error) {
	a, err := scanApproval(s.pool.QueryRow(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE id = $1`, id))
	if err != nil {
		return store.Approval{}, fmt.Errorf("get approval %s: %w", id, translate(err))
	}
	return a, nil
}

// DecideApproval approves or rejects a pending approval and appends its
// audit entry in one transaction: it locks the approval's row, then the
// audit chain's head, and commits with the entry. An expired one is marked
// expired (committed) and the call answers store.ErrExpired.
func (s *Store) DecideApproval(ctx context.Context, d store.ApprovalDecision) (store.Approval, error) {
	id, approve, by, reason, at := d.ID, d.Approve, d.By, d.Reason, d.At
	var (
		a       store.Approval
		expired bool
	)
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		expired = false
		b := t.batch()
		b.Queue(`SELECT `+approvalColumns+` FROM approvals WHERE id = $1 FOR UPDATE`, id).QueryRow(func(row pgx.Row) error {
			var err error
			a, err = scanApproval(row)
			return translate(err)
		})
		if err := t.send(ctx, b); err != nil {
			return err
		}
		d, err := store.Decide(a, approve, by, reason, at)
		if errors.Is(err, store.ErrExpired) {
			expired, a.Status = true, store.ApprovalExpired
			b = t.batch()
			b.Queue(`UPDATE approvals SET status = 'expired' WHERE id = $1`, id)
			return t.commit(ctx, b)
		}
		if err != nil {
			return err
		}
		var head auditHead
		b = t.batch()
		b.Queue(`UPDATE approvals SET status = $1, decided_at = $2, decided_by = $3, reason = $4 WHERE id = $5`,
			string(d.Approval.Status), d.Approval.DecidedAt, d.Approval.DecidedBy, d.Approval.Reason, id)
		head.queue(b, 1)
		if err := t.send(ctx, b); err != nil {
			return err
		}
		b = t.batch()
		s.queueAudit(b, head, []store.AuditEntry{d.Audit})
		if err := t.commit(ctx, b); err != nil {
			return err
		}
		a = d.Approval
		return nil
	})
	if err != nil {
		return store.Approval{}, fmt.Errorf("decide approval %s: %w", id, translate(err))
	}
	if expired {
		return store.Approval{}, fmt.Errorf("decide approval %s: %w at %s", id, store.ErrExpired, a.ExpiresAt.Format(time.RFC3339))
	}
	return a, nil
}

// qExpireApprovals expires a bounded batch of pending approvals. SKIP
// LOCKED: one being decided is left to its decision. The batch is a CTE,
// evaluated once: under "id IN (SELECT ... LIMIT n)" the planner may run
// the subquery more than once and update more than n rows.
const qExpireApprovals = `WITH due AS (
	SELECT id FROM approvals WHERE status = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT $2
	FOR UPDATE SKIP LOCKED)
UPDATE approvals a SET status = 'expired' FROM due WHERE a.id = due.id`

// ExpireApprovals marks up to limit (store.BatchLimit) pending approvals
// whose ExpiresAt is not after now expired.
func (s *Store) ExpireApprovals(ctx context.Context, now time.Time, limit int) (int, error) {
	limit, err := store.BatchLimit(limit)
	if err != nil {
		return 0, fmt.Errorf("expire approvals: %w", err)
	}
	var n int64
	err = s.retry(ctx, func() error {
		ct, err := s.pool.Exec(ctx, qExpireApprovals, ts(now), limit)
		n = ct.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("expire approvals: %w", err)
	}
	return int(n), nil
}
