-- 0012 (as SQLite's 0011_replicas.sql): what several replicas need to cost
-- what they work on rather than what the store holds.
--
-- The pending deliveries of one channel, in commit order: a replica reads
-- the outbox for the channels it sends, one channel at a time, a page at a
-- time, so a dead receiver's backlog costs what the channel's queue can
-- take, not the backlog's size.
CREATE INDEX outbox_channel ON outbox (subscriber, channel, seq);

-- Each stack's shard (store.ShardOf: FNV-1a 32 of client_id, a zero byte
-- and stack_id, modulo 256), indexed with the stack's key: a replica that
-- gains shards lists their stacks, not every stack. Every insert writes
-- it (no default). Existing rows get it from the same hash written here in
-- SQL, by a function that lives for this session only.
ALTER TABLE states ADD COLUMN shard bigint NOT NULL DEFAULT -1;
CREATE FUNCTION pg_temp.blackwell_shard_0011(client text, stack text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
	b bytea := convert_to(client, 'UTF8') || '\x00'::bytea || convert_to(stack, 'UTF8');
	h bigint := 2166136261;
BEGIN
	FOR i IN 0 .. length(b) - 1 LOOP
		h := ((h # get_byte(b, i)::bigint) * 16777619) % 4294967296;
	END LOOP;
	RETURN h % 256;
END
$$;
UPDATE states SET shard = pg_temp.blackwell_shard_0011(client_id, stack_id);
DROP FUNCTION pg_temp.blackwell_shard_0011(text, text);
ALTER TABLE states ALTER COLUMN shard DROP DEFAULT;
CREATE INDEX states_shard ON states (shard, client_id, stack_id);

-- The notification channels every replica of this store must have, per
-- audit subscriber (store.ChannelSet): names only, sorted, as a JSON
-- array; channel specs hold secrets and stay in the config files. A
-- replica whose channels differ neither plans nor sends nor gives up
-- deliveries (a replica lacking a channel used to give its pending
-- deliveries up).
CREATE TABLE notify_channel_sets (
	subscriber text COLLATE "C" PRIMARY KEY,
	hash       text        NOT NULL,
	names      text        NOT NULL,
	set_by     text        NOT NULL,
	set_at     timestamptz NOT NULL
);
