-- 0017 (as SQLite's): the epoch of a shard lease becomes a key column.
-- A pass's fence check locks its lease row FOR KEY SHARE (lease.go,
-- queueFence); an UPDATE that changes a key column (a takeover: a new
-- epoch) waits for it, one that does not (the owner's renewal) does not.
-- Before, the check locked FOR SHARE and every renewal queued behind the
-- commits in flight, which under load made it later than the lease's
-- margin.
CREATE UNIQUE INDEX shard_leases_epoch ON shard_leases (shard, epoch);
