-- 0019_promotions: the pipelines of applications (a config.PipelineSpec as
-- JSON per client and app) and promotions between their environments. A
-- promotion's fields are its JSON document; the columns are what lists
-- filter and order on. At most one unfinished promotion into a stack
-- (promotions_open): a second one is refused while the first runs.
CREATE TABLE pipelines (
	client_id  TEXT    NOT NULL,
	app        TEXT    NOT NULL,
	document   TEXT    NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (client_id, app)
) STRICT;
CREATE TABLE promotions (
	id         TEXT    PRIMARY KEY,
	client_id  TEXT    NOT NULL,
	app        TEXT    NOT NULL,
	to_stack   TEXT    NOT NULL,
	status     TEXT    NOT NULL,
	unfinished INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	revision   INTEGER NOT NULL,
	document   TEXT    NOT NULL
) STRICT;
CREATE UNIQUE INDEX promotions_open ON promotions (client_id, to_stack) WHERE unfinished = 1;
-- ListPromotions: a client's, newest first; and the unfinished ones.
CREATE INDEX promotions_client_created ON promotions (client_id, created_at, id);
CREATE INDEX promotions_unfinished ON promotions (unfinished, created_at, id);
