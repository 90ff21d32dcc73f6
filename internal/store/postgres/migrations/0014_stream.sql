-- 0014_stream: the stream log, the events of the live stream (GET
-- /v1/stream: pass results, drift and heal events) kept in the store, so
-- that every replica serves every event, in one order, under one id. The
-- same as SQLite's.
--
-- An event is written in the transaction of the fact it reports (a pass's
-- commit, a heal's finish, the notification feed's commit of the drift
-- entries it read), so it exists if and only if that fact committed. Its
-- seq comes from stream_head, whose one row the writing transaction
-- updates as its last statement and holds until it commits: writers of
-- the log commit one after another, so seqs are gap-free and increase in
-- commit order, and a reader that has seen seq n has seen every event up
-- to n (a bigserial could commit 11 before 10, and a reader past 11 would
-- never see 10). pruned is the seq through which events have been
-- deleted (retention): a reader asking for older ones learns that they
-- are gone.
--
-- Not copied by store copy: the log is live data, and a copy starts a new
-- one (a stream client's id from before then reads as unknown, a gap).
CREATE TABLE stream (
	seq        bigint PRIMARY KEY,
	kind       text COLLATE "C" NOT NULL,
	client_id  text COLLATE "C" NOT NULL,
	stack_id   text COLLATE "C" NOT NULL,
	severity   text NOT NULL,
	timestamp  timestamptz NOT NULL,
	data       text NOT NULL,
	created_at timestamptz NOT NULL
);

CREATE TABLE stream_head (
	one    boolean PRIMARY KEY DEFAULT true CHECK (one),
	seq    bigint NOT NULL,
	pruned bigint NOT NULL
);
INSERT INTO stream_head (one, seq, pruned) VALUES (true, 0, 0);
