-- 0005: the durable side of healing (store.Heals).
--
-- heals: one row per heal attempt, a job any worker may claim. id is the
-- idempotency key "<drift_id>/<attempt>". A worker claims pending attempts
-- whose not_before has come, and running ones whose lease_until has
-- lapsed (its worker died); claims counts the claims. Times are unix
-- microseconds, as everywhere (see 0001); drift_detail is JSON or NULL.
CREATE TABLE heals (
	id                TEXT    NOT NULL PRIMARY KEY,
	drift_id          TEXT    NOT NULL,
	client_id         TEXT    NOT NULL,
	stack_id          TEXT    NOT NULL,
	code              TEXT    NOT NULL,
	component         TEXT    NOT NULL,
	provider          TEXT    NOT NULL,
	action            TEXT    NOT NULL,
	attempt           INTEGER NOT NULL,
	status            TEXT    NOT NULL,
	reconciliation_id TEXT    NOT NULL,
	approval_id       TEXT    NOT NULL,
	triggered_by      TEXT    NOT NULL,
	drift_detail      TEXT,
	not_before        INTEGER NOT NULL,
	owner             TEXT    NOT NULL,
	lease_until       INTEGER,
	claims            INTEGER NOT NULL,
	created_at        INTEGER NOT NULL,
	started_at        INTEGER,
	completed_at      INTEGER,
	verified_at       INTEGER,
	detail            TEXT    NOT NULL,
	error             TEXT    NOT NULL
) STRICT;
-- ClaimHeals: pending attempts due (not_before) and running ones whose
-- lease lapsed.
CREATE INDEX heals_claim ON heals (status, not_before);
CREATE INDEX heals_lease ON heals (status, lease_until);
-- ListHeals: oldest first by (created_at, id), overall and per stack or drift.
CREATE INDEX heals_created ON heals (created_at, id);
CREATE INDEX heals_stack_created ON heals (client_id, stack_id, created_at, id);
CREATE INDEX heals_drift ON heals (drift_id, created_at, id);

-- approvals: requests for a person to allow a heal. At most one request of
-- a drift is pending or approved at a time (approvals_open); a pass's new
-- request for such a drift is not written (INSERT ... ON CONFLICT DO
-- NOTHING). diff is JSON or NULL.
CREATE TABLE approvals (
	id                TEXT    NOT NULL PRIMARY KEY,
	client_id         TEXT    NOT NULL,
	stack_id          TEXT    NOT NULL,
	drift_id          TEXT    NOT NULL,
	code              TEXT    NOT NULL,
	component         TEXT    NOT NULL,
	action            TEXT    NOT NULL,
	approval_class    TEXT    NOT NULL,
	diff              TEXT,
	triggered_by      TEXT    NOT NULL,
	reconciliation_id TEXT    NOT NULL,
	status            TEXT    NOT NULL,
	created_at        INTEGER NOT NULL,
	expires_at        INTEGER NOT NULL,
	decided_at        INTEGER,
	decided_by        TEXT    NOT NULL,
	reason            TEXT    NOT NULL,
	heal_id           TEXT    NOT NULL
) STRICT;
CREATE UNIQUE INDEX approvals_open ON approvals (client_id, stack_id, drift_id) WHERE status IN ('pending', 'approved');
-- ListApprovals: newest first by (created_at, id).
CREATE INDEX approvals_created ON approvals (created_at, id);
CREATE INDEX approvals_client_created ON approvals (client_id, created_at, id);
-- ExpireApprovals: pending requests by expiry.
CREATE INDEX approvals_expiry ON approvals (status, expires_at);

-- drift_returns: one row each time CommitPass reopened a resolved drift
-- (DriftReturns counts them for flapping). seq is insertion order.
CREATE TABLE drift_returns (
	seq         INTEGER PRIMARY KEY,
	client_id   TEXT    NOT NULL,
	stack_id    TEXT    NOT NULL,
	drift_id    TEXT    NOT NULL,
	returned_at INTEGER NOT NULL
) STRICT;
CREATE INDEX drift_returns_stack ON drift_returns (client_id, stack_id, returned_at);

-- heal_status of a drift: heal_exhausted once its attempts are used up.
ALTER TABLE drifts ADD COLUMN heal_status TEXT NOT NULL DEFAULT '';
