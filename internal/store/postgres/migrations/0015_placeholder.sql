-- 0015: a placeholder for the migration number another branch holds.
-- DROP THIS FILE WHEN MERGING: the real 0015 replaces it. Migrations must
-- run 1, 2, 3... without gaps, and this branch's own is 0016.
SELECT 1;
