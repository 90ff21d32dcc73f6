-- 0011: data keys of sealed payloads, as SQLite's 0011_data_keys.sql: each
-- stored wrapped by a key-encryption key that lives only in the server's
-- key file (kek_id names it); the newest seals new rows.
CREATE TABLE data_keys (
	id         text COLLATE "C" PRIMARY KEY,
	kek_id     text        NOT NULL,
	wrapped    text        NOT NULL,
	created_at timestamptz NOT NULL
);
