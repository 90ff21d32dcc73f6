-- 0004_event_activity: reserved; filled in by the change that needs it.
SELECT 1;
