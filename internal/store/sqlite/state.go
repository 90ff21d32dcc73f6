package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/store"
)

const stateColumns = `client_id, stack_id, environment, desired_hash, applied_hash, state_version,
	previous_versions, desired, resources, last_applied, last_verified, created_at, updated_at,
	status, drift_details, last_error, reconciliation_policy, observability, revision, last_known, hold`

// stateRow is a states row as stored: JSON columns encoded, times in
// microseconds. Decoding it gives what GetState returns.
type stateRow struct {
	clientID, stackID, environment         string
	desiredHash, appliedHash, stateVersion string
	desired                                string
	lastApplied, lastVerified              sql.NullInt64
	createdAt, updatedAt                   int64
	status, lastError                      string
	docs                                   store.StateDocs
	revision                               int64
}

func (r *stateRow) dest() []any {
	return []any{&r.clientID, &r.stackID, &r.environment, &r.desiredHash, &r.appliedHash, &r.stateVersion,
		&r.docs.PreviousVersions, &r.desired, &r.docs.Resources, &r.lastApplied, &r.lastVerified, &r.createdAt, &r.updatedAt,
		&r.status, &r.docs.DriftDetails, &r.lastError, &r.docs.Policy, &r.docs.Observability, &r.revision, &r.docs.LastKnown, &r.docs.Hold}
}

// args are the values of stateColumns, in order.
func (r *stateRow) args() []any {
	return []any{r.clientID, r.stackID, r.environment, r.desiredHash, r.appliedHash, r.stateVersion,
		r.docs.PreviousVersions, r.desired, r.docs.Resources, r.lastApplied, r.lastVerified, r.createdAt, r.updatedAt,
		r.status, r.docs.DriftDetails, r.lastError, r.docs.Policy, r.docs.Observability, r.revision, r.docs.LastKnown, r.docs.Hold}
}

// encodeState encodes a record (its JSON documents by
// store.EncodeStateDocs).
func encodeState(rec store.StateRecord) (stateRow, error) {
	docs, err := store.EncodeStateDocs(rec)
	if err != nil {
		return stateRow{}, err
	}
	return stateRow{
		clientID: rec.ClientID, stackID: rec.StackID, environment: rec.Environment,
		desiredHash: rec.DesiredHash, appliedHash: rec.AppliedHash, stateVersion: rec.StateVersion,
		desired:      string(rec.Desired),
		lastApplied:  nullMicros(rec.LastApplied),
		lastVerified: nullMicros(rec.LastVerified),
		createdAt:    micros(rec.CreatedAt), updatedAt: micros(rec.UpdatedAt),
		status: string(rec.Status), lastError: rec.LastError,
		docs:     docs,
		revision: rec.Revision,
	}, nil
}

func (r *stateRow) decode() (store.StateRecord, error) {
	rec := store.StateRecord{
		ClientID: r.clientID, StackID: r.stackID, Environment: r.environment,
		DesiredHash: r.desiredHash, AppliedHash: r.appliedHash, StateVersion: r.stateVersion,
		LastApplied:  fromNullMicros(r.lastApplied),
		LastVerified: fromNullMicros(r.lastVerified),
		CreatedAt:    fromMicros(r.createdAt), UpdatedAt: fromMicros(r.updatedAt),
		Status: store.Status(r.status), LastError: r.lastError,
		Revision: r.revision,
	}
	if r.desired != "" {
		rec.Desired = json.RawMessage(r.desired)
	}
	if err := r.docs.Decode(&rec); err != nil {
		return store.StateRecord{}, err
	}
	return rec, nil
}

func marshal(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// ApplyDesired upserts desired state in one transaction. A new stack starts
// at v1.0.0 with Status healthy, LastVerified nil and AppliedHash empty (no
// pass has run yet); a changed hash or environment bumps the minor version
// and appends the old one to PreviousVersions; otherwise only summaries
// that differ are written (store.DecideApply).
func (s *Store) ApplyDesired(ctx context.Context, in []store.DesiredInput) ([]store.ApplyResult, error) {
	if err := store.CheckDesired(in); err != nil {
		return nil, err
	}
	results := make([]store.ApplyResult, len(in))
	if len(in) == 0 {
		return results, nil
	}
	now := s.now()
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		sel, err := s.write(ctx, tx, qApplyRead)
		if err != nil {
			return err
		}
		for i, d := range in {
			res := store.ApplyResult{ClientID: d.ClientID, StackID: d.StackID, Hash: d.Hash}
			var (
				cur  store.StoredDesired
				prev string
			)
			err := sel.QueryRowContext(ctx, d.ClientID, d.StackID).Scan(&cur.Version, &cur.Hash, &prev, &cur.Environment,
				&cur.Resources, &cur.Policy, &cur.Observability, &cur.Hold)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				// A stack deleted before keeps its versions: a new one
				// under its key continues after them.
				var last string
				err := tx.QueryRowContext(ctx, `SELECT version FROM desired_versions WHERE client_id = ? AND stack_id = ? ORDER BY rowid DESC LIMIT 1`,
					d.ClientID, d.StackID).Scan(&last)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("read versions of %s/%s: %w", d.ClientID, d.StackID, err)
				}
				first, err := store.RecreatedVersion(last)
				if err != nil {
					return fmt.Errorf("state %s/%s: %w", d.ClientID, d.StackID, err)
				}
				res.Created, res.Changed, res.Version = true, true, first
				if err := s.insertStack(ctx, tx, d, first, now); err != nil {
					return err
				}
			case err != nil:
				return fmt.Errorf("read state %s/%s: %w", d.ClientID, d.StackID, err)
			default:
				dec, err := store.DecideApply(cur, d, now)
				if err != nil {
					return err
				}
				res.Version, res.Pinned = dec.Version, dec.Pinned
				if dec.Pinned != nil {
					res.Hash = cur.Hash
				}
				switch dec.Action {
				case store.ApplyInPlace:
					if err := s.updateInPlace(ctx, tx, d, dec.Docs, now); err != nil {
						return err
					}
				case store.ApplyChange:
					res.Changed = true
					if err := s.changeStack(ctx, tx, d, cur.Version, dec, prev, now); err != nil {
						return err
					}
				}
			}
			results[i] = res
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("apply desired: %w", err)
	}
	return results, nil
}

func (s *Store) insertStack(ctx context.Context, tx *sql.Tx, d store.DesiredInput, version string, now time.Time) error {
	rec := store.NewState(d, now)
	rec.StateVersion, rec.Hold = version, d.Hold.Pinning(version)
	row, err := encodeState(rec)
	if err != nil {
		return err
	}
	ins, err := s.write(ctx, tx, qInsertState)
	if err != nil {
		return err
	}
	if _, err := ins.ExecContext(ctx, append(row.args(), store.ShardOf(d.ClientID, d.StackID))...); err != nil {
		return fmt.Errorf("insert state %s/%s: %w", d.ClientID, d.StackID, translate(err))
	}
	return s.insertVersion(ctx, tx, d, version, now)
}

func (s *Store) changeStack(ctx context.Context, tx *sql.Tx, d store.DesiredInput, old string, dec store.ApplyDecision, prevJSON string, now time.Time) error {
	var prev []string
	if err := json.Unmarshal([]byte(prevJSON), &prev); err != nil {
		return fmt.Errorf("decode previous versions of %s/%s: %w", d.ClientID, d.StackID, err)
	}
	prevDoc, err := marshal(append(prev, old))
	if err != nil {
		return err
	}
	up, err := s.write(ctx, tx, qChangeDesired)
	if err != nil {
		return err
	}
	docs := dec.Docs
	if _, err := up.ExecContext(ctx, d.Environment, d.Hash, string(d.Document), dec.Version,
		prevDoc, docs.Resources, docs.Policy, docs.Observability, docs.Hold, micros(now), d.ClientID, d.StackID); err != nil {
		return fmt.Errorf("update state %s/%s: %w", d.ClientID, d.StackID, err)
	}
	return s.insertVersion(ctx, tx, d, dec.Version, now)
}

func (s *Store) updateInPlace(ctx context.Context, tx *sql.Tx, d store.DesiredInput, docs store.StateDocs, now time.Time) error {
	up, err := s.write(ctx, tx, qUpdateInPlace)
	if err != nil {
		return err
	}
	if _, err := up.ExecContext(ctx, docs.Resources, docs.Policy, docs.Observability, docs.Hold, micros(now), d.ClientID, d.StackID); err != nil {
		return fmt.Errorf("update state %s/%s: %w", d.ClientID, d.StackID, err)
	}
	return nil
}

// Unpin removes a stack's hold and returns it (nil: there was none, and
// nothing is written).
func (s *Store) Unpin(ctx context.Context, clientID, stackID string) (*store.Hold, error) {
	var held *store.Hold
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var doc string
		if err := tx.QueryRowContext(ctx, `SELECT hold FROM states WHERE client_id = ? AND stack_id = ?`, clientID, stackID).Scan(&doc); err != nil {
			return translate(err)
		}
		h, err := store.DecodeHold(doc)
		if err != nil || h == nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE states SET hold = '', updated_at = ?, revision = revision + 1 WHERE client_id = ? AND stack_id = ?`,
			micros(s.now()), clientID, stackID); err != nil {
			return err
		}
		held = h
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("unpin %s/%s: %w", clientID, stackID, err)
	}
	return held, nil
}

func (s *Store) insertVersion(ctx context.Context, tx *sql.Tx, d store.DesiredInput, version string, now time.Time) error {
	ins, err := s.write(ctx, tx, qInsertVersion)
	if err != nil {
		return err
	}
	if _, err := ins.ExecContext(ctx, d.ClientID, d.StackID, version, d.Hash, string(d.Document), micros(now), d.AppliedBy); err != nil {
		return fmt.Errorf("insert desired version %s/%s %s: %w", d.ClientID, d.StackID, version, translate(err))
	}
	return nil
}

// GetState returns one stack's record, or store.ErrNotFound.
func (s *Store) GetState(ctx context.Context, clientID, stackID string) (store.StateRecord, error) {
	st, err := s.read(ctx, `SELECT `+stateColumns+` FROM states WHERE client_id = ? AND stack_id = ?`)
	if err != nil {
		return store.StateRecord{}, fmt.Errorf("get state: %w", err)
	}
	var r stateRow
	if err := st.QueryRowContext(ctx, clientID, stackID).Scan(r.dest()...); err != nil {
		return store.StateRecord{}, fmt.Errorf("get state %s/%s: %w", clientID, stackID, translate(err))
	}
	return r.decode()
}

// ListStates lists a page of stacks by client then stack.
func (s *Store) ListStates(ctx context.Context, clientID, cursor string, limit int) ([]store.StateRecord, store.Page, error) {
	rows, limit, err := s.listStates(ctx, stateColumns, clientID, -1, cursor, limit)
	if err != nil {
		return nil, "", fmt.Errorf("list states: %w", err)
	}
	defer rows.Close()
	out, err := store.CollectRows(rows, func(r store.Rows) (store.StateRecord, error) {
		var row stateRow
		if err := r.Scan(row.dest()...); err != nil {
			return store.StateRecord{}, err
		}
		return row.decode()
	})
	if err != nil {
		return nil, "", fmt.Errorf("list states: %w", err)
	}
	out, next := store.NextPage(out, limit, store.StateKey)
	return out, next, nil
}

// ListShardStacks lists the stacks of one shard, by client and stack.
func (s *Store) ListShardStacks(ctx context.Context, q store.ShardStacksQuery) ([]store.StackRef, store.Page, error) {
	if q.Shard < 0 || q.Shard >= store.Shards {
		return nil, "", fmt.Errorf("list stacks of shard %d: no such shard (0 to %d)", q.Shard, store.Shards-1)
	}
	rows, limit, err := s.listStates(ctx, `client_id, stack_id`, "", q.Shard, q.Cursor, q.Limit)
	if err != nil {
		return nil, "", fmt.Errorf("list stacks of shard %d: %w", q.Shard, err)
	}
	defer rows.Close()
	out, next, err := store.StackRefs(rows, limit)
	if err != nil {
		return nil, "", fmt.Errorf("list stacks of shard %d: %w", q.Shard, err)
	}
	return out, next, nil
}

// ListStackRefs lists every stack's client and stack id, by them.
func (s *Store) ListStackRefs(ctx context.Context, cursor string, limit int) ([]store.StackRef, store.Page, error) {
	rows, limit, err := s.listStates(ctx, `client_id, stack_id`, "", -1, cursor, limit)
	if err != nil {
		return nil, "", fmt.Errorf("list stacks: %w", err)
	}
	defer rows.Close()
	out, next, err := store.StackRefs(rows, limit)
	if err != nil {
		return nil, "", fmt.Errorf("list stacks: %w", err)
	}
	return out, next, nil
}

// ListStackApps lists a client's stacks with their applications; the
// application a document names is read by SQLite's json_extract.
func (s *Store) ListStackApps(ctx context.Context, clientID string) ([]store.StackApp, error) {
	st, err := s.read(ctx, `SELECT stack_id, environment,
	CASE WHEN desired = '' THEN '' ELSE COALESCE(json_extract(desired, '$.app'), '') END, desired_hash
FROM states WHERE client_id = ? ORDER BY stack_id`)
	if err != nil {
		return nil, fmt.Errorf("list applications of %s: %w", clientID, err)
	}
	rows, err := st.QueryContext(ctx, clientID)
	if err != nil {
		return nil, fmt.Errorf("list applications of %s: %w", clientID, err)
	}
	defer rows.Close()
	out := []store.StackApp{}
	for rows.Next() {
		var a store.StackApp
		if err := rows.Scan(&a.StackID, &a.Environment, &a.App, &a.DesiredHash); err != nil {
			return nil, fmt.Errorf("list applications of %s: %w", clientID, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list applications of %s: %w", clientID, err)
	}
	return out, nil
}

// listStates queries the columns of the states of the client (every
// client if empty) and of the shard (every shard if negative; the index
// states_shard serves it) after the cursor, by client and stack, one more
// than limit (the page limit it answers; <= 0: all).
func (s *Store) listStates(ctx context.Context, columns, clientID string, shard int, cursor string, limit int) (*sql.Rows, int, error) {
	var f filter
	if clientID != "" {
		f.and(`client_id = ?`, clientID)
	}
	if shard >= 0 {
		f.and(`shard = ?`, shard)
	}
	if cursor != "" {
		var c, st string
		if err := store.DecodeCursor(cursor, &c, &st); err != nil {
			return nil, 0, err
		}
		f.and(`client_id >= ? AND (client_id > ? OR stack_id > ?)`, c, c, st)
	}
	q := `SELECT ` + columns + ` FROM states` + f.clause() + ` ORDER BY client_id, stack_id`
	limit = store.PageLimit(limit)
	q += ` LIMIT ?`
	f.args = append(f.args, limit+1)
	st, err := s.read(ctx, q)
	if err != nil {
		return nil, 0, err
	}
	rows, err := st.QueryContext(ctx, f.args...)
	return rows, limit, err
}

// filter collects the conditions of a WHERE clause and their arguments.
type filter struct {
	conds []string
	args  []any
}

// and adds a condition with the arguments of its placeholders.
func (f *filter) and(cond string, args ...any) {
	f.conds = append(f.conds, cond)
	f.args = append(f.args, args...)
}

// clause is the WHERE clause, "" without conditions.
func (f *filter) clause() string {
	if len(f.conds) == 0 {
		return ""
	}
	return ` WHERE ` + strings.Join(f.conds, ` AND `)
}

// UpdateState writes rec if its Revision is the stored one.
func (s *Store) UpdateState(ctx context.Context, rec store.StateRecord) (store.StateRecord, error) {
	rec.UpdatedAt = s.now()
	row, err := encodeState(rec)
	if err != nil {
		return store.StateRecord{}, fmt.Errorf("update state: %w", err)
	}
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return s.updateState(ctx, tx, &row)
	})
	if err != nil {
		return store.StateRecord{}, fmt.Errorf("update state: %w", err)
	}
	return row.stored(rec)
}

// updateState is the optimistic write of UpdateState and CommitPass: it
// writes row if row.revision is the stored revision, and sets row.createdAt
// and row.revision to what is stored. The caller encodes the row and decodes
// the result outside the write transaction, which every write waits for.
func (s *Store) updateState(ctx context.Context, tx *sql.Tx, row *stateRow) error {
	up, err := s.write(ctx, tx, qUpdateState)
	if err != nil {
		return err
	}
	key := row.clientID + "/" + row.stackID
	err = up.QueryRowContext(ctx, row.environment, row.desiredHash, row.appliedHash, row.stateVersion,
		row.docs.PreviousVersions, row.desired, row.docs.Resources, row.lastApplied, row.lastVerified, row.updatedAt,
		row.status, row.docs.DriftDetails, row.lastError, row.docs.Policy, row.docs.Observability,
		row.docs.LastKnown, row.clientID, row.stackID, row.revision).Scan(&row.createdAt, &row.revision)
	if errors.Is(err, sql.ErrNoRows) {
		exists, err := s.write(ctx, tx, qStateExists)
		if err != nil {
			return err
		}
		var one int
		switch err := exists.QueryRowContext(ctx, row.clientID, row.stackID).Scan(&one); {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("state %s: %w", key, store.ErrNotFound)
		case err != nil:
			return fmt.Errorf("state %s: %w", key, err)
		}
		return fmt.Errorf("state %s revision %d: %w", key, row.revision, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("write state %s: %w", key, err)
	}
	return nil
}

// stored returns rec as GetState will read it back from r, its encoding
// (see store.StoredState), with the times and revision as stored.
func (r *stateRow) stored(rec store.StateRecord) (store.StateRecord, error) {
	rec.CreatedAt, rec.UpdatedAt = fromMicros(r.createdAt), fromMicros(r.updatedAt)
	rec.LastApplied, rec.LastVerified = fromNullMicros(r.lastApplied), fromNullMicros(r.lastVerified)
	rec.Revision = r.revision
	return store.StoredState(rec, r.desired, r.docs)
}

// GetDesiredVersion returns one version, or store.ErrNotFound.
func (s *Store) GetDesiredVersion(ctx context.Context, clientID, stackID, version string) (store.DesiredVersion, error) {
	st, err := s.read(ctx, `SELECT client_id, stack_id, version, hash, document, created_at, created_by
FROM desired_versions WHERE client_id = ? AND stack_id = ? AND version = ?`)
	if err != nil {
		return store.DesiredVersion{}, fmt.Errorf("get desired version: %w", err)
	}
	v, err := scanVersion(st.QueryRowContext(ctx, clientID, stackID, version))
	if err != nil {
		return store.DesiredVersion{}, fmt.Errorf("get desired version %s/%s %s: %w", clientID, stackID, version, translate(err))
	}
	return v, nil
}

// ListDesiredVersions returns a stack's versions, newest first: in insertion
// order, reversed (versions only grow). SQLite's rowid is that order; a
// PostgreSQL table needs a bigserial for it.
func (s *Store) ListDesiredVersions(ctx context.Context, clientID, stackID string) ([]store.DesiredVersion, error) {
	st, err := s.read(ctx, `SELECT client_id, stack_id, version, hash, document, created_at, created_by
FROM desired_versions WHERE client_id = ? AND stack_id = ? ORDER BY rowid DESC`)
	if err != nil {
		return nil, fmt.Errorf("list desired versions: %w", err)
	}
	rows, err := st.QueryContext(ctx, clientID, stackID)
	if err != nil {
		return nil, fmt.Errorf("list desired versions %s/%s: %w", clientID, stackID, err)
	}
	defer rows.Close()
	var out []store.DesiredVersion
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("list desired versions %s/%s: %w", clientID, stackID, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list desired versions %s/%s: %w", clientID, stackID, err)
	}
	return out, nil
}

func scanVersion(sc scanner) (store.DesiredVersion, error) {
	var (
		v       store.DesiredVersion
		doc     string
		created int64
	)
	if err := sc.Scan(&v.ClientID, &v.StackID, &v.Version, &v.Hash, &doc, &created, &v.CreatedBy); err != nil {
		return store.DesiredVersion{}, err
	}
	v.Document = json.RawMessage(doc)
	v.CreatedAt = fromMicros(created)
	return v, nil
}

// PutPolicy upserts a policy document; a zero UpdatedAt is set to now.
func (s *Store) PutPolicy(ctx context.Context, p store.PolicyRecord) error {
	if err := store.CheckPolicy(p); err != nil {
		return err
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = s.now()
	}
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := s.write(ctx, tx, qUpsertPolicy)
		if err != nil {
			return err
		}
		_, err = st.ExecContext(ctx, p.ClientID, p.StackID, string(p.Document), micros(p.UpdatedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("put policy %s/%s: %w", p.ClientID, p.StackID, err)
	}
	return nil
}

// GetPolicy returns the policy of exactly (client, stack), or
// store.ErrNotFound.
func (s *Store) GetPolicy(ctx context.Context, clientID, stackID string) (store.PolicyRecord, error) {
	st, err := s.read(ctx, `SELECT document, updated_at FROM policies WHERE client_id = ? AND stack_id = ?`)
	if err != nil {
		return store.PolicyRecord{}, fmt.Errorf("get policy: %w", err)
	}
	var (
		doc     string
		updated int64
	)
	if err := st.QueryRowContext(ctx, clientID, stackID).Scan(&doc, &updated); err != nil {
		return store.PolicyRecord{}, fmt.Errorf("get policy %s/%s: %w", clientID, stackID, translate(err))
	}
	return store.PolicyRecord{ClientID: clientID, StackID: stackID, Document: json.RawMessage(doc), UpdatedAt: fromMicros(updated)}, nil
}

// ListPolicies returns the client's policies by stack id.
func (s *Store) ListPolicies(ctx context.Context, clientID string) ([]store.PolicyRecord, error) {
	st, err := s.read(ctx, `SELECT stack_id, document, updated_at FROM policies WHERE client_id = ? ORDER BY stack_id`)
	if err != nil {
		return nil, fmt.Errorf("list policies: %w", err)
	}
	rows, err := st.QueryContext(ctx, clientID)
	if err != nil {
		return nil, fmt.Errorf("list policies of %s: %w", clientID, err)
	}
	defer rows.Close()
	out, err := store.CollectRows(rows, func(r store.Rows) (store.PolicyRecord, error) {
		var (
			p       = store.PolicyRecord{ClientID: clientID}
			doc     string
			updated int64
		)
		err := r.Scan(&p.StackID, &doc, &updated)
		p.Document, p.UpdatedAt = json.RawMessage(doc), fromMicros(updated)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("list policies of %s: %w", clientID, translate(err))
	}
	return out, nil
}
