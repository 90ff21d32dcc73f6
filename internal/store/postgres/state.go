package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/blackwellio/blackwell/internal/store"
)

const stateColumns = `client_id, stack_id, environment, desired_hash, applied_hash, state_version,
	previous_versions, desired, resources, last_applied, last_verified, created_at, updated_at,
	status, drift_details, last_error, reconciliation_policy, observability, revision, last_known, hold`

// stateRow is a states row as stored: JSON columns encoded, times
// truncated. Decoding it gives what GetState returns.
type stateRow struct {
	clientID, stackID, environment         string
	desiredHash, appliedHash, stateVersion string
	desired                                string
	lastApplied, lastVerified              *time.Time
	createdAt, updatedAt                   time.Time
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
		lastApplied:  tsPtr(rec.LastApplied),
		lastVerified: tsPtr(rec.LastVerified),
		createdAt:    ts(rec.CreatedAt), updatedAt: ts(rec.UpdatedAt),
		status: string(rec.Status), lastError: rec.LastError,
		docs:     docs,
		revision: rec.Revision,
	}, nil
}

func (r *stateRow) decode() (store.StateRecord, error) {
	rec := store.StateRecord{
		ClientID: r.clientID, StackID: r.stackID, Environment: r.environment,
		DesiredHash: r.desiredHash, AppliedHash: r.appliedHash, StateVersion: r.stateVersion,
		LastApplied:  utcPtr(r.lastApplied),
		LastVerified: utcPtr(r.lastVerified),
		CreatedAt:    utc(r.createdAt), UpdatedAt: utc(r.updatedAt),
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

// stored returns rec as GetState will read it back from r, its encoding
// (see store.StoredState), with the times and revision as stored.
func (r *stateRow) stored(rec store.StateRecord) (store.StateRecord, error) {
	rec.CreatedAt, rec.UpdatedAt = utc(r.createdAt), utc(r.updatedAt)
	rec.LastApplied, rec.LastVerified = utcPtr(r.lastApplied), utcPtr(r.lastVerified)
	rec.Revision = r.revision
	return store.StoredState(rec, r.desired, r.docs)
}

func marshal(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// qApplyLock reads and locks the stored stacks among those being applied,
// in key order, so concurrent applies of overlapping stacks do not
// deadlock.
const qApplyLock = `SELECT s.client_id, s.stack_id, s.state_version, s.desired_hash, s.previous_versions,
	s.environment, s.resources, s.reconciliation_policy, s.observability, s.hold
FROM states s JOIN unnest($1::text[], $2::text[]) AS k(client_id, stack_id)
	ON s.client_id = k.client_id AND s.stack_id = k.stack_id
ORDER BY s.client_id, s.stack_id
FOR UPDATE OF s`

// qLastVersions reads the last stored version of each key that has no
// state record: a stack deleted before (DeleteStack keeps its versions).
const qLastVersions = `SELECT DISTINCT ON (v.client_id, v.stack_id) v.client_id, v.stack_id, v.version
FROM desired_versions v JOIN unnest($1::text[], $2::text[]) AS k(client_id, stack_id)
	ON v.client_id = k.client_id AND v.stack_id = k.stack_id
WHERE NOT EXISTS (SELECT 1 FROM states s WHERE s.client_id = k.client_id AND s.stack_id = k.stack_id)
ORDER BY v.client_id, v.stack_id, v.seq DESC`

// qInsertState inserts a new stack unless a concurrent apply just did; its
// shard ($22, store.ShardOf) is written once, here.
const qInsertState = `INSERT INTO states (` + stateColumns + `, shard)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
ON CONFLICT (client_id, stack_id) DO NOTHING`

// qChangeDesired writes a changed desired state: ApplyDesired's columns only.
const qChangeDesired = `UPDATE states SET environment = $1, desired_hash = $2, desired = $3, state_version = $4,
	previous_versions = $5, resources = $6, reconciliation_policy = $7, observability = $8, hold = $9,
	updated_at = $10, revision = revision + 1
WHERE client_id = $11 AND stack_id = $12`

// qUpdateInPlace writes the summaries and hold of a stack whose desired
// state is unchanged (store.ApplyInPlace).
const qUpdateInPlace = `UPDATE states SET resources = $1, reconciliation_policy = $2, observability = $3, hold = $4,
	updated_at = $5, revision = revision + 1
WHERE client_id = $6 AND stack_id = $7`

// qInsertVersion stores a version of a desired document.
const qInsertVersion = `INSERT INTO desired_versions (client_id, stack_id, version, hash, document, created_at, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)`

// applied is what ApplyDesired knows of a stack while it works through its
// input: as stored, then as this transaction has changed it.
type applied struct {
	store.StoredDesired
	prev []string
}

type stackKey struct{ client, stack string }

// ApplyDesired upserts desired state in one transaction. A new stack starts
// at v1.0.0 with Status healthy, LastVerified nil and AppliedHash empty (no
// pass has run yet); a changed hash or environment bumps the minor version
// and appends the old one to PreviousVersions; otherwise only summaries
// that differ are written, and a hold pins (store.DecideApply).
//
// Two round trips: the first locks and reads the stored stacks it applies
// (in key order), the second sends every write and commits. A stack created
// by a concurrent apply after the locking read runs the transaction again,
// which then finds it stored.
func (s *Store) ApplyDesired(ctx context.Context, in []store.DesiredInput) ([]store.ApplyResult, error) {
	if err := store.CheckDesired(in); err != nil {
		return nil, err
	}
	results := make([]store.ApplyResult, len(in))
	if len(in) == 0 {
		return results, nil
	}
	order, clients, stacks := applyOrder(in)
	now := s.now()
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		cur, lastVersion, err := readApplied(ctx, t, clients, stacks)
		if err != nil {
			return err
		}
		b := t.batch()
		for _, i := range order {
			res, err := queueApply(b, in[i], cur, lastVersion, now)
			if err != nil {
				return err
			}
			results[i] = res
		}
		if err := t.commit(ctx, b); err != nil {
			if errors.Is(err, errRetry) {
				return err
			}
			return fmt.Errorf("write: %w", translate(err))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("apply desired: %w", err)
	}
	return results, nil
}

// applyOrder returns the indexes of in in key order (stable: a stack
// applied twice keeps its order), so rows are locked and inserted in the
// same order by every transaction, and the distinct keys in that order.
func applyOrder(in []store.DesiredInput) (order []int, clients, stacks []string) {
	order = make([]int, len(in))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Or(strings.Compare(in[a].ClientID, in[b].ClientID), strings.Compare(in[a].StackID, in[b].StackID))
	})
	for k, i := range order {
		if k > 0 && in[i].ClientID == in[order[k-1]].ClientID && in[i].StackID == in[order[k-1]].StackID {
			continue
		}
		clients, stacks = append(clients, in[i].ClientID), append(stacks, in[i].StackID)
	}
	return order, clients, stacks
}

// readApplied locks and reads the stored stacks among the keys, and the
// last stored version of each key that has none: a stack deleted before
// keeps its versions, and a new one under its key continues after them.
// One round trip, the transaction's first.
func readApplied(ctx context.Context, t *txn, clients, stacks []string) (map[stackKey]*applied, map[stackKey]string, error) {
	cur := make(map[stackKey]*applied, len(clients))
	lastVersion := map[stackKey]string{}
	b := t.batch()
	b.Queue(qApplyLock, clients, stacks).Query(func(rows pgx.Rows) error {
		var (
			k       stackKey
			sd      store.StoredDesired
			prevDoc string
		)
		_, err := pgx.ForEachRow(rows, []any{&k.client, &k.stack, &sd.Version, &sd.Hash, &prevDoc, &sd.Environment,
			&sd.Resources, &sd.Policy, &sd.Observability, &sd.Hold}, func() error {
			a := &applied{StoredDesired: sd}
			if err := json.Unmarshal([]byte(prevDoc), &a.prev); err != nil {
				return fmt.Errorf("decode previous versions of %s/%s: %w", k.client, k.stack, err)
			}
			cur[k] = a
			return nil
		})
		return err
	})
	b.Queue(qLastVersions, clients, stacks).Query(func(rows pgx.Rows) error {
		var (
			k stackKey
			v string
		)
		_, err := pgx.ForEachRow(rows, []any{&k.client, &k.stack, &v}, func() error {
			lastVersion[k] = v
			return nil
		})
		return err
	})
	if err := t.send(ctx, b); err != nil {
		return nil, nil, fmt.Errorf("read states: %w", err)
	}
	return cur, lastVersion, nil
}

// queueApply queues the writes that apply d to b, given what cur says is
// stored (updated to what they leave), and answers d's result.
func queueApply(b *pgx.Batch, d store.DesiredInput, cur map[stackKey]*applied, lastVersion map[stackKey]string, now time.Time) (store.ApplyResult, error) {
	k := stackKey{d.ClientID, d.StackID}
	res := store.ApplyResult{ClientID: d.ClientID, StackID: d.StackID, Hash: d.Hash}
	a, ok := cur[k]
	if !ok {
		first, err := store.RecreatedVersion(lastVersion[k])
		if err != nil {
			return res, fmt.Errorf("state %s/%s: %w", d.ClientID, d.StackID, err)
		}
		res.Created, res.Changed, res.Version = true, true, first
		if err := queueInsertStack(b, d, first, now); err != nil {
			return res, err
		}
		docs, err := store.EncodeStateDocs(store.StateRecord{ClientID: d.ClientID, StackID: d.StackID,
			Resources: d.Resources, ReconciliationPolicy: d.Policy, Observability: d.Observability, Hold: d.Hold.Pinning(first)})
		if err != nil {
			return res, err
		}
		cur[k] = &applied{StoredDesired: storedDesired(d, first, docs), prev: []string{}}
		return res, nil
	}
	dec, err := store.DecideApply(a.StoredDesired, d, now)
	if err != nil {
		return res, err
	}
	res.Version, res.Pinned = dec.Version, dec.Pinned
	if dec.Pinned != nil {
		res.Hash = a.Hash // the stack's: the input was not applied
	}
	switch dec.Action {
	case store.ApplyInPlace:
		docs := dec.Docs
		b.Queue(qUpdateInPlace, docs.Resources, docs.Policy, docs.Observability, docs.Hold, ts(now), d.ClientID, d.StackID)
		next := *a
		next.Resources, next.Policy, next.Observability, next.Hold = docs.Resources, docs.Policy, docs.Observability, docs.Hold
		cur[k] = &next
	case store.ApplyChange:
		prev := append(slices.Clone(a.prev), a.Version)
		if err := queueChangeStack(b, d, dec, prev, now); err != nil {
			return res, err
		}
		res.Changed = true
		cur[k] = &applied{StoredDesired: storedDesired(d, dec.Version, dec.Docs), prev: prev}
	}
	return res, nil
}

// storedDesired is what d makes of a stack at version, as ApplyDesired
// reads it back within its transaction.
func storedDesired(d store.DesiredInput, version string, docs store.StateDocs) store.StoredDesired {
	return store.StoredDesired{Version: version, Hash: d.Hash, Environment: d.Environment,
		Resources: docs.Resources, Policy: docs.Policy, Observability: docs.Observability, Hold: docs.Hold}
}

func queueInsertStack(b *pgx.Batch, d store.DesiredInput, version string, now time.Time) error {
	rec := store.NewState(d, now)
	rec.StateVersion, rec.Hold = version, d.Hold.Pinning(version)
	row, err := encodeState(rec)
	if err != nil {
		return err
	}
	b.Queue(qInsertState, append(row.args(), store.ShardOf(d.ClientID, d.StackID))...).Exec(func(ct pgconn.CommandTag) error {
		if ct.RowsAffected() != 1 {
			// Created by a concurrent apply since qApplyLock read.
			return fmt.Errorf("insert state %s/%s: %w", d.ClientID, d.StackID, errRetry)
		}
		return nil
	})
	queueVersion(b, d, version, now)
	return nil
}

func queueChangeStack(b *pgx.Batch, d store.DesiredInput, dec store.ApplyDecision, prev []string, now time.Time) error {
	prevDoc, err := marshal(prev)
	if err != nil {
		return err
	}
	docs := dec.Docs
	b.Queue(qChangeDesired, d.Environment, d.Hash, string(d.Document), dec.Version,
		prevDoc, docs.Resources, docs.Policy, docs.Observability, docs.Hold, ts(now), d.ClientID, d.StackID)
	queueVersion(b, d, dec.Version, now)
	return nil
}

// Unpin removes a stack's hold and returns it (nil: there was none, and
// nothing is written).
func (s *Store) Unpin(ctx context.Context, clientID, stackID string) (*store.Hold, error) {
	var held *store.Hold
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		held = nil
		var doc string
		b := t.batch()
		b.Queue(`SELECT hold FROM states WHERE client_id = $1 AND stack_id = $2 FOR UPDATE`, clientID, stackID).QueryRow(func(row pgx.Row) error {
			return row.Scan(&doc)
		})
		if err := t.send(ctx, b); err != nil {
			return translate(err)
		}
		h, err := store.DecodeHold(doc)
		if err != nil || h == nil {
			return err
		}
		b = t.batch()
		b.Queue(`UPDATE states SET hold = '', updated_at = $1, revision = revision + 1 WHERE client_id = $2 AND stack_id = $3`,
			ts(s.now()), clientID, stackID)
		if err := t.commit(ctx, b); err != nil {
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

func queueVersion(b *pgx.Batch, d store.DesiredInput, version string, now time.Time) {
	b.Queue(qInsertVersion, d.ClientID, d.StackID, version, d.Hash, string(d.Document), ts(now), d.AppliedBy)
}

// GetState returns one stack's record, or store.ErrNotFound.
func (s *Store) GetState(ctx context.Context, clientID, stackID string) (store.StateRecord, error) {
	var r stateRow
	if err := s.pool.QueryRow(ctx, `SELECT `+stateColumns+` FROM states WHERE client_id = $1 AND stack_id = $2`,
		clientID, stackID).Scan(r.dest()...); err != nil {
		return store.StateRecord{}, fmt.Errorf("get state %s/%s: %w", clientID, stackID, translate(err))
	}
	return r.decode()
}

// ListStates lists a page of stacks by client then stack (bytewise).
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
// application a document names is read by the server, which parses only
// the documents that hold the key (the application is omitted when
// empty).
func (s *Store) ListStackApps(ctx context.Context, clientID string) ([]store.StackApp, error) {
	rows, _ := s.pool.Query(ctx, `SELECT stack_id, environment,
	COALESCE(CASE WHEN strpos(desired, '"app"') = 0 THEN NULL ELSE desired::jsonb->>'app' END, ''), desired_hash
FROM states WHERE client_id = $1 ORDER BY stack_id`, clientID)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.StackApp, error) {
		var a store.StackApp
		err := row.Scan(&a.StackID, &a.Environment, &a.App, &a.DesiredHash)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("list applications of %s: %w", clientID, err)
	}
	return out, nil
}

// listStates queries the columns of the states of the client (every
// client if empty) and of the shard (every shard if negative; the index
// states_shard serves it) after the cursor, by client and stack, one more
// than limit (the page limit it answers; <= 0: all).
func (s *Store) listStates(ctx context.Context, columns, clientID string, shard int, cursor string, limit int) (pgx.Rows, int, error) {
	var p params
	if clientID != "" {
		p.where(`client_id = ` + p.add(clientID))
	}
	if shard >= 0 {
		p.where(`shard = ` + p.add(shard))
	}
	if cursor != "" {
		var c, st string
		if err := store.DecodeCursor(cursor, &c, &st); err != nil {
			return nil, 0, err
		}
		p.where(`(client_id, stack_id) > (` + p.add(c) + `, ` + p.add(st) + `)`)
	}
	q := `SELECT ` + columns + ` FROM states` + p.clause() + ` ORDER BY client_id, stack_id`
	limit = store.PageLimit(limit)
	q += ` LIMIT ` + p.add(limit+1)
	rows, err := s.pool.Query(ctx, q, p.args...)
	if err != nil {
		return nil, 0, err
	}
	return rows, limit, nil
}

// qUpdateState is the optimistic write of UpdateState and CommitPass: no row
// is updated (no row returned) when the revision is not the stored one. A
// concurrent writer of the row makes it wait, then see the new revision.
const qUpdateState = `UPDATE states SET environment = $1, desired_hash = $2, applied_hash = $3, state_version = $4,
	previous_versions = $5, desired = $6, resources = $7, last_applied = $8, last_verified = $9, updated_at = $10,
	status = $11, drift_details = $12, last_error = $13, reconciliation_policy = $14, observability = $15,
	last_known = $16, revision = revision + 1
WHERE client_id = $17 AND stack_id = $18 AND revision = $19
RETURNING created_at, revision`

// UpdateState writes rec if its Revision is the stored one.
func (s *Store) UpdateState(ctx context.Context, rec store.StateRecord) (store.StateRecord, error) {
	rec.UpdatedAt = s.now()
	row, err := encodeState(rec)
	if err != nil {
		return store.StateRecord{}, fmt.Errorf("update state: %w", err)
	}
	// One statement: its own transaction.
	err = s.retry(ctx, func() error { return updateState(ctx, s.pool, &row) })
	if err != nil {
		return store.StateRecord{}, fmt.Errorf("update state: %w", err)
	}
	return row.stored(rec)
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// updateState is the optimistic write of UpdateState: it writes row if
// row.revision is the stored revision, and sets row.createdAt and
// row.revision to what is stored.
func updateState(ctx context.Context, q querier, row *stateRow) error {
	var created time.Time
	var revision int64
	err := q.QueryRow(ctx, qUpdateState, row.updateArgs()...).Scan(&created, &revision)
	if errors.Is(err, pgx.ErrNoRows) {
		return stateMissing(ctx, q, row)
	}
	if err != nil {
		return fmt.Errorf("write state %s/%s: %w", row.clientID, row.stackID, err)
	}
	row.createdAt, row.revision = created, revision
	return nil
}

func (r *stateRow) updateArgs() []any {
	return []any{r.environment, r.desiredHash, r.appliedHash, r.stateVersion,
		r.docs.PreviousVersions, r.desired, r.docs.Resources, r.lastApplied, r.lastVerified, r.updatedAt,
		r.status, r.docs.DriftDetails, r.lastError, r.docs.Policy, r.docs.Observability,
		r.docs.LastKnown, r.clientID, r.stackID, r.revision}
}

// stateMissing explains why qUpdateState matched no row: the stack does not
// exist (store.ErrNotFound) or its revision is not row's
// (store.ErrConflict).
func stateMissing(ctx context.Context, q querier, row *stateRow) error {
	key := row.clientID + "/" + row.stackID
	var one int
	switch err := q.QueryRow(ctx, `SELECT 1 FROM states WHERE client_id = $1 AND stack_id = $2`,
		row.clientID, row.stackID).Scan(&one); {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("state %s: %w", key, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("state %s: %w", key, err)
	}
	return fmt.Errorf("state %s revision %d: %w", key, row.revision, store.ErrConflict)
}

// stateUpdate is the outcome of a row of qUpdateStates queued in a batch.
type stateUpdate int

const (
	stateUnread  stateUpdate = iota // the batch failed before it
	stateWritten                    // the row matched and was written
	stateStale                      // no row matched: see stateMissing
)

const versionColumns = `client_id, stack_id, version, hash, document, created_at, created_by`

// GetDesiredVersion returns one version, or store.ErrNotFound.
func (s *Store) GetDesiredVersion(ctx context.Context, clientID, stackID, version string) (store.DesiredVersion, error) {
	v, err := scanVersion(s.pool.QueryRow(ctx, `SELECT `+versionColumns+`
FROM desired_versions WHERE client_id = $1 AND stack_id = $2 AND version = $3`, clientID, stackID, version))
	if err != nil {
		return store.DesiredVersion{}, fmt.Errorf("get desired version %s/%s %s: %w", clientID, stackID, version, translate(err))
	}
	return v, nil
}

// ListDesiredVersions returns a stack's versions, newest first: insertion
// order (seq), reversed; versions only grow.
func (s *Store) ListDesiredVersions(ctx context.Context, clientID, stackID string) ([]store.DesiredVersion, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+versionColumns+`
FROM desired_versions WHERE client_id = $1 AND stack_id = $2 ORDER BY seq DESC`, clientID, stackID)
	out, err := collectRows(rows, func(row pgx.CollectableRow) (store.DesiredVersion, error) { return scanVersion(row) })
	if err != nil {
		return nil, fmt.Errorf("list desired versions %s/%s: %w", clientID, stackID, err)
	}
	return out, nil
}

// scanner is a pgx.Row or pgx.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanVersion(sc scanner) (store.DesiredVersion, error) {
	var (
		v       store.DesiredVersion
		doc     string
		created time.Time
	)
	if err := sc.Scan(&v.ClientID, &v.StackID, &v.Version, &v.Hash, &doc, &created, &v.CreatedBy); err != nil {
		return store.DesiredVersion{}, err
	}
	v.Document = json.RawMessage(doc)
	v.CreatedAt = utc(created)
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
	err := s.retry(ctx, func() error {
		_, err := s.pool.Exec(ctx, `INSERT INTO policies (client_id, stack_id, document, updated_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (client_id, stack_id) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at`,
			p.ClientID, p.StackID, string(p.Document), ts(p.UpdatedAt))
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
	var (
		doc     string
		updated time.Time
	)
	if err := s.pool.QueryRow(ctx, `SELECT document, updated_at FROM policies WHERE client_id = $1 AND stack_id = $2`,
		clientID, stackID).Scan(&doc, &updated); err != nil {
		return store.PolicyRecord{}, fmt.Errorf("get policy %s/%s: %w", clientID, stackID, translate(err))
	}
	return store.PolicyRecord{ClientID: clientID, StackID: stackID, Document: json.RawMessage(doc), UpdatedAt: utc(updated)}, nil
}

// ListPolicies returns the client's policies by stack id.
func (s *Store) ListPolicies(ctx context.Context, clientID string) ([]store.PolicyRecord, error) {
	rows, _ := s.pool.Query(ctx, `SELECT stack_id, document, updated_at FROM policies WHERE client_id = $1 ORDER BY stack_id`, clientID)
	defer rows.Close()
	out, err := store.CollectRows(rows, func(r store.Rows) (store.PolicyRecord, error) {
		var (
			p       = store.PolicyRecord{ClientID: clientID}
			doc     string
			updated time.Time
		)
		err := r.Scan(&p.StackID, &doc, &updated)
		p.Document, p.UpdatedAt = json.RawMessage(doc), utc(updated)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("list policies of %s: %w", clientID, translate(err))
	}
	return out, nil
}
