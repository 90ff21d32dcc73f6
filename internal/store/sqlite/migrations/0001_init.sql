-- 0001: the initial schema.
--
-- Times are INTEGER unix microseconds in UTC (the value of store.Truncate),
-- so they round-trip exactly and range queries compare numbers. JSON
-- documents are TEXT, kept byte for byte as given. Booleans are 0/1.
-- Tables are STRICT so a wrong type is an error, as it is in PostgreSQL.

CREATE TABLE states (
	client_id             TEXT    NOT NULL,
	stack_id              TEXT    NOT NULL,
	environment           TEXT    NOT NULL,
	desired_hash          TEXT    NOT NULL,
	applied_hash          TEXT    NOT NULL,
	state_version         TEXT    NOT NULL,
	previous_versions     TEXT    NOT NULL, -- JSON array of strings
	desired               TEXT    NOT NULL, -- canonical JSON of the StackSpec
	resources             TEXT    NOT NULL, -- JSON object
	last_applied          INTEGER,
	last_verified         INTEGER,
	created_at            INTEGER NOT NULL,
	updated_at            INTEGER NOT NULL,
	status                TEXT    NOT NULL,
	drift_details         TEXT    NOT NULL, -- JSON array of drift.Drift
	last_error            TEXT    NOT NULL,
	reconciliation_policy TEXT    NOT NULL, -- JSON of store.PolicySummary
	observability         TEXT    NOT NULL, -- JSON of store.ObservabilitySummary
	revision              INTEGER NOT NULL,
	PRIMARY KEY (client_id, stack_id)
) STRICT;

-- Every version of a stack's desired document. Newest first is insertion
-- order (rowid here, a bigserial in PostgreSQL): versions only grow.
CREATE TABLE desired_versions (
	client_id  TEXT    NOT NULL,
	stack_id   TEXT    NOT NULL,
	version    TEXT    NOT NULL,
	hash       TEXT    NOT NULL,
	document   TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	created_by TEXT    NOT NULL,
	PRIMARY KEY (client_id, stack_id, version)
) STRICT;

-- stack_id is '' for a client-wide policy.
CREATE TABLE policies (
	client_id  TEXT    NOT NULL,
	stack_id   TEXT    NOT NULL,
	document   TEXT    NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (client_id, stack_id)
) STRICT;

-- The event mirror. event_id is the identity (deduplication); seq is a
-- monotonically increasing tie-breaker for stable cursor pagination
-- (AUTOINCREMENT: never reused, even after TTL deletes the newest rows).
-- SQLite appends the rowid (seq) to every index, so (client_id, timestamp)
-- orders by (timestamp, seq) too. stack_id is '' for a client-wide event.
-- ttl_timestamp is unix seconds; 0 means the event does not expire.
CREATE TABLE events (
	seq           INTEGER PRIMARY KEY AUTOINCREMENT,
	event_id      TEXT    NOT NULL UNIQUE,
	client_id     TEXT    NOT NULL,
	stack_id      TEXT    NOT NULL,
	provider_name TEXT    NOT NULL,
	event_type    TEXT    NOT NULL,
	content_id    TEXT    NOT NULL,
	content_type  TEXT    NOT NULL,
	timestamp     INTEGER NOT NULL,
	environment   TEXT    NOT NULL,
	drift_checked INTEGER NOT NULL,
	payload       TEXT,
	received_at   INTEGER NOT NULL,
	ttl_timestamp INTEGER NOT NULL
) STRICT;
CREATE INDEX events_client_time ON events (client_id, timestamp);
CREATE INDEX events_provider_time ON events (provider_name, timestamp);
CREATE INDEX events_ttl ON events (ttl_timestamp);
-- ListEvents without a client or provider: newest first over everything.
CREATE INDEX events_time ON events (timestamp);
-- EventActivity: a stack's events and the client-wide ones, since a time.
CREATE INDEX events_stack_time ON events (client_id, stack_id, timestamp, provider_name, event_type, content_type, drift_checked, received_at);
-- UncheckedEventIDs, and CommitPass marking events checked: only the
-- unchecked events are in it.
CREATE INDEX events_unchecked ON events (client_id, stack_id, event_id) WHERE drift_checked = 0;

CREATE TABLE drifts (
	client_id       TEXT    NOT NULL,
	stack_id        TEXT    NOT NULL,
	id              TEXT    NOT NULL,
	code            TEXT    NOT NULL,
	type            TEXT    NOT NULL,
	component       TEXT    NOT NULL,
	expected        TEXT    NOT NULL, -- JSON
	observed        TEXT    NOT NULL, -- JSON
	severity        TEXT    NOT NULL,
	cause           TEXT    NOT NULL,
	detected_at     INTEGER NOT NULL,
	first_seen      INTEGER NOT NULL,
	last_seen       INTEGER NOT NULL,
	observations    INTEGER NOT NULL,
	confirmed       INTEGER NOT NULL,
	acknowledged    INTEGER NOT NULL,
	acknowledged_by TEXT    NOT NULL,
	acknowledged_at INTEGER,
	resolved_at     INTEGER,
	PRIMARY KEY (client_id, stack_id, id)
) STRICT;
-- The open drifts of a stack, read by every pass.
CREATE INDEX drifts_open ON drifts (client_id, stack_id, id) WHERE resolved_at IS NULL;
-- AcknowledgeDrift finds a drift by client and id.
CREATE INDEX drifts_client_id ON drifts (client_id, id);

-- seq is insertion order, the tie-breaker of (started_at, seq) pagination.
CREATE TABLE reconciliations (
	seq                     INTEGER PRIMARY KEY,
	reconciliation_id       TEXT    NOT NULL UNIQUE,
	client_id               TEXT    NOT NULL,
	stack_id                TEXT    NOT NULL,
	pass_trigger            TEXT    NOT NULL,
	started_at              INTEGER NOT NULL,
	completed_at            INTEGER NOT NULL,
	status                  TEXT    NOT NULL,
	drift_detected          INTEGER NOT NULL,
	drift_count             INTEGER NOT NULL,
	auto_heal_attempted     INTEGER NOT NULL,
	auto_heal_success_count INTEGER NOT NULL,
	errors                  TEXT    NOT NULL, -- JSON array of strings
	state_version           TEXT    NOT NULL
) STRICT;
CREATE INDEX reconciliations_client_started ON reconciliations (client_id, started_at, seq);
CREATE INDEX reconciliations_stack_started ON reconciliations (client_id, stack_id, started_at, seq);

-- The hash-chained audit log. seq is assigned by the appending transaction
-- (last seq + 1) and never reused; changes_made is kept byte for byte
-- because the hash covers it.
CREATE TABLE audit (
	seq               INTEGER PRIMARY KEY,
	timestamp         INTEGER NOT NULL,
	action            TEXT    NOT NULL,
	client_id         TEXT    NOT NULL,
	stack_id          TEXT    NOT NULL,
	triggered_by      TEXT    NOT NULL,
	success           INTEGER NOT NULL,
	changes_made      TEXT,
	approval_required INTEGER NOT NULL,
	approver          TEXT    NOT NULL,
	reconciliation_id TEXT    NOT NULL,
	drift_id          TEXT    NOT NULL,
	prev_hash         TEXT    NOT NULL,
	hash              TEXT    NOT NULL
) STRICT;
CREATE INDEX audit_client ON audit (client_id, seq);
CREATE INDEX audit_action ON audit (action, seq);
