package sqlite

import "strings"

// The writer's statements, prepared at Open (writerQueries): a statement
// cannot be prepared on the one writer connection while a transaction holds
// it. Dialect notes for a PostgreSQL driver: a list of ids is bound as one
// JSON array read with json_each (there: = ANY($1::text[])), "excluded" and
// RETURNING mean the same in both, and placeholders are ? (there: $n).

// qApplyRead reads what ApplyDesired compares and bumps.
const qApplyRead = `SELECT state_version, desired_hash, previous_versions, environment, resources,
	reconciliation_policy, observability, hold FROM states WHERE client_id = ? AND stack_id = ?`

// qInsertState inserts a new stack, with its shard (store.ShardOf), written
// once, here.
const qInsertState = `INSERT INTO states (` + stateColumns + `, shard) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// qChangeDesired writes a changed desired state: ApplyDesired's columns only.
const qChangeDesired = `UPDATE states SET environment = ?, desired_hash = ?, desired = ?, state_version = ?,
	previous_versions = ?, resources = ?, reconciliation_policy = ?, observability = ?, hold = ?,
	updated_at = ?, revision = revision + 1
WHERE client_id = ? AND stack_id = ?`

// qUpdateInPlace writes the summaries and hold of a stack whose desired
// state is unchanged (store.ApplyInPlace).
const qUpdateInPlace = `UPDATE states SET resources = ?, reconciliation_policy = ?, observability = ?, hold = ?,
	updated_at = ?, revision = revision + 1
WHERE client_id = ? AND stack_id = ?`

// qInsertVersion stores a version of a desired document.
const qInsertVersion = `INSERT INTO desired_versions (client_id, stack_id, version, hash, document, created_at, created_by)
VALUES (?, ?, ?, ?, ?, ?, ?)`

// qUpdateState is the optimistic write of UpdateState and CommitPass: no row
// is updated (no row returned) when the revision is not the stored one.
const qUpdateState = `UPDATE states SET environment = ?, desired_hash = ?, applied_hash = ?, state_version = ?,
	previous_versions = ?, desired = ?, resources = ?, last_applied = ?, last_verified = ?, updated_at = ?,
	status = ?, drift_details = ?, last_error = ?, reconciliation_policy = ?, observability = ?,
	last_known = ?, revision = revision + 1
WHERE client_id = ? AND stack_id = ? AND revision = ?
RETURNING created_at, revision`

// qStateExists tells a stale revision (ErrConflict) from a missing stack.
const qStateExists = `SELECT 1 FROM states WHERE client_id = ? AND stack_id = ?`

// qUpsertPolicy writes a policy document.
const qUpsertPolicy = `INSERT INTO policies (client_id, stack_id, document, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (client_id, stack_id) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at`

// qInsertEvent inserts an event unless its id is stored (rows affected 0).
const qInsertEvent = `INSERT INTO events (` + eventColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`

// qUpsertContent writes a content item's state unless the stored one is as
// new (store.ContentItem.Newer, written out in SQL). A state without a
// content type keeps the stored type (a tombstone may not name it).
const qUpsertContent = `INSERT INTO content (` + contentColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)` + upsertContentTail

// upsertContentTail is qUpsertContent's conflict clause.
const upsertContentTail = `
ON CONFLICT (client_id, provider_name, source, content_id) DO UPDATE SET
	content_type = CASE WHEN excluded.content_type = '' THEN content.content_type ELSE excluded.content_type END,
	updated_at = excluded.updated_at, version = excluded.version, deleted = excluded.deleted,
	event_id = excluded.event_id, received_at = excluded.received_at
WHERE excluded.updated_at > content.updated_at
	OR (excluded.updated_at = content.updated_at AND (excluded.version > content.version
		OR (excluded.version = content.version AND excluded.deleted > content.deleted)))`

// maxIngestRows bounds the rows of one of IngestEvents' multi-row
// statements: qIngestEvents and qIngestContent are prepared at Open for 1,
// 2, 4, ... maxIngestRows rows, and n rows run as the fewest of them (the
// binary digits of n). 128 events are 1,664 parameters, well below
// SQLite's limit of 32,766.
const maxIngestRows = 128

// ingestQueries are qIngestEvents and qIngestContent for each row count
// they are prepared for, largest first. Built once, never written: a table
// of constants.
var ingestQueries = func() []ingestQuery {
	var out []ingestQuery
	for n := maxIngestRows; n >= 1; n /= 2 {
		out = append(out, ingestQuery{rows: n, events: qIngestEvents(n), content: qIngestContent(n)})
	}
	return out
}()

// ingestQuery is IngestEvents' pair of statements for a row count.
type ingestQuery struct {
	rows            int
	events, content string
}

// ingestChunk is the largest statement of ingestQueries for at most n
// rows (n >= 1).
func ingestChunk(n int) ingestQuery {
	for _, q := range ingestQueries {
		if q.rows <= n {
			return q
		}
	}
	panic("ingestChunk of no rows")
}

// qIngestEvents inserts n events, each unless its id is stored or an
// earlier row of the statement has it, and answers the ids it wrote (in no
// particular order). The rows are inserted in order, so of one id the first
// is written.
func qIngestEvents(n int) string {
	return `INSERT INTO events (` + eventColumns + `)
VALUES ` + placeholders(n, 13) + ` ON CONFLICT (event_id) DO NOTHING RETURNING event_id`
}

// qIngestContent upserts n content items as qUpsertContent does, in order:
// a row conflicting with an earlier row of the statement compares with
// what that one wrote, as if each ran alone.
func qIngestContent(n int) string {
	return `INSERT INTO content (` + contentColumns + `)
VALUES ` + placeholders(n, 10) + upsertContentTail
}

// placeholders is n rows of cols parameters: (?, ?), (?, ?).
func placeholders(n, cols int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// qDeleteExpired deletes a bounded batch of expired events, so the write
// lock is held briefly (DELETE ... LIMIT is a compile-time option of SQLite;
// the subquery works everywhere). The trigger events_activity_delete takes
// them out of event_activity.
const qDeleteExpired = `DELETE FROM events WHERE seq IN (
	SELECT seq FROM events WHERE ttl_timestamp > 0 AND ttl_timestamp < ? LIMIT ?)`

// The picks of old reconciliation results, oldest first (started_at, then
// seq, so the roll-up's subtraction and the delete take the same rows): of
// every client but some (index reconciliations_started), of one client but
// some stacks, or of one stack (indexes reconciliations_client_started,
// reconciliations_stack_started): store.HistoryPrune's three forms. The
// excepted names are a JSON array read with json_each.
const (
	qPickOldResults = `SELECT seq FROM reconciliations WHERE started_at < ? AND client_id NOT IN (SELECT value FROM json_each(?))
	ORDER BY started_at, seq LIMIT ?`
	qPickOldClientResults = `SELECT seq FROM reconciliations WHERE client_id = ? AND started_at < ? AND stack_id NOT IN (SELECT value FROM json_each(?))
	ORDER BY started_at, seq LIMIT ?`
	qPickOldStackResults = `SELECT seq FROM reconciliations WHERE client_id = ? AND stack_id = ? AND started_at < ?
	ORDER BY started_at, seq LIMIT ?`
)

// qDeleteResults deletes the results a pick names.
func qDeleteResults(pick string) string {
	return `DELETE FROM reconciliations WHERE seq IN (` + pick + `)`
}

// qResolveDrifts resolves the stack's open drifts that a pass did not
// report (the partial index drifts_open).
const qResolveDrifts = `UPDATE drifts SET resolved_at = ?
WHERE client_id = ? AND stack_id = ? AND resolved_at IS NULL AND id NOT IN (SELECT value FROM json_each(?))`

// qInsertResult stores a pass's result; seq is assigned as rowid.
const qInsertResult = `INSERT INTO reconciliations (reconciliation_id, client_id, stack_id, pass_trigger,
	started_at, completed_at, status, drift_detected, drift_count, auto_heal_attempted, auto_heal_success_count,
	errors, state_version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// qMarkEvents records a pass's mark for a (client, stack): the events
// below it are drift_checked. A mark never moves back.
const qMarkEvents = `INSERT INTO event_marks (client_id, stack_id, checked_before) VALUES (?, ?, ?)
ON CONFLICT (client_id, stack_id) DO UPDATE SET checked_before = max(checked_before, excluded.checked_before)`

// qUpsertDrift writes a pass's drift. An acknowledgement of a drift that is
// open in the store is kept even if the pass's copy predates it.
const qUpsertDrift = `INSERT INTO drifts (` + driftColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (client_id, stack_id, id) DO UPDATE SET
	code = excluded.code, type = excluded.type, component = excluded.component,
	expected = excluded.expected, observed = excluded.observed, severity = excluded.severity,
	cause = excluded.cause, detected_at = excluded.detected_at, first_seen = excluded.first_seen,
	last_seen = excluded.last_seen, observations = excluded.observations, confirmed = excluded.confirmed,
	acknowledged = CASE WHEN drifts.resolved_at IS NULL AND drifts.acknowledged = 1
		THEN 1 ELSE excluded.acknowledged END,
	acknowledged_by = CASE WHEN drifts.resolved_at IS NULL AND drifts.acknowledged = 1
		THEN drifts.acknowledged_by ELSE excluded.acknowledged_by END,
	acknowledged_at = CASE WHEN drifts.resolved_at IS NULL AND drifts.acknowledged = 1
		THEN drifts.acknowledged_at ELSE NULL END,
	resolved_at = excluded.resolved_at, heal_status = excluded.heal_status`

// qAckDrift acknowledges an open drift of a client.
const qAckDrift = `UPDATE drifts SET acknowledged = 1, acknowledged_by = ?, acknowledged_at = ?
WHERE client_id = ? AND id = ? AND resolved_at IS NULL
RETURNING ` + driftColumns

// qAuditHead reads the last entry of the chain.
const qAuditHead = `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`

// qInsertAudit appends a chained audit entry.
const qInsertAudit = `INSERT INTO audit (seq, timestamp, action, client_id, stack_id, triggered_by, success,
	changes_made, approval_required, approver, reconciliation_id, drift_id, prev_hash, hash)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// writerQueries lists the statements Open prepares on the writer.
func writerQueries() []string {
	var ingest []string
	for _, q := range ingestQueries {
		ingest = append(ingest, q.events, q.content)
	}
	for _, pick := range []string{qPickOldResults, qPickOldClientResults, qPickOldStackResults} {
		ingest = append(ingest, qUnrollResults(pick), qDeleteResults(pick))
	}
	return append(ingest,
		qApplyRead,
		qInsertState,
		qChangeDesired,
		qUpdateInPlace,
		qInsertVersion,
		qUpdateState,
		qStateExists,
		qUpsertPolicy,
		qInsertEvent,
		qUpsertContent,
		qDeleteExpired,
		qResolveDrifts,
		qInsertResult,
		qRollUpResult(),
		qDropEmptyHours,
		qMarkEvents,
		qUpsertDrift,
		qAckDrift,
		qAuditHead,
		qInsertAudit,
		qStreamHead,
		qInsertStream,
	)
}
