-- 0011: what several replicas need to cost what they work on rather than
-- what the store holds (the same on PostgreSQL, where it matters).
--
-- The pending deliveries of one channel, in commit order: a replica reads
-- the outbox for the channels it sends, one channel at a time, a page at a
-- time, so a dead receiver's backlog costs what the channel's queue can
-- take, not the backlog's size.
CREATE INDEX outbox_channel ON outbox (subscriber, channel, seq);
