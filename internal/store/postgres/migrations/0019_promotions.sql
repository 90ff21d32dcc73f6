-- 0019_promotions (as SQLite's): the pipelines of applications (a
-- config.PipelineSpec as JSON per client and app) and promotions between
-- their environments. A promotion's fields are its JSON document; the
-- columns are what lists filter and order on. At most one unfinished
-- promotion into a stack (promotions_open).
CREATE TABLE pipelines (
	client_id  text COLLATE "C" NOT NULL,
	app        text COLLATE "C" NOT NULL,
	document   text        NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (client_id, app)
);
CREATE TABLE promotions (
	id         text COLLATE "C" PRIMARY KEY,
	client_id  text COLLATE "C" NOT NULL,
	app        text COLLATE "C" NOT NULL,
	to_stack   text COLLATE "C" NOT NULL,
	status     text        NOT NULL,
	unfinished boolean     NOT NULL,
	created_at timestamptz NOT NULL,
	revision   bigint      NOT NULL,
	document   text        NOT NULL
);
CREATE UNIQUE INDEX promotions_open ON promotions (client_id, to_stack) WHERE unfinished;
CREATE INDEX promotions_client_created ON promotions (client_id, created_at, id);
CREATE INDEX promotions_unfinished ON promotions (unfinished, created_at, id);
