-- 0017: the epoch of a shard lease becomes a key column (a unique index
-- on shard and epoch). It changes nothing in SQLite, where one writer at a
-- time commits; PostgreSQL's fence checks rely on it (its 0017).
CREATE UNIQUE INDEX shard_leases_epoch ON shard_leases (shard, epoch);
