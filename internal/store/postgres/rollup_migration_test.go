package postgres_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

// TestMigration0013BackFillsRollUp: the back-fill of migration 0013, run
// on results written by CommitPass, gives the roll-up CommitPass kept (so
// its literal duration CASE is store.DurationBounds), one result per
// duration class and status, on both sides of every bound, in a session
// whose time zone is off the hour (the hours are UTC's all the same).
func TestMigration0013BackFillsRollUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := newSchema(t, serverURL(t))
	s := open(t, url)
	_, err := s.ApplyDesired(ctx, []store.DesiredInput{{ClientID: "c", StackID: "s", Environment: "prod", Hash: "h", Document: []byte(`{}`)}})
	require.NoError(t, err)
	start := time.Date(2026, 12, 7, 9, 59, 0, 0, time.UTC)
	var took []time.Duration
	for _, b := range store.DurationBounds {
		took = append(took, b, b+time.Microsecond)
	}
	took = append(took, -time.Second, 0)
	statuses := []store.ResultStatus{store.ResultSuccess, store.ResultPartial, store.ResultFailed}
	for i, d := range took {
		st, err := s.GetState(ctx, "c", "s")
		require.NoError(t, err)
		at := start.Add(time.Duration(i) * 7 * time.Second)
		_, err = s.CommitPass(ctx, store.Pass{State: st, Result: store.ReconciliationResult{
			ReconciliationID: fmt.Sprintf("r%d", i), ClientID: "c", StackID: "s", Trigger: "schedule",
			StartedAt: at, CompletedAt: at.Add(d), Status: statuses[i%3], DriftCount: i % 2, DriftDetected: i%2 == 1,
			StateVersion: "v1",
		}})
		require.NoError(t, err)
	}
	migration, err := os.ReadFile("migrations/0013_pass_hours.sql")
	require.NoError(t, err)

	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := connect(cctx, url)
	require.NoError(t, err)
	defer conn.Close(cctx)
	rollUp := func() []string {
		rows, err := conn.Query(cctx, `SELECT client_id, extract(epoch from hour)::bigint, duration_class, passes, failed, partial, clean, drift_detected
FROM pass_hours ORDER BY 1, 2, 3`)
		require.NoError(t, err)
		defer rows.Close()
		var out []string
		for rows.Next() {
			var c string
			var v [7]int64
			require.NoError(t, rows.Scan(&c, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]))
			out = append(out, fmt.Sprint(c, v))
		}
		require.NoError(t, rows.Err())
		return out
	}
	kept := rollUp()
	require.Len(t, kept, 12, "every class: 0-4 in the first hour, 0 and 5-10 in the second")
	require.Contains(t, kept[0], fmt.Sprint(start.Truncate(time.Hour).Unix()), "the UTC hour")
	_, err = conn.Exec(cctx, `SET TIME ZONE 'Asia/Kolkata'`)
	require.NoError(t, err)
	_, err = conn.Exec(cctx, `DROP TABLE pass_hours`)
	require.NoError(t, err)
	_, err = conn.Exec(cctx, string(migration))
	require.NoError(t, err)
	require.Equal(t, kept, rollUp())
}
