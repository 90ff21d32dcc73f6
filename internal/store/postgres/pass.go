package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// qUpsertDrift writes a pass's drift. An acknowledgement of a drift that is
// open in the store is kept even if the pass's copy predates it.
const qUpsertDrift = `INSERT INTO drifts (` + driftColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
ON CONFLICT (client_id, stack_id, id) DO UPDATE SET
	code = excluded.code, type = excluded.type, component = excluded.component,
	expected = excluded.expected, observed = excluded.observed, severity = excluded.severity,
	cause = excluded.cause, detected_at = excluded.detected_at, first_seen = excluded.first_seen,
	last_seen = excluded.last_seen, observations = excluded.observations, confirmed = excluded.confirmed,
	acknowledged = CASE WHEN drifts.resolved_at IS NULL AND drifts.acknowledged
		THEN true ELSE excluded.acknowledged END,
	acknowledged_by = CASE WHEN drifts.resolved_at IS NULL AND drifts.acknowledged
		THEN drifts.acknowledged_by ELSE excluded.acknowledged_by END,
	acknowledged_at = CASE WHEN drifts.resolved_at IS NULL AND drifts.acknowledged
		THEN drifts.acknowledged_at ELSE NULL END,
	resolved_at = excluded.resolved_at, heal_status = excluded.heal_status`

// qMarkEvents records a pass's mark, a snapshot, for its stack and the
// client-wide events ($2 is one or both, in that order). A mark never moves
// back: a snapshot replaces the stored one only if it was taken later (its
// xmax, then its xmin, is higher; at equal both, the stored one stays,
// which may cover less, never more).
const qMarkEvents = `INSERT INTO event_marks (client_id, stack_id, checked) SELECT $1, s, $3::pg_snapshot FROM unnest($2::text[]) s
ON CONFLICT (client_id, stack_id) DO UPDATE SET checked = excluded.checked
WHERE (pg_snapshot_xmax(excluded.checked), pg_snapshot_xmin(excluded.checked))
	> (pg_snapshot_xmax(event_marks.checked), pg_snapshot_xmin(event_marks.checked))`

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
//
// Concurrent passes commit together (group, passTx): one transaction of
// two round trips and one WAL flush for up to maxPassBatch of them; a pass
// that would fail the transaction makes each of them commit alone.
func (s *Store) CommitPass(ctx context.Context, p store.Pass) (store.StateRecord, error) {
	w, err := s.preparePass(p)
	if err != nil {
		return store.StateRecord{}, fmt.Errorf("commit pass %s: %w", p.State.Key(), err)
	}
	return s.passQ.do(ctx, w)
}

const (
	// maxPassFlights bounds the transactions of passes in flight, and
	// maxPassBatch the passes one takes. One flight: the calls that arrive
	// while a batch is in flight all share the next one. Measured
	// (2026-12-08, three replicas on 2 vCPU): with two flights a 30,000-
	// stack pass took 14.6-17.2 s and PostgreSQL 0.39 ms of CPU a pass,
	// with one (and one for loads and snapshots) 10.5-11.3 s and 0.24 ms:
	// half the batches, each twice as full. 64 passes a batch instead of
	// 32 changed nothing.
	maxPassFlights = 1
	maxPassBatch   = 32
)

// passWrite is a pass checked and encoded for the transaction, or a
// snapshot (PutSnapshot) that rides in the transaction of the passes it
// meets in the group: a verified pass's snapshot follows its commit, so
// it joins the next batch of passes instead of a transaction of its own.
type passWrite struct {
	snap *snapshotWrite // set: a snapshot, and nothing else is

	p          store.Pass
	r          store.ReconciliationResult
	drifts     [][]any
	ids        []string // never nil: see qResolveDrifts
	errorsJSON string
	state      store.StateRecord
	encoded    stateRow

	// Set by a transaction (again on each run).
	row    stateRow
	upd    stateUpdate
	fenced error // its fence did not hold (queueFences)
	err    error // of the transaction that wrote it, or failed to
}

// preparePass checks p and encodes what it writes.
func (s *Store) preparePass(p store.Pass) (*passWrite, error) {
	r, err := store.CheckPassResult(p)
	if err != nil {
		return nil, err
	}
	w := &passWrite{p: p, r: r, drifts: make([][]any, len(p.Drifts)), ids: make([]string, len(p.Drifts))}
	for i, d := range p.Drifts {
		d, err := store.CheckPassDrift(p, d)
		if err != nil {
			return nil, err
		}
		args, err := driftArgs(d)
		if err != nil {
			return nil, err
		}
		w.drifts[i], w.ids[i] = args, d.ID
	}
	if err := store.CheckAudit(p.Audit); err != nil {
		return nil, err
	}
	if w.errorsJSON, err = marshal(r.Errors); err != nil {
		return nil, err
	}
	w.state = p.State
	w.state.UpdatedAt = s.now()
	if w.encoded, err = encodeState(w.state); err != nil {
		return nil, err
	}
	return w, nil
}

// commitPasses is the pass group's run: the batch's passes and snapshots
// in one transaction, one WAL flush. If that fails (a pass's state is
// stale, its fence moved, a heal is refused...), nothing of it was
// written: the passes whose fence moved fail, the others go again
// together once, and then (or if no fence moved) each runs alone, so that
// it fails alone and with its own error.
func (s *Store) commitPasses(ctx context.Context, batch []*call[*passWrite, store.StateRecord]) {
	var (
		ws    []*passWrite
		snaps []*snapshotWrite
	)
	for _, c := range batch {
		if c.in.snap != nil {
			snaps = append(snaps, c.in.snap)
		} else {
			ws = append(ws, c.in)
		}
	}
	if len(batch) == 1 || s.passTx(ctx, ws, snaps) != nil {
		// Passes whose fence did not hold fail, and the rest go again
		// together: a replica that just handed shards over (several
		// replicas starting at once) has passes of them in most batches.
		rest := ws[:0:0]
		for _, w := range ws {
			if w.err = w.fenced; w.err == nil {
				rest = append(rest, w)
			}
		}
		if len(rest) == len(ws) || len(rest) < 2 || s.passTx(ctx, rest, snaps) != nil {
			for _, w := range rest {
				w.err = s.passTx(ctx, []*passWrite{w}, nil)
			}
			for _, sw := range snaps {
				sw.err = s.snapshotTx(ctx, []*snapshotWrite{sw})
			}
		}
	}
	for _, c := range batch {
		w := c.in
		if w.snap != nil {
			c.err = w.snap.err
			continue
		}
		if w.err != nil {
			c.err = fmt.Errorf("commit pass %s: %w", w.p.State.Key(), w.err)
			continue
		}
		c.out, c.err = w.row.stored(w.state)
	}
}

// passTx writes passes in one transaction. Two round trips: the first
// batch begins the transaction, checks the passes' fences, writes their
// states (which takes the stacks' row locks) and resolves their drifts,
// one statement each for all of them (pass_sets.go); writes each pass's
// heals and drifts, then the results (one statement) and checked events;
// it ends by taking the audit chain's head for all their entries. If a state did not match, the
// transaction is rolled back and nothing else matters. The second batch
// adds the results to the hourly roll-up (pass_hours.go), writes the
// entries, hashed now that the head is known, writes the passes' events
// of the stream log (stream.go) and commits; the roll-up's rows, the
// audit head and the stream head are held for that round trip and the
// commit's WAL flush only.
//
// snaps are written in the first batch too (queueSnapshots); with no
// passes, alone (snapshotTx).
func (s *Store) passTx(ctx context.Context, ws []*passWrite, snaps []*snapshotWrite) error {
	if len(ws) == 0 {
		return s.snapshotTx(ctx, snaps)
	}
	var events []store.StreamEvent
	for _, w := range ws {
		events = append(events, w.p.Stream...)
	}
	stream, err := s.encodeStream(ctx, events)
	if err != nil {
		return err
	}
	var chained []store.AuditEntry
	err = s.inTx(ctx, func(ctx context.Context, t *txn) error {
		var (
			head  auditHead
			audit []store.AuditEntry
		)
		b := t.batch()
		for _, w := range ws {
			w.row, w.upd, w.fenced = w.encoded, stateUnread, nil
		}
		queueFences(b, ws)
		queueStates(b, ws)
		queueResolveDrifts(b, ws)
		for _, w := range ws {
			p := w.p
			if err := s.queueHeals(b, p); err != nil {
				return err
			}
			for _, args := range w.drifts {
				b.Queue(qUpsertDrift, args...)
			}
		}
		results := resultColsOf(ws)
		results.queueInsert(b)
		for _, w := range ws {
			p := w.p
			if p.CheckedThrough != "" {
				b.Queue(qMarkEvents, p.State.ClientID, markStacks(p.State.StackID), string(p.CheckedThrough))
			}
			audit = append(audit, p.Audit...)
		}
		queueSnapshots(b, snaps)
		if len(audit) > 0 {
			head.queue(b, len(audit))
		}
		err := t.send(ctx, b)
		for _, w := range ws {
			if w.upd == stateStale {
				// The rest of the batch ran for nothing: roll it back (and
				// let go of the audit head) before asking why, on this
				// connection: waiting for another one while holding this
				// could exhaust the pool.
				if err := t.rollback(ctx); err != nil {
					return err
				}
				return stateMissing(ctx, t.conn, &w.row)
			}
		}
		if err != nil {
			return fmt.Errorf("write pass %s: %w", ws[0].r.ReconciliationID, translate(err))
		}
		b = t.batch()
		b.Queue(s.rollUp.add, results.rollUpArgs()...)
		chained = s.queueAudit(b, head, audit)
		queueStream(b, stream) // last: see qAppendStream
		if err := t.commit(ctx, b); err != nil {
			return fmt.Errorf("write pass %s: %w", ws[0].r.ReconciliationID, translate(err))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, w := range ws {
		n := copy(w.p.Audit, chained)
		chained = chained[n:]
	}
	return nil
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
		expected, observed, string(d.Severity), d.Cause, d.DetectedAt, d.FirstSeen,
		d.LastSeen, d.Observations, d.Confirmed, d.Acknowledged, d.AcknowledgedBy, d.ResolvedAt, d.HealStatus}, nil
}

func scanDrift(sc scanner) (drift.Drift, error) {
	var (
		d                   drift.Drift
		code, typ, severity string
		expected, observed  string
	)
	if err := sc.Scan(&d.ClientID, &d.StackID, &d.ID, &code, &typ, &d.Component, &expected, &observed, &severity,
		&d.Cause, &d.DetectedAt, &d.FirstSeen, &d.LastSeen, &d.Observations, &d.Confirmed, &d.Acknowledged,
		&d.AcknowledgedBy, &d.ResolvedAt, &d.HealStatus); err != nil {
		return drift.Drift{}, err
	}
	d.Code, d.Type, d.Severity = drift.Code(code), drift.Type(typ), drift.Severity(severity)
	if err := json.Unmarshal([]byte(expected), &d.Expected); err != nil {
		return drift.Drift{}, fmt.Errorf("drift %s expected: %w", d.ID, err)
	}
	if err := json.Unmarshal([]byte(observed), &d.Observed); err != nil {
		return drift.Drift{}, fmt.Errorf("drift %s observed: %w", d.ID, err)
	}
	d.DetectedAt, d.FirstSeen, d.LastSeen = utc(d.DetectedAt), utc(d.FirstSeen), utc(d.LastSeen)
	d.ResolvedAt = utcPtr(d.ResolvedAt)
	return d, nil
}

// ListDrifts returns drifts ordered by stack then id (by client first when
// q.ClientID is empty).
func (s *Store) ListDrifts(ctx context.Context, q store.DriftQuery) ([]drift.Drift, error) {
	var p params
	if q.ClientID != "" {
		p.where(`client_id = ` + p.add(q.ClientID))
	}
	if q.StackID != "" {
		p.where(`stack_id = ` + p.add(q.StackID))
	}
	if !q.IncludeResolved {
		p.where(`resolved_at IS NULL`)
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+driftColumns+` FROM drifts`+p.clause()+` ORDER BY client_id, stack_id, id`, p.args...)
	out, err := collectRows(rows, func(row pgx.CollectableRow) (drift.Drift, error) { return scanDrift(row) })
	if err != nil {
		return nil, fmt.Errorf("list drifts %s/%s: %w", q.ClientID, q.StackID, err)
	}
	return out, nil
}

// AcknowledgeDrift marks an open drift of the client acknowledged by by, or
// returns store.ErrNotFound (unknown, another client's, or resolved).
func (s *Store) AcknowledgeDrift(ctx context.Context, a store.Acknowledge) (drift.Drift, error) {
	clientID, driftID, by, at := a.ClientID, a.DriftID, a.By, a.At
	var d drift.Drift
	err := s.retry(ctx, func() error {
		var err error
		d, err = scanDrift(s.pool.QueryRow(ctx, `UPDATE drifts SET acknowledged = true, acknowledged_by = $1, acknowledged_at = $2
WHERE client_id = $3 AND id = $4 AND resolved_at IS NULL
RETURNING `+driftColumns, by, ts(at), clientID, driftID))
		return err
	})
	if err != nil {
		return drift.Drift{}, fmt.Errorf("acknowledge drift %s of %s: %w", driftID, clientID, translate(err))
	}
	return d, nil
}

// ListReconciliations returns results newest first by (StartedAt, insertion
// order); clientID and stackID filter when not empty. The cursor is the
// SQLite driver's: started_at in unix microseconds and seq.
func (s *Store) ListReconciliations(ctx context.Context, clientID, stackID, cursor string, limit int) ([]store.ReconciliationResult, store.Page, error) {
	var p params
	if clientID != "" {
		p.where(`client_id = ` + p.add(clientID))
	}
	if stackID != "" {
		p.where(`stack_id = ` + p.add(stackID))
	}
	if cursor != "" {
		var started, seq int64
		if err := store.DecodeCursor(cursor, &started, &seq); err != nil {
			return nil, "", fmt.Errorf("list reconciliations: %w", err)
		}
		p.where(`(started_at, seq) < (` + p.add(fromMicros(started)) + `, ` + p.add(seq) + `)`)
	}
	limit = store.PageLimit(limit)
	rows, _ := s.pool.Query(ctx, `SELECT reconciliation_id, client_id, stack_id, pass_trigger, started_at, completed_at,
	status, drift_detected, drift_count, auto_heal_attempted, auto_heal_success_count, errors, state_version, seq
FROM reconciliations`+p.clause()+` ORDER BY started_at DESC, seq DESC LIMIT `+p.add(limit+1), p.args...)
	var (
		out          []store.ReconciliationResult
		seqs         []int64
		r            store.ReconciliationResult
		status, errs string
		seq          int64
	)
	_, err := pgx.ForEachRow(rows, []any{&r.ReconciliationID, &r.ClientID, &r.StackID, &r.Trigger, &r.StartedAt, &r.CompletedAt,
		&status, &r.DriftDetected, &r.DriftCount, &r.AutoHealAttempted, &r.AutoHealSuccessCount, &errs,
		&r.StateVersion, &seq}, func() error {
		row := r // r is scanned into again for the next row
		row.StartedAt, row.CompletedAt, row.Status = utc(r.StartedAt), utc(r.CompletedAt), store.ResultStatus(status)
		row.Errors = nil
		if err := json.Unmarshal([]byte(errs), &row.Errors); err != nil {
			return fmt.Errorf("%s errors: %w", r.ReconciliationID, err)
		}
		out, seqs = append(out, row), append(seqs, seq)
		return nil
	})
	if err != nil {
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
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		var head auditHead
		b := t.batch()
		head.queue(b, len(entries))
		if err := t.send(ctx, b); err != nil {
			return err
		}
		b = t.batch()
		out = s.queueAudit(b, head, entries)
		return t.commit(ctx, b)
	})
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	copy(entries, out)
	return nil
}

// qReserveAudit takes the head of the chain for n entries: it locks the one
// audit_head row until the transaction ends (a concurrent append waits
// here, then reads the head as that one left it), advances its seq by n and
// returns the seq and hash the entries follow.
const qReserveAudit = `UPDATE audit_head SET seq = seq + $1 RETURNING seq - $1, hash`

// auditHead is the chain's head as qReserveAudit found it.
type auditHead struct {
	seq  int64
	hash string
}

// queue adds qReserveAudit for n entries to b; h is filled when b's results
// are read.
func (h *auditHead) queue(b *pgx.Batch, n int) {
	b.Queue(qReserveAudit, int64(n)).QueryRow(func(row pgx.Row) error {
		if err := row.Scan(&h.seq, &h.hash); err != nil {
			return fmt.Errorf("reserve audit seq: %w", err)
		}
		return nil
	})
}

// qInsertAudit appends chained audit entries, one array per column.
const qInsertAudit = `INSERT INTO audit (seq, timestamp, action, client_id, stack_id, triggered_by, success,
	changes_made, approval_required, approver, reconciliation_id, drift_id, prev_hash, hash)
SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[],
	$8::text[], $9::boolean[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])`

// queueAudit chains entries after head, which this transaction has
// reserved (qReserveAudit), and adds to b the statements that write them
// and move the head's hash to the last one. It returns the entries with
// Seq, PrevHash and Hash filled.
func (s *Store) queueAudit(b *pgx.Batch, head auditHead, entries []store.AuditEntry) []store.AuditEntry {
	if len(entries) == 0 {
		return nil
	}
	n := len(entries)
	var (
		seqs                                  = make([]int64, n)
		stamps                                = make([]time.Time, n)
		actions, clients, stacks, triggeredBy = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		success, approval                     = make([]bool, n), make([]bool, n)
		changes                               = make([]*string, n)
		approvers, recs, driftIDs             = make([]string, n), make([]string, n), make([]string, n)
		prevs, hashes                         = make([]string, n), make([]string, n)
	)
	out := store.ChainAudit(entries, head.seq, head.hash, s.now())
	for i, e := range out {
		if e.ChangesMade != nil {
			c := string(e.ChangesMade)
			changes[i] = &c
		}
		seqs[i], stamps[i], actions[i], clients[i], stacks[i] = e.Seq, e.Timestamp, e.Action, e.ClientID, e.StackID
		triggeredBy[i], success[i], approval[i], approvers[i] = e.TriggeredBy, e.Success, e.ApprovalRequired, e.Approver
		recs[i], driftIDs[i], prevs[i], hashes[i] = e.ReconciliationID, e.DriftID, e.PrevHash, e.Hash
	}
	b.Queue(qInsertAudit, seqs, stamps, actions, clients, stacks, triggeredBy, success, changes, approval,
		approvers, recs, driftIDs, prevs, hashes)
	b.Queue(`UPDATE audit_head SET hash = $1`, out[n-1].Hash)
	return out
}

// ListAudit returns entries oldest first, cursor-paginated by Seq.
func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, store.Page, error) {
	var p params
	if q.ClientID != "" {
		p.where(`client_id = ` + p.add(q.ClientID))
	}
	if q.Action != "" {
		p.where(`action = ` + p.add(q.Action))
	}
	if !q.Since.IsZero() {
		p.where(`timestamp >= ` + p.add(ts(q.Since)))
	}
	if !q.Until.IsZero() {
		p.where(`timestamp < ` + p.add(ts(q.Until)))
	}
	if q.Cursor != "" {
		var after int64
		if err := store.DecodeCursor(q.Cursor, &after); err != nil {
			return nil, "", fmt.Errorf("list audit: %w", err)
		}
		p.where(`seq > ` + p.add(after))
	}
	limit := store.PageLimit(q.Limit)
	columns, scan := auditColumns, scanAuditEntry
	if q.Brief {
		columns, scan = briefAuditColumns, scanBriefAuditEntry
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+columns+` FROM audit`+p.clause()+` ORDER BY seq LIMIT `+p.add(limit+1), p.args...)
	out, err := collectRows(rows, scan)
	if err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	out, next := store.NextPage(out, limit, store.AuditKey)
	return out, next, nil
}

// markStacks are the event_marks rows a pass of the stack marks: its own
// and the client-wide one.
func markStacks(stackID string) []string {
	if stackID == "" {
		return []string{""}
	}
	return []string{stackID, ""}
}
