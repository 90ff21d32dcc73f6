-- 0008: work distribution over replicas (store.Leases).
--
-- replicas are the live blackwell processes: each heartbeats its row until
-- expires_at. shard_leases hold one row per shard that has ever been
-- claimed (created by the first claim, so a new database has none): the
-- replica owning it until expires_at, and the epoch, bumped every time the
-- shard changes hands or is claimed after its lease lapsed; a pass commits
-- only under its shard's current (owner, epoch) (store.Pass.Fence). A
-- released shard keeps its epoch and has owner ''. Times are unix
-- microseconds of the callers' clocks.
CREATE TABLE replicas (
	id         TEXT    PRIMARY KEY,
	heartbeat  INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE shard_leases (
	shard      INTEGER PRIMARY KEY,
	owner      TEXT    NOT NULL,
	epoch      INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;
