-- 0003: the Unified Content Cache, as SQLite's 0003_content.sql.
--
-- One row per content item of a client at a provider and source (the
-- Shopify shop, the Sanity project/dataset, the Contentful
-- space/environment): its newest known state. IngestEvents upserts it in
-- the transaction that inserts the event, and only with a newer
-- (updated_at, version, deleted) — a row comparison, false < true — so
-- out-of-order deliveries never regress it. Deletions stay as tombstones.
-- Keys are COLLATE "C" (bytewise order, as in SQLite; see 0001).
CREATE TABLE content (
	client_id     text COLLATE "C" NOT NULL,
	provider_name text COLLATE "C" NOT NULL,
	source        text COLLATE "C" NOT NULL,
	content_id    text COLLATE "C" NOT NULL,
	content_type  text        NOT NULL,
	updated_at    timestamptz NOT NULL,
	version       bigint      NOT NULL,
	deleted       boolean     NOT NULL,
	event_id      text        NOT NULL,
	received_at   timestamptz NOT NULL,
	PRIMARY KEY (client_id, provider_name, source, content_id)
);
