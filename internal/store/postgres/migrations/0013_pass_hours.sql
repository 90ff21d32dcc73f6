-- 0013_pass_hours: the hourly roll-up of reconciliation results that the
-- dashboards read for buckets of an hour or more (store.Dashboards), so a
-- 30-day view of 1,000 stacks reads ~2,000 rows, not 720,000 results. The
-- same as SQLite's.
--
-- One row per client, hour (the UTC hour the pass started in, by date_bin
-- from the epoch: whatever the session's time zone) and duration class
-- (the index in store.PassBucket.Durations of completed_at - started_at; a
-- negative duration is class 0). CommitPass adds each result to its row
-- in the statement that inserts it; DeleteReconciliationsBefore takes the
-- results it deletes out of their rows in its transaction, and drops rows
-- left at zero. So the roll-up always equals the aggregate of the results
-- that exist.
CREATE TABLE pass_hours (
	client_id      text COLLATE "C" NOT NULL,
	hour           timestamptz NOT NULL,
	duration_class bigint      NOT NULL,
	passes         bigint      NOT NULL,
	failed         bigint      NOT NULL,
	partial        bigint      NOT NULL,
	clean          bigint      NOT NULL,
	drift_detected bigint      NOT NULL,
	PRIMARY KEY (client_id, hour, duration_class)
);
-- The every-client view and retention read by hour.
CREATE INDEX pass_hours_hour ON pass_hours (hour);

-- Back-fill from the results there are. The CASE is store.DurationBounds
-- in microseconds (a test checks it against the Go list).
INSERT INTO pass_hours (client_id, hour, duration_class, passes, failed, partial, clean, drift_detected)
SELECT client_id, date_bin('1 hour', started_at, timestamptz '1970-01-01 00:00:00+00'),
	CASE WHEN completed_at - started_at <= interval '50000 microseconds' THEN 0
		WHEN completed_at - started_at <= interval '100000 microseconds' THEN 1
		WHEN completed_at - started_at <= interval '250000 microseconds' THEN 2
		WHEN completed_at - started_at <= interval '500000 microseconds' THEN 3
		WHEN completed_at - started_at <= interval '1000000 microseconds' THEN 4
		WHEN completed_at - started_at <= interval '2500000 microseconds' THEN 5
		WHEN completed_at - started_at <= interval '5000000 microseconds' THEN 6
		WHEN completed_at - started_at <= interval '10000000 microseconds' THEN 7
		WHEN completed_at - started_at <= interval '30000000 microseconds' THEN 8
		WHEN completed_at - started_at <= interval '60000000 microseconds' THEN 9
		ELSE 10 END,
	COUNT(*), COUNT(*) FILTER (WHERE status = 'failed'), COUNT(*) FILTER (WHERE status = 'partial'),
	COUNT(*) FILTER (WHERE status = 'success' AND drift_count = 0), COUNT(*) FILTER (WHERE drift_detected)
FROM reconciliations GROUP BY 1, 2, 3;
