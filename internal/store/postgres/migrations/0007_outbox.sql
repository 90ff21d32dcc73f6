-- 0007: durable notification delivery, as SQLite's 0007_outbox.sql.
--
-- The audit log is the transactional outbox of the reconcile passes; a
-- subscriber (notifications) tails it from a durable cursor and commits,
-- in one transaction, its new cursor, its changed state documents and the
-- deliveries those entries produced. Deliveries stay in outbox until the
-- receiver accepted them (or they were given up). Keys are COLLATE "C"
-- (bytewise order, as in SQLite; see 0001); documents are text, kept byte
-- for byte.
CREATE TABLE subscriber_cursors (
	name       text COLLATE "C" PRIMARY KEY,
	seq        bigint      NOT NULL,
	updated_at timestamptz NOT NULL
);

CREATE TABLE subscriber_states (
	subscriber text COLLATE "C" NOT NULL,
	key        text COLLATE "C" NOT NULL,
	doc        text        NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (subscriber, key)
);

-- seq orders the deliveries (per channel they are sent in this order); id
-- is "<channel>/<idempotency key>", unique.
CREATE TABLE outbox (
	seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id         text COLLATE "C" NOT NULL UNIQUE,
	subscriber text COLLATE "C" NOT NULL,
	channel    text        NOT NULL,
	payload    text        NOT NULL,
	created_at timestamptz NOT NULL
);
CREATE INDEX outbox_subscriber ON outbox (subscriber, seq);
