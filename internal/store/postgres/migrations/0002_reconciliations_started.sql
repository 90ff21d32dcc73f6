-- 0002: history retention deletes results by start time across all
-- clients (DeleteReconciliationsBefore).
CREATE INDEX reconciliations_started ON reconciliations (started_at);
