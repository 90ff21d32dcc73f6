-- 0018: the organisation's policy (one row: the last OrganizationPolicy
-- applied) and the compliance timeline: for each (rule, stack), segments
-- of time with one status; ended_at is NULL for the current segment.
CREATE TABLE organization_policy (
	one        INTEGER PRIMARY KEY CHECK (one = 1),
	name       TEXT    NOT NULL,
	document   TEXT    NOT NULL, -- JSON: the OrganizationPolicy spec
	updated_at INTEGER NOT NULL
) STRICT;
CREATE TABLE compliance (
	seq        INTEGER PRIMARY KEY,
	client_id  TEXT    NOT NULL,
	stack_id   TEXT    NOT NULL,
	rule       TEXT    NOT NULL,
	mode       TEXT    NOT NULL,
	status     TEXT    NOT NULL,
	message    TEXT    NOT NULL,
	started_at INTEGER NOT NULL,
	ended_at   INTEGER
) STRICT;
-- At most one current segment per (stack, rule).
CREATE UNIQUE INDEX compliance_open ON compliance (client_id, stack_id, rule) WHERE ended_at IS NULL;
-- ListCompliance of a client, by seq.
CREATE INDEX compliance_client ON compliance (client_id, seq);
