package api

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// BenchmarkDashboardClientHealth measures GET
// /v1/dashboard/clients/{client_id}/health, server side, for a client of
// 1,000 stacks with 30 days of history on the embedded SQLite store: an
// hourly pass of every stack (720,000 results), a drift per stack per day
// (30,000, the last day's open), a heal per drift. Seeding takes a while,
// so it runs only with BLACKWELL_BENCH_DASHBOARD=1 (docs/PERFORMANCE.md).
func BenchmarkDashboardClientHealth(b *testing.B) {
	if os.Getenv("BLACKWELL_BENCH_DASHBOARD") == "" {
		b.Skip("set BLACKWELL_BENCH_DASHBOARD=1: seeding 30 days of 1,000 stacks takes about a minute")
	}
	const stacks, days = 1000, 30
	ctx := context.Background()
	now := time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)
	path := filepath.Join(b.TempDir(), "blackwell.db")
	st, err := sqlite.Open(ctx, path)
	require.NoError(b, err)
	defer st.Close()
	in := make([]store.DesiredInput, stacks)
	for i := range in {
		in[i] = store.DesiredInput{ClientID: "big", StackID: fmt.Sprintf("s%04d", i), Environment: "prod", Hash: fmt.Sprintf("h%d", i),
			Document: []byte(`{"resources":{"site":{"probe":"http"}}}`), AppliedBy: "bench"}
	}
	_, err = st.ApplyDesired(ctx, in)
	require.NoError(b, err)
	seed(b, path, stacks, days, now)

	srv := New(Options{Store: st, Now: func() time.Time { return now }, BootstrapToken: testBootstrap})
	for _, span := range []string{"24h", "7d", "30d"} {
		b.Run("since="+span, func(b *testing.B) {
			var size int
			for b.Loop() {
				req := httptest.NewRequest("GET", "/v1/dashboard/clients/big/health?since="+span, nil)
				req.Host = "127.0.0.1:8080"
				req.Header.Set("Authorization", "Bearer "+testBootstrap)
				w := httptest.NewRecorder()
				srv.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body.String())
				}
				size = w.Body.Len()
			}
			b.ReportMetric(float64(size), "answer_bytes")
		})
	}
}

// seed writes the history straight into the SQLite file in one
// transaction (the store's own writes would take an hour).
func seed(b *testing.B, path string, stacks, days int, now time.Time) {
	b.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	require.NoError(b, err)
	defer db.Close()
	tx, err := db.Begin()
	require.NoError(b, err)
	pass, err := tx.Prepare(`INSERT INTO reconciliations (reconciliation_id, client_id, stack_id, pass_trigger, started_at, completed_at, status,
		drift_detected, drift_count, auto_heal_attempted, auto_heal_success_count, errors, state_version)
		VALUES (?, 'big', ?, 'schedule', ?, ?, ?, ?, ?, 0, 0, '[]', 'v1.0.0')`)
	require.NoError(b, err)
	dr, err := tx.Prepare(`INSERT INTO drifts (client_id, stack_id, id, code, type, component, expected, observed, severity, cause,
		detected_at, first_seen, last_seen, observations, confirmed, acknowledged, acknowledged_by, acknowledged_at, resolved_at)
		VALUES ('big', ?, ?, 'resource_unhealthy', 'resource', 'site', '"healthy"', '"503"', 'high', '', ?, ?, ?, 3, 1, 0, '', NULL, ?)`)
	require.NoError(b, err)
	heal, err := tx.Prepare(`INSERT INTO heals (id, drift_id, client_id, stack_id, code, component, provider, action, attempt, status,
		reconciliation_id, approval_id, triggered_by, drift_detail, not_before, owner, lease_until, claims, created_at, started_at,
		completed_at, verified_at, detail, error) VALUES (?, ?, 'big', ?, 'resource_unhealthy', 'site', '', 'rebuild', 1, ?, 'r', '',
		'reconciler', NULL, ?, '', NULL, 1, ?, ?, ?, ?, '', '')`)
	require.NoError(b, err)
	us := func(t time.Time) int64 { return t.UnixMicro() }
	start := now.Add(-time.Duration(days) * 24 * time.Hour)
	for s := range stacks {
		stack := fmt.Sprintf("s%04d", s)
		for h := range days * 24 {
			at := start.Add(time.Duration(h)*time.Hour + time.Duration(s)*time.Second)
			status, drifted := "success", 0
			if h%24 == s%24 {
				drifted = 1
			}
			if (h+s)%97 == 0 {
				status = "failed"
			}
			_, err := pass.Exec(fmt.Sprintf("r-%d-%d", s, h), stack, us(at), us(at.Add(time.Duration(200+s%800)*time.Millisecond)), status, drifted, drifted)
			require.NoError(b, err)
		}
		for d := range days {
			seen := start.Add(time.Duration(d)*24*time.Hour + time.Duration(s%24)*time.Hour)
			var resolved any = us(seen.Add(2 * time.Hour))
			if d == days-1 && s%10 == 0 {
				resolved = nil
			}
			id := fmt.Sprintf("d-%d-%d", s, d)
			_, err := dr.Exec(stack, id, us(seen), us(seen), us(seen.Add(time.Hour)), resolved)
			require.NoError(b, err)
			status := "succeeded"
			if d%5 == 0 {
				status = "failed"
			}
			done := us(seen.Add(90 * time.Minute))
			_, err = heal.Exec(id+"/1", id, stack, status, us(seen), us(seen), us(seen), done, done)
			require.NoError(b, err)
		}
	}
	require.NoError(b, tx.Commit())
	// The hourly roll-up CommitPass would have kept: the back-fill of
	// migration 0013, as a store upgraded with this history gets it.
	migration, err := os.ReadFile("../store/sqlite/migrations/0013_pass_hours.sql")
	require.NoError(b, err)
	backFill := string(migration)[strings.Index(string(migration), "INSERT INTO pass_hours"):]
	_, err = db.Exec(backFill)
	require.NoError(b, err)
	if os.Getenv("BLACKWELL_BENCH_DASHBOARD") == "covering" {
		// What a covering index would give (not in the migrations).
		_, err = db.Exec(`CREATE INDEX bench_reconciliations_covering ON reconciliations
			(client_id, started_at, status, drift_count, drift_detected, completed_at)`)
		require.NoError(b, err)
	}
}
