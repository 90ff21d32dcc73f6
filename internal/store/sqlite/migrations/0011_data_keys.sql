-- 0011: data keys of sealed payloads (package seal). Each is stored
-- wrapped (AES-256-GCM) by a key-encryption key that lives only in the
-- server's key file; kek_id names it. Sealed payloads (events.payload,
-- outbox.payload) name the data key they were sealed with. created_at is
-- unix microseconds; the newest key seals new rows.
CREATE TABLE data_keys (
	id         TEXT    PRIMARY KEY,
	kek_id     TEXT    NOT NULL,
	wrapped    TEXT    NOT NULL,
	created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
