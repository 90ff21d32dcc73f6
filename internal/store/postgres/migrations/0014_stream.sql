-- 0014_stream: the stream log, the events of the live stream (GET
-- /v1/stream: pass results, drift and heal events) kept in the store, so
-- that every replica serves every event, in one order, under one id. The
-- same in meaning as SQLite's.
--
-- An event is added in the transaction of the fact it reports (a pass's
-- commit, a heal's finish, the notification feed's commit of the drift
-- entries it read), so it exists if and only if that fact committed. It
-- is added unnumbered (seq NULL), locking nothing, and numbered after its
-- commit by a transaction that holds stream_head's row lock to its own
-- commit (the Go driver's SequenceStream): numberers commit one after
-- another, so seqs are gap-free and increase in commit order, and a
-- reader that has read every seq up to n never finds a lower one later.
-- pruned is the seq through which events have been deleted (retention).
--
-- Not copied by store copy: the log is live data, and a copy starts a new
-- one (a stream client's id from before then reads as unknown, a gap).
CREATE TABLE stream (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	seq        bigint,
	kind       text COLLATE "C" NOT NULL,
	client_id  text COLLATE "C" NOT NULL,
	stack_id   text COLLATE "C" NOT NULL,
	severity   text NOT NULL,
	timestamp  timestamptz NOT NULL,
	data       text NOT NULL,
	created_at timestamptz NOT NULL
);
-- Readers read by seq; numberers find the unnumbered by id.
CREATE UNIQUE INDEX stream_seq ON stream (seq);
CREATE INDEX stream_unnumbered ON stream (id) WHERE seq IS NULL;

CREATE TABLE stream_head (
	one    boolean PRIMARY KEY DEFAULT true CHECK (one),
	seq    bigint NOT NULL,
	pruned bigint NOT NULL
);
INSERT INTO stream_head (one, seq, pruned) VALUES (true, 0, 0);
