-- 0004: event activity kept as events are inserted, and drift_checked as a
-- per-stack mark instead of an update of every event; as SQLite's
-- 0004_event_activity.sql, with two differences written out here.
--
-- event_activity: per client, stack ('' for client-wide events), hour of
-- the event's timestamp (UTC), provider, event type, content type and slot,
-- how many events and the latest timestamp. The slot is the inserting
-- connection's backend pid: transactions that count events into one bucket
-- row would each hold its lock until they commit, so concurrent webhook
-- deliveries would take turns at every WAL flush. A connection runs one
-- transaction at a time, so with a row of its own none waits;
-- EventActivity sums the slots. DeleteExpiredEvents counts deleted events
-- as negative in slot 0 and removes a bucket whose slots sum to none.
CREATE TABLE event_activity (
	client_id     text COLLATE "C" NOT NULL,
	stack_id      text COLLATE "C" NOT NULL,
	hour          timestamptz NOT NULL,
	provider_name text COLLATE "C" NOT NULL,
	event_type    text COLLATE "C" NOT NULL,
	content_type  text COLLATE "C" NOT NULL,
	slot          integer     NOT NULL,
	count         bigint      NOT NULL,
	last          timestamptz NOT NULL,
	PRIMARY KEY (client_id, stack_id, hour, provider_name, event_type, content_type, slot)
);

INSERT INTO event_activity (client_id, stack_id, hour, provider_name, event_type, content_type, slot, count, last)
SELECT client_id, stack_id, date_trunc('hour', timestamp, 'UTC'), provider_name, event_type, content_type, 0,
	count(*), max(timestamp)
FROM events
GROUP BY 1, 2, 3, 4, 5, 6;

-- Marks. Sequence numbers are taken when a row is inserted, not when it
-- commits: a transaction holding seq 10 may commit after another's seq 11,
-- so "every seq below the highest one seen" would mark an event no pass has
-- seen. Instead each event keeps the id of the transaction that inserted it
-- (xid; 0 for events stored before this migration), and a mark is the
-- snapshot of the statement that began a read of the activity: an event is
-- covered when its insert is visible in it, i.e. was committed when it was
-- taken. event_marks holds, per (client, stack), the latest such snapshot
-- a pass of the stack committed.
ALTER TABLE events ADD COLUMN xid bigint NOT NULL DEFAULT 0;
ALTER TABLE events ALTER COLUMN xid SET DEFAULT (pg_current_xact_id()::text::bigint);

CREATE TABLE event_marks (
	client_id text COLLATE "C" NOT NULL,
	stack_id  text COLLATE "C" NOT NULL,
	checked   pg_snapshot NOT NULL,
	PRIMARY KEY (client_id, stack_id)
);

-- The wide index EventActivity aggregated from and the one passes marked
-- events checked through are no longer read. A stack's unchecked events
-- are a range of this one; drift_checked is only set at insert now.
DROP INDEX events_stack_time;
DROP INDEX events_unchecked;
CREATE INDEX events_stack_unchecked ON events (client_id, stack_id, xid) WHERE NOT drift_checked;

-- Fewer index writes per event: (provider_name, timestamp) served only
-- ListEvents filtered by provider and not by client (an operator's query,
-- not the ingest or reconcile path), which now walks events_time newest
-- first until it has a page: as fast for a busy provider, slower for a
-- rare one. The indexes left serve deduplication (event_id), listing by
-- client and over everything, TTL cleanup and the unchecked events above.
DROP INDEX events_provider_time;
