package sqlite

// The hourly roll-up of reconciliation results (table pass_hours, migration
// 0013): what DashboardSeries reads for buckets of whole hours. It is kept
// by the statements that write results, in their transactions: CommitPass
// adds the result it inserts (qRollUpResult, reading the row back so the
// roll-up is computed from the stored values by the same expressions as
// the raw aggregate), and DeleteReconciliations subtracts the batch
// it deletes (qUnrollResults, with the same pick of rows as the delete:
// ordered by started_at then seq) and drops the rows left at zero. Roll-up
// rows never outlive the results they count.

// rollUpQueries are the roll-up's statements, built once (from
// store.DurationBounds) rather than on every commit.
type rollUpQueries struct {
	add string
}

func newRollUpQueries() rollUpQueries {
	return rollUpQueries{add: qRollUpResult()}
}

// hourExpr is the unix microseconds of the UTC hour a time column (unix
// microseconds, never negative) falls in.
func hourExpr(col string) string { return `(` + col + ` - ` + col + ` % 3600000000)` }

// passCounts are the aggregates of results a roll-up row holds, in the
// order of its columns passes, failed, partial, clean, drift_detected.
const passCounts = `COUNT(*), SUM(status = 'failed'), SUM(status = 'partial'),
	SUM(status = 'success' AND drift_count = 0), SUM(drift_detected != 0)`

// qRollUpResult adds the result just inserted (by qInsertResult, on the same
// connection) to its hour.
func qRollUpResult() string {
	return `INSERT INTO pass_hours (client_id, hour, duration_class, passes, failed, partial, clean, drift_detected)
SELECT client_id, ` + hourExpr("started_at") + `, ` + durationCase() + `, ` + passCounts + `
FROM reconciliations WHERE seq = last_insert_rowid() GROUP BY 1, 2, 3
ON CONFLICT (client_id, hour, duration_class) DO UPDATE SET passes = passes + excluded.passes,
	failed = failed + excluded.failed, partial = partial + excluded.partial, clean = clean + excluded.clean,
	drift_detected = drift_detected + excluded.drift_detected`
}

// qUnrollResults subtracts from their hours the results that pick (a
// SELECT of seqs: qPickOldResults and its kin) names, which the caller is
// about to delete with the same pick and arguments.
func qUnrollResults(pick string) string {
	return `WITH gone (client_id, hour, duration_class, passes, failed, partial, clean, drift_detected) AS (
	SELECT client_id, ` + hourExpr("started_at") + `, ` + durationCase() + `, ` + passCounts + `
	FROM reconciliations WHERE seq IN (` + pick + `)
	GROUP BY 1, 2, 3)
UPDATE pass_hours SET passes = pass_hours.passes - gone.passes, failed = pass_hours.failed - gone.failed,
	partial = pass_hours.partial - gone.partial, clean = pass_hours.clean - gone.clean,
	drift_detected = pass_hours.drift_detected - gone.drift_detected
FROM gone WHERE pass_hours.client_id = gone.client_id AND pass_hours.hour = gone.hour
	AND pass_hours.duration_class = gone.duration_class`
}

// qDropEmptyHours deletes the roll-up rows that count no result any more,
// among the hours before a time (index pass_hours_hour).
const qDropEmptyHours = `DELETE FROM pass_hours WHERE hour < ? AND passes = 0`
