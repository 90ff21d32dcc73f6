-- 0014_stream: the stream log, the events of the live stream (GET
-- /v1/stream: pass results, drift and heal events) kept in the store, so
-- that they survive a restart and a reconnecting client is replayed what
-- it missed. The same as PostgreSQL's (see there).
--
-- seq comes from stream_head, advanced in the writing transaction: the one
-- writer commits one transaction after another, so seqs are gap-free and
-- increase in commit order. pruned is the seq through which events have
-- been deleted (retention). Times are unix microseconds.
--
-- Not copied by store copy: the log is live data.
CREATE TABLE stream (
	seq        INTEGER PRIMARY KEY,
	kind       TEXT    NOT NULL,
	client_id  TEXT    NOT NULL,
	stack_id   TEXT    NOT NULL,
	severity   TEXT    NOT NULL,
	timestamp  INTEGER NOT NULL,
	data       TEXT    NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE stream_head (
	one    INTEGER PRIMARY KEY CHECK (one = 1),
	seq    INTEGER NOT NULL,
	pruned INTEGER NOT NULL
) STRICT;
INSERT INTO stream_head (one, seq, pruned) VALUES (1, 0, 0);
