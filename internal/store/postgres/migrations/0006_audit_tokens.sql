-- 0006_audit_tokens: API tokens, the audit chain's pruning checkpoint, and
-- time-range reads of the audit log.

-- API tokens. Only the SHA-256 of a token's secret is kept (secret_hash);
-- the secret is shown once, at creation. Tokens are never deleted, only
-- revoked, so "a token exists" never goes back to false.
CREATE TABLE tokens (
	id           text COLLATE "C" PRIMARY KEY,
	name         text        NOT NULL,
	role         text        NOT NULL,
	client_id    text COLLATE "C" NOT NULL, -- '' when not scoped to a client
	secret_hash  text        NOT NULL UNIQUE,
	created_at   timestamptz NOT NULL,
	created_by   text        NOT NULL,
	last_used_at timestamptz,
	revoked_at   timestamptz
);
CREATE INDEX tokens_created ON tokens (created_at, id);

-- The latest checkpoint of the audit chain: one row once the chain has been
-- pruned (entries up to seq deleted; hash is entry seq's hash). A pruner
-- locks the audit_head row first, like an append, so pruning and appending
-- take turns.
CREATE TABLE audit_checkpoint (
	one        boolean PRIMARY KEY DEFAULT true CHECK (one),
	seq        bigint      NOT NULL,
	hash       text        NOT NULL,
	count      bigint      NOT NULL,
	created_at timestamptz NOT NULL,
	key_id     text        NOT NULL,
	signature  text        NOT NULL
);

CREATE INDEX audit_timestamp ON audit (timestamp, seq);
