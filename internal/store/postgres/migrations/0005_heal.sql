-- 0005: the durable side of healing (store.Heals), as SQLite's
-- 0005_heal.sql: same tables, columns and values (see 0001 for how the
-- dialects differ: timestamptz for times, text for JSON, COLLATE "C" on
-- identifiers and sort keys, an identity where SQLite has the rowid).
--
-- heals: one row per heal attempt, a job any worker may claim. id is the
-- idempotency key "<drift_id>/<attempt>". ClaimHeals locks the due rows
-- FOR UPDATE SKIP LOCKED, so concurrent claimers (on any replica) take
-- different attempts without waiting for each other.
CREATE TABLE heals (
	id                text COLLATE "C" NOT NULL PRIMARY KEY,
	drift_id          text COLLATE "C" NOT NULL,
	client_id         text COLLATE "C" NOT NULL,
	stack_id          text COLLATE "C" NOT NULL,
	code              text        NOT NULL,
	component         text        NOT NULL,
	provider          text        NOT NULL,
	action            text        NOT NULL,
	attempt           bigint      NOT NULL,
	status            text        NOT NULL,
	reconciliation_id text        NOT NULL,
	approval_id       text        NOT NULL,
	triggered_by      text        NOT NULL,
	drift_detail      text, -- JSON
	not_before        timestamptz NOT NULL,
	owner             text        NOT NULL,
	lease_until       timestamptz,
	claims            bigint      NOT NULL,
	created_at        timestamptz NOT NULL,
	started_at        timestamptz,
	completed_at      timestamptz,
	verified_at       timestamptz,
	detail            text        NOT NULL,
	error             text        NOT NULL
);
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
-- NOTHING).
CREATE TABLE approvals (
	id                text COLLATE "C" NOT NULL PRIMARY KEY,
	client_id         text COLLATE "C" NOT NULL,
	stack_id          text COLLATE "C" NOT NULL,
	drift_id          text COLLATE "C" NOT NULL,
	code              text        NOT NULL,
	component         text        NOT NULL,
	action            text        NOT NULL,
	approval_class    text        NOT NULL,
	diff              text, -- JSON
	triggered_by      text        NOT NULL,
	reconciliation_id text        NOT NULL,
	status            text        NOT NULL,
	created_at        timestamptz NOT NULL,
	expires_at        timestamptz NOT NULL,
	decided_at        timestamptz,
	decided_by        text        NOT NULL,
	reason            text        NOT NULL,
	heal_id           text        NOT NULL
);
CREATE UNIQUE INDEX approvals_open ON approvals (client_id, stack_id, drift_id) WHERE status IN ('pending', 'approved');
-- ListApprovals: newest first by (created_at, id).
CREATE INDEX approvals_created ON approvals (created_at, id);
CREATE INDEX approvals_client_created ON approvals (client_id, created_at, id);
-- ExpireApprovals: pending requests by expiry.
CREATE INDEX approvals_expiry ON approvals (status, expires_at);

-- drift_returns: one row each time CommitPass reopened a resolved drift
-- (DriftReturns counts them for flapping). seq is insertion order.
CREATE TABLE drift_returns (
	seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	client_id   text COLLATE "C" NOT NULL,
	stack_id    text COLLATE "C" NOT NULL,
	drift_id    text COLLATE "C" NOT NULL,
	returned_at timestamptz NOT NULL
);
CREATE INDEX drift_returns_stack ON drift_returns (client_id, stack_id, returned_at);

-- heal_status of a drift: heal_exhausted once its attempts are used up.
ALTER TABLE drifts ADD COLUMN heal_status text NOT NULL DEFAULT '';
