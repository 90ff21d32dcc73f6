-- 0008: work distribution over replicas (store.Leases), as SQLite's
-- 0008_leases.sql.
--
-- replicas are the live blackwell processes: each heartbeats its row until
-- expires_at. shard_leases hold one row per shard that has ever been
-- claimed (created by the first claim, so a new database has none): the
-- replica owning it until expires_at, and the epoch, bumped every time the
-- shard changes hands or is claimed after its lease lapsed; a pass commits
-- only under its shard's current (owner, epoch) (store.Pass.Fence), checked
-- under a lock on the lease row. A released shard keeps its epoch and has
-- owner ''. Times are the callers' clocks.
CREATE TABLE replicas (
	id         text COLLATE "C" PRIMARY KEY,
	heartbeat  timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);

CREATE TABLE shard_leases (
	shard      bigint PRIMARY KEY,
	owner      text COLLATE "C" NOT NULL,
	epoch      bigint      NOT NULL,
	expires_at timestamptz NOT NULL
);
