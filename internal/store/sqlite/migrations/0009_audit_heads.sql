-- 0009_audit_heads: signed heads of the audit chain. A server with an audit
-- key signs the chain's head (seq, hash, time, key id) now and then; audit
-- verify checks every signed head against the chain. Several replicas may
-- sign the same head: one row per (seq, key_id), the first kept.
CREATE TABLE audit_heads (
	seq       INTEGER NOT NULL,
	key_id    TEXT    NOT NULL,
	hash      TEXT    NOT NULL,
	signed_at INTEGER NOT NULL,
	signature TEXT    NOT NULL,
	PRIMARY KEY (seq, key_id)
) STRICT;
