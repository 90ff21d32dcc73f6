-- 0001: the initial schema, the same in meaning as SQLite's 0001_init.sql
-- (same tables, columns and values), so `store copy` moves rows as they are.
--
-- Where the dialects differ, and why:
--
-- * Times are timestamptz, written as store.Truncate of the Go time (UTC,
--   microseconds): the values SQLite keeps as INTEGER unix microseconds.
--   timestamptz holds exactly microseconds, so they round-trip unchanged, and
--   psql shows them as times.
-- * JSON documents are text, byte for byte as given, as in SQLite: desired
--   documents, payloads and changes_made are compared or hashed as bytes
--   (the audit hash covers changes_made), and text takes every JSON that Go's
--   json.Valid takes, where jsonb refuses \u0000 and json lone surrogates.
--   Query them with a cast: payload::jsonb ->> 'id'.
-- * Identifiers, and the columns that lists are sorted by, are COLLATE "C": ORDER
--   BY and the cursors' row comparisons are then bytewise, like SQLite's
--   BINARY collation, whatever the database's locale.
-- * Insertion order (the tie-breaker of stable pagination, newest first) is
--   a bigint identity column where SQLite uses the rowid. Numbers are taken
--   at insert, never reused.
-- * audit_head is one row holding the chain's last seq and hash. An append
--   locks it (UPDATE ... RETURNING) first thing, so appends from every
--   connection and every replica take turns and the chain stays linear; in
--   SQLite the write lock does that. A rolled-back append rolls the head back
--   too, so seq has no gaps.

CREATE TABLE states (
	client_id             text COLLATE "C" NOT NULL,
	stack_id              text COLLATE "C" NOT NULL,
	environment           text        NOT NULL,
	desired_hash          text        NOT NULL,
	applied_hash          text        NOT NULL,
	state_version         text        NOT NULL,
	previous_versions     text        NOT NULL, -- JSON array of strings
	desired               text        NOT NULL, -- canonical JSON of the StackSpec; '' when none
	resources             text        NOT NULL, -- JSON object
	last_applied          timestamptz,
	last_verified         timestamptz,
	created_at            timestamptz NOT NULL,
	updated_at            timestamptz NOT NULL,
	status                text        NOT NULL,
	drift_details         text        NOT NULL, -- JSON array of drift.Drift
	last_error            text        NOT NULL,
	reconciliation_policy text        NOT NULL, -- JSON of store.PolicySummary
	observability         text        NOT NULL, -- JSON of store.ObservabilitySummary
	revision              bigint      NOT NULL,
	PRIMARY KEY (client_id, stack_id)
);

-- Every version of a stack's desired document; newest first is seq
-- descending (versions only grow).
CREATE TABLE desired_versions (
	seq        bigint GENERATED ALWAYS AS IDENTITY,
	client_id  text COLLATE "C" NOT NULL,
	stack_id   text COLLATE "C" NOT NULL,
	version    text COLLATE "C" NOT NULL,
	hash       text        NOT NULL,
	document   text        NOT NULL,
	created_at timestamptz NOT NULL,
	created_by text        NOT NULL,
	PRIMARY KEY (client_id, stack_id, version)
);
CREATE INDEX desired_versions_stack_seq ON desired_versions (client_id, stack_id, seq);

-- stack_id is '' for a client-wide policy.
CREATE TABLE policies (
	client_id  text COLLATE "C" NOT NULL,
	stack_id   text COLLATE "C" NOT NULL,
	document   text        NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (client_id, stack_id)
);

-- The event mirror. event_id is the identity (deduplication: INSERT ... ON
-- CONFLICT DO NOTHING); seq breaks ties between equal timestamps in
-- pagination. stack_id is '' for a client-wide event. ttl_timestamp is unix
-- seconds; 0 means the event does not expire.
CREATE TABLE events (
	seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	event_id      text COLLATE "C" NOT NULL UNIQUE,
	client_id     text COLLATE "C" NOT NULL,
	stack_id      text COLLATE "C" NOT NULL,
	provider_name text COLLATE "C" NOT NULL,
	event_type    text COLLATE "C" NOT NULL,
	content_id    text        NOT NULL,
	content_type  text COLLATE "C" NOT NULL,
	timestamp     timestamptz NOT NULL,
	environment   text        NOT NULL,
	drift_checked boolean     NOT NULL,
	payload       text,
	received_at   timestamptz NOT NULL,
	ttl_timestamp bigint      NOT NULL
);
-- ListEvents, newest first by (timestamp, seq): by client, by provider, or
-- over everything.
CREATE INDEX events_client_time ON events (client_id, timestamp, seq);
CREATE INDEX events_provider_time ON events (provider_name, timestamp, seq);
CREATE INDEX events_time ON events (timestamp, seq);
-- DeleteExpiredEvents: only events that expire.
CREATE INDEX events_ttl ON events (ttl_timestamp) WHERE ttl_timestamp > 0;
-- EventActivity: a stack's events and the client-wide ones since a time,
-- answered from the index alone.
CREATE INDEX events_stack_time ON events (client_id, stack_id, timestamp)
	INCLUDE (provider_name, event_type, content_type, drift_checked, received_at);
-- UncheckedEventIDs, oldest first: only the unchecked events are in it.
CREATE INDEX events_unchecked ON events (client_id, stack_id, seq) WHERE NOT drift_checked;

CREATE TABLE drifts (
	client_id       text COLLATE "C" NOT NULL,
	stack_id        text COLLATE "C" NOT NULL,
	id              text COLLATE "C" NOT NULL,
	code            text        NOT NULL,
	type            text        NOT NULL,
	component       text        NOT NULL,
	expected        text        NOT NULL, -- JSON
	observed        text        NOT NULL, -- JSON
	severity        text        NOT NULL,
	cause           text        NOT NULL,
	detected_at     timestamptz NOT NULL,
	first_seen      timestamptz NOT NULL,
	last_seen       timestamptz NOT NULL,
	observations    bigint      NOT NULL,
	confirmed       boolean     NOT NULL,
	acknowledged    boolean     NOT NULL,
	acknowledged_by text        NOT NULL,
	acknowledged_at timestamptz,
	resolved_at     timestamptz,
	PRIMARY KEY (client_id, stack_id, id)
);
-- The open drifts of a stack, read by every pass.
CREATE INDEX drifts_open ON drifts (client_id, stack_id, id) WHERE resolved_at IS NULL;
-- AcknowledgeDrift finds a drift by client and id.
CREATE INDEX drifts_client_id ON drifts (client_id, id);

-- seq is insertion order, the tie-breaker of (started_at, seq) pagination.
-- pass_trigger, not trigger: TRIGGER is a keyword in both dialects.
CREATE TABLE reconciliations (
	seq                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	reconciliation_id       text COLLATE "C" NOT NULL UNIQUE,
	client_id               text COLLATE "C" NOT NULL,
	stack_id                text COLLATE "C" NOT NULL,
	pass_trigger            text        NOT NULL,
	started_at              timestamptz NOT NULL,
	completed_at            timestamptz NOT NULL,
	status                  text        NOT NULL,
	drift_detected          boolean     NOT NULL,
	drift_count             bigint      NOT NULL,
	auto_heal_attempted     boolean     NOT NULL,
	auto_heal_success_count bigint      NOT NULL,
	errors                  text        NOT NULL, -- JSON array of strings
	state_version           text        NOT NULL
);
CREATE INDEX reconciliations_client_started ON reconciliations (client_id, started_at, seq);
CREATE INDEX reconciliations_stack_started ON reconciliations (client_id, stack_id, started_at, seq);

-- The hash-chained audit log. seq is assigned by the appending transaction
-- from audit_head (last seq + 1) and never reused; changes_made is kept
-- byte for byte because the hash covers it.
CREATE TABLE audit (
	seq               bigint PRIMARY KEY,
	timestamp         timestamptz NOT NULL,
	action            text COLLATE "C" NOT NULL,
	client_id         text COLLATE "C" NOT NULL,
	stack_id          text COLLATE "C" NOT NULL,
	triggered_by      text        NOT NULL,
	success           boolean     NOT NULL,
	changes_made      text,
	approval_required boolean     NOT NULL,
	approver          text        NOT NULL,
	reconciliation_id text        NOT NULL,
	drift_id          text        NOT NULL,
	prev_hash         text        NOT NULL,
	hash              text        NOT NULL
);
CREATE INDEX audit_client ON audit (client_id, seq);
CREATE INDEX audit_action ON audit (action, seq);

-- The head of the audit chain: one row, locked by every append.
CREATE TABLE audit_head (
	one  boolean PRIMARY KEY DEFAULT true CHECK (one),
	seq  bigint NOT NULL,
	hash text   NOT NULL
);
INSERT INTO audit_head (one, seq, hash) VALUES (true, 0, '');
