-- 0009: a stack's last known observations (drift.LastKnown, JSON): per
-- provider role and resource, the last value observed and when, and since
-- when it has been unknown; and the count of completed passes (the first
-- pass confirms no drift). An unknown observation never overwrites a known
-- one. A stack that has had a pass counts one, so upgrading does not make
-- its next pass a "first" one.
ALTER TABLE states ADD COLUMN last_known TEXT NOT NULL DEFAULT '{"passes":0}';
UPDATE states SET last_known = '{"passes":1}' WHERE last_verified IS NOT NULL;
