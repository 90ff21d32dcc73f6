-- 0007_outbox: reserved; filled in by the change that needs it.
SELECT 1;
