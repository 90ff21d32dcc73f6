-- 0012: what several replicas need to cost what they work on rather than
-- what the store holds (the same on PostgreSQL, where it matters).
--
-- The pending deliveries of one channel, in commit order: a replica reads
-- the outbox for the channels it sends, one channel at a time, a page at a
-- time, so a dead receiver's backlog costs what the channel's queue can
-- take, not the backlog's size.
CREATE INDEX outbox_channel ON outbox (subscriber, channel, seq);

-- Each stack's shard (store.ShardOf: FNV-1a 32 of client_id, a zero byte
-- and stack_id, modulo 256), indexed with the stack's key: a replica that
-- gains shards lists their stacks, not every stack. Every insert writes
-- it. Existing rows get it from the same hash written here in SQL: the
-- key's UTF-8 bytes as hex digits, folded one byte at a time by a
-- recursive query (SQLite has no XOR: a XOR b = (a | b) - (a & b)).
ALTER TABLE states ADD COLUMN shard INTEGER NOT NULL DEFAULT -1;
CREATE TEMP TABLE shard_0011 (client_id TEXT NOT NULL, stack_id TEXT NOT NULL, shard INTEGER NOT NULL,
	PRIMARY KEY (client_id, stack_id));
INSERT INTO shard_0011 (client_id, stack_id, shard)
WITH RECURSIVE
	keyhex(client_id, stack_id, h) AS (
		SELECT client_id, stack_id, hex(CAST(client_id AS BLOB)) || '00' || hex(CAST(stack_id AS BLOB)) FROM states
	),
	fnv(client_id, stack_id, h, i, v) AS (
		SELECT client_id, stack_id, h, 1, 2166136261 FROM keyhex
		UNION ALL
		SELECT client_id, stack_id, h, i + 2,
			(((v | ((instr('0123456789ABCDEF', substr(h, i, 1)) - 1) * 16 + instr('0123456789ABCDEF', substr(h, i + 1, 1)) - 1))
			- (v & ((instr('0123456789ABCDEF', substr(h, i, 1)) - 1) * 16 + instr('0123456789ABCDEF', substr(h, i + 1, 1)) - 1)))
			* 16777619) & 4294967295
		FROM fnv WHERE i < length(h)
	)
SELECT client_id, stack_id, v % 256 FROM fnv WHERE i > length(h);
UPDATE states SET shard = (SELECT b.shard FROM shard_0011 b WHERE b.client_id = states.client_id AND b.stack_id = states.stack_id);
DROP TABLE shard_0011;
CREATE INDEX states_shard ON states (shard, client_id, stack_id);

-- The notification channels every replica of this store must have, per
-- audit subscriber (store.ChannelSet): names only, sorted, as a JSON
-- array; channel specs hold secrets and stay in the config files.
CREATE TABLE notify_channel_sets (
	subscriber TEXT    PRIMARY KEY,
	hash       TEXT    NOT NULL,
	names      TEXT    NOT NULL,
	set_by     TEXT    NOT NULL,
	set_at     INTEGER NOT NULL
);
