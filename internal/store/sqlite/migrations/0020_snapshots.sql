-- known-good snapshots (store.Snapshot: what a verified pass saw the
-- providers run at a desired state version; components as JSON), and the
-- progress of rollbacks across providers (store.RollbackRecord; steps as
-- JSON), so that one interrupted by a crash resumes on restart.
CREATE TABLE snapshots (
	id                TEXT    PRIMARY KEY,
	client_id         TEXT    NOT NULL,
	stack_id          TEXT    NOT NULL,
	state_version     TEXT    NOT NULL,
	desired_hash      TEXT    NOT NULL,
	components        TEXT    NOT NULL, -- JSON
	reconciliation_id TEXT    NOT NULL,
	taken_at          INTEGER NOT NULL,
	confirmed_at      INTEGER NOT NULL
) STRICT;
-- ListSnapshots and the pruning of a stack's oldest.
CREATE INDEX snapshots_stack ON snapshots (client_id, stack_id, taken_at, id);
CREATE TABLE rollbacks (
	id               TEXT    PRIMARY KEY,
	client_id        TEXT    NOT NULL,
	stack_id         TEXT    NOT NULL,
	snapshot_id      TEXT    NOT NULL,
	restored_version TEXT    NOT NULL,
	new_version      TEXT    NOT NULL,
	hold             TEXT    NOT NULL,
	triggered_by     TEXT    NOT NULL,
	status           TEXT    NOT NULL,
	steps            TEXT    NOT NULL, -- JSON
	error            TEXT    NOT NULL,
	started_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX rollbacks_stack ON rollbacks (client_id, stack_id, started_at);
