-- 0013_pass_hours: the hourly roll-up of reconciliation results that the
-- dashboards read for buckets of an hour or more (store.Dashboards), so a
-- 30-day view of 1,000 stacks reads ~2,000 rows, not 720,000 results.
--
-- One row per client, hour (unix microseconds of the UTC hour the pass
-- started in) and duration class (the index in store.PassBucket.Durations
-- of completed_at - started_at; a negative duration is class 0). CommitPass
-- adds each result to its row in the transaction that inserts it;
-- DeleteReconciliationsBefore takes the results it deletes out of their
-- rows in its transaction, and drops rows left at zero. So the roll-up
-- always equals the aggregate of the results that exist.
CREATE TABLE pass_hours (
	client_id      TEXT    NOT NULL,
	hour           INTEGER NOT NULL,
	duration_class INTEGER NOT NULL,
	passes         INTEGER NOT NULL,
	failed         INTEGER NOT NULL,
	partial        INTEGER NOT NULL,
	clean          INTEGER NOT NULL,
	drift_detected INTEGER NOT NULL,
	PRIMARY KEY (client_id, hour, duration_class)
) STRICT, WITHOUT ROWID;
-- The every-client view and retention read by hour.
CREATE INDEX pass_hours_hour ON pass_hours (hour);

-- Back-fill from the results there are. The CASE is store.DurationBounds
-- in microseconds (a test checks it against the Go list).
INSERT INTO pass_hours (client_id, hour, duration_class, passes, failed, partial, clean, drift_detected)
SELECT client_id, started_at - started_at % 3600000000,
	CASE WHEN completed_at - started_at <= 50000 THEN 0
		WHEN completed_at - started_at <= 100000 THEN 1
		WHEN completed_at - started_at <= 250000 THEN 2
		WHEN completed_at - started_at <= 500000 THEN 3
		WHEN completed_at - started_at <= 1000000 THEN 4
		WHEN completed_at - started_at <= 2500000 THEN 5
		WHEN completed_at - started_at <= 5000000 THEN 6
		WHEN completed_at - started_at <= 10000000 THEN 7
		WHEN completed_at - started_at <= 30000000 THEN 8
		WHEN completed_at - started_at <= 60000000 THEN 9
		ELSE 10 END,
	COUNT(*), SUM(status = 'failed'), SUM(status = 'partial'), SUM(status = 'success' AND drift_count = 0),
	SUM(drift_detected != 0)
FROM reconciliations GROUP BY 1, 2, 3;
