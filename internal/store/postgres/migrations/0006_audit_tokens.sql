-- 0006_audit_tokens: reserved; filled in by the change that needs it.
SELECT 1;
