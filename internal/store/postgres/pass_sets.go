package postgres

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blackwellio/blackwell/internal/store"
)

// The statements a transaction of passes (passTx) runs once for all its
// passes, each over arrays of their values: the fences, the states, the
// drifts to resolve and the results. A statement costs PostgreSQL far more
// than a row of it (measured at 100,000 stacks: six statements a pass were
// most of PostgreSQL's CPU), so a batch of n passes runs four statements
// here where it ran 4n.

// qCheckFences takes a key-share lock on every lease the passes are fenced
// by (so the lease cannot change hands before the commit), in shard order
// (two transactions of passes do not wait for each other's shards in a
// cycle), and answers the
// fences that do not hold: lease gone, owner or epoch moved, or expired at
// the pass's completion.
const qCheckFences = `WITH f AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::timestamptz[]) AS f(shard, owner, epoch, at)),
held AS MATERIALIZED (SELECT l.shard, l.owner, l.epoch FROM shard_leases l
	JOIN f ON l.shard = f.shard AND l.owner = f.owner AND l.epoch = f.epoch AND l.expires_at > f.at
	ORDER BY l.shard FOR KEY SHARE OF l)
SELECT f.shard, f.owner, f.epoch FROM f
WHERE NOT EXISTS (SELECT 1 FROM held WHERE held.shard = f.shard AND held.owner = f.owner AND held.epoch = f.epoch)
ORDER BY f.shard`

// queueFences queues qCheckFences for the passes' fences, first in the
// batch (none: nothing). Each lease row must hold the fence's owner and
// epoch and outlive the latest completion of the shard's passes. The rows
// are locked FOR KEY SHARE until the passes commit, so a takeover (an
// UPDATE of the epoch, a key column: FOR UPDATE) waits for them and cannot
// slip between check and commit, while the owner's renewal (qRenewShards)
// and release, which leave the epoch alone, do not wait; a takeover
// committed first makes the check see its row, and fail. A fence that does
// not hold stops the batch with store.ErrFenced; the statements after it
// ran in the transaction that inTx then rolls back (the commit is in a
// later batch), so nothing is written.
func queueFences(b *pgx.Batch, ws []*passWrite) {
	type key struct {
		shard int64
		owner string
		epoch int64
	}
	latest := map[key]time.Time{}
	var order []key
	for _, w := range ws {
		f := w.p.Fence
		if f == nil {
			continue
		}
		k, at := key{int64(f.Shard), f.Owner, f.Epoch}, ts(w.r.CompletedAt)
		prev, seen := latest[k]
		if !seen {
			order = append(order, k)
		}
		if !seen || at.After(prev) {
			latest[k] = at // the strictest check of the shard's passes
		}
	}
	if len(order) == 0 {
		return
	}
	shards, owners, epochs, ats := make([]int64, len(order)), make([]string, len(order)), make([]int64, len(order)), make([]time.Time, len(order))
	for i, k := range order {
		shards[i], owners[i], epochs[i], ats[i] = k.shard, k.owner, k.epoch, latest[k]
	}
	b.Queue(qCheckFences, shards, owners, epochs, ats).Query(func(rows pgx.Rows) error {
		defer rows.Close()
		failed := map[key]bool{}
		var first key
		for rows.Next() {
			var k key
			if err := rows.Scan(&k.shard, &k.owner, &k.epoch); err != nil {
				return fmt.Errorf("check fence: %w", err)
			}
			if len(failed) == 0 {
				first = k
			}
			failed[k] = true
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("check fence: %w", err)
		}
		if len(failed) == 0 {
			return nil
		}
		for _, w := range ws {
			if f := w.p.Fence; f != nil && failed[key{int64(f.Shard), f.Owner, f.Epoch}] {
				w.fenced = fmt.Errorf("%w (shard %d, owner %s, epoch %d)", store.ErrFenced, f.Shard, f.Owner, f.Epoch)
			}
		}
		return fmt.Errorf("%w (shard %d, owner %s, epoch %d)", store.ErrFenced, first.shard, first.owner, first.epoch)
	})
}

// qUpdateStates is qUpdateState for many rows: it writes each row whose
// revision is the stored one and answers, for each, its ordinal in the
// arrays, created_at and the new revision; a row it does not answer was
// stale or missing (stateMissing says which).
const qUpdateStates = `UPDATE states s SET environment = u.environment, desired_hash = u.desired_hash,
	applied_hash = u.applied_hash, state_version = u.state_version, previous_versions = u.previous_versions,
	desired = u.desired, resources = u.resources, last_applied = u.last_applied, last_verified = u.last_verified,
	updated_at = u.updated_at, status = u.status, drift_details = u.drift_details, last_error = u.last_error,
	reconciliation_policy = u.reconciliation_policy, observability = u.observability, last_known = u.last_known,
	revision = s.revision + 1
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
	$9::text[], $10::timestamptz[], $11::timestamptz[], $12::timestamptz[], $13::text[], $14::text[], $15::text[],
	$16::text[], $17::text[], $18::text[], $19::bigint[]) WITH ORDINALITY
	AS u(client_id, stack_id, environment, desired_hash, applied_hash, state_version, previous_versions, desired,
	resources, last_applied, last_verified, updated_at, status, drift_details, last_error, reconciliation_policy,
	observability, last_known, revision, i)
WHERE s.client_id = u.client_id AND s.stack_id = u.stack_id AND s.revision = u.revision
RETURNING u.i, s.created_at, s.revision`

// queueStates queues qUpdateStates for the passes' rows (w.row); when the
// batch's results are read, each w.upd says whether its row was written
// (and w.row holds the stored created_at and revision) or stale.
func queueStates(b *pgx.Batch, ws []*passWrite) {
	n := len(ws)
	var (
		clients, stacks, envs, desiredHashes, appliedHashes  = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		versions, previous, desired, resources               = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		lastApplied, lastVerified                            = make([]*time.Time, n), make([]*time.Time, n)
		updated                                              = make([]time.Time, n)
		statuses, details, lastErrors, policies, obs, knowns = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		revisions                                            = make([]int64, n)
	)
	for i, w := range ws {
		r := &w.row
		clients[i], stacks[i], envs[i], desiredHashes[i], appliedHashes[i] = r.clientID, r.stackID, r.environment, r.desiredHash, r.appliedHash
		versions[i], previous[i], desired[i], resources[i] = r.stateVersion, r.docs.PreviousVersions, r.desired, r.docs.Resources
		lastApplied[i], lastVerified[i], updated[i] = r.lastApplied, r.lastVerified, r.updatedAt
		statuses[i], details[i], lastErrors[i], policies[i], obs[i], knowns[i] = r.status, r.docs.DriftDetails, r.lastError, r.docs.Policy, r.docs.Observability, r.docs.LastKnown
		revisions[i] = r.revision
	}
	b.Queue(qUpdateStates, clients, stacks, envs, desiredHashes, appliedHashes, versions, previous, desired, resources,
		lastApplied, lastVerified, updated, statuses, details, lastErrors, policies, obs, knowns, revisions).Query(func(rows pgx.Rows) error {
		defer rows.Close()
		for _, w := range ws {
			w.upd = stateStale // until the answer names it
		}
		for rows.Next() {
			var (
				i        int64
				created  time.Time
				revision int64
			)
			if err := rows.Scan(&i, &created, &revision); err != nil {
				return fmt.Errorf("write states: %w", err)
			}
			if i < 1 || int(i) > n {
				return fmt.Errorf("write states: answer for row %d of %d", i, n)
			}
			w := ws[i-1]
			w.upd, w.row.createdAt, w.row.revision = stateWritten, created, revision
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("write states: %w", err)
		}
		return nil
	})
}

// qResolveStacksDrifts is qResolveDrifts for many stacks: each stack's open
// drifts that its pass did not report are resolved at its pass's
// completion. $4..$6 list the reported drifts (stack and id).
const qResolveStacksDrifts = `UPDATE drifts d SET resolved_at = k.at
FROM unnest($1::timestamptz[], $2::text[], $3::text[]) AS k(at, client_id, stack_id)
WHERE d.client_id = k.client_id AND d.stack_id = k.stack_id AND d.resolved_at IS NULL
AND NOT EXISTS (SELECT 1 FROM unnest($4::text[], $5::text[], $6::text[]) AS r(client_id, stack_id, id)
	WHERE r.client_id = d.client_id AND r.stack_id = d.stack_id AND r.id = d.id)`

func queueResolveDrifts(b *pgx.Batch, ws []*passWrite) {
	n := len(ws)
	ats, clients, stacks := make([]time.Time, n), make([]string, n), make([]string, n)
	var keepClients, keepStacks, keepIDs []string
	for i, w := range ws {
		ats[i], clients[i], stacks[i] = ts(w.r.CompletedAt), w.p.State.ClientID, w.p.State.StackID
		for _, id := range w.ids {
			keepClients, keepStacks, keepIDs = append(keepClients, clients[i]), append(keepStacks, stacks[i]), append(keepIDs, id)
		}
	}
	// Never NULL arrays: NOT EXISTS over unnest(NULL) is true, which is
	// right, but a typed empty array says so plainly.
	if keepIDs == nil {
		keepClients, keepStacks, keepIDs = []string{}, []string{}, []string{}
	}
	b.Queue(qResolveStacksDrifts, ats, clients, stacks, keepClients, keepStacks, keepIDs)
}

// qInsertResults stores the passes' results; seq is assigned by the
// identity, in the arrays' order.
const qInsertResults = `INSERT INTO reconciliations (reconciliation_id, client_id, stack_id, pass_trigger,
	started_at, completed_at, status, drift_detected, drift_count, auto_heal_attempted, auto_heal_success_count,
	errors, state_version)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[],
	$7::text[], $8::boolean[], $9::bigint[], $10::boolean[], $11::bigint[], $12::text[], $13::text[])`

// resultCols are the passes' results as the columns of qInsertResults; the
// hourly roll-up is computed from the same arrays (qRollUpResults).
type resultCols struct {
	ids, clients, stacks, triggers []string
	started, completed             []time.Time
	statuses                       []string
	detected, attempted            []bool
	counts, healed                 []int64
	errs, versions                 []string
}

func resultColsOf(ws []*passWrite) resultCols {
	n := len(ws)
	c := resultCols{ids: make([]string, n), clients: make([]string, n), stacks: make([]string, n), triggers: make([]string, n),
		started: make([]time.Time, n), completed: make([]time.Time, n), statuses: make([]string, n),
		detected: make([]bool, n), attempted: make([]bool, n), counts: make([]int64, n), healed: make([]int64, n),
		errs: make([]string, n), versions: make([]string, n)}
	for i, w := range ws {
		r := w.r
		c.ids[i], c.clients[i], c.stacks[i], c.triggers[i] = r.ReconciliationID, r.ClientID, r.StackID, r.Trigger
		c.started[i], c.completed[i], c.statuses[i] = ts(r.StartedAt), ts(r.CompletedAt), string(r.Status)
		c.detected[i], c.attempted[i] = r.DriftDetected, r.AutoHealAttempted
		c.counts[i], c.healed[i] = int64(r.DriftCount), int64(r.AutoHealSuccessCount)
		c.errs[i], c.versions[i] = w.errorsJSON, r.StateVersion
	}
	return c
}

func (c resultCols) queueInsert(b *pgx.Batch) {
	b.Queue(qInsertResults, c.ids, c.clients, c.stacks, c.triggers, c.started, c.completed, c.statuses,
		c.detected, c.counts, c.attempted, c.healed, c.errs, c.versions)
}

// rollUpArgs are qRollUpResults' arguments: the results' columns it reads.
func (c resultCols) rollUpArgs() []any {
	return []any{c.clients, c.started, c.completed, c.statuses, c.counts, c.detected}
}
