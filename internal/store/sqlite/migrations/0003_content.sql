-- 0003: the Unified Content Cache.
--
-- One row per content item of a client at a provider and source (the
-- Shopify shop, the Sanity project/dataset, the Contentful
-- space/environment): its newest known state. IngestEvents upserts it in
-- the transaction that inserts the event, and only with a newer
-- (updated_at, version) — or, at an equal pair, a deletion of a live item —
-- so out-of-order deliveries never regress it. Deletions stay as tombstones
-- (deleted = 1). updated_at and received_at are unix microseconds.
CREATE TABLE content (
	client_id     TEXT    NOT NULL,
	provider_name TEXT    NOT NULL,
	source        TEXT    NOT NULL,
	content_id    TEXT    NOT NULL,
	content_type  TEXT    NOT NULL,
	updated_at    INTEGER NOT NULL,
	version       INTEGER NOT NULL,
	deleted       INTEGER NOT NULL,
	event_id      TEXT    NOT NULL,
	received_at   INTEGER NOT NULL,
	PRIMARY KEY (client_id, provider_name, source, content_id)
) STRICT, WITHOUT ROWID;
