-- 0004: event activity kept as events are inserted, and drift_checked as a
-- per-stack mark instead of an update of every event.
--
-- event_activity is the aggregate EventActivity reads: per client, stack
-- ('' for client-wide events), hour of the event's timestamp (unix
-- microseconds, rounded down to the hour), provider, event type and content
-- type, how many events and the latest timestamp. The triggers below keep
-- it in the statement that inserts or deletes an event, whatever inserts it
-- (InsertEvents, IngestEvents, an import), without a statement of the
-- driver's own per event. A deleted event leaves its bucket's last
-- timestamp as it was; a bucket that counts none is removed.
CREATE TABLE event_activity (
	client_id     TEXT    NOT NULL,
	stack_id      TEXT    NOT NULL,
	hour          INTEGER NOT NULL,
	provider_name TEXT    NOT NULL,
	event_type    TEXT    NOT NULL,
	content_type  TEXT    NOT NULL,
	count         INTEGER NOT NULL,
	last          INTEGER NOT NULL,
	PRIMARY KEY (client_id, stack_id, hour, provider_name, event_type, content_type)
) STRICT, WITHOUT ROWID;

INSERT INTO event_activity (client_id, stack_id, hour, provider_name, event_type, content_type, count, last)
SELECT client_id, stack_id, timestamp - ((timestamp % 3600000000) + 3600000000) % 3600000000,
	provider_name, event_type, content_type, COUNT(*), MAX(timestamp)
FROM events
GROUP BY 1, 2, 3, 4, 5, 6;

CREATE TRIGGER events_activity_insert AFTER INSERT ON events BEGIN
	INSERT INTO event_activity (client_id, stack_id, hour, provider_name, event_type, content_type, count, last)
	VALUES (new.client_id, new.stack_id, new.timestamp - ((new.timestamp % 3600000000) + 3600000000) % 3600000000,
		new.provider_name, new.event_type, new.content_type, 1, new.timestamp)
	ON CONFLICT (client_id, stack_id, hour, provider_name, event_type, content_type) DO UPDATE SET
		count = count + 1, last = max(last, excluded.last);
END;

CREATE TRIGGER events_activity_delete AFTER DELETE ON events BEGIN
	UPDATE event_activity SET count = count - 1
	WHERE client_id = old.client_id AND stack_id = old.stack_id
		AND hour = old.timestamp - ((old.timestamp % 3600000000) + 3600000000) % 3600000000
		AND provider_name = old.provider_name AND event_type = old.event_type AND content_type = old.content_type;
	DELETE FROM event_activity
	WHERE client_id = old.client_id AND stack_id = old.stack_id
		AND hour = old.timestamp - ((old.timestamp % 3600000000) + 3600000000) % 3600000000
		AND provider_name = old.provider_name AND event_type = old.event_type AND content_type = old.content_type
		AND count <= 0;
END;

-- event_marks: a pass of a stack that observed the events up to a mark
-- (ActivityReport.Mark: one more than the highest seq committed when it
-- read) records it for its stack and for the client-wide events (stack_id
-- ''). An event is drift_checked when it was inserted so, or when its seq
-- is below the mark of its (client, stack).
CREATE TABLE event_marks (
	client_id      TEXT    NOT NULL,
	stack_id       TEXT    NOT NULL,
	checked_before INTEGER NOT NULL,
	PRIMARY KEY (client_id, stack_id)
) STRICT, WITHOUT ROWID;

-- The wide index EventActivity aggregated from, and the one passes marked
-- events checked through, are no longer read. The unchecked events of a
-- stack are a range of this one (SQLite appends the rowid, seq, to it);
-- drift_checked is now only set at insert, so nearly every event is in it.
DROP INDEX events_stack_time;
DROP INDEX events_unchecked;
CREATE INDEX events_stack_unchecked ON events (client_id, stack_id) WHERE drift_checked = 0;

-- Fewer index writes per event: (provider_name, timestamp) served only
-- ListEvents filtered by provider and not by client (an operator's query,
-- not the ingest or reconcile path), which now walks events_time newest
-- first until it has a page: as fast for a busy provider, slower for a
-- rare one. The indexes left serve deduplication (event_id), listing by
-- client and over everything, TTL cleanup and the unchecked events above.
DROP INDEX events_provider_time;
