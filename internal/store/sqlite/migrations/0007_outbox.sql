-- 0007: durable notification delivery.
--
-- The audit log is the transactional outbox of the reconcile passes: each
-- pass writes its drift_detected/drift_resolved (and heal) entries in its
-- own transaction. A subscriber (notifications) tails it from a durable
-- cursor: after processing entries it commits, in one transaction, its new
-- cursor, its changed state documents (noise control per drift) and the
-- deliveries those entries produced. Deliveries stay in outbox until the
-- receiver accepted them (or they were given up). Times are unix
-- microseconds.
CREATE TABLE subscriber_cursors (
	name       TEXT    PRIMARY KEY,
	seq        INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE subscriber_states (
	subscriber TEXT    NOT NULL,
	key        TEXT    NOT NULL,
	doc        TEXT    NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (subscriber, key)
) STRICT, WITHOUT ROWID;

-- seq orders the deliveries (per channel they are sent in this order); id
-- is "<channel>/<idempotency key>", unique.
CREATE TABLE outbox (
	seq        INTEGER PRIMARY KEY,
	id         TEXT    NOT NULL UNIQUE,
	subscriber TEXT    NOT NULL,
	channel    TEXT    NOT NULL,
	payload    TEXT    NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX outbox_subscriber ON outbox (subscriber, seq);
