-- 0012: the digest of a delivery's signed body (store.Event.Digest). Of the
-- deliveries of one client and provider with one digest, the first is
-- stored and later ones are duplicates: a captured body replayed with
-- fresh unsigned ids, or under another topic, is not a new event. NULL
-- (no digest) is never a duplicate.
ALTER TABLE events ADD COLUMN digest TEXT;
CREATE UNIQUE INDEX events_digest ON events (client_id, provider_name, digest) WHERE digest IS NOT NULL;
