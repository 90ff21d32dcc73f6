-- 0006_audit_tokens: API tokens, the audit chain's pruning checkpoint, and
-- time-range reads of the audit log.

-- API tokens. Only the SHA-256 of a token's secret is kept (secret_hash);
-- the secret is shown once, at creation. Tokens are never deleted, only
-- revoked, so "a token exists" never goes back to false.
CREATE TABLE tokens (
	id           TEXT    PRIMARY KEY,
	name         TEXT    NOT NULL,
	role         TEXT    NOT NULL,
	client_id    TEXT    NOT NULL, -- '' when not scoped to a client
	secret_hash  TEXT    NOT NULL UNIQUE,
	created_at   INTEGER NOT NULL,
	created_by   TEXT    NOT NULL,
	last_used_at INTEGER,
	revoked_at   INTEGER
) STRICT;
CREATE INDEX tokens_created ON tokens (created_at, id);

-- The latest checkpoint of the audit chain: one row once the chain has been
-- pruned (entries up to seq deleted; hash is entry seq's hash).
CREATE TABLE audit_checkpoint (
	one        INTEGER PRIMARY KEY CHECK (one = 1),
	seq        INTEGER NOT NULL,
	hash       TEXT    NOT NULL,
	count      INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	key_id     TEXT    NOT NULL,
	signature  TEXT    NOT NULL
) STRICT;

CREATE INDEX audit_timestamp ON audit (timestamp, seq);
