-- History retention deletes results by start time across all clients.
CREATE INDEX reconciliations_started ON reconciliations (started_at);
