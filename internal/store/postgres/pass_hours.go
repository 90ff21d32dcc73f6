package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/blackwellio/blackwell/internal/store"
)

// The hourly roll-up of reconciliation results (table pass_hours, migration
// 0013): what DashboardSeries reads for buckets of whole hours. It is kept
// by the statements that write results: CommitPass inserts its results
// and, in the batch that commits them, adds them to their hours from the
// stored rows by the same expressions as the raw aggregate
// (qRollUpResults); and
// DeleteReconciliations deletes a batch and subtracts it in one
// statement (qDeleteOldResults), then drops the rows left at zero in the
// same transaction. Roll-up rows never outlive the results they count.

// rollUpQueries are the statements that keep the roll-up, built once
// (from store.DurationBounds) rather than on every commit.
type rollUpQueries struct {
	add string
	// deleteOld are qDeleteOldResults of the picks of
	// store.HistoryPrune's three forms: every client but some, one client
	// but some stacks, one stack.
	deleteOld, deleteOldClient, deleteOldStack string
}

// The picks of old results, oldest first, SKIP LOCKED: replicas running
// retention at once do not wait for each other (indexes
// reconciliations_started, _client_started, _stack_started).
const (
	qPickOldResults = `SELECT seq FROM reconciliations WHERE started_at < $1 AND client_id <> ALL($2::text[])
	ORDER BY started_at LIMIT $3 FOR UPDATE SKIP LOCKED`
	qPickOldClientResults = `SELECT seq FROM reconciliations WHERE client_id = $1 AND started_at < $2 AND stack_id <> ALL($3::text[])
	ORDER BY started_at LIMIT $4 FOR UPDATE SKIP LOCKED`
	qPickOldStackResults = `SELECT seq FROM reconciliations WHERE client_id = $1 AND stack_id = $2 AND started_at < $3
	ORDER BY started_at LIMIT $4 FOR UPDATE SKIP LOCKED`
)

func newRollUpQueries() rollUpQueries {
	return rollUpQueries{add: qRollUpResults(), deleteOld: qDeleteOldResults(qPickOldResults),
		deleteOldClient: qDeleteOldResults(qPickOldClientResults), deleteOldStack: qDeleteOldResults(qPickOldStackResults)}
}

// hourExpr is the UTC hour a timestamptz column falls in: date_bin from
// the epoch, which the session's time zone does not move (date_trunc
// would, in a zone off the hour).
func hourExpr(col string) string {
	return `date_bin('1 hour', ` + col + `, timestamptz '1970-01-01 00:00:00+00')`
}

// passCounts are the aggregates of results a roll-up row holds, in the
// order of its columns passes, failed, partial, clean, drift_detected.
const passCounts = `COUNT(*), COUNT(*) FILTER (WHERE status = 'failed'), COUNT(*) FILTER (WHERE status = 'partial'),
	COUNT(*) FILTER (WHERE status = 'success' AND drift_count = 0), COUNT(*) FILTER (WHERE drift_detected)`

// rolledUp is the SELECT of roll-up rows from a relation of results.
func rolledUp(from string) string {
	return `SELECT client_id, ` + hourExpr("started_at") + `, ` + durationCase() + `, ` + passCounts + `
	FROM ` + from + ` GROUP BY 1, 2, 3`
}

// qRollUpResults adds the results of a transaction's passes to their
// hours, from the arrays of their columns that qInsertResults inserted
// earlier in it (resultCols.rollUpArgs: the same values, so the same
// expressions give what the stored rows would; reading the rows back cost
// an index probe each). In the order of the roll-up's key, so that
// transactions committing passes of the same client lock its rows in one
// order (no deadlock), and only for the commit's round trip (it is queued
// with COMMIT, as the audit entries).
func qRollUpResults() string {
	return `INSERT INTO pass_hours (client_id, hour, duration_class, passes, failed, partial, clean, drift_detected)
` + rolledUp(`unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::text[], $5::bigint[], $6::boolean[])
	AS r(client_id, started_at, completed_at, status, drift_count, drift_detected)`) + ` ORDER BY 1, 2, 3
ON CONFLICT (client_id, hour, duration_class) DO UPDATE SET passes = pass_hours.passes + excluded.passes,
	failed = pass_hours.failed + excluded.failed, partial = pass_hours.partial + excluded.partial,
	clean = pass_hours.clean + excluded.clean, drift_detected = pass_hours.drift_detected + excluded.drift_detected`
}

// qDeleteOldResults deletes the batch of reconciliation results pick names,
// takes them out of their hours and answers how many it deleted.
func qDeleteOldResults(pick string) string {
	return `WITH gone AS (DELETE FROM reconciliations WHERE seq IN (` + pick + `)
	RETURNING client_id, started_at, completed_at, status, drift_count, drift_detected),
agg (client_id, hour, duration_class, passes, failed, partial, clean, drift_detected) AS (` + rolledUp("gone") + `),
upd AS (UPDATE pass_hours SET passes = pass_hours.passes - agg.passes, failed = pass_hours.failed - agg.failed,
	partial = pass_hours.partial - agg.partial, clean = pass_hours.clean - agg.clean,
	drift_detected = pass_hours.drift_detected - agg.drift_detected
	FROM agg WHERE pass_hours.client_id = agg.client_id AND pass_hours.hour = agg.hour
	AND pass_hours.duration_class = agg.duration_class)
SELECT COALESCE(SUM(passes), 0) FROM agg`
}

// qDropEmptyHours deletes the roll-up rows that count no result any more,
// among the hours before a time (index pass_hours_hour).
const qDropEmptyHours = `DELETE FROM pass_hours WHERE hour < $1 AND passes = 0`

// DeleteReconciliations deletes up to limit (store.BatchLimit) results
// that q names, oldest first, and takes them out of the hourly roll-up in
// the same transaction.
func (s *Store) DeleteReconciliations(ctx context.Context, q store.HistoryPrune, limit int) (int, error) {
	limit, err := store.BatchLimit(limit)
	if err != nil {
		return 0, fmt.Errorf("delete old reconciliations: %w", err)
	}
	except := q.Except
	if except == nil {
		except = []string{}
	}
	query, args := s.rollUp.deleteOld, []any{ts(q.Before), except, limit}
	switch {
	case q.ClientID != "" && q.StackID != "":
		query, args = s.rollUp.deleteOldStack, []any{q.ClientID, q.StackID, ts(q.Before), limit}
	case q.ClientID != "":
		query, args = s.rollUp.deleteOldClient, []any{q.ClientID, ts(q.Before), except, limit}
	}
	var n int64
	err = s.inTx(ctx, func(ctx context.Context, t *txn) error {
		b := t.batch()
		b.Queue(query, args...).QueryRow(func(row pgx.Row) error { return row.Scan(&n) })
		b.Queue(qDropEmptyHours, ts(q.Before))
		return t.commit(ctx, b)
	})
	if err != nil {
		return 0, fmt.Errorf("delete old reconciliations: %w", err)
	}
	return int(n), nil
}
