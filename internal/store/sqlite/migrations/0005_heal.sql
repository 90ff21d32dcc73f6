-- 0005_heal: reserved; filled in by the change that needs it.
SELECT 1;
