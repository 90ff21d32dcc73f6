-- (as SQLite's) known-good snapshots (store.Snapshot: what a verified
-- pass saw the providers run at a desired state version; components as
-- JSON), and the progress of rollbacks across providers
-- (store.RollbackRecord; steps as JSON), so that one interrupted by a
-- crash resumes on restart.
CREATE TABLE snapshots (
	id                text COLLATE "C" PRIMARY KEY,
	client_id         text COLLATE "C" NOT NULL,
	stack_id          text COLLATE "C" NOT NULL,
	state_version     text        NOT NULL,
	desired_hash      text        NOT NULL,
	components        text        NOT NULL, -- JSON
	reconciliation_id text        NOT NULL,
	taken_at          timestamptz NOT NULL,
	confirmed_at      timestamptz NOT NULL
);
-- ListSnapshots and the pruning of a stack's oldest.
CREATE INDEX snapshots_stack ON snapshots (client_id, stack_id, taken_at, id);
CREATE TABLE rollbacks (
	id               text COLLATE "C" PRIMARY KEY,
	client_id        text COLLATE "C" NOT NULL,
	stack_id         text COLLATE "C" NOT NULL,
	snapshot_id      text        NOT NULL,
	restored_version text        NOT NULL,
	new_version      text        NOT NULL,
	hold             text        NOT NULL,
	triggered_by     text        NOT NULL,
	status           text        NOT NULL,
	steps            text        NOT NULL, -- JSON
	error            text        NOT NULL,
	started_at       timestamptz NOT NULL,
	updated_at       timestamptz NOT NULL
);
CREATE INDEX rollbacks_stack ON rollbacks (client_id, stack_id, started_at);
