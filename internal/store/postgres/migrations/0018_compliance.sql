-- 0018 (as SQLite's): the organisation's policy (one row: the last
-- OrganizationPolicy applied) and the compliance timeline: for each
-- (rule, stack), segments of time with one status; ended_at is NULL for
-- the current segment.
CREATE TABLE organization_policy (
	one        boolean PRIMARY KEY DEFAULT true CHECK (one),
	name       text        NOT NULL,
	document   text        NOT NULL, -- JSON: the OrganizationPolicy spec
	updated_at timestamptz NOT NULL
);
CREATE TABLE compliance (
	seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	client_id  text COLLATE "C" NOT NULL,
	stack_id   text COLLATE "C" NOT NULL,
	rule       text COLLATE "C" NOT NULL,
	mode       text        NOT NULL,
	status     text        NOT NULL,
	message    text        NOT NULL,
	started_at timestamptz NOT NULL,
	ended_at   timestamptz
);
-- At most one current segment per (stack, rule).
CREATE UNIQUE INDEX compliance_open ON compliance (client_id, stack_id, rule) WHERE ended_at IS NULL;
-- ListCompliance of a client, by seq.
CREATE INDEX compliance_client ON compliance (client_id, seq);
