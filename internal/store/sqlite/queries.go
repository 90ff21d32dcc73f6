package sqlite

// The writer's statements, prepared at Open: a statement cannot be prepared
// on the one writer connection while a transaction holds it.
const qApplyRead = `SELECT state_version, desired_hash, previous_versions FROM states WHERE client_id = ? AND stack_id = ?`

const qInsertState = `INSERT INTO states (` + stateColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

const qChangeDesired = `UPDATE states SET environment = ?, desired_hash = ?, desired = ?, state_version = ?,
	previous_versions = ?, resources = ?, reconciliation_policy = ?, observability = ?,
	updated_at = ?, revision = revision + 1
WHERE client_id = ? AND stack_id = ?`

const qInsertVersion = `INSERT INTO desired_versions (client_id, stack_id, version, hash, document, created_at, created_by)
VALUES (?, ?, ?, ?, ?, ?, ?)`

const qUpdateState = `UPDATE states SET environment = ?, desired_hash = ?, applied_hash = ?, state_version = ?,
	previous_versions = ?, desired = ?, resources = ?, last_applied = ?, last_verified = ?, updated_at = ?,
	status = ?, drift_details = ?, last_error = ?, reconciliation_policy = ?, observability = ?,
	revision = revision + 1
WHERE client_id = ? AND stack_id = ? AND revision = ?
RETURNING created_at, revision`

const qStateExists = `SELECT 1 FROM states WHERE client_id = ? AND stack_id = ?`

const qUpsertPolicy = `INSERT INTO policies (client_id, stack_id, document, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (client_id, stack_id) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at`

const qInsertEvent = `INSERT INTO events (` + eventColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`

const qDeleteExpired = `DELETE FROM events WHERE seq IN (
	SELECT seq FROM events WHERE ttl_timestamp > 0 AND ttl_timestamp < ? LIMIT ?)`

const qResolveDrifts = `UPDATE drifts SET resolved_at = ?
WHERE client_id = ? AND stack_id = ? AND resolved_at IS NULL AND id NOT IN (SELECT value FROM json_each(?))`

const qInsertResult = `INSERT INTO reconciliations (reconciliation_id, client_id, stack_id, pass_trigger,
	started_at, completed_at, status, drift_detected, drift_count, auto_heal_attempted, auto_heal_success_count,
	errors, state_version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// qMarkChecked marks the pass's events checked. It looks only among the
// unchecked events of the stack and of no stack (the partial index
// events_unchecked), so ids already checked cost nothing.
const qMarkChecked = `UPDATE events SET drift_checked = 1
WHERE drift_checked = 0 AND client_id = ? AND stack_id IN (?, '') AND event_id IN (SELECT value FROM json_each(?))`

const qUpsertDrift = `INSERT INTO drifts (` + driftColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
	resolved_at = excluded.resolved_at`

const qAckDrift = `UPDATE drifts SET acknowledged = 1, acknowledged_by = ?, acknowledged_at = ?
WHERE client_id = ? AND id = ? AND resolved_at IS NULL
RETURNING ` + driftColumns

const qAuditHead = `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`

const qInsertAudit = `INSERT INTO audit (seq, timestamp, action, client_id, stack_id, triggered_by, success,
	changes_made, approval_required, approver, reconciliation_id, drift_id, prev_hash, hash)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func writerQueries() []string {
	return []string{
		qApplyRead,
		qInsertState,
		qChangeDesired,
		qInsertVersion,
		qUpdateState,
		qStateExists,
		qUpsertPolicy,
		qInsertEvent,
		qDeleteExpired,
		qResolveDrifts,
		qInsertResult,
		qMarkChecked,
		qUpsertDrift,
		qAckDrift,
		qAuditHead,
		qInsertAudit,
	}
}
