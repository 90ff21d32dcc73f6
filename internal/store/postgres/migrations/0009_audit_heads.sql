-- 0009_audit_heads: signed heads of the audit chain. A server with an audit
-- key signs the chain's head (seq, hash, time, key id) now and then; audit
-- verify checks every signed head against the chain. Several replicas may
-- sign the same head: one row per (seq, key_id), the first kept.
CREATE TABLE audit_heads (
	seq       bigint      NOT NULL,
	key_id    text COLLATE "C" NOT NULL,
	hash      text        NOT NULL,
	signed_at timestamptz NOT NULL,
	signature text        NOT NULL,
	PRIMARY KEY (seq, key_id)
);
